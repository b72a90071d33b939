"""What a route handler is given: one HTTP request, the app's front end, and the request's budget.

The same ``HttpCall`` is built by the Flask view of a route and by a fast path below Flask, so a handler
(and the ``InferenceRequest`` it makes for the core) is the same code either way.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from werkzeug.utils import cached_property  # no lock per first read, as functools' takes on 3.11
from werkzeug.wrappers import Request

from serving_core import observation
from serving_core.errors import UnavailableError
from serving_core.payloads.limits import RequestBudget, ServerLimits
from serving_core.request import InferenceRequest, Inputs, ModelSpec, new_request_id
from serving_core.service import InferenceBackend, Readiness
from webapp.http.media import mimetype_of
from webapp.http.request_body import ARRIVED, buffered_body, raise_body_refusal
from webapp.settings import Settings

#: The header a client (or a proxy) names its request with; echoed, or made when absent
#: (``webapp.http.observe``, which also leaves the id it settled on in the environ).
REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_ENVIRON = "HTTP_X_REQUEST_ID"
#: Longest request id taken from a client (a longer one is replaced by a new id).
MAX_REQUEST_ID = 200


@dataclass(frozen=True)
class FrontEnd:
    """What the HTTP routes need of the app, built once by ``create_app``."""

    service: InferenceBackend | None
    limits: ServerLimits
    settings: Settings
    #: Set when the process starts to stop (SIGTERM to a gunicorn worker): the readiness probes then
    #: answer "not ready" at once, while requests are still answered (``webapp.http.gunicorn_worker``).
    draining: threading.Event = field(default_factory=threading.Event)
    #: Set while another worker of the same gunicorn master may take connections it cannot answer (it has
    #: not lately said it is ready or paused: ``webapp.http.worker_readiness``): the next requests may go
    #: to it, so this one is not ready either.
    siblings_unready: threading.Event = field(default_factory=threading.Event)

    def held_back(self) -> str:
        """Why this process is not ready whatever its models say ("" when nothing holds it back)."""
        if self.draining.is_set():
            return "the server is shutting down"
        if self.siblings_unready.is_set():
            return "another worker of this server cannot answer yet"
        return ""

    def readiness(self, name: str) -> Readiness:
        """``name``'s readiness, or "not ready" while the process drains before stopping or while a sibling
        worker takes connections it cannot answer."""
        held_back = self.held_back()
        if held_back:
            return Readiness(False, error=held_back)
        if self.service is None:
            return Readiness(False, error="no model registry configured")
        return self.service.readiness(name)


class HttpCall:
    """One HTTP request of a declared route, as its handler sees it.

    The hot routes read their few headers straight from the WSGI environ (``mimetype``, ``header``); a
    full request object (query arguments, forms) is made only when a handler asks for ``request``.
    """

    def __init__(self, front_end: FrontEnd, environ: dict, protocol: str, route: str,
                 request: Request | None = None) -> None:
        self.front_end = front_end
        self.environ = environ
        self.protocol = protocol
        self.route = route
        if request is not None:
            self.request = request
        observation.note_call(protocol, route)

    @cached_property
    def request(self) -> Request:
        """The request as Werkzeug reads it (the app's request class: uploads kept in memory)."""
        from webapp.http.form_request import InMemoryFormRequest

        return InMemoryFormRequest(self.environ)

    @property
    def mimetype(self) -> str:
        """The bare, lower-case media type of the body."""
        return mimetype_of(self.environ.get("CONTENT_TYPE"))

    def header(self, name: str) -> str | None:
        """A request header by name (not Content-Type or Content-Length: ``mimetype``, the body)."""
        return self.environ.get("HTTP_" + name.upper().replace("-", "_"))

    @property
    def settings(self) -> Settings:
        return self.front_end.settings

    @property
    def service(self) -> InferenceBackend:
        """The app's inference service, or its remote model servers."""
        if self.front_end.service is None:
            raise UnavailableError("no model registry configured", http_status=503)
        return self.front_end.service

    @cached_property
    def budget(self) -> RequestBudget:
        """This request's budget: the server's limits, its deadline counted from the body's arrival."""
        return self.front_end.limits.budget(arrived=self.environ.get(ARRIVED))

    @cached_property
    def request_id(self) -> str:
        given = self.environ.get(REQUEST_ID_ENVIRON, "")
        return given if 0 < len(given) <= MAX_REQUEST_ID and given.isprintable() else new_request_id()

    def body(self) -> bytes:
        """The raw body, whatever the Content-Type (TF Serving clients often send none).

        It is in memory already and within MAX_CONTENT_LENGTH (``webapp.http.request_body``).
        """
        raise_body_refusal(self.environ)
        body = buffered_body(self.environ)
        return body if body is not None else self.request.get_data(cache=False)

    def inference_request(self, spec: ModelSpec, inputs: Inputs) -> InferenceRequest:
        """The core's request for this call (noted as the current request's, for its log line and metrics)."""
        request = InferenceRequest(spec, inputs, self.budget, self.protocol, self.route, self.request_id)
        observation.note_inference(request)
        return request
