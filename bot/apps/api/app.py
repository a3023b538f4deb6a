"""HTTP API and the chat widget's home: ``create_app(bot)``; ``triage serve`` runs it.

A thin adapter like the CLI: parse the body, call :class:`bot.service.Bot`, format. Verdicts
come only from the core. The package: ``schemas`` (pydantic bodies, at the edge),
``middleware`` (error bodies, limits, the middleware stack), ``state`` (the current Bot),
``routes`` (the endpoints, in groups), ``docs`` (/docs and /redoc, offline), ``metrics``
(GET /metrics); this module assembles them.

* Blocking work (embedding, retrieval) runs in plain ``def`` endpoints, i.e. in the worker
  thread pool, so the event loop keeps serving /healthz and other requests meanwhile; the
  embedder's own lock is the only point where concurrent requests queue.
* ``create_app`` takes a loaded Bot (tests) or a loader callable (``triage serve``): the
  server then listens at once and loads in a background thread; /readyz says 503 until done.
* Every error is ``{"error": {"code", "message", "hint"?, "request_id"}}`` with the status the
  error class names (bot.errors), validation errors included; anything unexpected is a 500
  with an error id that is logged with its traceback — the traceback never goes into the body.
* Middleware, outermost first: request id and access log (bot.logs), security headers, the
  Host check (bot.hosts), CORS, the last-resort 500, keys and rate limits (bot.auth), the
  body-size limit. What people type is cleaned of invisible and control characters
  (bot.sanitize) before the core sees it.
* Every request takes the current Bot once, at its start (``state.ready_bot()``): a reload
  (``POST /v1/admin/reload``, or the index watcher) swaps in a new one for later requests
  while those in flight finish on the old one.
"""

from __future__ import annotations

import asyncio
import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from ...runtime.auth import Access
from ...runtime.config import Settings
from ...runtime.feedback import FeedbackStore
from ...runtime.memory import limit_heap_growth
from . import routes
from .classify import add_classify
from .docs import add_docs
from .metrics import Metrics, add_metrics
from .middleware import add_error_handlers, add_middleware
from .schemas import document_security
from .state import AppState


def create_app(source, settings: Settings | None = None) -> FastAPI:
    """``source`` is a loaded :class:`~bot.service.Bot` (or a holder of one, bot.reload), or a
    callable returning a Bot (called in a background thread at startup)."""
    settings = _settings_of(source, settings)
    limit_heap_growth()  # before the model loads (when it loads here)
    metrics = Metrics()
    state = AppState(source, metrics.counting(FeedbackStore(settings.data_dir)), settings)
    access = Access(settings)
    app = FastAPI(
        title="Support-triage bot",
        version="0.1.0",
        summary="Is X supported? Per-vendor verdicts quoted verbatim from the vendors' support policies.",
        lifespan=_lifespan(state),
        docs_url=None, redoc_url=None,  # FastAPI's pages load from CDNs; docs.py serves them offline
    )
    app.state.triage = state
    app.state.access = access
    add_middleware(app, settings, access)

    def openapi() -> dict:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            app.openapi_schema = document_security(spec, access)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    add_error_handlers(app)
    add_docs(app)
    routes.add_probes(app, state)
    routes.add_answers(app, state, settings)
    add_classify(app, state, settings)
    routes.add_feedback(app, state)
    routes.add_index(app, state)
    routes.add_widget(app, settings)
    add_metrics(app, state, metrics)  # after add_middleware: its middleware is the outermost, counting every request
    if settings.slack_enabled:  # POST /slack/events: same bot, same feedback store (bot/slack.py)
        from ..slack import mount

        app.state.close_slack = mount(app, state.ready_bot, state.store, settings)
    return app


def _settings_of(source, settings) -> Settings:
    """The server settings: given, else the loaded bot's (widened from the engine's alone)."""
    loaded = hasattr(source, "answer") or hasattr(source, "reload")
    if settings is None:
        settings = (source.bot if hasattr(source, "reload") else source).settings if loaded else Settings()
    if not isinstance(settings, Settings):  # a Bot opened with the engine's settings alone
        settings = Settings(**settings.model_dump())
    return settings


def _lifespan(state: AppState):
    """Start loading (or watching the index) at startup; stop Slack's workers, the watcher, the
    batch pool and the store at the end."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if state.loader is not None and state.holder is None:
            threading.Thread(target=state.load, name="bot-loader", daemon=True).start()
        else:
            state.watch()
        yield
        if close_slack := getattr(app.state, "close_slack", None):
            await asyncio.to_thread(close_slack)  # lets answers in hand finish (bounded), off the loop
        if state.stop_watch is not None:
            state.stop_watch.set()
            state.stop_watch = None
        state.batch.close()
        state.store.close()

    return lifespan
