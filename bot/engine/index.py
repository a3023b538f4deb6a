"""Index: Chroma collections of chunks and units, built atomically and incrementally.

Layout of the index folder::

    index/
      CURRENT              the id of the build in use (replaced atomically)
      builds/<id>/
        chroma/            Chroma PersistentClient (collections "chunks" and "units", cosine)
        records.jsonl      chunk and unit records (spans, headings, offsets)
        manifest.json      corpus file hashes, model id, chunker version, counts (written last)
      .lock                held (flock, with the builder's pid) while a build runs

A build is written beside the current one and only then made current, so a crash or
``kill -9`` mid-build leaves the previous index answering; the next build removes the half
build, and the kernel drops a dead builder's lock with its process. Embeddings are keyed by the
hash of (model, text): unchanged chunks are copied from the previous build, never re-embedded.

An open :class:`Index` holds a shared flock on its build folder until :meth:`Index.close` (or
until it is garbage-collected): a build in use by any process is never collected, so a server
that has not reloaded yet keeps answering from the build it opened.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
import weakref
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .corpus import CHUNKER_VERSION, chunk_corpus, load_corpus, providers_of
from .embed import Embedder
from .errors import BotError, CorpusError, IndexCorruptError, IndexMissingError, IndexWriteError
from .types import Chunk, Document, Provider, Span, Unit

FORMAT = 1
_open_lock = threading.Lock()


def _chroma_client(path: Path):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.PersistentClient(
        path=str(path), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    )


def _ekey(model_id: str, text: str) -> str:
    return hashlib.sha256(f"{model_id}\x1f{text}".encode()).hexdigest()[:32]


def unit_embed_text(u: Unit) -> str:
    return " ".join(u.text.split())


@dataclass
class BuildReport:
    build_id: str | None
    changed: bool
    chunks: int
    units: int
    embedded: int
    reused: int
    removed_files: list[str]
    changed_files: list[str]
    seconds: float
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------- reading


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


def _hold_build(build: Path) -> int:
    """A shared flock on a build folder: `_collect_garbage` leaves it alone while held."""
    fd = os.open(build, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    except OSError:
        os.close(fd)
        raise
    return fd


def _release(client: Any, fd: int | None, copy: Path | None = None) -> None:
    """Close a Chroma client (Chroma stops the path's shared system with its last client),
    drop the hold on its build folder and remove the temporary copy it was opened from."""
    try:
        if client is not None:
            client.close()
    except Exception:
        pass
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        if copy is not None:
            shutil.rmtree(copy, ignore_errors=True)


def _writable(folder: Path) -> bool:
    """Whether this process may write in ``folder`` and its files (False on a read-only
    mount even for root, for whom permission bits do not count)."""
    return os.access(folder, os.W_OK) and all(os.access(f, os.W_OK) for f in folder.iterdir() if f.is_file())


def _readable_chroma(chroma: Path) -> tuple[Path, Path | None]:
    """Where to open a build's Chroma database: in place, or, when it cannot be written (a
    read-only mount, a folder of another user), from a temporary copy, because SQLite writes
    beside the database even to read it. Returns (folder to open, the copy to remove or None)."""
    if _writable(chroma):
        return chroma, None
    copy = Path(tempfile.mkdtemp(prefix="triage-index-"))
    shutil.copytree(chroma, copy / "chroma")
    return copy / "chroma", copy


class Index:
    """A loaded, read-only build: Chroma collections plus the records and unit vectors.

    :meth:`close` releases the Chroma client and the hold on the build folder; an Index that
    is dropped without it is released when it is garbage-collected."""

    def __init__(self, index_dir: Path, build_id: str, manifest: dict, client: Any, chunks: list[Chunk], units: list[Unit], unit_vecs: np.ndarray, docs: dict[str, dict], hold: int | None = None, copy: Path | None = None):
        self._finalizer = weakref.finalize(self, _release, client, hold, copy)
        self.dir = index_dir
        self.build_id = build_id
        self.manifest = manifest
        self.client = client
        self.collection = client.get_collection("chunks")
        self.chunks = chunks
        self.chunk_by_id = {c.id: c for c in chunks}
        self.units = units
        self.unit_vecs = unit_vecs
        self.units_by_chunk: dict[str, list[int]] = {}
        for i, u in enumerate(units):
            self.units_by_chunk.setdefault(u.chunk_id, []).append(i)
        self.docs = docs  # doc id -> {title, url, provider, vendor, product, path}
        self.providers: dict[str, Provider] = {
            pid: Provider(pid, p["vendor"], p["product"], tuple(p.get("aliases", ()))) for pid, p in manifest["providers"].items()
        }

    @classmethod
    def open(cls, index_dir: Path) -> "Index":
        index_dir = Path(index_dir)
        bid = _read_current(index_dir)
        if not bid:
            raise IndexMissingError(f"no index in {index_dir}", hint="run `triage index` to build it")
        build = index_dir / "builds" / bid
        client = hold = copy = None
        try:
            hold = _hold_build(build)
            manifest = json.loads((build / "manifest.json").read_text())
            chunks, units, docs = _read_records(build / "records.jsonl")
            chroma, copy = _readable_chroma(build / "chroma")
            with _open_lock:
                client = _chroma_client(chroma)
                coll = client.get_collection("chunks")
                ucoll = client.get_collection("units")
            if coll.count() != len(chunks) or ucoll.count() != len(units):
                raise ValueError(f"collections hold {coll.count()}/{ucoll.count()} items, records say {len(chunks)}/{len(units)}")
            got = ucoll.get(include=["embeddings"], limit=max(1, len(units)))
            pos = {uid: i for i, uid in enumerate(got["ids"])}
            vecs = np.asarray(got["embeddings"], dtype=np.float32)
            unit_vecs = vecs[[pos[u.id] for u in units]] if units else np.zeros((0, manifest["dim"]), np.float32)
        except Exception as e:  # any unreadable piece means the build cannot be trusted
            _release(client, hold, copy)
            if isinstance(e, IndexCorruptError):
                raise
            raise IndexCorruptError(
                f"index build {bid} in {index_dir} is unreadable ({type(e).__name__}: {e})",
                hint="run `triage index` to rebuild it",
            ) from None
        return cls(index_dir, bid, manifest, client, chunks, units, unit_vecs, docs, hold, copy)

    def close(self) -> None:
        """Release the Chroma client and the build folder (idempotent). Queries after it fail."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def query(self, vec: np.ndarray, providers: list[str], n: int) -> dict:
        """Raw dense query: Chroma's answer for one query vector within ``providers``."""
        where = {"provider": providers[0]} if len(providers) == 1 else {"provider": {"$in": providers}}
        return self.collection.query(
            query_embeddings=[vec.tolist()], n_results=max(1, n), where=where, include=["distances"]
        )


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


