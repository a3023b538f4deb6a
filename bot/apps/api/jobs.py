"""Batch work beside chat: its own bounded pool, chat first at the model, and classify jobs.

One big ``/v1/classify`` used to hold the server: its tickets went through the same worker
threads and the same model lock as chat questions, and a thread that lets go of a
``threading.Lock`` and asks for it again usually gets it back first. So:

* :class:`BatchPool` — batch work (``/v1/classify`` and its jobs) runs on a few threads of its
  own, at most ``limit`` requests and jobs waiting or running (more is a 429);
* :class:`ChatFirst` — a chat answer in flight makes batch work wait before its next model
  batch (at most ``max_wait`` seconds at a time, so batches never starve);
  :class:`ChatFirstEmbedder` is the embedder view batch work embeds through;
* :class:`JobStore` — classify jobs by id: status, progress, result; at most ``max_jobs`` kept,
  a finished one for ``ttl`` seconds; each visible only to the key (or address) that made it.
"""

from __future__ import annotations

import contextvars
import hmac
import logging
import queue
import threading
import time
import uuid
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ...engine.errors import NotFoundError, RateLimitedError

log = logging.getLogger("bot.api")

QUEUE_RETRY_AFTER = 5  # seconds: a Retry-After for a full queue (a batch takes seconds to minutes)


class ChatFirst:
    """Counts chat answers in flight; batch work calls :meth:`wait_turn` before each model
    batch and waits while any is (up to ``max_wait`` seconds)."""

    def __init__(self, max_wait: float = 1.0):
        self.max_wait = max_wait
        self._active = 0
        self._cond = threading.Condition()

    @contextmanager
    def chat(self) -> Iterator[None]:
        with self._cond:
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                if not self._active:
                    self._cond.notify_all()

    def wait_turn(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._active == 0, timeout=self.max_wait)


class ChatFirstEmbedder:
    """An embedder view for batch work: model batches of ``batch_size``, each after
    :meth:`ChatFirst.wait_turn`, so a chat question waits for one batch at most."""

    def __init__(self, inner, gate: ChatFirst, batch_size: int):
        self.inner, self.gate, self.batch_size = inner, gate, batch_size
        self.model_id, self.dim = inner.model_id, inner.dim

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: Any = None) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return self.inner.embed(texts)
        out = []
        for i in range(0, len(texts), self.batch_size):
            self.gate.wait_turn()
            out.append(self.inner.embed(texts[i : i + self.batch_size], batch_size=self.batch_size, progress=progress))
        return np.vstack(out)


class BatchPool:
    """``workers`` daemon threads for batch work; at most ``limit`` items waiting or running.
    Each item runs in the context it was submitted from (request id in its log lines)."""

    def __init__(self, workers: int, limit: int, name: str = "classify"):
        self.workers, self.limit, self.name = workers, limit, name
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._pending = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.closed = threading.Event()

    @property
    def pending(self) -> int:
        return self._pending

    def check(self) -> None:
        """A 429 when ``limit`` items are already waiting or running (or the pool is closed)."""
        if self._pending >= self.limit or self.closed.is_set():
            raise RateLimitedError(
                f"the classify queue is full ({self.limit} requests and jobs waiting or running)",
                retry_after=QUEUE_RETRY_AFTER, hint=f"retry in {QUEUE_RETRY_AFTER} s",
            )

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Queue ``fn(*args)``; a 429 when the queue is full (:meth:`check`)."""
        with self._lock:
            self.check()
            self._pending += 1
            if not self._threads:
                self._threads = [threading.Thread(target=self._work, name=f"{self.name}-{i}", daemon=True) for i in range(self.workers)]
                for t in self._threads:
                    t.start()
        fut: Future = Future()
        self._q.put((fut, contextvars.copy_context(), fn, args))
        return fut

    def _work(self) -> None:
        while (item := self._q.get()) is not None:
            fut, ctx, fn, args = item
            try:
                if fut.set_running_or_notify_cancel():
                    try:
                        fut.set_result(ctx.run(fn, *args))
                    except BaseException as e:  # noqa: BLE001  (handed to whoever waits)
                        fut.set_exception(e)
            finally:
                with self._lock:
                    self._pending -= 1

    def close(self) -> None:
        """No new work; work already running stops at its next chunk (it checks ``closed``)."""
        self.closed.set()
        for _ in self._threads:
            self._q.put(None)


@dataclass
class Job:
    """One classify job. ``answers`` is set when done, ``error`` when it failed."""

    id: str
    owner: str
    total: int
    created_at: float = field(default_factory=time.time)
    status: str = "queued"  # queued, running, done, failed
    done: int = 0
    answers: list[dict] | None = None
    error: dict | None = None
    finished: float | None = None  # the store's clock
    finished_at: float | None = None  # wall time

    def view(self, ttl: float) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "status": self.status, "progress": {"done": self.done, "total": self.total},
            "created_at": _iso(self.created_at),
        }
        if self.finished_at is not None:
            out.update(finished_at=_iso(self.finished_at), expires_at=_iso(self.finished_at + ttl))
        if self.answers is not None:
            out["answers"] = self.answers
        if self.error is not None:
            out["error"] = self.error
        return out


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class JobStore:
    """Jobs by id, thread-safe: at most ``max_jobs`` (the oldest finished one goes first, a
    finished one after ``ttl`` seconds anyway); one still queued or running is never dropped."""

    def __init__(self, max_jobs: int, ttl: float, *, clock: Callable[[], float] = time.monotonic):
        self.max_jobs, self.ttl, self.clock = max_jobs, ttl, clock
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._jobs)

    def _expire(self) -> None:
        now = self.clock()
        for jid in [j.id for j in self._jobs.values() if j.finished is not None and now - j.finished >= self.ttl]:
            del self._jobs[jid]

    def add(self, owner: str, total: int) -> Job:
        with self._lock:
            self._expire()
            if len(self._jobs) >= self.max_jobs:
                finished = [j for j in self._jobs.values() if j.finished is not None]
                if not finished:
                    raise RateLimitedError(
                        f"{len(self._jobs)} classify jobs are queued or running; the limit is {self.max_jobs}",
                        retry_after=QUEUE_RETRY_AFTER, hint=f"retry in {QUEUE_RETRY_AFTER} s",
                    )
                del self._jobs[min(finished, key=lambda j: j.finished or 0.0).id]
            job = Job(uuid.uuid4().hex, owner, total)
            self._jobs[job.id] = job
            return job

    def discard(self, job_id: str) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)

    def get(self, job_id: str, owner: str) -> Job:
        """The job, for its owner only: anyone else (and an expired or unknown id) gets a 404."""
        with self._lock:
            self._expire()
            job = self._jobs.get(job_id)
        if job is None or not hmac.compare_digest(job.owner.encode(), owner.encode()):
            raise NotFoundError(f"no classify job {job_id[:64]!r} for this key",
                                hint=f"a job is kept {self.ttl:g} s after it finishes; start a new one with POST /v1/classify/jobs")
        return job

    def finish(self, job: Job, answers: list[dict] | None = None, error: dict | None = None) -> None:
        with self._lock:
            job.answers, job.error = answers, error
            job.status = "done" if error is None else "failed"
            job.finished, job.finished_at = self.clock(), time.time()
