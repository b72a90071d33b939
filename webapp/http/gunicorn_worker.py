"""The gunicorn worker the server ships with: gevent for the connections, a pool of OS threads for the app.

Why: with gunicorn's ``gthread`` worker each connection takes one of the few request threads as soon as
it is accepted and keeps it while the client sends its request, so a handful of clients that send a
byte and stop hold every thread and the server stops answering. Here a connection costs a greenlet
(kilobytes), not a thread: gunicorn's gevent worker reads the request line and headers within its
``keepalive`` time (a connection that has not sent a whole header block by then is closed), this worker
then reads the whole body (``webapp.http.request_body``) within ``REQUEST_BODY_TIMEOUT_SECONDS``, and
only a request that has fully arrived goes to one of ``threads`` real OS threads, where the app runs.

Nothing is monkey-patched: the serving core keeps real threads, locks and sleeps (its watcher loads a
version in a thread of its own while requests go on), and the model calls, decoding and JSON work run in
the pool's threads, off the event loop, so the loop keeps accepting and reading while they compute.

A request that waits for a thread until its deadline (``REQUEST_DEADLINE_SECONDS`` from its arrival) is
answered then, from its greenlet, with the same 503 the app gives (``webapp.http.refusals``), and never
runs: the thread that would have taken it later skips it. (The page's requests wait for their thread:
their refusal is a rendered page.)

A worker whose model has no AVAILABLE version stops accepting connections while a sibling can answer
(``webapp.http.worker_readiness``), and gunicorn's own refusals are answered in the API's JSON shape.

SIGTERM starts a drain (docs/operations.md): the readiness probes answer "not ready" at once; for
``DRAIN_SECONDS`` connections are still accepted, every answer saying ``Connection: close`` (gunicorn's
rule for a worker that is no longer alive), so that a load balancer has time to notice and keep-alive
clients move on; then new connections are refused without resetting those the kernel had already
completed (``webapp.http.listener_shutdown``), and requests in flight finish within ``graceful_timeout``
of the signal.
"""

from __future__ import annotations

import gc
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

import gevent
import gevent.socket
from gevent.pool import Pool
from gevent.server import StreamServer
from gevent.threadpool import ThreadPool
from gunicorn import util as gunicorn_util
from gunicorn.sock import ssl_context
from gunicorn.workers.ggevent import GeventWorker

from serving_core.deadline import Deadline
from serving_core.errors import ServingError
from webapp.http.listener_shutdown import held_by, master_listens, queued_connections, stop_handshakes
from webapp.http.observe import ObserveRequests
from webapp.http.refusals import JSON, PAGE, refusal_answer
from webapp.http.request_body import ARRIVED, BODY_ERROR, BODY_READY, BodyTimeoutError, buffer_body
from webapp.http.routing import status_line
from webapp.http.security_headers import with_security_headers
from webapp.http.worker_readiness import ReadinessBoard
from webapp.settings import load_settings

#: Which refusal style a request's path gets (the app's ``refusal_style``); the page's is not written here.
StyleOf = Callable[[dict], str]

#: How often a worker asks whether it can answer (a front end asks its model servers each time).
READINESS_CHECK_SECONDS = 1.0


class _Turn:
    """A request's place in the thread pool's queue: taken by a thread, or given up at its deadline."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = "waiting"

    def _leave(self, state: str) -> bool:
        with self._lock:
            if self._state != "waiting":
                return False
            self._state = state
            return True

    def take(self) -> bool:
        """A thread takes the request (False: it was given up, skip it)."""
        return self._leave("running")

    def give_up(self) -> bool:
        """The request's deadline came first (False: a thread has it already)."""
        return self._leave("given up")


