"""The routes, in groups: probes, answers, feedback, the index, the widget (batches of
tickets: bot.apps.api.classify).

Blocking work (embedding, retrieval) runs in plain ``def`` endpoints, i.e. in the worker
thread pool, so the event loop keeps serving /healthz meanwhile. Every request takes the
current Bot once, at its start (``state.ready_bot()``): a reload swaps in a new one for later
requests while those in flight finish on the old one. What people type is cleaned of
invisible and control characters (bot.sanitize) before the core sees it.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import uuid
from datetime import datetime, timezone
from pathlib import Path

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse

from ...engine.errors import InputError
from ...runtime.auth import key_value
from ...runtime.config import Settings
from ...runtime.feedback import AnswerRecord
from ...runtime.sanitize import check_raw, clean_input, drop_instructions
from .schemas import API_ERRORS, AskIn, AskOut, ErrorOut, FeedbackIn, FeedbackOut, ReloadOut, _errors
from .state import AppState

STATIC = Path(__file__).resolve().parent / "static"
EXPORT_PAGE, EXPORT_MAX_PAGE = 1000, 10000  # feedback rows per export page: default, most
EXPORT_200 = {
    "description": "One rating a line, oldest first.",
    "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
    "headers": {
        "Link": {"description": 'The next page, `<url>; rel="next"` (absent on the last page).', "schema": {"type": "string"}},
        "X-Next-Cursor": {"description": "The next page's `cursor` (absent on the last page).", "schema": {"type": "string"}},
    },
}


def add_probes(app: FastAPI, state: AppState) -> None:
    @app.get("/healthz", tags=["probes"], summary="The process is up")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", tags=["probes"], summary="Index loaded and model warm (503 until then)", responses=_errors(500, 503))
    def readyz():
        bot = state.ready_bot()
        return {"status": "ready", "build_id": bot.index.manifest["build_id"], "model_id": bot.model_id}


def add_answers(app: FastAPI, state: AppState, settings: Settings) -> None:
    @app.post("/v1/ask", response_model=AskOut, responses=API_ERRORS, tags=["answers"], summary="Answer one question")
    def ask(body: AskIn):
        bot = state.ready_bot()
        sid = body.session_id or uuid.uuid4().hex
        raw = check_raw(body.question, max_chars=settings.max_question_chars, max_bytes=settings.max_question_bytes)
        question = clean_input(raw)  # what is stored and echoed: never the invisible padding
        with state.batch.gate.chat():  # batch work waits at the model meanwhile (bot.apps.api.jobs)
            ans, res = bot.ask(drop_instructions(question), body.provider, sid)
        aid = uuid.uuid4().hex
        state.store.record([AnswerRecord(aid, question, res.question, ans, res.provider, sid)])
        extra = {"explain": bot.explain(res.question, res.provider).to_dict()} if body.explain else {}
        return JSONResponse({**ans.to_dict(), "question": question, "resolved_question": res.question, "answer_id": aid,
                             "session_id": sid, **extra})


def add_feedback(app: FastAPI, state: AppState) -> None:
    @app.post("/v1/feedback", status_code=201, response_model=FeedbackOut, responses={404: {"model": ErrorOut}, **API_ERRORS}, tags=["feedback"])
    def feedback(body: FeedbackIn):
        """Rate an answer (👍 ``up`` / 👎 ``down``), optionally with a comment."""
        return JSONResponse({"feedback_id": state.store.rate(body.answer_id, body.rating, body.comment)}, status_code=201)

    @app.get(
        "/v1/feedback/export", tags=["feedback"], summary="Ratings with their questions and verdicts (JSON Lines), a page at a time",
        response_class=StreamingResponse, responses={200: EXPORT_200, **API_ERRORS},
    )
    def feedback_export(
        request: Request,
        since: datetime | None = Query(None, description="Only ratings given at or after this time: ISO-8601 (`2026-05-01`, "
                                       "`2026-05-01T09:00:00Z`, `…+02:00`); without a zone, UTC."),
        until: datetime | None = Query(None, description="Only ratings given before this time (same forms)."),
        limit: int = Query(EXPORT_PAGE, ge=1, le=EXPORT_MAX_PAGE, description="Rows in this page."),
        cursor: int | None = Query(None, ge=0, description="Where the previous page ended: the `X-Next-Cursor` header of that page "
                                   "(its `Link: <…>; rel=\"next\"` is the whole next URL)."),
    ):
        """Oldest first. When more rows match, the response has `Link: <url>; rel="next"` and
        `X-Next-Cursor`; the last page has neither."""
        start, end = _epoch(since), _epoch(until)
        if start is not None and end is not None and start >= end:
            raise InputError(f"since ({since.isoformat()}) is not before until ({until.isoformat()})", hint="swap them, or widen the range")
        rows = list(state.store.export(since=start, until=end, after=cursor or 0, limit=limit + 1))
        headers = {}
        if len(rows) > limit:
            rows, nxt = rows[:limit], rows[limit - 1]["feedback_id"]
            url = request.url.include_query_params(cursor=nxt)
            headers = {"Link": f'<{url.path}?{url.query}>; rel="next"', "X-Next-Cursor": str(nxt)}
        lines = (json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        return StreamingResponse(lines, media_type="application/x-ndjson", headers=headers)


def _epoch(t: datetime | None) -> float | None:
    """A Unix time; a time without a zone is taken as UTC."""
    return None if t is None else (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()


def add_index(app: FastAPI, state: AppState) -> None:
    @app.get("/v1/providers", tags=["index"], responses=API_ERRORS, summary="Providers, documents, index build time, chunk counts")
    def providers():
        return state.ready_bot().info()

    @app.post("/v1/admin/reload", response_model=ReloadOut, responses=API_ERRORS, tags=["admin"], summary="Serve the index's current build")
    def reload():
        """After `triage index` rebuilt the index, swap the new build in without a restart
        (admin key). Requests already running finish on the old build."""
        return JSONResponse(state.reload())


def add_widget(app: FastAPI, settings: Settings) -> None:
    """The chat widget and its demo page (with the first widget key, public by design)."""

    def static(name: str, media_type: str):
        return FileResponse(STATIC / name, media_type=media_type, headers={"Cache-Control": "no-cache"})

    demo = (STATIC / "demo.html").read_text(encoding="utf-8")
    if settings.widget_keys:  # public by design: the page that embeds the widget shows it anyway
        key = html.escape(key_value(settings.widget_keys[0]), quote=True)
        demo = demo.replace('<script src="/widget.js" defer>', f'<script src="/widget.js" data-key="{key}" defer>', 1)
    csp = page_csp(demo)

    @app.get("/", include_in_schema=False)
    async def demo_page():
        return HTMLResponse(demo, headers={"Cache-Control": "no-cache", "Content-Security-Policy": csp})

    @app.get("/widget.js", include_in_schema=False)
    async def widget_js():
        return static("widget.js", "text/javascript; charset=utf-8")

    @app.get("/widget.css", include_in_schema=False)
    async def widget_css():
        return static("widget.css", "text/css; charset=utf-8")


def page_csp(page: str) -> str:
    """A Content-Security-Policy for one of our pages: its own scripts, styles and API only, its
    inline ``<script>`` / ``<style>`` blocks allowed by their SHA-256 (so no 'unsafe-inline'),
    never framed."""

    def hashes(tag: str) -> str:
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", page, re.S)
        return "".join(f" 'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks)

    return (f"default-src 'none'; script-src 'self'{hashes('script')}; style-src 'self'{hashes('style')}; connect-src 'self'; "
            "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
