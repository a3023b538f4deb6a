"""HTTP API and the chat widget's home: ``create_app(bot)``; ``triage serve`` runs it.

A thin adapter like the CLI: parse the body (pydantic lives here, at the edge), call
:class:`bot.service.Bot`, format. Verdicts come only from the core.

* Blocking work (embedding, retrieval) runs in plain ``def`` endpoints, i.e. in the worker
  thread pool, so the event loop keeps serving /healthz and other requests meanwhile; the
  embedder's own lock is the only point where concurrent requests queue.
* ``create_app`` takes a loaded Bot (tests) or a loader callable (``triage serve``): the
  server then listens at once and loads in a background thread; /readyz says 503 until done.
* Every error is ``{"error": {"code", "message", "hint"?, "request_id"}}`` with the status the
  error class names (bot.errors), validation errors included; anything unexpected is a 500
  with an error id that is logged with its traceback — the traceback never goes into the body.
* Middleware, outermost first: request id and access log (bot.logs), CORS, the last-resort
  500, keys and rate limits (bot.auth), the body-size limit. What people type is cleaned of
  invisible and control characters (bot.sanitize) before the core sees it.
* Every request takes the current Bot once, at its start (``state.ready_bot()``): a reload
  (``POST /v1/admin/reload``, or the index watcher) swaps in a new one for later requests
  while those in flight finish on the old one.
"""

from __future__ import annotations

import html
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
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from ...runtime import logs
from ...runtime.auth import API_PREFIX, WIDGET_HEADER, WIDGET_ROUTES, Access, Guard, key_value
from ...runtime.config import Settings
from ...runtime.memory import limit_heap_growth
from ...engine.errors import BotError, InputError, NotReadyError, RateLimitedError, TooLargeError
from ...runtime.feedback import AnswerRecord, FeedbackStore
from ...runtime.reload import BotHolder
from ...runtime.sanitize import clean_question, fix_surrogates

log = logging.getLogger("bot.api")
STATIC = Path(__file__).resolve().parent / "static"
_PLACEHOLDER = "Is <tool> supported?"

# ------------------------------------------------------------------------------ bodies


