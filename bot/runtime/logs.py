"""Request ids and the server's logs: one JSON object a line on stderr, secrets scrubbed.

* :class:`RequestContext` (the outermost ASGI middleware) gives every HTTP request an id — a
  sane incoming ``X-Request-ID`` or a new one — returns it in the ``X-Request-ID`` header, and
  writes one access line when the response is done: method, path (never the query string),
  status, duration, client address and who called (``api#1``, ``widget#1``, … — a key's
  position in its list, never the key). A client that hung up before any response started
  (mid-body, say) is status 499 at INFO: its doing, not an error of ours.
* :func:`request_id` reads the current id anywhere below it (endpoints run in worker
  threads; the context travels with them), so error bodies and log lines carry it.
* :func:`configure` installs the handler ``triage serve`` uses: JSON (``ts``, ``level``,
  ``logger``, ``msg``, ``request_id`` and the access fields when set, ``exc`` for a traceback)
  or plain text. Every line passes :class:`Scrubber` first: the configured keys and tokens,
  ``Bearer …`` credentials and Slack-style tokens are replaced by ``[redacted]``; a request
  body quoted by a library (``body: …``, e.g. Bolt's line on a bad Slack signature) is dropped;
  and what is left is cut at :data:`MAX_MSG_CHARS` (a traceback at :data:`MAX_EXC_CHARS`) with a
  marker, so no request can make the server write a line of megabytes.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Iterable

access_log = logging.getLogger("bot.access")

_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
FIELDS = ("request_id", "method", "path", "status", "duration_ms", "client", "principal")
QUIET_PATHS = frozenset({"/healthz", "/readyz"})  # probes: logged at DEBUG only (see _level)
CLIENT_CLOSED = 499  # the access line's status for a client that hung up mid-request (nginx's convention)
MAX_MSG_CHARS = 4_000  # one log message, after scrubbing; the rest is cut with a marker
MAX_EXC_CHARS = 16_000  # one traceback


@dataclass
class RequestInfo:
    id: str
    principal: str | None = None  # set by the access guard: "api#1", "widget#2", "admin#1", "ip"


_current: ContextVar[RequestInfo | None] = ContextVar("triage_request", default=None)


def current() -> RequestInfo | None:
    return _current.get()


def request_id() -> str | None:
    info = _current.get()
    return info.id if info else None


def _header(scope, name: bytes) -> str | None:
    for k, v in scope.get("headers") or ():
        if k == name:
            return v.decode("latin-1")
    return None


class RequestContext:
    """Outermost middleware: request id in, ``X-Request-ID`` out, one access line per request."""

    def __init__(self, app, logger: logging.Logger = access_log):
        self.app, self.log = app, logger

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        rid = incoming if incoming and _SANE_ID.fullmatch(incoming) else uuid.uuid4().hex
        info = RequestInfo(rid)
        token = _current.set(info)
        status: int | None = None
        hung_up = False  # the client went away before any response started: logged as 499
        t0 = time.perf_counter()

        async def receive_watching():
            nonlocal hung_up
            message = await receive()
            hung_up = hung_up or (message["type"] == "http.disconnect" and status is None)
            return message

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", rid.encode())]}
            await send(message)

        try:
            await self.app(scope, receive_watching, send_with_id)
        finally:
            st = CLIENT_CLOSED if hung_up else status or 500
            client = scope.get("client")
            path = scope.get("path", "")
            level = _level(path, st)
            self.log.log(
                level, "%s %s %s", scope.get("method"), path, st,
                extra={"method": scope.get("method"), "path": path, "status": st, "duration_ms": round((time.perf_counter() - t0) * 1000, 1),
                       "client": client[0] if client else None, "principal": info.principal},
            )
            _current.reset(token)


def _level(path: str, status: int) -> int:
    """Probes answered as expected are DEBUG, /readyz's 503 while loading included (the loader
    logs a failed load itself); other 503s (loading, storage unavailable) are WARNING: expected
    to pass, unlike the ERROR of any other 5xx."""
    if path in QUIET_PATHS and (status < 400 or status == 503):
        return logging.DEBUG
    if status == 503:
        return logging.WARNING
    return logging.ERROR if status >= 500 else logging.INFO


# ------------------------------------------------------------------------------ formatting


class Scrubber:
    """Replaces secrets in a log line: the exact configured ones, and anything shaped like a
    bearer credential or a Slack token, whoever logged it."""

    _SHAPES = re.compile(r"(?i)(\bbearer\s+)[^\s\"',;]+|\bx(?:ox[a-z]|app)-[A-Za-z0-9-]+")
    _BODY = re.compile(r"(?<![\w-])body: ")

    def __init__(self, secrets: Iterable[str] = ()):
        exact = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._exact = re.compile("|".join(map(re.escape, exact))) if exact else None

    def __call__(self, text: str, limit: int = MAX_MSG_CHARS) -> str:
        """``text`` without a quoted body or secrets, at most ``limit`` characters (plus a marker).
        Cut last: cutting first could leave the start of a secret at the cut."""
        body = self._BODY.search(text)
        if body is not None:
            text = text[: body.end()] + "[not logged]" + (")" if text.endswith(")") else "")
        if self._exact is not None:
            text = self._exact.sub("[redacted]", text)
        return cap(self._SHAPES.sub(lambda m: (m.group(1) or "") + "[redacted]", text), limit)


def cap(text: str, limit: int) -> str:
    """``text`` cut at ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit:,} more characters not logged]"


class _ContextFilter(logging.Filter):
    """Stamps every record with the current request id (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id()
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, scrub: Scrubber | None = None):
        super().__init__()
        self.scrub = scrub or Scrubber()

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": self.scrub(record.getMessage()),
        }
        for f in FIELDS:
            v = getattr(record, f, None)
            if v is not None:
                out[f] = v
        if record.exc_info:
            out["exc"] = self.scrub(self.formatException(record.exc_info), MAX_EXC_CHARS)
        elif record.exc_text:
            out["exc"] = self.scrub(record.exc_text, MAX_EXC_CHARS)
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self, scrub: Scrubber | None = None):
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        self.scrub = scrub or Scrubber()

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = None
        return self.scrub(super().format(record), MAX_MSG_CHARS + MAX_EXC_CHARS)


_HANDLER_FLAG = "_triage_handler"


def configure(fmt: str = "json", level: str = "info", secrets: Iterable[str] = (), stream=None) -> logging.Handler:
    """Route every logger (ours, uvicorn's, Slack's) through one stderr handler in ``fmt``.
    Calling it again replaces the handler it installed before."""
    scrub = Scrubber(secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(scrub) if fmt == "json" else TextFormatter(scrub))
    handler.setLevel(level.upper())  # also what libraries set their own loggers to log
    handler.addFilter(_ContextFilter())
    setattr(handler, _HANDLER_FLAG, True)
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, _HANDLER_FLAG, False)]:
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    return handler