class ThreadPoolApp:
    """Reads the body in the calling greenlet, then runs the WSGI app in a pool thread; its bytes back."""

    def __init__(self, wsgi_app: Callable, pool: ThreadPool, max_length: int | None,
                 body_timeout: float, deadline_seconds: float = 0.0,
                 style_of: StyleOf = lambda environ: JSON, observer: ObserveRequests | None = None) -> None:
        self.wsgi_app = wsgi_app
        #: The app's observation layer, which also answers the refusals given here (request id, metrics).
        self.observer = observer
        self.pool = pool
        self.max_length = max_length
        self.body_timeout = body_timeout
        self.deadline_seconds = deadline_seconds
        self.style_of = style_of
        #: Requests handed to the pool and not answered yet (changed by this worker's greenlets only).
        self.in_pool = 0

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        timer = gevent.Timeout(self.body_timeout or None)
        timer.start()
        try:
            error = buffer_body(environ, self.max_length)
        except gevent.Timeout as exc:
            if exc is not timer:
                raise
            error = BodyTimeoutError("the request body did not arrive within "
                                     f"REQUEST_BODY_TIMEOUT_SECONDS={self.body_timeout:g} s")
            environ.update({BODY_ERROR: error, BODY_READY: True, "CONTENT_LENGTH": "0"})
            environ.pop("HTTP_TRANSFER_ENCODING", None)
        finally:
            timer.close()
        if error is not None:
            _close_after_answer(start_response)  # the rest of the body is still on the connection
        environ[ARRIVED] = time.monotonic()
        self.in_pool += 1
        try:
            return self._answer(environ, start_response)
        finally:
            self.in_pool -= 1

    def _answer(self, environ: dict, start_response: Callable) -> list[bytes]:
        """The app's answer from a pool thread, or the refusal of a request that waited for one until its
        deadline. Only a request that finds every thread busy waits with a timer (a free thread takes it
        at once), so the common case costs no more than a plain hand-over."""
        deadline = None
        if self.in_pool > self.pool.maxsize:
            deadline = Deadline.after(self.deadline_seconds, environ[ARRIVED])
        style = self.style_of(environ) if deadline is not None else PAGE
        if deadline is None or style == PAGE:
            return [self.pool.apply(_run_app, (self.wsgi_app, environ, start_response))]
        turn = _Turn()
        answer = self.pool.spawn(_run_app, self.wsgi_app, environ, start_response, turn)
        try:
            return [answer.get(timeout=max(deadline.remaining(), 0.0))]
        except gevent.Timeout:
            if not turn.give_up():  # a thread took it just now: its answer comes
                return [answer.get()]
        error = deadline.not_started()
        assert isinstance(error, ServingError)
        refusal = refusal_answer(error, style)
        status, headers = status_line(refusal.status), with_security_headers(refusal.wsgi_headers())
        observer = self.observer
        if observer is not None:
            return observer.answer_unrouted(environ, start_response, status, headers, refusal.body, error)
        start_response(status, headers)
        return [refusal.body]


def _run_app(wsgi_app: Callable, environ: dict, start_response: Callable, turn: _Turn | None = None) -> bytes:
    """The whole answer of the app, computed in a pool thread (every answer here is small); nothing when
    the request was given up before a thread took it."""
    if turn is not None and not turn.take():
        return b""
    result = wsgi_app(environ, start_response)
    try:
        return b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def _close_after_answer(start_response: Callable) -> None:
    response = getattr(start_response, "__self__", None)
    if response is not None and hasattr(response, "force_close"):
        response.force_close()


