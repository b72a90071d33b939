"""The HTTP app's one observation point: a WSGI layer around everything (fast paths, GraphPipe's port,
Flask's routes, the token check), so every request is seen once, whichever route answers it.

It takes the request's ``X-Request-ID`` (or makes one), puts it where ``HttpCall.request_id`` reads it,
returns it on the answer, and opens the request's ``RequestRecord`` for the thread that answers it: the
call objects name the route and hand over the core's request, a refusal notes its error. When the answer
is written, its status and size go to ``webapp.request_outcome`` (metrics, access log).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from serving_core.errors import ServingError
from serving_core.observation import RequestRecord, begin, end
from serving_core.request import new_request_id
from webapp.http.calls import MAX_REQUEST_ID, REQUEST_ID_ENVIRON, REQUEST_ID_HEADER
from webapp.request_outcome import RequestOutcomes, status_name

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]
#: The route label of a request refused before any route saw it.
UNROUTED = "unrouted"


def request_id_of(environ: dict) -> str:
    """The client's ``X-Request-ID`` when it is printable and at most MAX_REQUEST_ID long, else a new id."""
    given = environ.get(REQUEST_ID_ENVIRON, "")
    return given if 0 < len(given) <= MAX_REQUEST_ID and given.isprintable() else new_request_id()


class ObserveRequests:
    """WSGI middleware: request ids in and out, one ``RequestRecord`` per request (see the module doc)."""

    def __init__(self, wsgi_app: WSGIApp, outcomes: RequestOutcomes) -> None:
        self.wsgi_app = wsgi_app
        self.outcomes = outcomes

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request_id = environ[REQUEST_ID_ENVIRON] = request_id_of(environ)
        record = RequestRecord(request_id, environ.get("REQUEST_METHOD", ""))
        answered: list[str] = []
        length: list[str] = []

        def start_with_id(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> object:
            headers.append((REQUEST_ID_HEADER, request_id))
            answered.append(status)
            length[:] = [value for name, value in headers if name == "Content-Length"]
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        token = begin(record)
        try:
            body = self.wsgi_app(environ, start_with_id)
            # The fast paths answer a list, Flask's answers state their length: either way the request is
            # reported now. Only an answer of unknown length is reported once written.
            if isinstance(body, list):
                self._finish(record, environ, answered, sum(map(len, body)))
                return body
            if length and length[0].isdigit():
                self._finish(record, environ, answered, int(length[0]))
                return body
        finally:
            end(token)
        return _Counted(body, lambda size: self._finish(record, environ, answered, size))

    def answer_unrouted(self, environ: dict, start_response: Callable, status: str,
                        headers: list[tuple[str, str]], body: bytes, error: ServingError) -> list[bytes]:
        """A refusal answered before the app ran (gunicorn's worker, for a request that waited for a thread
        until its deadline): its request id, metrics and access line all the same (route ``unrouted``)."""
        request_id = environ[REQUEST_ID_ENVIRON] = request_id_of(environ)
        record = RequestRecord(request_id, environ.get("REQUEST_METHOD", ""))
        record.protocol, record.route, record.error = "http", UNROUTED, error
        start_response(status, [*headers, (REQUEST_ID_HEADER, request_id)])
        self._finish(record, environ, [status], len(body))
        return [body]

    def _finish(self, record: RequestRecord, environ: dict, answered: list[str], size: int) -> None:
        status = int(answered[-1][:3]) if answered else 500
        if not record.route:
            record.route = _flask_rule(environ)
        self.outcomes.finish(record, str(status), status_name(record, status), size,
                             environ.get("PATH_INFO", ""))


def _flask_rule(environ: dict) -> str:
    """The Flask rule that answered a request no call object named (static files, the docs page), or ""."""
    request = environ.get("werkzeug.request")
    rule = getattr(request, "url_rule", None)
    return rule.rule if rule is not None else ""


class _Counted:
    """An answer of unknown length: counted as it is written, reported when it is closed."""

    def __init__(self, body: Iterable[bytes], done: Callable[[int], None]) -> None:
        self.body = body
        self.done = done
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.body:
            self.size += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.done(self.size)
