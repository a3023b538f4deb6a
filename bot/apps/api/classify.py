"""``POST /v1/classify`` and classify jobs: many tickets, one answer (or error) each, in order.

Each ticket gets the fields ``triage classify`` writes — ``route``, ``confidence``,
``top_citation``, ``verdict_<provider>``, the separate ``questions`` — from the same code
(:func:`bot.apps.batch.answer_chunk` and :meth:`~bot.apps.batch.Result.answer_fields`). A
ticket that cannot be used (no ``id``, no text, an unknown provider) gets an error in its
place; the others are answered.

Batch work is charged by tickets and characters per key (or address) when keys are configured
(:class:`~bot.runtime.ratelimit.WorkLimiter`), runs on its own pool with chat first at the model
(bot.apps.api.jobs), in steps of ``BATCH_STEP`` tickets — so a chat question waits for one
small step at most, a job reports progress and a shutdown stops it between steps. A long batch is better sent as a job:
``POST /v1/classify/jobs`` → id, then ``GET /v1/classify/jobs/{id}`` until ``done``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, Callable, Sequence

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ...engine.errors import BotError, InputError, NotReadyError, RateLimitedError, TooLargeError
from ...engine.tickets import Ticket
from ...runtime import logs
from ...runtime.config import Settings
from ...runtime.feedback import AnswerRecord, FeedbackStore
from ...runtime.ratelimit import WorkLimiter
from ...runtime.sanitize import clean_question
from ..batch import LengthSorted, Result, answer_chunk
from .jobs import BatchPool, ChatFirst, ChatFirstEmbedder, Job, JobStore
from .middleware import error_body
from .schemas import API_ERRORS, ClassifyIn, ClassifyOut, JobOut, TicketIn, _errors

log = logging.getLogger("bot.api")

# Tickets per core call and texts per model batch in batch work: what a chat question may have
# to wait for. Small, so it waits little; throughput barely depends on it (texts are sorted by
# length, so batches pad little either way).
BATCH_STEP = 8


class BatchWork:
    """What batch work shares in one app: the pool, the chat-first gate, the jobs and the work
    limiter (only when keys are configured: without keys the API is open and unlimited)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.gate = ChatFirst()
        self.pool = BatchPool(settings.classify_workers, settings.classify_queue)
        self.jobs = JobStore(settings.classify_max_jobs, settings.classify_job_ttl_seconds)
        self.limiter = WorkLimiter(settings.classify_tickets_per_minute, settings.classify_chars_per_minute)

    def admit(self, body: ClassifyIn, who: str) -> None:
        """413 for too many tickets, 429 for a full queue or too much work for ``who``."""
        n, limit = len(body.tickets), self.settings.max_classify_items
        if n > limit:
            raise TooLargeError(f"{n:,} tickets in one request; the limit is {limit:,}", hint="split the batch")
        self.pool.check()  # before charging the work
        if not self.settings.auth_enabled:
            return
        refused = self.limiter.take(who, n, sum(len(t.text) for t in body.tickets))
        if refused is None:
            return
        per = f"{refused.per_minute:,} {refused.what} a minute per key (or address)"
        if refused.too_big:
            raise TooLargeError(f"{refused.cost:,} {refused.what} in one batch; the limit is {per}", hint="split the batch")
        raise RateLimitedError(f"too much classify work: {refused.cost:,} {refused.what} with a limit of {per}",
                               retry_after=refused.wait, hint=f"retry in {refused.wait} s, or send smaller batches")

    def embedder(self, bot) -> LengthSorted:
        return LengthSorted(ChatFirstEmbedder(bot.embedder, self.gate, BATCH_STEP), BATCH_STEP)

    def run(self, bot, store: FeedbackStore, tickets: Sequence[TicketIn], on_progress: Callable[[int], None] | None = None) -> list[dict]:
        def stop() -> bool:
            self.gate.wait_turn()  # chat first between chunks too (deciding a chunk holds the GIL)
            return self.pool.closed.is_set()

        return classify_tickets(bot, store, tickets, embedder=self.embedder(bot), chunk=BATCH_STEP, on_progress=on_progress, stop=stop)

    def start_job(self, owner: str, bot, store: FeedbackStore, tickets: list[TicketIn]) -> Job:
        job = self.jobs.add(owner, len(tickets))
        try:
            self.pool.submit(self._run_job, job, bot, store, tickets)
        except BotError:
            self.jobs.discard(job.id)
            raise
        return job

    def _run_job(self, job: Job, bot, store: FeedbackStore, tickets: list[TicketIn]) -> None:
        job.status = "running"
        try:
            answers = self.run(bot, store, tickets, lambda done: setattr(job, "done", done))
        except BotError as e:
            self.jobs.finish(job, error=error_body(e.code, e.message, e.hint)["error"])
        except Exception:  # noqa: BLE001  (logged with its traceback; the job says failed)
            eid = uuid.uuid4().hex[:12]
            log.exception("classify job %s failed: error %s", job.id, eid)
            self.jobs.finish(job, error=error_body("internal", f"internal error (id {eid})", "retry; if it persists, report the id", id=eid)["error"])
        else:
            self.jobs.finish(job, answers=answers)

    def close(self) -> None:
        self.pool.close()