class GeventThreadPoolWorker(GeventWorker):
    """gunicorn's gevent worker without monkey-patching, the app in ``threads`` OS threads (module doc)."""

    paused = False  # not taking connections: no AVAILABLE model while a sibling has one
    #: ``time.monotonic()`` of the SIGTERM that started the drain (None: not stopping on a signal).
    stopping_since: float | None = None
    #: The SIGTERM came while the master kept its listening sockets (a reload, fewer workers): the server
    #: goes on, so this worker answers, ready, until a sibling is ready to take over (``_hand_over``).
    retiring = False

    def patch(self) -> None:
        # Only the listening sockets become gevent sockets (the accepted ones are gevent's already).
        self.sockets = [gevent.socket.socket(s.FAMILY, socket.SOCK_STREAM, fileno=s.sock.detach())
                        for s in self.sockets]

    def init_process(self) -> None:
        # gunicorn's own refusals (a request line or headers over its limits, a malformed request) are
        # written by gunicorn.util.write_error as an HTML page: here they get the API's JSON shape.
        gunicorn_util.write_error = write_json_error
        super().init_process()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.app_object = self.wsgi
        settings = _app_settings(self.wsgi)
        self.drain_seconds = settings["DRAIN_SECONDS"]
        self.pool = ThreadPool(max(1, self.cfg.threads))
        style_of = getattr(self.wsgi, "extensions", {}).get("refusal_style", lambda environ: JSON)
        observer = getattr(self.wsgi, "wsgi_app", None)
        self.wsgi = ThreadPoolApp(self.wsgi, self.pool, settings["MAX_CONTENT_LENGTH"],
                                  settings["REQUEST_BODY_TIMEOUT_SECONDS"],
                                  settings["REQUEST_DEADLINE_SECONDS"], style_of,
                                  observer if isinstance(observer, ObserveRequests) else None)

    def run(self) -> None:
        """GeventWorker's loop, and once a second: leave or rejoin the rotation (``worker_readiness``)."""
        servers = []
        ssl_args = {"ssl_context": ssl_context(self.cfg)} if self.cfg.is_ssl else {}
        for listener in self.sockets:
            listener.setblocking(1)
            server = StreamServer(listener, handle=partial(self.handle, ListenerName(listener)),
                                  spawn=Pool(self.worker_connections), **ssl_args)
            if self.cfg.workers > 1:
                server.max_accept = 1
            server.start()
            servers.append(server)
        board = ReadinessBoard(Path(self.cfg.worker_tmp_dir or tempfile.gettempdir()), self.ppid, self.pid)
        try:
            while self.alive:
                self.notify()
                self._follow_readiness(servers, board)
                gevent.sleep(READINESS_CHECK_SECONDS)
            if self.retiring:
                self._hand_over(servers, board)
        finally:
            board.leave()
        self._stop_gracefully(servers)

    def _hand_over(self, servers: list[StreamServer], board: ReadinessBoard) -> None:
        """A retiring worker goes on taking connections, and saying so, until a sibling says it is ready
        (the workers of a reload load their models meanwhile, paused while this one is ready), or it cannot
        answer itself, or half of graceful_timeout has passed: a reload never leaves the server without a
        worker that can answer, so a load balancer checking ``/readyz`` sees no dip."""
        limit = time.monotonic() + self.cfg.graceful_timeout / 2
        next_check = time.monotonic()
        while time.monotonic() < limit and not board.others_ready():
            self.notify()
            if time.monotonic() >= next_check:  # its own readiness once a second, the board's more often
                if not self._follow_readiness(servers, board):
                    return
                next_check = time.monotonic() + READINESS_CHECK_SECONDS
            gevent.sleep(0.1)

    def _follow_readiness(self, servers: list[StreamServer], board: ReadinessBoard) -> bool:
        """Say on the board whether this worker can answer, pause or resume accepting; whether it can."""
        ready = self._can_answer(board)
        pause = not ready and board.others_ready()
        board.publish(ready, pause)
        front_end = _front_end(self.app_object)
        if front_end is not None:  # not ready while a sibling may take connections it cannot answer
            if board.others_unsettled():
                front_end.siblings_unready.set()
            else:
                front_end.siblings_unready.clear()
        if pause == self.paused:
            return ready
        self.paused = pause
        if pause:
            local = getattr(self.app_object, "extensions", {}).get("serving_core") is not None
            self.log.warning("worker %s: %s; it stops taking connections while another worker can answer",
                             self.pid, "no AVAILABLE model" if local else "no model server answers it")
        else:
            self.log.info("worker %s takes connections again", self.pid)
        for server in servers:
            if pause:
                server.stop_accepting()
            else:
                server.start_accepting()
        return ready

    def handle_exit(self, sig: int, frame: Any) -> None:
        """SIGTERM: the whole server stops (the master has closed its listening sockets): not ready from
        now on, the drain itself runs in ``_stop_gracefully``. Only this worker goes (the master still
        listens: a reload, fewer workers): it hands over first (``_hand_over``), with no drain."""
        self.stopping_since = time.monotonic()
        if master_listens(self.ppid, self.sockets):
            self.retiring = True
        else:
            self._not_ready()
        super().handle_exit(sig, frame)

    def _not_ready(self) -> None:
        front_end = _front_end(getattr(self, "app_object", None))
        if front_end is not None:
            front_end.draining.set()

    def _can_answer(self, board: ReadinessBoard) -> bool:
        """This server's app: an AVAILABLE version of every model, or, a front end to model servers, one of
        them answers a prediction now (asked from a pool thread: the call waits on the network; meanwhile
        this worker's files on the board stay fresh). Any other app: True."""
        core = getattr(self.app_object, "extensions", {}).get("serving_core")
        if core is not None:
            return core.manager.ready()
        front_end = _front_end(self.app_object)
        if front_end is None or front_end.service is None:
            return True
        name = front_end.settings["MODEL_NAME"]
        probe = self.pool.spawn(lambda: front_end.service.readiness(name).ready)
        while True:
            try:
                return probe.get(timeout=1.0)
            except gevent.Timeout:
                board.refresh()
                self.notify()

    def _stop_gracefully(self, servers: list[StreamServer]) -> None:
        """The drain after SIGTERM (module doc), or at once when the worker stops for another reason
        (max_requests): stop accepting, let requests in flight finish within graceful_timeout."""
        started = self.stopping_since if self.stopping_since is not None else time.monotonic()
        if self.stopping_since is not None and not self.retiring:
            self._not_ready()
            while (left := started + getattr(self, "drain_seconds", 0.0) - time.monotonic()) > 0:
                self.notify()
                gevent.sleep(min(left, 1.0))
        for listener, server in zip(self.sockets, servers, strict=True):
            self._stop_accepting(listener, server)
        try:
            while time.monotonic() - started <= self.cfg.graceful_timeout:
                if all(server.pool.free_count() == server.pool.size for server in servers):
                    return
                self.notify()
                gevent.sleep(0.1)
            self.log.warning("Worker graceful timeout (pid:%s)", self.pid)
            for server in servers:
                server.stop(timeout=1)
        finally:
            # The process exits next: spare the interpreter's last collection over every object (with
            # TensorFlow's, seconds of CPU that could outlast graceful_timeout and get the worker killed).
            gc.freeze()

    def _stop_accepting(self, listener: gevent.socket.socket, server: StreamServer) -> None:
        """Close this worker's listening socket; when the master has closed its own (the whole server
        stops, not a reload), first take in what the kernel queued on it (``listener_shutdown``)."""
        if server.started and not held_by(self.ppid, listener) and stop_handshakes(listener):
            server.stop_accepting()
            for client, address in queued_connections(listener):
                server.do_handle(client, address)
        server.close()