def _span_from(d: dict) -> Span:
    return Span(d["role"], d["start"], d["end"], d["text"])


def _read_records(path: Path) -> tuple[list[Chunk], list[Unit], dict[str, dict]]:
    chunks: list[Chunk] = []
    units: list[Unit] = []
    docs: dict[str, dict] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            t = r.pop("type")
            if t == "doc":
                docs[r["id"]] = r
            elif t == "chunk":
                r["spans"] = tuple(_span_from(s) for s in r["spans"])
                r["headings"] = tuple(r["headings"])
                chunks.append(Chunk(**r))
            elif t == "unit":
                r["headings"] = tuple(r["headings"])
                r["governors"] = tuple(_span_from(s) for s in r["governors"])
                r["qualified"] = _span_from(r["qualified"]) if r["qualified"] else None
                units.append(Unit(**r))
    return chunks, units, docs


# ---------------------------------------------------------------------------- building


@contextlib.contextmanager
def _build_lock(index_dir: Path, wait: bool = True):
    """One build at a time per index folder. An flock, so the kernel releases it when its
    holder dies (``kill -9`` included): a stale lock file never blocks the next build. The
    holder's pid is written into it for the message a second builder gets.

    Why plain ``fcntl`` and not the ``filelock`` package (measured with filelock 4.2): its
    ``FileLock`` does this exclusive lock (an flock too, freed on ``kill -9``, ``Timeout`` when
    non-blocking) but keeps no holder record, so the pid lines stay; it would save three lines
    and add a declared dependency. The shared holds on build folders (:func:`_hold_build`) are
    what it cannot do: ``FileLock`` is exclusive only, and its ``ReadWriteLock`` is SQLite-based,
    so it needs a ``.db`` file per build beside the folder (one more thing to collect) and a
    SQLite connection per open :class:`Index`, and with its default singleton a write attempt
    from another thread of the same process raises ``RuntimeError`` instead of reporting the
    build busy. One mechanism for both locks is simpler, so both stay flocks."""
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        fh = open(index_dir / ".lock", "a+")
    except OSError as e:
        raise IndexWriteError(
            f"cannot write to the index folder {index_dir} ({e.strerror or type(e).__name__})",
            hint="make it writable, or build the index in another folder: --index or BOT_INDEX_DIR",
        ) from None
    with fh:
        flags = fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB)
        try:
            fcntl.flock(fh, flags)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip()
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise IndexCorruptError(f"another `triage index`{who} is building {index_dir}", hint="wait for it to finish") from None
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(str(os.getpid()))
            fh.flush()
            yield
        finally:
            with contextlib.suppress(OSError):
                fh.truncate(0)
            fcntl.flock(fh, fcntl.LOCK_UN)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _old_vectors(index_dir: Path, model_id: str) -> dict[str, list[float]]:
    """ekey -> vector from the current build, if it is readable and used the same model."""
    manifest = read_manifest(index_dir)
    if not manifest or manifest.get("model_id") != model_id:
        return {}
    out: dict[str, list[float]] = {}
    client = None
    try:
        client = _chroma_client(index_dir / "builds" / manifest["build_id"] / "chroma")
        for name in ("chunks", "units"):
            got = client.get_collection(name).get(include=["embeddings", "metadatas"])
            for meta, vec in zip(got["metadatas"], got["embeddings"]):
                out[meta["ekey"]] = np.asarray(vec, dtype=np.float32).tolist()
    except Exception:
        return {}  # an unreadable old build is simply not reused
    finally:
        _release(client, None)
    return out


