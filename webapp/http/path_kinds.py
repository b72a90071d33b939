"""What a request's path is for: the page, a health probe, or an API, from the route groups' declarations.

The token check and CORS need to know it: the page and the probes stay open (a load balancer's probe
carries no token), the APIs need the token when one is configured; CORS concerns the APIs and probes.
A path no API group owns (``/``, ``/result``, ``/static/...``, an unknown path) is the page's.
"""

from __future__ import annotations

from collections.abc import Sequence

from webapp.http.refusals import PAGE
from webapp.http.routing import RouteGroup, first_segment

PAGE_PATH = "page"
PROBE_PATH = "probe"
API_PATH = "api"


class PathKinds:
    """``kind(environ)``: ``PAGE_PATH``, ``PROBE_PATH`` or ``API_PATH``.

    ``port_group``: the group answering every path on ``port`` (GraphPipe's own port).
    """

    def __init__(self, groups: Sequence[RouteGroup], port_group: RouteGroup | None = None,
                 port: int | None = None) -> None:
        self.api_segments = {segment for group in groups if group.refusal != PAGE
                             for segment in group.first_segments()}
        self.probes = {route.rule for group in groups for route in group.routes if route.probe}
        self.port = str(port) if port and port_group is not None else None
        self.port_probes = {route.rule for route in port_group.routes if route.probe} if port_group else set()

    def kind(self, environ: dict) -> str:
        path = environ.get("PATH_INFO", "")
        if self.port is not None and environ.get("SERVER_PORT") == self.port:
            return PROBE_PATH if path in self.port_probes else API_PATH
        if path in self.probes:
            return PROBE_PATH
        return API_PATH if first_segment(path) in self.api_segments else PAGE_PATH
