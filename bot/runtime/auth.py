"""Who may call the HTTP API, and how often: API keys, widget keys, admin keys, rate limits.

With no key configured at all the API is open and unlimited, and ``triage serve`` listens on
loopback only. Once any key is configured, every ``/v1/*`` request (and ``GET /metrics``)
needs one of:

* an API key, ``Authorization: Bearer <key>`` (BOT_API_KEYS): every ``/v1/*`` route except
  ``/v1/admin/*``; limited per key (BOT_RATE_LIMIT_PER_MINUTE);
* an admin key, the same header (BOT_ADMIN_KEYS): every route, ``/v1/admin/*`` included, and
  ``GET /metrics`` (operators' data: what is asked, how it is answered, how it is rated);
* a widget key, ``X-Widget-Key: <key>`` (BOT_WIDGET_KEYS): public by design (it sits in the
  page's ``<script data-key>``), so it only opens what the widget needs — ``POST /v1/ask``,
  ``POST /v1/feedback``, ``GET /v1/providers`` — and only from a page whose origin is in
  BOT_CORS_ORIGINS or is this server's own (the demo page: one of its configured names on the
  port it listens on, bot.runtime.hosts — never the client's Host header); limited per client address
  (BOT_IP_RATE_LIMIT_PER_MINUTE), as are requests that bring no valid key.

Everything else — probes, the demo page, the widget's files, the docs, ``/openapi.json`` — is
public, and Slack's ``/slack/events`` is checked by Slack's own signature (no key, no limit:
Slack retries what it sees refused). Keys are compared by their SHA-256 digests with
:func:`hmac.compare_digest`, against every key of a list (no early exit); only a key's place
in its list (``api#2``) is ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from pydantic import SecretStr

from . import logs
from .config import Settings
from ..engine.errors import AuthError, BotError, ForbiddenError, RateLimitedError
from .hosts import Hosts
from .ratelimit import RateLimiter

API_PREFIX = "/v1/"
ADMIN_PREFIX = "/v1/admin/"
METRICS_PATH = "/metrics"
WIDGET_ROUTES = frozenset({("POST", "/v1/ask"), ("POST", "/v1/feedback"), ("GET", "/v1/providers")})
WIDGET_HEADER = "X-Widget-Key"


def needs_key(path: str) -> bool:
    """Whether a request for ``path`` needs a key once any key is configured."""
    return path.startswith(API_PREFIX) or path == METRICS_PATH


def admin_only(path: str) -> bool:
    """Whether only an admin key opens ``path``."""
    return path.startswith(ADMIN_PREFIX) or path == METRICS_PATH


def key_value(k: SecretStr | str) -> str:
    return k.get_secret_value() if isinstance(k, SecretStr) else str(k)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


class KeyRing:
    """One list of keys (``kind`` names it in logs: ``api``, ``widget``, ``admin``)."""

    def __init__(self, kind: str, keys: Iterable[SecretStr | str]):
        self.kind = kind
        self._digests = [_digest(key_value(k)) for k in keys]

    def __len__(self) -> int:
        return len(self._digests)

    def find(self, candidate: str) -> str | None:
        """``kind#n`` of the matching key (1-based), else None; constant time in the candidate."""
        d = _digest(candidate)
        found = None
        for i, k in enumerate(self._digests, 1):
            if hmac.compare_digest(d, k) and found is None:
                found = f"{self.kind}#{i}"
        return found


def secrets_of(settings: Settings) -> list[str]:
    """Every secret the settings hold (for the log scrubber)."""
    vals = [*settings.api_keys, *settings.widget_keys, *settings.admin_keys,
            settings.slack_signing_secret, settings.slack_bot_token, settings.slack_app_token]
    return [key_value(v) for v in vals if v]


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    try:
        p = urlsplit(url)
    except ValueError:
        return None
    return f"{p.scheme}://{p.netloc}" if p.scheme and p.netloc else None


@dataclass(frozen=True)
class Caller:
    label: str  # "api#1", "admin#1", "widget#1"; "" for no valid key

    @property
    def kind(self) -> str:
        return self.label.split("#", 1)[0]