def build_index(
    corpus_dir: Path,
    index_dir: Path,
    embedder: Embedder,
    *,
    force: bool = False,
    batch_size: int = 64,
    on_progress: Callable[[str, int, int], None] | None = None,
    _crash_after_embed: bool = False,
) -> BuildReport:
    """Build (or refresh) the index of ``corpus_dir`` into ``index_dir``; returns what it did.

    Corpus errors are raised before anything is written. ``on_progress(stage, done, total)``
    drives progress bars.
    """
    t0 = time.perf_counter()
    corpus_dir, index_dir = Path(corpus_dir), Path(index_dir)
    # Step 1: read the corpus; its errors come before anything is written.
    docs = load_corpus(corpus_dir)
    files = {d.path: d.sha256 for d in docs}
    with _build_lock(index_dir):
        # Step 2: nothing to do when the current build still matches corpus and model.
        old, force = _previous_manifest(index_dir, force)
        if old and not force and not staleness(old, corpus_dir, embedder.model_id) and old.get("files") == files:
            return BuildReport(old["build_id"], False, old["chunks"], old["units"], 0, 0, [], [], time.perf_counter() - t0, "index is up to date")
        # Step 3: chunks and units.
        chunks, units = chunk_corpus(docs)
        if not chunks:
            raise CorpusError(f"corpus {corpus_dir} yields no passages", hint="check the documents have text under their front matter")
        # Step 4: vectors; those of unchanged texts come from the previous build.
        vec = _vectors(index_dir, embedder, chunks, units, force=force, batch_size=batch_size, on_progress=on_progress)
        if _crash_after_embed:
            raise RuntimeError("simulated crash mid-build")
        # Step 5: the new build, written beside the current one and only then made current.
        bid = _write_build(index_dir, embedder, docs, files, chunks, units, vec, on_progress)
        # Step 6: builds that are neither current nor previous (nor open somewhere) go.
        _collect_garbage(index_dir, keep={bid, old["build_id"] if old else ""})
        return _built_report(bid, old, files, chunks, units, vec, time.perf_counter() - t0)


