"""HTTP API and the chat widget's home: ``create_app(bot)``; ``triage serve`` runs it.

A thin adapter like the CLI: parse the body (pydantic lives here, at the edge), call
:class:`bot.service.Bot`, format. Verdicts come only from the core.

* Blocking work (embedding, retrieval) runs in plain ``def`` endpoints, i.e. in the worker
  thread pool, so the event loop keeps serving /healthz and other requests meanwhile; the
  embedder's own lock is the only point where concurrent requests queue.
* ``create_app`` takes a loaded Bot (tests) or a loader callable (``triage serve``): the
  server then listens at once and loads in a background thread; /readyz says 503 until done.
* Every error is ``{"error": {"code", "message", "hint"?}}`` with the status the error class
  names (bot.errors), validation errors included; anything unexpected is a 500 with an error
  id that is logged with its traceback — the traceback never goes into the body.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Callable, Literal, Union

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .config import Settings
from .errors import BotError, NotReadyError, TooLargeError
from .feedback import AnswerRecord, FeedbackStore

log = logging.getLogger("bot.api")
STATIC = Path(__file__).resolve().parent / "static"
_PLACEHOLDER = "Is <tool> supported?"

# ------------------------------------------------------------------------------ bodies


class AskIn(BaseModel):
    question: str = Field(..., description="The question or ticket text.", examples=[_PLACEHOLDER])
    provider: str | None = Field(None, description="Scope to one provider id (GET /v1/providers); all when null.")
    session_id: str | None = Field(
        None, max_length=128, pattern=r"^[\w.:-]+$",
        description="Conversation id: follow-ups ('and on <provider>?', 'what about <tool>?') resolve against "
        "the previous turn of the same session. One is created and returned when null.",
    )


class TicketIn(BaseModel):
    id: str | int = Field(..., description="Your id; echoed back.")
    text: str = Field(..., description="The ticket or question text.")
    provider: str | None = None


class ClassifyIn(BaseModel):
    tickets: list[TicketIn] = Field(..., description="At most `max_classify_items` (1000 by default).")


class FeedbackIn(BaseModel):
    answer_id: str = Field(..., max_length=64)
    rating: Literal["up", "down"]
    comment: str | None = Field(None, max_length=4000)


class CitationOut(BaseModel):
    doc: str
    title: str
    section: str
    quote: str = Field(..., description="Verbatim text of the document at [start:end].")
    url: str
    start: int
    end: int
    score: float


class FindingOut(BaseModel):
    provider: str
    verdict: Literal["covered", "best-effort", "not-covered", "unknown"]
    confidence: float
    reason: str
    citations: list[CitationOut]


class AnswerOut(BaseModel):
    question: str = Field(..., description="The question as sent.")
    verdict: Literal["covered", "best-effort", "not-covered", "unknown", "mixed"]
    escalate: bool = Field(..., description="True when a human should decide.")
    answer: str = Field(..., description="Markdown-ish text composed only from the documents.")
    findings: list[FindingOut]
    answer_id: str = Field(..., description="Rate it with POST /v1/feedback.")


class AskOut(AnswerOut):
    resolved_question: str = Field(..., description="The question answered: a follow-up rewritten from the previous turn.")
    session_id: str


class ClassifiedOut(AnswerOut):
    id: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    hint: str | None = None
    id: str | None = Field(None, description="For 500s: quote it when reporting; the log has the details.")


class ErrorOut(BaseModel):
    error: ErrorDetail


class ClassifiedErrorOut(ErrorOut):
    id: str


class ClassifyOut(BaseModel):
    answers: list[Union[ClassifiedOut, ClassifiedErrorOut]] = Field(..., description="One per ticket, in order.")


class FeedbackOut(BaseModel):
    feedback_id: int


ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorOut, "description": d}
    for s, d in ((413, "Too large"), (422, "Bad input"), (500, "Internal error"), (503, "Still loading"))
}

# ------------------------------------------------------------------------------ errors


def error_body(code: str, message: str, hint: str | None = None, **extra: Any) -> dict:
    detail = {"code": code, "message": message, **({"hint": hint} if hint else {}), **extra}
    return {"error": detail}


def _error_response(e: BotError) -> JSONResponse:
    headers = {"Retry-After": "5"} if e.http_status == 503 else None
    return JSONResponse(error_body(e.code, e.message, e.hint), status_code=e.http_status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


class BodyLimit:
    """Refuse a body whose declared length is over the limit before reading it (413)."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length", b"")
            if length.isdigit() and int(length) > self.limit:
                msg = f"the request body is {int(length):,} bytes; the limit is {self.limit:,}"
                await JSONResponse(error_body("too_large", msg), status_code=413)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class CatchAll:
    """Last-resort 500 as JSON with an error id; sits inside CORS so the browser can read it."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        started = False

        async def tracking_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if started or scope["type"] != "http":
                raise
            eid = uuid.uuid4().hex[:12]
            log.exception("unhandled error %s on %s %s", eid, scope.get("method"), scope.get("path"))
            body = error_body("internal", f"internal error (id {eid})", "retry; if it persists, report the id", id=eid)
            await JSONResponse(body, status_code=500)(scope, receive, send)


# ------------------------------------------------------------------------------ the app


class _State:
    """The bot once loaded (or why it failed) and the feedback store."""

    def __init__(self, bot, loader: Callable[[], Any] | None, store: FeedbackStore):
        self.bot, self.loader, self.store = bot, loader, store
        self.load_error: BaseException | None = None

    def load(self) -> None:
        try:
            bot = self.loader()
            bot.answer("warm-up question about support")  # first call pays lazy inits; not a user
            self.bot = bot
        except BaseException as e:  # reported by /readyz and every endpoint needing the bot
            self.load_error = e
            log.exception("loading the bot failed")

    def ready_bot(self):
        if self.bot is not None:
            return self.bot
        if self.load_error is not None:  # still "not ready", whatever the cause; it says which
            e = self.load_error
            what = e.message if isinstance(e, BotError) else f"{type(e).__name__}: {e}"
            raise NotReadyError(f"loading failed: {what}", hint=getattr(e, "hint", None) or "see the server log; restart after fixing")
        raise NotReadyError("the model and index are still loading", hint="retry in a few seconds (GET /readyz)")


def create_app(source, settings: Settings | None = None) -> FastAPI:
    """``source`` is a loaded :class:`~bot.service.Bot`, or a callable returning one (called
    in a background thread at startup)."""
    loaded = hasattr(source, "answer")
    settings = settings or (source.settings if loaded else Settings())
    state = _State(source if loaded else None, None if loaded else source, FeedbackStore(settings.data_dir))

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        if state.loader is not None and state.bot is None:
            threading.Thread(target=state.load, name="bot-loader", daemon=True).start()
        yield
        state.store.close()

    app = FastAPI(
        title="Support-triage bot",
        version="0.1.0",
        summary="Is X supported? Per-vendor verdicts quoted verbatim from the vendors' support policies.",
        lifespan=lifespan,
    )
    app.state.triage = state
    app.add_middleware(CatchAll)
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    app.add_middleware(
        CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"], allow_headers=["content-type"], max_age=600
    )

    @app.exception_handler(BotError)
    async def _bot_error(_req: Request, e: BotError):
        return _error_response(e)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError):
        return JSONResponse(error_body("bad_input", _validation_message(exc)), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_req: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=getattr(exc, "headers", None))

    # -- probes --------------------------------------------------------------------------

    @app.get("/healthz", tags=["probes"], summary="The process is up")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", tags=["probes"], summary="Index loaded and model warm (503 until then)", responses=ERRORS)
    def readyz():
        bot = state.ready_bot()
        return {"status": "ready", "build_id": bot.index.manifest["build_id"], "model_id": bot.embedder.model_id}

    # -- the API -------------------------------------------------------------------------

    @app.post("/v1/ask", response_model=AskOut, responses=ERRORS, tags=["answers"], summary="Answer one question")
    def ask(body: AskIn):
        bot = state.ready_bot()
        sid = body.session_id or uuid.uuid4().hex
        ans, res = bot.ask(body.question, body.provider, sid)
        aid = uuid.uuid4().hex
        state.store.record([AnswerRecord(aid, body.question, res.question, ans, res.provider, sid)])
        return JSONResponse({**ans.to_dict(), "question": body.question, "resolved_question": res.question, "answer_id": aid, "session_id": sid})

    @app.post("/v1/classify", response_model=ClassifyOut, responses=ERRORS, tags=["answers"], summary="Answer a batch of tickets, in order")
    def classify(body: ClassifyIn):
        bot = state.ready_bot()
        n, limit = len(body.tickets), settings.max_classify_items
        if n > limit:
            raise TooLargeError(f"{n:,} tickets in one request; the limit is {limit:,}", hint="split the batch")
        problems: dict[int, BotError] = {}
        for i, t in enumerate(body.tickets):
            try:
                bot.check_question(t.text)
                if t.provider is not None:
                    bot.scope(bot.analyzer.analyze(t.text), t.provider)
            except BotError as e:
                problems[i] = e
        good = [i for i in range(n) if i not in problems]
        answers = dict(zip(good, bot.answer_many([(body.tickets[i].text, body.tickets[i].provider) for i in good], check=False)))
        ids = {i: uuid.uuid4().hex for i in good}
        state.store.record(AnswerRecord(ids[i], body.tickets[i].text, body.tickets[i].text, answers[i], body.tickets[i].provider) for i in good)
        out = []
        for i, t in enumerate(body.tickets):
            if i in problems:
                out.append({"id": str(t.id), **error_body(problems[i].code, problems[i].message, problems[i].hint)})
            else:
                out.append({"id": str(t.id), **answers[i].to_dict(), "answer_id": ids[i]})
        return JSONResponse({"answers": out})

    @app.post("/v1/feedback", status_code=201, response_model=FeedbackOut, responses={404: {"model": ErrorOut}, **ERRORS}, tags=["feedback"])
    def feedback(body: FeedbackIn):
        """Rate an answer (👍 ``up`` / 👎 ``down``), optionally with a comment."""
        return JSONResponse({"feedback_id": state.store.rate(body.answer_id, body.rating, body.comment)}, status_code=201)

    @app.get("/v1/feedback/export", tags=["feedback"], summary="Every rating with its question and verdicts (JSON Lines)")
    def feedback_export():
        lines = (json.dumps(r, ensure_ascii=False) + "\n" for r in state.store.export())
        return StreamingResponse(lines, media_type="application/x-ndjson")

    @app.get("/v1/providers", tags=["index"], responses=ERRORS, summary="Providers, documents, index build time, chunk counts")
    def providers():
        return state.ready_bot().info()

    # -- the widget and its demo page -------------------------------------------------------

    def static(name: str, media_type: str):
        return FileResponse(STATIC / name, media_type=media_type, headers={"Cache-Control": "no-cache"})

    @app.get("/", include_in_schema=False)
    async def demo_page():
        return static("demo.html", "text/html; charset=utf-8")

    @app.get("/widget.js", include_in_schema=False)
    async def widget_js():
        return static("widget.js", "text/javascript; charset=utf-8")

    @app.get("/widget.css", include_in_schema=False)
    async def widget_css():
        return static("widget.css", "text/css; charset=utf-8")

    if settings.slack_enabled:  # POST /slack/events: same bot, same feedback store (bot/slack.py)
        from .slack import mount

        mount(app, state.ready_bot, state.store, settings)
    return app