class Access:
    """The decision for one request, from the settings' keys, origins and limits."""

    def __init__(self, settings: Settings, *, key_limiter: RateLimiter | None = None, ip_limiter: RateLimiter | None = None):
        self.api = KeyRing("api", settings.api_keys)
        self.admin = KeyRing("admin", settings.admin_keys)
        self.widget = KeyRing("widget", settings.widget_keys)
        self.origins = frozenset(o.rstrip("/") for o in settings.cors_origins)
        self.hosts = Hosts(settings.host_names)
        self.enabled = bool(len(self.api) or len(self.admin) or len(self.widget))
        self.per_key = key_limiter or RateLimiter(settings.rate_limit_per_minute)
        self.per_ip = ip_limiter or RateLimiter(settings.ip_rate_limit_per_minute)

    def check(
        self, method: str, path: str, headers: dict[str, str], client: str, own_origins: frozenset[str]
    ) -> tuple[Caller | None, BotError | None]:
        """(who calls, why they may not): (None, None) for a request that needs no key; an
        AuthError (401), ForbiddenError (403) or RateLimitedError (429) when refused."""
        if not self.enabled or not needs_key(path) or method == "OPTIONS":
            return None, None
        caller, problem = self._identify(method, path, headers, own_origins)
        if caller.kind in ("api", "admin"):
            limiter, bucket, whose = self.per_key, ("key", caller.label), "this API key"
        else:  # widget traffic and requests without a valid key: per client address
            limiter, bucket, whose = self.per_ip, ("ip", client), "this client address"
        wait = limiter.take(bucket)
        if wait:
            problem = RateLimitedError(
                f"too many requests for {whose}: the limit is {limiter.per_minute:,} a minute", retry_after=wait, hint=f"retry in {wait} s"
            )
        return caller, problem

    def _identify(self, method: str, path: str, headers: dict[str, str], own_origins: frozenset[str]) -> tuple[Caller, BotError | None]:
        authz, widget_key = headers.get("authorization"), headers.get("x-widget-key")
        if authz is not None:
            scheme, _, token = authz.strip().partition(" ")
            label = (self.admin.find(token.strip()) or self.api.find(token.strip())) if scheme.lower() == "bearer" else None
            if label is None:
                return Caller(""), AuthError("the API key is not valid", hint="send `Authorization: Bearer <key>` with a key from BOT_API_KEYS")
            caller = Caller(label)
            if admin_only(path) and caller.kind != "admin":
                why = "an admin key (BOT_ADMIN_KEYS)" + ("" if len(self.admin) else "; none is configured")
                return caller, ForbiddenError(f"{method} {path} needs {why}")
            return caller, None
        if widget_key is not None:
            label = self.widget.find(widget_key.strip())
            if label is None:
                return Caller(""), AuthError("the widget key is not valid", hint="use a key from BOT_WIDGET_KEYS in the script tag's data-key")
            caller = Caller(label)
            if (method, path) not in WIDGET_ROUTES:
                allowed = ", ".join(f"{m} {p}" for m, p in sorted(WIDGET_ROUTES, key=lambda r: r[1]))
                return caller, ForbiddenError(f"a widget key may only call {allowed}", hint="use an API key (Authorization: Bearer)")
            origin = _origin(headers.get("origin")) or _origin(headers.get("referer"))
            if origin is None or (origin not in self.origins and origin not in own_origins):
                return caller, ForbiddenError(
                    f"a widget key is only accepted from an allowed page; this request comes from {origin or 'no page (no Origin header)'}",
                    hint="add the page's origin to BOT_CORS_ORIGINS",
                )
            return caller, None
        return Caller(""), AuthError(
            f"{method} {path} needs an API key", hint="send `Authorization: Bearer <key>` (BOT_API_KEYS), or from the widget its data-key"
        )


Respond = Callable[[BotError], Callable[..., Awaitable[None]]]


class Guard:
    """ASGI middleware applying :class:`Access` before the app sees the request (or its body)."""

    def __init__(self, app, access: Access, respond: Respond):
        self.app, self.access, self.respond = app, access, respond

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or ()}
            client = (scope.get("client") or ("unknown",))[0]
            own = self.access.hosts.own_origins(scope.get("scheme", "http"), (scope.get("server") or (None, None))[1])
            caller, problem = self.access.check(scope.get("method", ""), scope.get("path", ""), headers, client, own)
            info = logs.current()
            if info is not None and caller is not None and caller.label:
                info.principal = caller.label
            if problem is not None:
                await self.respond(problem)(scope, receive, send)
                return
        await self.app(scope, receive, send)
