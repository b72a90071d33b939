"""The end of one observed request, whatever its transport: its metrics and its access-log line.

Both observation points (the HTTP app's WSGI layer, ``webapp.http.observe``; the gRPC interceptor,
``webapp.grpc.observe``) hand their finished ``RequestRecord`` here with what only the transport knows (the
status, the bytes answered), so the metrics and the log line mean the same on every protocol.
"""

from __future__ import annotations

import logging

from serving_core.errors import HTTP_STATUS, Code
from serving_core.metrics import Metrics
from serving_core.observation import RequestRecord

access_log = logging.getLogger("emnist.access")

#: TF Serving's status name of an HTTP status that no refusal named (a proxy's 413, a token's 401...).
_CODE_OF_HTTP = {status: code.name for code, status in reversed(list(HTTP_STATUS.items()))}
#: The names read on every answered request, looked up once (an enum member's ``name`` is a descriptor call).
_OK, _UNKNOWN = Code.OK.name, Code.UNKNOWN.name


def status_name(record: RequestRecord, http_status: int | None = None) -> str:
    """The canonical code's name of a request's outcome: its refusal's code, OK, or its HTTP status's."""
    if record.error is not None:
        return record.error.code.name
    if http_status is None or http_status < 400:
        return _OK
    return _CODE_OF_HTTP.get(http_status, _UNKNOWN)


class RequestOutcomes:
    """Where the transports report finished requests: the metrics (when on) and the access log (when on)."""

    def __init__(self, recorder: Metrics | None, access_log_on: bool) -> None:
        self.recorder = recorder
        self.access_log_on = access_log_on

    def finish(self, record: RequestRecord, code: str, status: str, size: int, path: str = "") -> None:
        """One answered request: ``code`` its HTTP status or gRPC code name, ``status`` the canonical code's
        name, ``size`` the bytes of its answer, ``path`` what the client asked for (HTTP)."""
        if self.recorder is None and not self.access_log_on:
            return
        seconds = record.seconds()
        if self.recorder is not None:
            self.recorder.request_done(record, code, status, seconds)
        if self.access_log_on:
            write_access_line(record, code, size, seconds, path)


def write_access_line(record: RequestRecord, code: str, size: int, seconds: float, path: str) -> None:
    """The access log's line: plain text as the message, every value also a field of its own (JSON)."""
    model = record.model_name()
    version = record.model_version()
    route = record.route or "-"
    milliseconds = round(seconds * 1000, 3)
    access_log.info(
        '%s %s "%s" %s %d %.1fms model=%s version=%s protocol=%s', record.method, path or route, route, code,
        size, milliseconds, model or "-", "-" if version is None else version, record.protocol or "-",
        extra={"event": "access", "method": record.method, "path": path or None, "route": route,
               "status": code, "bytes": size, "latency_ms": milliseconds, "model": model or None,
               "version": version, "protocol": record.protocol or None, "request_id": record.request_id})
