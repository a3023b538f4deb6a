"""Token buckets per caller (an API key, or a client address), thread-safe and bounded.

Each caller gets a bucket of ``per_minute`` tokens that refills continuously at
``per_minute / 60`` tokens a second; a request takes one token or is refused with the whole
seconds until one is back (the ``Retry-After`` of a 429). A bucket left alone long enough to
be full again is the same as no bucket, so a bucket idle that long expires (a
:class:`cachetools.TTLCache` whose entries live ``60 s`` from their last use); at most
``max_buckets`` are kept at once (the least recently used go first: a caller evicted while
still drawing gets a fresh, full bucket — lenient, never wrong the other way).
"""

from __future__ import annotations

import math
import threading
import time
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

    def peek(self, key: Hashable) -> int:
        """Like :meth:`take` but taking nothing: for limits counted only on failure (a caller
        is refused while its failures used the bucket up)."""
        if not self.enabled:
            return 0
        with self._lock:
            now = self.clock()
            return self._wait(self._refilled(self._buckets.get(key), now))

    def take(self, key: Hashable) -> int:
        """Take a token for ``key``: 0 when allowed, else the seconds (≥ 1) until one is back."""
        if not self.enabled:
            return 0
        with self._lock:
            now = self.clock()
            tokens = self._refilled(self._buckets.pop(key, None), now)
            wait = self._wait(tokens)
            self._buckets[key] = (tokens if wait else tokens - 1.0, now)  # most recently used; lives full_after from now
            return wait

    def _refilled(self, bucket: tuple[float, float] | None, now: float) -> float:
        """Tokens in a bucket (None: a new one, full) after refilling up to ``now``."""
        tokens, last = bucket or (self.capacity, now)
        return min(self.capacity, tokens + (now - last) * self.rate)

    def _wait(self, tokens: float) -> int:
        return 0 if tokens >= 1.0 else max(1, math.ceil((1.0 - tokens) / self.rate))
