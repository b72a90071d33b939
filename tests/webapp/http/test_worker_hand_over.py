"""A retiring worker's hand-over: it watches the readiness board often (a sibling ready ends it at once) and
asks whether it can answer itself once a second (for a front end, that question goes to its model servers)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from webapp.http import gunicorn_worker
from webapp.http.gunicorn_worker import READINESS_CHECK_SECONDS, GeventThreadPoolWorker


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Board:
    """Says a sibling is ready from ``ready_at`` on; counts how often it was read."""

    def __init__(self, clock: FakeClock, ready_at: float) -> None:
        self.clock, self.ready_at, self.reads = clock, ready_at, 0

    def others_ready(self) -> bool:
        self.reads += 1
        return self.clock.now >= self.ready_at


def retiring_worker(clock: FakeClock, graceful_timeout: float, can_answer: bool = True):
    worker = object.__new__(GeventThreadPoolWorker)
    worker.cfg = SimpleNamespace(graceful_timeout=graceful_timeout)
    worker.notify = lambda: None
    checks: list[float] = []

    def follow_readiness(servers, board) -> bool:
        checks.append(clock.now)
        return can_answer

    worker._follow_readiness = follow_readiness
    return worker, checks


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(gunicorn_worker.time, "monotonic", fake.monotonic)
    monkeypatch.setattr(gunicorn_worker.gevent, "sleep", fake.sleep)
    return fake


def test_readiness_is_asked_once_a_second_while_the_board_is_read_often(clock: FakeClock) -> None:
    board = Board(clock, ready_at=clock.now + 3.55)
    worker, checks = retiring_worker(clock, graceful_timeout=30)
    worker._hand_over([], board)
    assert len(checks) == 4  # at 0, 1, 2 and 3 s: not every 0.1 s
    assert all(b - a >= READINESS_CHECK_SECONDS - 1e-9 for a, b in zip(checks, checks[1:], strict=False))
    assert board.reads >= 30  # the board every 0.1 s: the hand-over ends soon after a sibling is ready
    assert clock.now - board.ready_at < 0.2


def test_a_worker_that_cannot_answer_stops_handing_over_at_once(clock: FakeClock) -> None:
    start = clock.now
    worker, checks = retiring_worker(clock, graceful_timeout=30, can_answer=False)
    worker._hand_over([], Board(clock, ready_at=start + 100))
    assert len(checks) == 1 and clock.now == start


def test_the_hand_over_ends_at_half_the_graceful_timeout(clock: FakeClock) -> None:
    start = clock.now
    worker, checks = retiring_worker(clock, graceful_timeout=10)
    worker._hand_over([], Board(clock, ready_at=start + 100))
    assert 5.0 <= clock.now - start < 5.2
    assert len(checks) == 5