def _previous_manifest(index_dir: Path, force: bool) -> tuple[dict | None, bool]:
    """The current build's manifest and whether to rebuild from scratch: a build that no longer
    opens is rebuilt, whatever its manifest says."""
    old = read_manifest(index_dir)
    if old and not force:
        try:
            Index.open(index_dir).close()
        except IndexCorruptError:
            return None, True
    return old, force


@dataclass(frozen=True)
class _Vectors:
    """Embedding texts, their keys (hash of model and text) and a vector for every key."""

    chunk_texts: list[str]
    ckeys: list[str]
    ukeys: list[str]
    by_key: dict[str, Any]
    embedded: int  # how many were embedded in this build (the rest were reused)

    @property
    def distinct(self) -> int:
        return len(set(self.ckeys + self.ukeys))


def _vectors(index_dir: Path, embedder: Embedder, chunks: list[Chunk], units: list[Unit], *, force: bool, batch_size: int, on_progress) -> _Vectors:
    chunk_texts = [c.embed_text() for c in chunks]
    unit_texts = [unit_embed_text(u) for u in units]
    ckeys = [_ekey(embedder.model_id, t) for t in chunk_texts]
    ukeys = [_ekey(embedder.model_id, t) for t in unit_texts]
    reuse = _old_vectors(index_dir, embedder.model_id) if not force else {}
    todo: dict[str, str] = {}
    for k, t in zip(ckeys + ukeys, chunk_texts + unit_texts):
        if k not in reuse:
            todo.setdefault(k, t)
    by_key: dict[str, Any] = {k: reuse[k] for k in set(ckeys + ukeys) if k in reuse}
    if todo:
        by_key.update(_embed_new(embedder, todo, batch_size, on_progress))
    return _Vectors(chunk_texts, ckeys, ukeys, by_key, len(todo))


def _embed_new(embedder: Embedder, todo: dict[str, str], batch_size: int, on_progress) -> dict[str, Any]:
    """Embed the texts of ``todo`` (key -> text), reporting progress as batches finish."""
    keys = list(todo)
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if on_progress:
            on_progress("embedding", done, len(keys))

    if on_progress:
        on_progress("embedding", 0, len(keys))
    vecs = embedder.embed([todo[k] for k in keys], batch_size=batch_size, progress=tick)
    return dict(zip(keys, vecs.tolist()))


def _write_build(index_dir: Path, embedder: Embedder, docs: list[Document], files: dict[str, str], chunks: list[Chunk], units: list[Unit], vec: _Vectors, on_progress) -> str:
    """Write a complete build and make it current; on any failure remove it, so CURRENT still
    names the old build and nothing half-written stays behind. Returns the new build id."""
    bid = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    build = index_dir / "builds" / bid
    client = None
    try:
        build.mkdir(parents=True)
        client = _chroma_client(build / "chroma")
        _fill_collections(client, chunks, units, vec)
        if on_progress:
            on_progress("writing", 1, 1)
        _write_records(build / "records.jsonl", docs, chunks, units)
        manifest = _manifest(bid, embedder, files, docs, chunks, units)
        _release(client, None)
        client = None
        _publish(index_dir, build, bid, manifest)
    except BaseException as e:
        _release(client, None)
        if _read_current_or_none(index_dir) != bid:
            shutil.rmtree(build, ignore_errors=True)
            (index_dir / f"CURRENT.{bid}.tmp").unlink(missing_ok=True)
        if isinstance(e, BotError) or not isinstance(e, Exception):  # Ctrl-C, SystemExit: as they are
            raise
        raise IndexWriteError(
            f"could not write the new build of {index_dir} ({type(e).__name__}: {e})",
            hint="the previous build is still in use; free disk space or fix the folder's permissions, then run `triage index` again",
        ) from e
    return bid


