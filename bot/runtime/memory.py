"""Process memory: keep a long-running server's RSS flat while the model runs in many threads."""

from __future__ import annotations

import ctypes
import os

_M_MMAP_THRESHOLD = -3  # glibc mallopt parameter


def limit_heap_growth(threshold: int = 128 * 1024) -> bool:
    """Serve allocations of ``threshold`` bytes and more (the model's activations, up to tens
    of MB per batch) from mmap, handed back to the OS when freed. By default glibc raises its
    mmap threshold after each such free and keeps later blocks in its per-thread heaps, so a
    server answering from many worker threads grows by hundreds of MB (``make load``: +91 %
    RSS in 60 s without this). Called when bot.service is imported, before any model loads; glibc only, and
    not when MALLOC_MMAP_THRESHOLD_ is set in the environment (the operator's choice wins)."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, threshold))
    except (OSError, AttributeError):
        return False
