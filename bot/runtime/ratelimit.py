"""Token buckets per caller (an API key, or a client address), thread-safe and bounded.

Each caller gets a bucket of ``per_minute`` tokens that refills continuously at
``per_minute / 60`` tokens a second; a request takes one token or is refused with the whole
seconds until one is back (the ``Retry-After`` of a 429). A bucket left alone long enough to
be full again is the same as no bucket, so a bucket idle that long expires (a
:class:`cachetools.TTLCache` whose entries live ``60 s`` from their last use); at most
``max_buckets`` are kept at once (the least recently used go first: a caller evicted while
still drawing gets a fresh, full bucket — lenient, never wrong the other way).

A request may cost more than one token (:meth:`RateLimiter.take` with ``cost``):
:class:`WorkLimiter` charges a classify batch by its tickets and its characters, two buckets
per caller, taken together or not at all.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Callable, Hashable

from cachetools import TTLCache


class RateLimiter:
    def __init__(self, per_minute: int, *, max_buckets: int = 50_000, clock: Callable[[], float] = time.monotonic):
        self.per_minute = per_minute
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens a second
        self.max_buckets = max_buckets
        self.clock = clock
        full_after = self.capacity / self.rate if self.rate else 1.0  # an idle bucket is full again
        # key -> (tokens, last seen); the timer reads self.clock at each call (tests swap it)
        self._buckets: TTLCache[Hashable, tuple[float, float]] = TTLCache(max(1, max_buckets), full_after, timer=lambda: self.clock())
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def __len__(self) -> int:
        with self._lock:
            self._buckets.expire()
            return len(self._buckets)

    def take(self, key: Hashable, cost: float = 1.0, *, dry_run: bool = False) -> int:
        """Take ``cost`` tokens for ``key``: 0 when allowed, else the seconds (≥ 1) until they
        are back (nothing taken). ``dry_run``: only say what taking would answer."""
        if not self.enabled:
            return 0
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.pop(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= cost:
                tokens -= 0.0 if dry_run else cost
                wait = 0
            else:
                wait = max(1, math.ceil((cost - tokens) / self.rate))
            self._buckets[key] = (tokens, now)  # most recently used; lives full_after from now
            return wait


@dataclass(frozen=True)
class Refusal:
    """Why a batch was refused: ``too_big`` when it can never fit a bucket (split it, a 413),
    else the seconds until it fits (a 429)."""

    what: str  # "tickets" or "characters"
    cost: int
    per_minute: int
    wait: int
    too_big: bool


class WorkLimiter:
    """Batch work per caller: tickets a minute and characters a minute (two token buckets,
    0 = no limit). A batch takes from both or from neither."""

    def __init__(self, tickets_per_minute: int, chars_per_minute: int, *, clock: Callable[[], float] = time.monotonic):
        self.tickets = RateLimiter(tickets_per_minute, clock=clock)
        self.chars = RateLimiter(chars_per_minute, clock=clock)
        self._lock = threading.Lock()

    def take(self, key: Hashable, tickets: int, chars: int) -> Refusal | None:
        """Charge a batch of ``tickets`` with ``chars`` characters to ``key``; None when allowed."""
        costs = [("tickets", self.tickets, tickets), ("characters", self.chars, chars)]
        for what, limiter, cost in costs:
            if limiter.enabled and cost > limiter.capacity:
                return Refusal(what, cost, limiter.per_minute, 0, True)
        with self._lock:  # check both, then take both: no half-charged batch
            for what, limiter, cost in costs:
                if wait := limiter.take(key, cost, dry_run=True):
                    return Refusal(what, cost, limiter.per_minute, wait, False)
            for _, limiter, cost in costs:
                limiter.take(key, cost)
        return None
