"""Server-side batching of concurrent requests, as TF Serving's ``--enable_batching``.

Why: a model call has a fixed cost, nearly the same for 1 image as for 32, so requests that arrive
together in one worker are cheaper run as one batch. The options mean what TF
Serving's batching parameters mean:

* ``max_batch_size``: most images in one model call; a request of that many images or more is not
  batched (it already is a batch) and runs directly.
* ``batch_timeout_micros``: how long a batch that is not full may wait for more requests before it runs.
  0 (the default here) still batches: whatever queued while the previous batch ran goes in the next one.
* ``max_enqueued_batches``: the queue bound, in batches of ``max_batch_size`` images; a request that
  would go past it is refused at once with :class:`BatchQueueFullError` (RESOURCE_EXHAUSTED, HTTP 503)
  instead of waiting without limit.
* ``num_batch_threads``: batches that may run at the same time in this process.

A request carries its deadline (``serving_core.deadline``): one still queued when its deadline passes is
answered at that moment (DEADLINE_EXCEEDED) and left out of the batch, so no model call starts for a
request that is out of time, and a batch that waits for more requests waits no longer than the first
deadline in it.

There is no batching thread: the request thread that finds the model idle becomes the leader, runs the
queued requests as one batch and hands the leadership to the next queued request, so a request whose
batch runs alone pays no thread switch at all.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from emnist_contract.tensors import NUM_PIXELS
from serving_core import metrics
from serving_core.deadline import Deadline
from serving_core.errors import ResourceExhaustedError

log = logging.getLogger(__name__)

PredictFunction = Callable[[np.ndarray], np.ndarray]


class BatchQueueFullError(ResourceExhaustedError):
    """The batching queue is full: the client should retry later (HTTP 503)."""

    http_status = 503
    limit = "BATCHING_MAX_ENQUEUED"


@dataclass(frozen=True)
class BatchingOptions:
    """TF Serving's batching parameters (``--batching_parameters_file``) that apply here."""

    max_batch_size: int
    batch_timeout_micros: int
    max_enqueued_batches: int
    num_batch_threads: int

    def __post_init__(self) -> None:
        for name in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"batching option {name} must be at least 1, got {getattr(self, name)}")
        if self.batch_timeout_micros < 0:
            raise ValueError(
                f"batching option batch_timeout_micros must be >= 0, got {self.batch_timeout_micros}"
            )

    @property
    def max_enqueued_images(self) -> int:
        return self.max_enqueued_batches * self.max_batch_size


class _Task:
    """One request's images on their way through the queue."""

    __slots__ = ("images", "deadline", "result", "error", "done", "lead", "event", "queued")

    def __init__(self, images: np.ndarray, deadline: Deadline | None) -> None:
        self.images = images
        self.queued = time.monotonic()
        self.deadline = deadline
        self.result: np.ndarray | None = None
        self.error: BaseException | None = None
        self.done = False
        self.lead = False
        self.event = threading.Event()


