"""Swap in a new index build without restarting: :class:`BotHolder`.

A front end keeps a ``BotHolder`` instead of a ``Bot`` and reads ``holder.bot`` once per
request. ``reload()`` opens the index folder's current build (``open_fn``), warms it up and
then replaces the reference in one assignment: a request that already took ``holder.bot``
finishes on the old Bot, the next one gets the new Bot. Nothing is closed under a request: the
old Bot's Chroma client and its hold on its build folder are released when the last request
lets go of it (``Index`` finalizer), and ``bot.index`` keeps a build in use from being
collected by a later ``triage index`` (see ``bot.index._collect_garbage``).

``watch(interval_s)`` polls CURRENT in a daemon thread and reloads when it names another build.
A failed reload keeps the old Bot serving, logs what went wrong and what to do, and is retried
only after a back-off (or at once when CURRENT changes again).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from ..engine.errors import BotError, IndexMissingError, ReloadError
from ..engine.index import _read_current
from ..engine.service import Bot

log = logging.getLogger("bot.reload")

WARM_UP = "warm-up question about support"


_malloc_trim = None  # libc's malloc_trim once looked up; False where there is none


def _trim_heap() -> None:
    """Hand freed heap back to the OS (glibc only; a no-op elsewhere). Without it a process
    that reloads again and again keeps the freed pages of earlier builds: measured on the
    hash embedder, +0.8 MB RSS per reload without end; with it RSS levels off (README)."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            import ctypes

            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


class BotHolder:
    """The Bot a service answers with, swappable while it serves.

    ``BotHolder(bot, open_fn)``: ``open_fn()`` returns a Bot on the index's current build;
    ``BotHolder.of(bot)`` uses :meth:`Bot.reopen` (same settings, same loaded model)."""

    def __init__(self, bot: Bot, open_fn: Callable[[], Bot]):
        self._bot = bot
        self._open = open_fn
        self._lock = threading.Lock()
        self.reloads = 0
        self.last_error: BotError | None = None

    @classmethod
    def of(cls, bot: Bot) -> "BotHolder":
        """A holder that reopens its current Bot's index folder with the same model (no second
        model load). Not ``bot.reopen`` itself: that would keep the first Bot alive for good."""
        holder = cls(bot, lambda: holder.bot.reopen())
        return holder

    @property
    def bot(self) -> Bot:
        """The current Bot. Take it once per request; a reload never changes a Bot in use."""
        return self._bot

    def current_build(self) -> str | None:
        """The build id the index folder's CURRENT names now (None: no index)."""
        return _read_current(self._bot.index.dir)

    def reload(self) -> dict:
        """Switch to the index's current build if it is not the one serving.

        Returns ``{"old_build", "new_build", "seconds", "changed"}``. Raises ReloadError (a
        BotError: message, hint) when the new build cannot be opened or does not answer; the
        old Bot then keeps serving. Calls are serialised."""
        with self._lock:
            t0 = time.perf_counter()
            old = self._bot
            old_build = old.index.build_id
            try:
                target = _read_current(old.index.dir)
                if target is None:
                    raise IndexMissingError(f"no index in {old.index.dir} (CURRENT is missing or empty)", hint="run `triage index`")
                if target == old_build:
                    return {"old_build": old_build, "new_build": old_build, "seconds": time.perf_counter() - t0, "changed": False}
                new = self._open()
            except Exception as e:  # Ctrl-C and SystemExit go through as they are
                raise self._failed(old_build, e) from e
            try:
                new.answer(WARM_UP)  # the first call pays lazy inits, and proves the build answers
            except BaseException as e:
                new.close()
                if not isinstance(e, Exception):
                    raise
                raise self._failed(old_build, e) from e
            new.sessions = old.sessions  # conversations carry over to the new build
            self._bot = new  # the swap: one reference assignment
            self.reloads += 1
            self.last_error = None
            del old
            _trim_heap()
            seconds = time.perf_counter() - t0
        log.info("index reloaded: build %s -> %s in %.2fs", old_build, new.index.build_id, seconds)
        return {"old_build": old_build, "new_build": new.index.build_id, "seconds": seconds, "changed": True}

    def _failed(self, old_build: str, e: Exception) -> ReloadError:
        what = e.message if isinstance(e, BotError) else f"{type(e).__name__}: {e}"
        hint = getattr(e, "hint", None) or "check the index (`triage index` rebuilds it), then reload again"
        err = ReloadError(f"could not switch to the new index build ({what}); still serving build {old_build}", hint=hint)
        self.last_error = err
        return err

    def watch(self, interval_s: float) -> threading.Event:
        """Poll CURRENT every ``interval_s`` seconds in a daemon thread; reload when it names
        another build. Set the returned Event to stop. A build that failed to load is tried
        again after ``max(30 s, 10 intervals)``, or as soon as CURRENT names yet another one."""
        if interval_s <= 0:
            raise ValueError("interval_s must be > 0")
        stop = threading.Event()
        backoff = max(30.0, 10 * interval_s)

        def loop() -> None:
            failed: tuple[str, float] | None = None  # (build id, when to try it again)
            while not stop.wait(interval_s):
                try:
                    target = self.current_build()
                except BotError as e:
                    if failed is None or failed[0] != "CURRENT" or time.monotonic() >= failed[1]:
                        log.warning("index watch: %s", e)
                        failed = ("CURRENT", time.monotonic() + backoff)
                    continue
                if target is None or target == self._bot.index.build_id:
                    continue
                if failed and failed[0] == target and time.monotonic() < failed[1]:
                    continue
                try:
                    self.reload()
                    failed = None
                except BotError as e:
                    log.warning("index watch: %s", e)
                    failed = (target, time.monotonic() + backoff)
                except Exception:  # never let the watcher die
                    log.exception("index watch: unexpected error")
                    failed = (target, time.monotonic() + backoff)

        threading.Thread(target=loop, name="bot-index-watch", daemon=True).start()
        return stop
