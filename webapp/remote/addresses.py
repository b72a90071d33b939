"""Model server addresses: ``grpc://host:port`` or ``http://host:port``, several separated by commas."""

from __future__ import annotations

import re
from dataclasses import dataclass

SCHEMES = ("grpc", "http")
_ADDRESS = re.compile(r"(?P<scheme>[a-z]+)://(?P<host>\[[0-9a-fA-F:.]+\]|[^:/\s\[\]]+):(?P<port>[0-9]+)/?")


@dataclass(frozen=True)
class ModelServerAddress:
    scheme: str
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def target(self) -> str:
        """``host:port``, as a gRPC channel or an HTTP connection pool takes it."""
        return f"{self.host}:{self.port}"


def parse_model_servers(text: str) -> list[ModelServerAddress]:
    """The addresses of a ``MODEL_SERVER`` setting (empty: none); ValueError naming a bad one."""
    addresses: list[ModelServerAddress] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        match = _ADDRESS.fullmatch(item)
        if match is None or match["scheme"] not in SCHEMES:
            raise ValueError(f"model server {item!r}: expected grpc://host:port or http://host:port")
        port = int(match["port"])
        if not 0 < port < 65536:
            raise ValueError(f"model server {item!r}: port {port} is out of range")
        address = ModelServerAddress(match["scheme"], match["host"], port)
        if address in addresses:
            raise ValueError(f"model server {item!r} is listed twice")
        addresses.append(address)
    return addresses