def _fill_collections(client: Any, chunks: list[Chunk], units: list[Unit], vec: _Vectors, step: int = 2000) -> None:
    """The "chunks" and "units" collections (cosine), added ``step`` records at a time."""
    meta = {"hnsw:space": "cosine"}
    ccoll = client.create_collection("chunks", metadata=meta, embedding_function=None)
    ucoll = client.create_collection("units", metadata=meta, embedding_function=None)
    for i in range(0, len(chunks), step):
        part, keys = chunks[i : i + step], vec.ckeys[i : i + step]
        ccoll.add(
            ids=[c.id for c in part],
            embeddings=[vec.by_key[k] for k in keys],
            documents=vec.chunk_texts[i : i + step],
            metadatas=[
                {"provider": c.provider, "doc_id": c.doc_id, "kind": c.kind, "section": c.section, "start": c.start, "end": c.end, "ekey": k}
                for c, k in zip(part, keys)
            ],
        )
    for i in range(0, len(units), step):
        part, keys = units[i : i + step], vec.ukeys[i : i + step]
        ucoll.add(
            ids=[u.id for u in part],
            embeddings=[vec.by_key[k] for k in keys],
            metadatas=[{"provider": u.provider, "chunk_id": u.chunk_id, "ekey": k} for u, k in zip(part, keys)],
        )


def _manifest(bid: str, embedder: Embedder, files: dict[str, str], docs: list[Document], chunks: list[Chunk], units: list[Unit]) -> dict:
    providers = providers_of(docs)
    return {
        "format": FORMAT,
        "build_id": bid,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model_id": embedder.model_id,
        "dim": embedder.dim,
        "chunker": CHUNKER_VERSION,
        "files": files,
        "chunks": len(chunks),
        "units": len(units),
        "providers": {pid: {"vendor": p.vendor, "product": p.product, "aliases": list(p.aliases)} for pid, p in providers.items()},
        "documents": [{"id": d.id, "provider": d.provider, "title": d.title, "url": d.url, "path": d.path} for d in docs],
    }


def _publish(index_dir: Path, build: Path, bid: str, manifest: dict) -> None:
    """The manifest last inside the build, then CURRENT replaced atomically, each synced to disk."""
    tmp = build / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, build / "manifest.json")
    _fsync_dir(build)
    cur_tmp = index_dir / f"CURRENT.{bid}.tmp"
    cur_tmp.write_text(bid + "\n")
    with open(cur_tmp) as fh:
        os.fsync(fh.fileno())
    os.replace(cur_tmp, index_dir / "CURRENT")
    _fsync_dir(index_dir)


def _built_report(bid: str, old: dict | None, files: dict[str, str], chunks: list[Chunk], units: list[Unit], vec: _Vectors, seconds: float) -> BuildReport:
    old_files = (old or {}).get("files", {})
    changed_files = sorted(p for p in files if old_files.get(p) != files[p])
    removed_files = sorted(set(old_files) - set(files))
    n_new, reused = vec.embedded, vec.distinct - vec.embedded
    return BuildReport(
        bid, True, len(chunks), len(units), n_new, reused, removed_files, changed_files,
        seconds, f"built {len(chunks)} chunks, {len(units)} units; embedded {n_new}, reused {reused}",
    )


def _write_records(path: Path, docs: list[Document], chunks: list[Chunk], units: list[Unit]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"type": "doc", "id": d.id, "provider": d.provider, "vendor": d.vendor, "product": d.product, "title": d.title, "url": d.url, "path": d.path, "anchors": d.anchors, "text": d.text}) + "\n")
        for c in chunks:
            f.write(json.dumps({"type": "chunk", **asdict(c)}) + "\n")
        for u in units:
            f.write(json.dumps({"type": "unit", **asdict(u)}) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _read_current_or_none(index_dir: Path) -> str | None:
    try:
        return _read_current(index_dir)
    except IndexCorruptError:
        return None


def _collect_garbage(index_dir: Path, keep: set[str]) -> None:
    """Remove builds that are neither current nor the previous one (crashed builds included),
    unless a process still has one open (its shared flock): that one goes in a later build."""
    builds = index_dir / "builds"
    for d in builds.iterdir() if builds.is_dir() else []:
        if d.name in keep:
            continue
        try:
            fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:  # a stray file, or gone already
            with contextlib.suppress(OSError):
                d.unlink()
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # in use by a running process
        try:
            shutil.rmtree(d, ignore_errors=True)
        finally:
            os.close(fd)
    for tmp in index_dir.glob("CURRENT.*.tmp"):
        tmp.unlink(missing_ok=True)