class ListenerName:
    """What gunicorn's connection handler asks of the listening socket: its address, still known once the
    socket is closed (a connection taken in just before the worker closed it is handled after that)."""

    def __init__(self, listener: socket.socket) -> None:
        self._name = listener.getsockname()

    def getsockname(self) -> Any:
        return self._name


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's error answer (status, reason, message) as ``{"error": ...}``, the connection closed."""
    body = refusal_answer(ServingError(f"{reason}: {mesg}" if mesg else reason, http_status=status_int),
                          JSON).body
    headers = with_security_headers([("Connection", "close"), ("Content-Type", "application/json"),
                                     ("Content-Length", str(len(body)))])
    head = (f"HTTP/1.1 {status_int} {reason}\r\n"
            + "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n").encode("latin-1")
    gunicorn_util.write_nonblock(sock, head + body)


def _front_end(wsgi_app: Any) -> Any:
    """The app's ``FrontEnd`` (``webapp.http.calls``) when it is this server's Flask app, else None."""
    return getattr(wsgi_app, "extensions", {}).get("front_end")


def _app_settings(wsgi_app: Any) -> Any:
    """The app's own settings when it is this server's Flask app, else the ``EMNIST_*`` environment's."""
    settings = getattr(wsgi_app, "extensions", {}).get("settings")
    return settings if settings is not None else load_settings()[0]
