"""What wraps every request: the error body and its statuses, the body-size limit, the
last-resort 500, and the order the middleware is stacked in.

Outermost first: request id and access log (bot.logs), security headers, the Host check
(bot.hosts), CORS, the last-resort 500, keys and rate limits (bot.auth), the body-size limit. Every error is ``{"error": {"code", "message",
"hint"?, "request_id"}}`` with the status the error class names (bot.errors)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from ...engine.errors import BotError, InputError, RateLimitedError
from ...runtime import logs
from ...runtime.auth import WIDGET_HEADER, Access, Guard
from ...runtime.config import Settings
from ...runtime.hosts import HostCheck

log = logging.getLogger("bot.api")


def error_body(code: str, message: str, hint: str | None = None, **extra: Any) -> dict:
    rid = logs.request_id()
    detail = {"code": code, "message": message, **({"hint": hint} if hint else {}), **({"request_id": rid} if rid else {}), **extra}
    return {"error": detail}


def error_response(e: BotError) -> JSONResponse:
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


def _json_error(exc: RequestValidationError) -> InputError | None:
    """FastAPI reports a body that is not JSON as ``loc: ("body", 33), msg: "JSON decode error"``;
    say where (line and column) and what the parser expected, with the text found there."""
    errs = exc.errors()
    if len(errs) != 1 or errs[0].get("type") != "json_invalid" or not isinstance(exc.body, str):
        return None
    doc, loc = exc.body, errs[0].get("loc", ())
    pos = loc[-1] if loc and isinstance(loc[-1], int) else 0
    line, col = doc.count("\n", 0, pos) + 1, pos - doc.rfind("\n", 0, pos)
    what = str((errs[0].get("ctx") or {}).get("error") or "not valid JSON")
    near = " ".join(doc[pos:pos + 30].split())
    where = f"near `{near}`" if near else "at the end of the body"
    return InputError(f"the request body is not valid JSON: {what[:1].lower()}{what[1:]} at line {line}, column {col} ({where})",
                      hint="send JSON in the documented shape (see /docs)")


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


class SecurityHeaders:
    """Every response says ``nosniff`` and may not be framed; an HTML page that sets no
    Content-Security-Policy of its own (the docs) gets a baseline one: no framing, no plugins,
    no ``<base>``. The demo page sets a strict one (routes.page_csp)."""

    BASELINE_CSP = b"frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                names = {k.lower() for k, _ in headers}
                headers += [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY")]
                html_page = any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers)
                if html_page and b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", self.BASELINE_CSP))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class CatchAll:
    """Last-resort 500 as JSON with an error id; sits inside CORS so the browser can read it.
    A request cut off at shutdown (its task cancelled after the grace) gets a JSON 503
    ``shutting_down`` instead of uvicorn's plain-text 500."""

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
        except ClientDisconnect:  # the client hung up mid-body; logs.RequestContext logs it as 499
            return
        except asyncio.CancelledError:  # cut off by shutdown after the grace: say so, in the error shape
            if not started and scope["type"] == "http":
                msg = "the server is shutting down and could not finish this request"
                body = error_body("shutting_down", msg, "retry in a few seconds")
                await JSONResponse(body, status_code=503, headers={"Retry-After": "5", "Connection": "close"})(scope, receive, send)
            raise
        except Exception:
            if started or scope["type"] != "http":
                raise
            eid = uuid.uuid4().hex[:12]
            log.exception("unhandled error %s on %s %s", eid, scope.get("method"), scope.get("path"))
            body = error_body("internal", f"internal error (id {eid})", "retry; if it persists, report the id", id=eid)
            await JSONResponse(body, status_code=500)(scope, receive, send)


def add_middleware(app: FastAPI, settings: Settings, access: Access) -> None:
    """Stack the middleware; the last added runs first (request ids outermost)."""
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    app.add_middleware(Guard, access=access, respond=error_response)
    app.add_middleware(CatchAll)
    app.add_middleware(
        CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"], max_age=600,
        allow_headers=["content-type", "authorization", WIDGET_HEADER.lower(), "x-request-id"],
        expose_headers=["Retry-After", "X-Request-ID"],
    )
    app.add_middleware(HostCheck, hosts=access.hosts, respond=error_response)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(logs.RequestContext)


def add_error_handlers(app: FastAPI) -> None:
    """Engine errors, validation errors and HTTP errors, all as the one error body."""

    @app.exception_handler(BotError)
    async def _bot_error(_req: Request, e: BotError):
        return error_response(e)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError):
        bad_json = _json_error(exc)
        if bad_json is not None:
            return error_response(bad_json)
        return JSONResponse(error_body("bad_input", _validation_message(exc)), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_req: Request, exc: StarletteHTTPException):
        if exc.status_code == 400 and exc.__cause__ is not None:  # FastAPI could not parse the body
            return error_response(_body_error(exc))
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=getattr(exc, "headers", None))
