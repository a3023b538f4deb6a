"""How ``triage serve`` runs the app: uvicorn with its limits set from Settings, so a request
is bounded before any of our code (keys included) sees it.

* Request head (request line and headers): at most ``max_header_bytes``, by h11 (uvicorn's
  default parser, httptools, has no such limit; a 64 MB header was read whole). Beyond it the
  connection gets 400 and is closed.
* Connections: at most ``max_connections`` at once (uvicorn's ``limit_concurrency``); a request
  beyond it is answered 503.
* Idle keep-alive connections close after ``keep_alive_seconds``.
* A connection that has not sent a whole request head ``header_timeout_seconds`` after it
  opened (or after the first byte of a later request) is closed: uvicorn has no such timeout,
  so a client sending headers slowly held its connection for ever (:class:`HeadTimeoutH11`).
* ``X-Forwarded-For`` / ``X-Forwarded-Proto`` are believed only from ``trusted_proxies``
  (uvicorn's default trusts them from loopback, which let any local client pick the address
  its rate limit is counted under).
"""

from __future__ import annotations

from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from ...runtime.config import Settings

__all__ = ["HeadTimeoutH11", "uvicorn_config"]


class HeadTimeoutH11(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request head is not complete
    ``head_timeout`` seconds after the connection opened or the head's first byte came."""

    head_timeout: float = 10.0

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self._head_timer = None
        super().connection_made(transport)
        self._watch_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def _watch_head(self) -> None:
        """Armed while no request head has been parsed (h11: the client is IDLE), else off.
        Between requests the keep-alive timeout applies until a byte of the next one comes."""
        waiting = self.conn.their_state is h11.IDLE and not self.transport.is_closing()
        if waiting and self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)
        elif not waiting:
            self._stop_head_timer()

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.logger.debug("closed a connection that sent no whole request head in %gs", self.head_timeout)
            self.transport.close()


def uvicorn_config(app, settings: Settings, **over: Any) -> uvicorn.Config:
    """The uvicorn Config ``triage serve`` runs ``app`` with (``over``: e.g. a test's log level)."""
    protocol = type("HeadTimeoutH11", (HeadTimeoutH11,), {"head_timeout": settings.header_timeout_seconds})
    proxies = settings.trusted_proxies
    kw: dict[str, Any] = dict(
        host=settings.host, port=settings.port, http=protocol, ws="none",
        h11_max_incomplete_event_size=settings.max_header_bytes, limit_concurrency=settings.max_connections,
        timeout_keep_alive=settings.keep_alive_seconds, timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        proxy_headers=bool(proxies), forwarded_allow_ips=",".join(proxies) if proxies else None,
        log_config=None, access_log=False,
    )
    return uvicorn.Config(app, **{**kw, **over})
