"""The app's state: the current Bot (swappable on reload), the feedback store, the loader,
batch work (its pool and jobs)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from ...engine.errors import BotError, NotReadyError
from ...runtime.config import Settings
from ...runtime.feedback import FeedbackStore
from ...runtime.reload import BotHolder
from .classify import BatchWork

log = logging.getLogger("bot.api")


class AppState:
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
        self.batch = BatchWork(settings)  # /v1/classify and its jobs: own pool, chat first

    def load(self) -> None:
        t0 = time.perf_counter()
        try:
            bot = self.loader()
            bot.answer("warm-up question about support")  # first call pays lazy inits; not a user
            self.holder = BotHolder.of(bot)
            log.info("ready in %.1f s: index build %s", time.perf_counter() - t0, bot.index.manifest.get("build_id"))
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