class _In(BaseModel):
    """A request body: unpaired surrogates (``"\\ud800"`` in JSON) in any text become U+FFFD,
    so nothing downstream (SQLite, the JSON encoder) chokes on them."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_surrogates(cls, v):
        return fix_surrogates(v) if isinstance(v, str) else v


class AskIn(_In):
    question: str = Field(..., description="The question or ticket text.", examples=[_PLACEHOLDER])
    provider: str | None = Field(None, description="Scope to one provider: its id or any of its names (GET /v1/providers); all when null.")
    session_id: str | None = Field(
        None, max_length=128, pattern=r"^[\w.:-]+$",
        description="Conversation id: follow-ups ('and on <provider>?', 'what about <tool>?') resolve against "
        "the previous turn of the same session. One is created and returned when null.",
    )


class TicketIn(_In):
    id: str | int = Field(..., description="Your id; echoed back.")
    text: str = Field(..., description="The ticket or question text.")
    provider: str | None = None


class ClassifyIn(_In):
    tickets: list[TicketIn] = Field(..., description="At most `max_classify_items` (1000 by default).")


class FeedbackIn(_In):
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
    note: str | None = Field(None, description="Set when the ticket text was trimmed to `max_ticket_chars` (50,000 by default).")


class ErrorDetail(BaseModel):
    code: str
    message: str
    hint: str | None = None
    request_id: str | None = Field(None, description="The request's id (also the X-Request-ID header): the server log has it.")
    id: str | None = Field(None, description="For 500s: quote it when reporting; the log has the details.")


class ErrorOut(BaseModel):
    error: ErrorDetail


class ClassifiedErrorOut(ErrorOut):
    id: str


class ClassifyOut(BaseModel):
    answers: list[Union[ClassifiedOut, ClassifiedErrorOut]] = Field(..., description="One per ticket, in order.")


class FeedbackOut(BaseModel):
    feedback_id: int


class ReloadOut(BaseModel):
    old_build: str | None = Field(None, description="Build id served before.")
    new_build: str | None = Field(None, description="Build id served now.")
    seconds: float = Field(..., description="Time taken to open the new build.")
    changed: bool = Field(..., description="False when CURRENT still named the build already served.")


_STATUS = {
    401: "No or an unknown key", 403: "A key that may not do this (or not from this origin)", 404: "Not found",
    413: "Too large", 422: "Bad input", 429: "Too many requests (see Retry-After)", 500: "Internal error", 503: "Still loading",
}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: {"model": ErrorOut, "description": _STATUS[c]} for c in codes}


API_ERRORS = _errors(401, 403, 413, 422, 429, 500, 503)  # every /v1 route: keys and limits apply

# ------------------------------------------------------------------------------ errors


def error_body(code: str, message: str, hint: str | None = None, **extra: Any) -> dict:
    rid = logs.request_id()
    detail = {"code": code, "message": message, **({"hint": hint} if hint else {}), **({"request_id": rid} if rid else {}), **extra}
    return {"error": detail}


def _error_response(e: BotError) -> JSONResponse:
    headers = None
    if isinstance(e, RateLimitedError):
        headers = {"Retry-After": str(e.retry_after)}
    elif e.http_status == 503:
        headers = {"Retry-After": "5"}
    elif e.http_status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse(error_body(e.code, e.message, e.hint), status_code=e.http_status, headers=headers)


def _body_error(exc: BaseException) -> InputError:
    """What FastAPI calls "an error parsing the body" (a 400), said precisely."""
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        return InputError(
            f"the request body is not UTF-8 (byte 0x{cause.object[cause.start]:02x} at offset {cause.start:,})",
            hint="send JSON encoded as UTF-8",
        )
    if isinstance(cause, RecursionError):
        return InputError("the request body is nested too deeply", hint="send the documented JSON shape")
    what = f": {cause}" if isinstance(cause, ValueError) and len(str(cause)) < 200 else ""
    return InputError(f"the request body could not be read as JSON{what}", hint="send the documented JSON shape")


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


class BodyLimit:
    """Request bodies over ``limit`` bytes are a 413. A declared one (Content-Length) is refused
    before it is read; one sent without a length (chunked) is read here as it streams, counting,
    and refused as soon as it passes the limit — else handed on whole to the app."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def _refuse(self, scope, receive, send, size: str) -> None:
        msg = f"the request body is {size} bytes; the limit is {self.limit:,}"
        await JSONResponse(error_body("too_large", msg, "send less at once (split a batch)"), status_code=413)(scope, receive, send)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None:
            if length.isdigit() and int(length) > self.limit:
                await self._refuse(scope, receive, send, f"{int(length):,}")
                return
            await self.app(scope, receive, send)
            return
        if b"chunked" not in headers.get(b"transfer-encoding", b"").lower():
            await self.app(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await self._refuse(scope, receive, send, f"more than {self.limit:,}")
                return
            if not message.get("more_body", False):
                break
        replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def buffered():
            return replay.pop() if replay else await receive()

        await self.app(scope, buffered, send)


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
    """The current Bot (in a holder that can swap in a rebuilt index), why loading failed if
    it did, the feedback store and the index watcher's stop flag."""

    def __init__(self, source, store: FeedbackStore, settings: Settings):
        self.store, self.settings = store, settings
        self.holder = None
        self.loader: Callable[[], Any] | None = None
        if hasattr(source, "reload") and hasattr(source, "bot"):
            self.holder = source
        elif hasattr(source, "answer"):
            self.holder = BotHolder.of(source)
        else:
            self.loader = source
        self.load_error: BaseException | None = None
        self.stop_watch: threading.Event | None = None

    def load(self) -> None:
        try:
            bot = self.loader()
            bot.answer("warm-up question about support")  # first call pays lazy inits; not a user
            self.holder = BotHolder.of(bot)
            self.watch()
        except BaseException as e:  # reported by /readyz and every endpoint needing the bot
            self.load_error = e
            log.exception("loading the bot failed")

    def watch(self) -> None:
        every = self.settings.index_watch_seconds
        if every > 0 and self.holder is not None and self.stop_watch is None:
            self.stop_watch = self.holder.watch(every)
            log.info("watching the index for new builds every %gs", every)

    def ready_bot(self):
        holder = self.holder
        if holder is not None:
            return holder.bot
        if self.load_error is not None:  # still "not ready", whatever the cause; it says which
            e = self.load_error
            what = e.message if isinstance(e, BotError) else f"{type(e).__name__}: {e}"
            raise NotReadyError(f"loading failed: {what}", hint=getattr(e, "hint", None) or "see the server log; restart after fixing")
        raise NotReadyError("the model and index are still loading", hint="retry in a few seconds (GET /readyz)")

    def reload(self) -> dict:
        self.ready_bot()  # 503 while still loading
        return self.holder.reload()


def _security(spec: dict, access: Access) -> dict:
    """Document the keys: the schemes, and which one each /v1 operation takes."""
    if not access.enabled:
        return spec
    spec.setdefault("components", {})["securitySchemes"] = {
        "apiKey": {"type": "http", "scheme": "bearer", "description": "An API key (BOT_API_KEYS) or, for /v1/admin/*, an admin key (BOT_ADMIN_KEYS)."},
        "widgetKey": {"type": "apiKey", "in": "header", "name": WIDGET_HEADER,
                      "description": "The widget's public key (BOT_WIDGET_KEYS), from an allowed origin only."},
    }
    for path, ops in spec.get("paths", {}).items():
        if not path.startswith(API_PREFIX):
            continue
        for method, op in ops.items():
            widget = (method.upper(), path) in WIDGET_ROUTES
            op["security"] = [{"apiKey": []}, *([{"widgetKey": []}] if widget else [])]
    return spec


def create_app(source, settings: Settings | None = None) -> FastAPI:
    """``source`` is a loaded :class:`~bot.service.Bot` (or a holder of one, bot.reload), or a
    callable returning a Bot (called in a background thread at startup)."""
    loaded = hasattr(source, "answer") or hasattr(source, "reload")
    if settings is None:
        settings = (source.bot if hasattr(source, "reload") else source).settings if loaded else Settings()
    if not isinstance(settings, Settings):  # a Bot opened with the engine's settings alone
        settings = Settings(**settings.model_dump())
    limit_heap_growth()  # before the model loads (when it loads here)
    state = _State(source, FeedbackStore(settings.data_dir), settings)
    access = Access(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        if state.loader is not None and state.holder is None:
            threading.Thread(target=state.load, name="bot-loader", daemon=True).start()
        else:
            state.watch()
        yield
        if state.stop_watch is not None:
            state.stop_watch.set()
            state.stop_watch = None
        state.store.close()

    app = FastAPI(
        title="Support-triage bot",
        version="0.1.0",
        summary="Is X supported? Per-vendor verdicts quoted verbatim from the vendors' support policies.",
        lifespan=lifespan,
    )
    app.state.triage = state
    app.state.access = access
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    app.add_middleware(Guard, access=access, respond=_error_response)
    app.add_middleware(CatchAll)
    app.add_middleware(
        CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"], max_age=600,
        allow_headers=["content-type", "authorization", WIDGET_HEADER.lower(), "x-request-id"],
        expose_headers=["Retry-After", "X-Request-ID"],
    )
    app.add_middleware(logs.RequestContext)

    def openapi() -> dict:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            app.openapi_schema = _security(spec, access)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(BotError)
    async def _bot_error(_req: Request, e: BotError):
        return _error_response(e)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError):
        return JSONResponse(error_body("bad_input", _validation_message(exc)), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_req: Request, exc: StarletteHTTPException):
        if exc.status_code == 400 and exc.__cause__ is not None:  # FastAPI could not parse the body
            return _error_response(_body_error(exc))
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=getattr(exc, "headers", None))

    # -- probes --------------------------------------------------------------------------

    @app.get("/healthz", tags=["probes"], summary="The process is up")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", tags=["probes"], summary="Index loaded and model warm (503 until then)", responses=_errors(500, 503))
    def readyz():
        bot = state.ready_bot()
        return {"status": "ready", "build_id": bot.index.manifest["build_id"], "model_id": bot.model_id}

    # -- the API -------------------------------------------------------------------------

    @app.post("/v1/ask", response_model=AskOut, responses=API_ERRORS, tags=["answers"], summary="Answer one question")
    def ask(body: AskIn):
        bot = state.ready_bot()
        sid = body.session_id or uuid.uuid4().hex
        ans, res = bot.ask(clean_question(body.question), body.provider, sid)
        aid = uuid.uuid4().hex
        state.store.record([AnswerRecord(aid, body.question, res.question, ans, res.provider, sid)])
        return JSONResponse({**ans.to_dict(), "question": body.question, "resolved_question": res.question, "answer_id": aid, "session_id": sid})

    @app.post("/v1/classify", response_model=ClassifyOut, responses=API_ERRORS, tags=["answers"], summary="Answer a batch of tickets, in order")
    def classify(body: ClassifyIn):
        """Ticket text longer than `max_ticket_chars` (50,000 by default) is trimmed to it and
        answered; that ticket's answer then has a `note` saying so."""
        bot = state.ready_bot()
        n, limit = len(body.tickets), settings.max_classify_items
        if n > limit:
            raise TooLargeError(f"{n:,} tickets in one request; the limit is {limit:,}", hint="split the batch")
        preps: dict[int, Any] = {}
        problems: dict[int, BotError] = {}
        for i, t in enumerate(body.tickets):
            try:
                preps[i] = bot.prepare(clean_question(t.text), t.provider, split=False)
            except BotError as e:
                problems[i] = e
        good = [i for i in range(n) if i not in problems]
        answers = dict(zip(good, bot.answer_many([(preps[i].text, preps[i].provider) for i in good], check=False)))
        ids = {i: uuid.uuid4().hex for i in good}
        state.store.record(AnswerRecord(ids[i], preps[i].text, preps[i].text, answers[i], preps[i].provider) for i in good)
        out = []
        for i, t in enumerate(body.tickets):
            if i in problems:
                out.append({"id": str(t.id), **error_body(problems[i].code, problems[i].message, problems[i].hint)})
            else:
                note = "; ".join(preps[i].notes)
                out.append({"id": str(t.id), **answers[i].to_dict(), "answer_id": ids[i], **({"note": note} if note else {})})
        return JSONResponse({"answers": out})

    @app.post("/v1/feedback", status_code=201, response_model=FeedbackOut, responses={404: {"model": ErrorOut}, **API_ERRORS}, tags=["feedback"])
    def feedback(body: FeedbackIn):
        """Rate an answer (👍 ``up`` / 👎 ``down``), optionally with a comment."""
        return JSONResponse({"feedback_id": state.store.rate(body.answer_id, body.rating, body.comment)}, status_code=201)

    @app.get(
        "/v1/feedback/export", tags=["feedback"], summary="Every rating with its question and verdicts (JSON Lines)",
        response_class=StreamingResponse, responses={200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}}}}, **API_ERRORS},
    )
    def feedback_export():
        lines = (json.dumps(r, ensure_ascii=False) + "\n" for r in state.store.export())
        return StreamingResponse(lines, media_type="application/x-ndjson")

    @app.get("/v1/providers", tags=["index"], responses=API_ERRORS, summary="Providers, documents, index build time, chunk counts")
    def providers():
        return state.ready_bot().info()

    @app.post("/v1/admin/reload", response_model=ReloadOut, responses=API_ERRORS, tags=["admin"], summary="Serve the index's current build")
    def reload():
        """After `triage index` rebuilt the index, swap the new build in without a restart
        (admin key). Requests already running finish on the old build."""
        return JSONResponse(state.reload())

    # -- the widget and its demo page -------------------------------------------------------

    def static(name: str, media_type: str):
        return FileResponse(STATIC / name, media_type=media_type, headers={"Cache-Control": "no-cache"})

    demo = (STATIC / "demo.html").read_text(encoding="utf-8")
    if settings.widget_keys:  # public by design: the page that embeds the widget shows it anyway
        key = html.escape(key_value(settings.widget_keys[0]), quote=True)
        demo = demo.replace('<script src="/widget.js" defer>', f'<script src="/widget.js" data-key="{key}" defer>', 1)

    @app.get("/", include_in_schema=False)
    async def demo_page():
        return HTMLResponse(demo, headers={"Cache-Control": "no-cache"})

    @app.get("/widget.js", include_in_schema=False)
    async def widget_js():
        return static("widget.js", "text/javascript; charset=utf-8")

    @app.get("/widget.css", include_in_schema=False)
    async def widget_css():
        return static("widget.css", "text/css; charset=utf-8")

    if settings.slack_enabled:  # POST /slack/events: same bot, same feedback store (bot/slack.py)
        from ..slack import mount

        mount(app, state.ready_bot, state.store, settings)
    return app
