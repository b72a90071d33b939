"""One bad or oversized input, every entry point, one refusal: the same status (or gRPC code) and message.

Each case of ``expected.EXPECTED`` (its table is there) goes through each entry point of
``entry_points.ENTRY_POINTS``: TF Serving's REST ``:predict`` and ``:classify`` with the fast paths off and
on, ``/predict`` (JSON and multipart), the Open Inference Protocol's REST ``.../infer`` (JSON and binary
data, fast path off and on), GraphPipe on its route and on its port, TF Serving's gRPC Predict and
Classify, the Open Inference Protocol's gRPC ModelInfer, and the app as a front end to a gRPC and to a
REST model server (``/predict`` and ``:predict``). A pair is skipped only where the protocol cannot
carry the input; its id says so (``...-cannot-carry-...``).
"""

from __future__ import annotations

import contextlib
import gc
import re
import time
from collections.abc import Callable, Iterator

import pytest

from tests.webapp.refusals import deployments as deployments_module
from tests.webapp.refusals.deployments import Deployment, profile_of
from tests.webapp.refusals.entry_points import ENTRY_POINTS, EntryPoint
from tests.webapp.refusals.expected import (
    BATCH_TIMEOUT_SECONDS,
    EXPECTED,
    QUEUED_CLIENT_TIMEOUT_SECONDS,
    without_locator,
)
from tests.webapp.refusals.payloads import payload

#: How long a client waits for a refusal (the queued case waits less: a later answer is a failure).
CLIENT_TIMEOUT_SECONDS = 30.0
#: Before a queued case: longer than a model server's copy of the previous request can outlive its answer.
QUEUED_COPIES_GONE_SECONDS = 0.5


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No pause of Python's cyclic garbage collector while the block runs.

    The servers run in this process, whose heap holds what the whole suite imported (TensorFlow, torch)
    and left behind: one full collection can stop every thread for half a second, as long as the queued
    case's deadline, and turn its 504 into a 503 (the request had not started) or a late answer.
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.fixture(scope="module")
def deployment() -> Iterator[Callable[[str], Deployment]]:
    yield from deployments_module.deployments()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def cases() -> Iterator[object]:
    for case in EXPECTED:
        for entry_point in ENTRY_POINTS:
            reason = entry_point.cannot_carry.get(case)
            if reason is None:
                yield pytest.param(case, entry_point, id=f"{case}-{entry_point.name}")
            else:
                name = f"{case}-{entry_point.name}-cannot-carry-{_slug(reason)}"
                yield pytest.param(case, entry_point, id=name,
                                   marks=pytest.mark.skip(reason=f"{entry_point.name}: {reason}"))


@pytest.mark.parametrize(("case", "entry_point"), cases())
def test_the_same_refusal_on_every_entry_point(deployment, case: str, entry_point: EntryPoint) -> None:
    refusal = EXPECTED[case]
    timeout = QUEUED_CLIENT_TIMEOUT_SECONDS if case == "deadline_while_queued" else CLIENT_TIMEOUT_SECONDS
    if case == "deadline_while_queued":
        # A front end gives up at its deadline, but its model server's copy of the request started later
        # (after the front end asked for the version) and stays queued a little longer. A request arriving
        # meanwhile would join that batch and run when the copy expires, answered: let every earlier copy
        # expire first, so this request waits in a batch of its own.
        time.sleep(QUEUED_COPIES_GONE_SECONDS)
    served = deployment(profile_of(case))
    with collector_paused() if case == "deadline_while_queued" else contextlib.nullcontext():
        answer = entry_point.send(served, payload(case), timeout)
    status = refusal.http_status if entry_point.protocol == "http" else refusal.code.name
    message = without_locator(answer.message)
    refused = answer.status == status and refusal.matches(message, entry_point.family)
    if case == "deadline_while_queued" and not refused:
        # Not refused: the request may still hold a batch open. Let that batch run, so the next entry
        # point's request waits in a queue of its own and not in this one's batch.
        time.sleep(BATCH_TIMEOUT_SECONDS - QUEUED_CLIENT_TIMEOUT_SECONDS + 0.2)
    assert refused, (
        f"{entry_point.name} answered {answer.status} {answer.message!r}; "
        f"expected {status} {refusal.message_for(entry_point.family)!r}")
    if answer.graphpipe_code is not None:
        assert answer.graphpipe_code == refusal.code.value[0], "the GraphPipe Error's code"


#: Refusals whose error names its own HTTP status (a limit on the request's size: 413) rather than the one
#: TF Serving's REST server gives its code.
OWN_HTTP_STATUS = {"too_many_pixels": 413}


def test_the_table_gives_each_code_the_http_status_the_server_maps_it_to() -> None:
    from serving_core.errors import HTTP_STATUS, Code

    for case, refusal in EXPECTED.items():
        status = OWN_HTTP_STATUS.get(case, HTTP_STATUS[Code[refusal.code.name]])
        assert refusal.http_status == status, case