def classify_tickets(bot, store: FeedbackStore, tickets: Sequence[TicketIn], *, embedder: Any = None, chunk: int = 32,
                     on_progress: Callable[[int], None] | None = None, stop: Callable[[], bool] = lambda: False) -> list[dict]:
    """One answer (or error) per ticket, in order, ``chunk`` tickets per core call."""
    providers = sorted(bot.providers)
    out: list[dict] = [{} for _ in tickets]
    todo: list[tuple[int, Ticket]] = []
    for i, t in enumerate(tickets):
        if t.problem:
            out[i] = _error_item(t.echo_id, InputError(f"tickets[{i}]: {t.problem}", hint='send {"id", "text"} for every ticket'))
        else:
            todo.append((i, Ticket(line=i + 1, id=str(t.id), fields={}, text=clean_question(t.text), provider=t.provider)))
    done = len(tickets) - len(todo)
    for start in range(0, len(todo), max(1, chunk)):
        if stop():
            raise NotReadyError("the server is shutting down", hint="send the batch again once it is back")
        part = todo[start : start + chunk]
        results = answer_chunk(bot, [t for _, t in part], embedder)
        ids = {id(r): uuid.uuid4().hex for r in results if r.answer is not None}
        store.record(AnswerRecord(ids[id(r)], r.answer.question, r.answer.question, r.answer, r.provider) for r in results if r.answer is not None)
        for (i, t), r in zip(part, results):
            out[i] = _item(t.id, r, providers, ids.get(id(r)))
        done += len(part)
        if on_progress:
            on_progress(done)
    return out


def _item(tid: str | None, r: Result, providers: Sequence[str], answer_id: str | None) -> dict:
    if r.answer is None:
        e = r.problem if isinstance(r.problem, BotError) else InputError(r.error or "could not be answered")
        return _error_item(tid, e)
    note = r.flat()["note"]
    return {"id": tid, **r.answer_fields(providers), "answer_id": answer_id, **({"note": note} if note else {})}


def _error_item(tid: str | None, e: BotError) -> dict:
    return {"id": tid, "route": "human-review", **error_body(e.code, e.message, e.hint)}


def _who(request: Request) -> str:
    """Whose work this is: the key's label (``api#1``), else the client's address."""
    info = logs.current()
    if info is not None and info.principal:
        return f"key:{info.principal}"
    return f"ip:{request.client.host if request.client else 'unknown'}"


def add_classify(app: FastAPI, state, settings: Settings) -> None:
    batch: BatchWork = state.batch

    @app.post("/v1/classify", response_model=ClassifyOut, responses=API_ERRORS, tags=["answers"], summary="Answer a batch of tickets, in order")
    async def classify(body: ClassifyIn, request: Request):
        """Each ticket gets what `triage classify` writes: the answer, `route`, `confidence`,
        `top_citation`, `verdict_<provider>` and, for a ticket asking several things,
        `questions`. A ticket that cannot be used (no `id`, no `text`, an unknown provider)
        gets `{"id", "route": "human-review", "error"}` in its place; the others are answered.
        Text longer than `max_ticket_chars` (50,000 by default) is trimmed, with a `note`.
        For long batches prefer `POST /v1/classify/jobs`."""
        bot = state.ready_bot()
        batch.admit(body, _who(request))
        fut = batch.pool.submit(lambda: JSONResponse({"answers": batch.run(bot, state.store, body.tickets)}))
        return await asyncio.wrap_future(fut)

    @app.post("/v1/classify/jobs", status_code=202, response_model=JobOut, responses=API_ERRORS, tags=["answers"],
              summary="Start classifying a batch of tickets in the background")
    async def create_job(body: ClassifyIn, request: Request):
        """The same batch as `POST /v1/classify`, answered in the background: returns the job's
        `id` at once (202, `Location` header); `GET /v1/classify/jobs/{id}` gives its status,
        progress and, when `done`, the `answers`. 429 when the classify queue is full."""
        bot = state.ready_bot()
        who = _who(request)
        batch.admit(body, who)
        job = batch.start_job(who, bot, state.store, body.tickets)
        url = f"/v1/classify/jobs/{job.id}"
        return JSONResponse(job.view(batch.jobs.ttl), status_code=202, headers={"Location": url})

    @app.get("/v1/classify/jobs/{job_id}", response_model=JobOut, responses=_errors(401, 403, 404, 429, 500), tags=["answers"],
             summary="A classify job: status, progress, answers when done")
    def get_job(job_id: str, request: Request):
        """Only the key (or, without keys, the address) that started the job sees it; anyone
        else, an unknown id and a job finished more than `classify_job_ttl_seconds` ago get 404."""
        return JSONResponse(batch.jobs.get(job_id, _who(request)).view(batch.jobs.ttl))
