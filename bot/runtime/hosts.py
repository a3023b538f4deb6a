"""Which Host names the server answers to, and which page origins are its own.

DNS rebinding: a page on ``attacker.example`` points that name at 127.0.0.1, and the browser
then treats the bot's API as the page's own origin — it may read every response (with no keys,
``/v1/feedback/export``: every stored question). The only thing that gives it away is the Host
header, ``attacker.example``. So requests whose Host is not one of the server's names
(``Settings.host_names``: BOT_ALLOWED_HOSTS, else the loopback names when listening on loopback)
are refused with 400 before anything else looks at them. Probes stay reachable under any name
(an orchestrator calls them by the pod's address).

The server's "own" origins — its demo page, which may use a widget key without being listed in
BOT_CORS_ORIGINS — come from the same names and the port the server listens on, never from the
Host header a client sent.
"""

from __future__ import annotations

from typing import Awaitable, Callable, Iterable

from ..engine.errors import BotError, HostError

__all__ = ["HostCheck", "Hosts", "PROBES"]

PROBES = frozenset({"/healthz", "/readyz"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def host_name(value: str) -> str:
    """The name part of a Host header or an allowed-hosts entry, lower case: ``[::1]:8000`` →
    ``[::1]``, ``Example.COM.:443`` → ``example.com``."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[: value.find("]") + 1] if "]" in value else value
    return value.split(":", 1)[0].rstrip(".")


class Hosts:
    """The allowed names (``*``: any) and, from them, the server's own origins."""

    def __init__(self, names: Iterable[str]):
        names = [n.strip() for n in names if n.strip()]
        self.any = "*" in names
        self.names = frozenset(host_name(n) for n in names if n != "*")

    def allows(self, host: str | None) -> bool:
        return self.any or (host is not None and host_name(host) in self.names)

    def own_origins(self, scheme: str, port: int | None) -> frozenset[str]:
        """``scheme://name[:port]`` for each allowed name (the port left out when it is the
        scheme's default, as browsers write an Origin)."""
        suffix = "" if port is None or _DEFAULT_PORTS.get(scheme) == port else f":{port}"
        return frozenset(f"{scheme}://{n}{suffix}" for n in self.names)


Respond = Callable[[BotError], Callable[..., Awaitable[None]]]


class HostCheck:
    """ASGI middleware: 400 for a Host the server does not answer to (probes excepted)."""

    def __init__(self, app, hosts: Hosts, respond: Respond):
        self.app, self.hosts, self.respond = app, hosts, respond

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("path") not in PROBES:
            host = next((v.decode("latin-1") for k, v in scope.get("headers") or () if k == b"host"), None)
            if not self.hosts.allows(host):
                shown = (host or "")[:100]
                problem = HostError(
                    f"this server does not answer to the host name {shown!r}" if host else "the request has no Host header",
                    hint="call it by one of its own names (its operator lists them in BOT_ALLOWED_HOSTS)",
                )
                await self.respond(problem)(scope, receive, send)
                return
        await self.app(scope, receive, send)
