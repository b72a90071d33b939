"""The gunicorn worker's thread pool: a request that waits for a thread until its deadline is answered at
its deadline, from its greenlet, and is never run afterwards."""

from __future__ import annotations

import io
import json
import threading

import gevent
import pytest
from gevent.threadpool import ThreadPool

from webapp.http.gunicorn_worker import ThreadPoolApp
from webapp.http.refusals import JSON, PAGE


def environ(path: str) -> dict:
    return {"REQUEST_METHOD": "POST", "PATH_INFO": path, "wsgi.input": io.BytesIO(b"{}"),
            "CONTENT_LENGTH": "2", "SERVER_NAME": "localhost", "SERVER_PORT": "80"}


class BlockingApp:
    """A WSGI app whose first request holds its thread until released; it records what it ran."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.ran: list[str] = []

    def __call__(self, environ: dict, start_response) -> list[bytes]:
        self.ran.append(environ["PATH_INFO"])
        if environ["PATH_INFO"] == "/first":
            self.release.wait(30)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ran"]


def answer_of(app: ThreadPoolApp, path: str) -> dict:
    answer: dict = {}

    def start_response(status: str, headers: list) -> None:
        answer["status"], answer["headers"] = status, dict(headers)

    answer["body"] = b"".join(app(environ(path), start_response))
    return answer


@pytest.fixture
def queue() -> tuple[ThreadPoolApp, BlockingApp]:
    blocking = BlockingApp()
    pool = ThreadPool(1)
    style = {"/page": PAGE}
    app = ThreadPoolApp(blocking, pool, 1 << 20, 0, deadline_seconds=0.2,
                        style_of=lambda environ: style.get(environ["PATH_INFO"], JSON))
    yield app, blocking
    blocking.release.set()
    pool.kill()


def test_a_queued_request_is_refused_at_its_deadline_while_the_thread_is_busy(queue):
    app, blocking = queue
    first = gevent.spawn(answer_of, app, "/first")
    gevent.sleep(0.05)  # the first request holds the only thread
    second = gevent.spawn(answer_of, app, "/second")
    second.join(timeout=10)
    assert second.ready(), "the queued request was not answered while the thread stayed busy"
    assert not first.ready()
    refusal = second.value
    assert refusal["status"] == "503 SERVICE UNAVAILABLE"
    assert refusal["headers"]["Content-Type"] == "application/json"
    assert refusal["headers"]["X-Content-Type-Options"] == "nosniff"  # the worker's own answer too
    assert "frame-ancestors 'none'" in refusal["headers"]["Content-Security-Policy"]
    assert json.loads(refusal["body"]) == {"error": "the server is busy: the request waited "
                                                    "REQUEST_DEADLINE_SECONDS=0.2 s without starting; "
                                                    "retry later"}
    blocking.release.set()
    first.join(timeout=10)
    assert first.value["body"] == b"ran"
    gevent.sleep(0.1)  # the thread is free again: the given-up request is skipped, not run
    assert blocking.ran == ["/first"]


def test_a_page_request_waits_for_its_thread(queue):
    """The page's refusal is a rendered page: its request waits and the app answers it."""
    app, blocking = queue
    first = gevent.spawn(answer_of, app, "/first")
    gevent.sleep(0.05)
    page = gevent.spawn(answer_of, app, "/page")
    page.join(timeout=0.5)
    assert not page.ready()
    blocking.release.set()
    page.join(timeout=10)
    assert page.value["body"] == b"ran" and blocking.ran == ["/first", "/page"]
    first.join(timeout=10)


def test_the_workers_refusal_is_observed_like_the_apps():
    """Given the app's observation layer, the refusal carries a request id and is counted as a refusal by
    REQUEST_DEADLINE_SECONDS (a busy server is when the metrics matter most)."""
    from serving_core.metrics import Metrics
    from webapp.http.observe import UNROUTED, ObserveRequests
    from webapp.request_outcome import RequestOutcomes

    finished = []

    class Recorder(Metrics):
        def __init__(self) -> None:  # records what it is given, no metric objects
            pass

        def request_done(self, record, code, status, seconds) -> None:
            finished.append((record.route, getattr(record.error, "limit", None), code, status))

    blocking = BlockingApp()
    pool = ThreadPool(1)
    observer = ObserveRequests(blocking, RequestOutcomes(Recorder(), False))
    app = ThreadPoolApp(observer, pool, 1 << 20, 0, deadline_seconds=0.2, style_of=lambda environ: JSON,
                        observer=observer)
    try:
        first = gevent.spawn(answer_of, app, "/first")
        gevent.sleep(0.05)
        refusal = answer_of(app, "/second")
    finally:
        blocking.release.set()
        first.join(timeout=10)
        pool.kill()
    assert refusal["status"] == "503 SERVICE UNAVAILABLE"
    assert len(refusal["headers"]["X-Request-ID"]) == 32
    assert (UNROUTED, "REQUEST_DEADLINE_SECONDS", "503", "UNAVAILABLE") in finished