class DynamicBatcher:
    """Runs ``predict`` on batches made of the requests that are waiting at the same time.

    ``predict(images)`` is thread-safe and answers exactly what ``predict_function(images)`` would.
    """

    def __init__(self, predict_function: PredictFunction, options: BatchingOptions,
                 model_name: str = "") -> None:
        self._predict = predict_function
        self.options = options
        #: The model whose version this batcher runs (the batching metrics' label).
        self.model_name = model_name
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[_Task] = deque()
        self._queued_images = 0
        self._leaders = 0
        #: Batches run and the images in them: what reached the model through the queue.
        self.batches_run = 0
        self.images_run = 0

    def predict(self, images: np.ndarray, deadline: Deadline | None = None) -> np.ndarray:
        """Scores float32 [N,62] of ``images`` float32 [N,784], computed in a shared batch.

        ``deadline``: the request is not run after it.
        """
        images = np.ascontiguousarray(images, dtype=np.float32)
        if images.ndim != 2 or images.shape[1] != NUM_PIXELS:
            raise ValueError(f"expected images of shape [N, {NUM_PIXELS}], got {list(images.shape)}")
        count = len(images)
        recorder = metrics.active()
        if recorder is not None:
            recorder.batch_input(self.model_name, count)
        if count >= self.options.max_batch_size or count == 0:
            if deadline is not None:
                deadline.check("running the model")
            return self._predict(images)
        task = _Task(images, deadline)
        with self._cond:
            if self._queued_images + count > self.options.max_enqueued_images:
                raise BatchQueueFullError(
                    "The batch scheduling queue to which this task was submitted is full "
                    f"({self._queued_images} images queued, max_enqueued_batches="
                    f"{self.options.max_enqueued_batches} x max_batch_size={self.options.max_batch_size})"
                )
            self._queue.append(task)
            self._queued_images += count
            if self._leaders < self.options.num_batch_threads:
                self._leaders += 1
                leading = True
            else:
                leading = False
                if self._queued_images >= self.options.max_batch_size:
                    self._cond.notify_all()
        if not leading:
            task.event.wait()
            with self._cond:
                leading = task.lead
                if leading:
                    task.lead = False
                    task.event.clear()
        if leading:
            self._lead(task)
            if not task.done:  # another leader took it and is running it now
                task.event.wait()
        if task.error is not None:
            raise task.error
        assert task.result is not None
        return task.result

    def _lead(self, own: _Task) -> None:
        """Run batches until ``own`` is done (or taken by another leader), then pass the lead on."""
        while True:
            with self._cond:
                if own.done or not self._queue:
                    if self._queue:
                        successor = self._queue[0]
                        successor.lead = True
                        successor.event.set()
                    else:
                        self._leaders -= 1
                    return
                self._wait_for_full_batch()
                tasks = self._take_batch()
            if tasks:
                self._run(tasks)

    def _wait_for_full_batch(self) -> None:
        """Hold a batch that is not full for up to ``batch_timeout_micros``, and no later than the first
        deadline of the requests queued (lock held on entry)."""
        timeout = self.options.batch_timeout_micros / 1e6
        if not timeout:
            return
        until = time.monotonic() + timeout
        while self._queued_images < self.options.max_batch_size:
            due = min([until, *(task.deadline.expires for task in self._queue if task.deadline is not None)])
            remaining = due - time.monotonic()
            if remaining <= 0 or not self._cond.wait(remaining):
                return

    def _take_batch(self) -> list[_Task]:
        """Pop queued requests, oldest first, up to ``max_batch_size`` images (lock held).

        Requests whose deadline has passed are popped too, and answered DEADLINE_EXCEEDED, not run.
        """
        tasks: list[_Task] = []
        size = 0
        limit = self.options.max_batch_size
        now = time.monotonic()
        while self._queue and size + len(self._queue[0].images) <= limit:
            task = self._queue.popleft()
            self._queued_images -= len(task.images)
            if task.deadline is not None and task.deadline.expires <= now:
                task.error = task.deadline.exceeded("waiting in the batch queue")
                task.done = True
                task.event.set()
                continue
            tasks.append(task)
            size += len(task.images)
        return tasks

    def _run(self, tasks: list[_Task]) -> None:
        recorder = metrics.active()
        if recorder is not None:
            now = time.monotonic()
            recorder.batch_processed(self.model_name, sum(len(task.images) for task in tasks),
                                     [now - task.queued for task in tasks])
        try:
            if len(tasks) == 1:
                results = [self._predict(tasks[0].images)]
            else:
                scores = self._predict(np.concatenate([task.images for task in tasks]))
                bounds = np.cumsum([len(task.images) for task in tasks])[:-1]
                results = np.split(scores, bounds)
        except Exception as exc:  # every request of the batch gets the model's error
            for task in tasks:
                task.error = exc
                task.done = True
                task.event.set()
            return
        self.batches_run += 1
        self.images_run += sum(len(task.images) for task in tasks)
        for task, result in zip(tasks, results, strict=True):
            task.result = result
            task.done = True
            task.event.set()


class BatcherCache:
    """One :class:`DynamicBatcher` per engine (model version), dropped when the engine is unloaded.

    The batcher holds its engine only weakly, so the registry's unload still frees the model.
    """

    def __init__(self, options: BatchingOptions) -> None:
        self.options = options
        self._batchers: weakref.WeakKeyDictionary[object, DynamicBatcher] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def predict(self, engine: object, images: np.ndarray, deadline: Deadline | None = None,
                model_name: str = "") -> np.ndarray:
        """``engine.predict(images)`` through the engine's batcher (not run once ``deadline`` passed)."""
        return self.batcher_for(engine, model_name).predict(images, deadline)

    def batcher_for(self, engine: object, model_name: str = "") -> DynamicBatcher:
        batcher = self._batchers.get(engine)
        if batcher is None:
            with self._lock:
                batcher = self._batchers.get(engine)
                if batcher is None:
                    batcher = DynamicBatcher(_weak_predict(engine), self.options, model_name)
                    self._batchers[engine] = batcher
        return batcher


def _weak_predict(engine: object) -> PredictFunction:
    method = weakref.WeakMethod(engine.predict)  # type: ignore[attr-defined]

    def predict(images: np.ndarray) -> np.ndarray:
        bound = method()
        if bound is None:
            raise RuntimeError("the model version was unloaded while a batch was waiting")
        return bound(images)

    return predict
