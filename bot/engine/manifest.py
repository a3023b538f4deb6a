"""A build's manifest, read without numpy, Chroma or a model: what `triage providers` needs.

Why a module of its own: listing providers must start in well under a second, and importing
the index, the embedder or the answering engine pulls numpy and more (measured: ~0.3 s).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from .corpus import CHUNKER_VERSION
from .errors import BotError, IndexCorruptError, IndexMissingError, InputError

__all__ = ["FORMAT", "MINILM_ID", "EMBEDDERS", "model_id_for", "read_manifest", "staleness", "info_of", "describe", "catalog", "corpus_state"]

FORMAT = 2  # 2: vectors.npz beside the Chroma collections
MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDERS = ("minilm", "minilm-torch", "hash")


def model_id_for(name: str) -> str:
    """The ``model_id`` the embedder ``name`` will have, without loading it (staleness checks)."""
    ids = {"minilm": MINILM_ID, "minilm-torch": MINILM_ID, "hash": "hash-bow-384"}
    if name not in ids:
        raise InputError(f"unknown embedder {name!r}", hint=f"use one of {', '.join(EMBEDDERS)}")
    return ids[name]


_BUILD_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,63}")


def _read_current(index_dir: Path) -> str | None:
    """The build id named by CURRENT; None when there is no CURRENT or it is empty.

    Raises IndexCorruptError when CURRENT holds anything but a build id (binary junk, a path)."""
    try:
        raw = (Path(index_dir) / "CURRENT").read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        raise IndexCorruptError(f"cannot read {Path(index_dir) / 'CURRENT'} ({e})", hint="run `triage index` to rebuild it") from None
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        return None
    if not _BUILD_ID.fullmatch(text):
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise IndexCorruptError(
            f"{Path(index_dir) / 'CURRENT'} does not name a build ({shown!r})", hint="run `triage index` to rebuild it"
        )
    return text


def read_manifest(index_dir: Path) -> dict | None:
    """The manifest of the current build, or None when there is no usable build."""
    try:
        bid = _read_current(index_dir)
    except IndexCorruptError:
        return None
    if not bid:
        return None
    try:
        return json.loads((index_dir / "builds" / bid / "manifest.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def corpus_state(corpus_dir: Path) -> dict[str, str]:
    """{relative path: sha256} of the corpus files, for staleness checks."""
    from .corpus import corpus_files

    root = corpus_dir
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in corpus_files(root)
    }


def staleness(manifest: dict, corpus_dir: Path, model_id: str) -> list[str]:
    """Reasons the index no longer matches corpus/model (empty list: up to date)."""
    reasons = []
    if manifest.get("format") != FORMAT or manifest.get("chunker") != CHUNKER_VERSION:
        reasons.append("index format changed")
    if manifest.get("model_id") != model_id:
        reasons.append(f"built with {manifest.get('model_id')}, now using {model_id}")
    try:
        now = corpus_state(corpus_dir)
    except BotError as e:
        return reasons + [str(e)]
    old = manifest.get("files", {})
    added = sorted(set(now) - set(old))
    removed = sorted(set(old) - set(now))
    changed = sorted(p for p in set(now) & set(old) if now[p] != old[p])
    for label, items in (("new", added), ("removed", removed), ("changed", changed)):
        if items:
            reasons.append(f"{label}: {', '.join(items)}")
    return reasons


def info_of(manifest: dict, chunk_counts: dict[str, int]) -> dict:
    """What `triage providers` and ``GET /v1/providers`` show of a build: its id and time,
    model, chunk count, and per provider its documents with their chunk counts."""
    return {
        "build_id": manifest["build_id"],
        "built_at": manifest["built_at"],
        "model_id": manifest["model_id"],
        "chunks": manifest["chunks"],
        "providers": [
            {
                "id": pid,
                "vendor": p["vendor"],
                "product": p["product"],
                "documents": [
                    {"id": d["id"], "title": d["title"], "url": d["url"], "chunks": chunk_counts.get(d["id"], 0)}
                    for d in manifest["documents"] if d["provider"] == pid
                ],
            }
            for pid, p in sorted(manifest["providers"].items())
        ],
    }


def describe(index_dir: Path) -> dict:
    """:func:`info_of` the current build from its manifest and records alone: no model, no
    Chroma, so listing providers takes milliseconds."""
    index_dir = Path(index_dir)
    bid = _read_current(index_dir)
    if not bid:
        raise IndexMissingError(f"no index in {index_dir}", hint="run `triage index` to build it")
    build = index_dir / "builds" / bid
    try:
        manifest = json.loads((build / "manifest.json").read_text())
        counts: dict[str, int] = {}
        with (build / "records.jsonl").open(encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                if r["type"] == "chunk":
                    counts[r["doc_id"]] = counts.get(r["doc_id"], 0) + 1
        return info_of(manifest, counts)
    except (OSError, ValueError, KeyError) as e:
        raise IndexCorruptError(
            f"index build {bid} in {index_dir} is unreadable ({type(e).__name__}: {e})", hint="run `triage index` to rebuild it"
        ) from None


def catalog(settings, *, notify=lambda m: None, on_progress=None) -> dict:
    """:func:`describe` the current build of ``settings.index_dir`` (engine settings), building
    or refreshing it first when it is missing or stale, as ``Bot.open`` would. Only then is a
    model loaded; an up-to-date index is listed from its manifest alone."""
    manifest = read_manifest(settings.index_dir)
    if manifest is None or staleness(manifest, settings.corpus_dir, model_id_for(settings.embedder)):
        from .embed import get_embedder
        from .service import ensure_index

        ensure_index(settings, get_embedder(settings.embedder, settings.onnx_dir, notify), notify, on_progress)
    return describe(settings.index_dir)
