"""Index: Chroma collections of chunks and units, built atomically and incrementally.

Layout of the index folder::

    index/
      CURRENT              the id of the build in use (replaced atomically)
      builds/<id>/
        chroma/            Chroma PersistentClient (collections "chunks" and "units", cosine)
        records.jsonl      chunk and unit records (spans, headings, offsets)
        vectors.npz        the same vectors as the collections, in record order (exact search)
        manifest.json      corpus file hashes, model id, chunker version, counts (written last)
      .lock                held (flock, with the builder's pid) while a build runs

A build is written beside the current one and only then made current, so a crash or
``kill -9`` mid-build leaves the previous index answering; the next build removes the half
build, and the kernel drops a dead builder's lock with its process. Embeddings are keyed by the
hash of (model, text): unchanged chunks are copied from the previous build, never re-embedded.

Dense search goes through one of two stores over the same vectors (:data:`STORES`): Chroma, the
index of record, which a long-running server opens; or an exact cosine search over
``vectors.npz``, which a one-shot process (`triage ask`) opens because importing chromadb and
opening its client cost it about 1.1 s of a 2 s start (measured; see README "Cold starts").

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
from .manifest import FORMAT, _read_current, corpus_state, describe, info_of, read_manifest, staleness  # noqa: F401 (re-exported)
from .types import Chunk, Document, Provider, Span, Unit

VECTORS_FILE = "vectors.npz"
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


def _hold_build(build: Path) -> int:
    """A shared flock on a build folder: `_collect_garbage` leaves it alone while held."""
    fd = os.open(build, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    except OSError:
        os.close(fd)
        raise
    return fd


def _release(store: Any, fd: int | None) -> None:
    """Close a vector store (a Chroma client: Chroma stops the path's shared system with its
    last client) and drop the hold on its build folder."""
    try:
        if store is not None:
            store.close()
    except Exception:
        pass
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def _close_chroma(client: Any, copy: Path | None = None) -> None:
    """Close a Chroma client and remove the temporary copy it was opened from."""
    try:
        if client is not None:
            client.close()
    except Exception:
        pass
    finally:
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


class ChromaStore:
    """Dense search in the build's Chroma collections: the index of record."""

    name = "chroma"

    def __init__(self, client: Any, unit_vecs: np.ndarray, copy: Path | None = None):
        self.client = client
        self.collection = client.get_collection("chunks")
        self.unit_vecs = unit_vecs
        self._copy = copy

    @classmethod
    def open(cls, build: Path, chunks: list[Chunk], units: list[Unit], dim: int) -> "ChromaStore":
        """Open the collections and check they hold what the records say; any failure raises."""
        chroma, copy = _readable_chroma(build / "chroma")
        client = None
        try:
            with _open_lock:
                client = _chroma_client(chroma)
                coll = client.get_collection("chunks")
                ucoll = client.get_collection("units")
            if coll.count() != len(chunks) or ucoll.count() != len(units):
                raise ValueError(f"collections hold {coll.count()}/{ucoll.count()} items, records say {len(chunks)}/{len(units)}")
            got = ucoll.get(include=["embeddings"], limit=max(1, len(units)))
            pos = {uid: i for i, uid in enumerate(got["ids"])}
            vecs = np.asarray(got["embeddings"], dtype=np.float32)
            unit_vecs = vecs[[pos[u.id] for u in units]] if units else np.zeros((0, dim), np.float32)
            return cls(client, unit_vecs, copy)
        except BaseException:
            _close_chroma(client, copy)
            raise

    def query(self, vec: np.ndarray, providers: list[str], n: int) -> dict:
        where = {"provider": providers[0]} if len(providers) == 1 else {"provider": {"$in": providers}}
        return self.collection.query(query_embeddings=[vec.tolist()], n_results=max(1, n), where=where, include=["distances"])

    def close(self) -> None:
        _close_chroma(self.client, self._copy)


class ExactStore:
    """Exact cosine search over ``vectors.npz`` (the vectors Chroma holds, in record order):
    no chromadb import, no client, so a one-shot process starts about 1.1 s sooner. Search is
    a matrix product, exact where Chroma's HNSW is approximate; for the few thousand chunks of
    a support-policy corpus it takes well under a millisecond."""

    name = "exact"

    def __init__(self, chunk_ids: list[str], chunk_vecs: np.ndarray, providers: np.ndarray, unit_vecs: np.ndarray):
        self.chunk_ids = chunk_ids
        norms = np.linalg.norm(chunk_vecs, axis=1, keepdims=True)
        self.chunk_vecs = chunk_vecs / np.where(norms == 0, 1.0, norms)
        self.providers = providers
        self.unit_vecs = unit_vecs

    @classmethod
    def open(cls, build: Path, chunks: list[Chunk], units: list[Unit], dim: int) -> "ExactStore":
        """Load the vectors and check they are those of the records (ids, order, width)."""
        with np.load(build / VECTORS_FILE, allow_pickle=False) as z:
            cids, cvecs, uids, uvecs = list(z["chunk_ids"]), z["chunk_vecs"], list(z["unit_ids"]), z["unit_vecs"]
        if cids != [c.id for c in chunks] or uids != [u.id for u in units]:
            raise ValueError(f"{VECTORS_FILE} holds {len(cids)}/{len(uids)} items that are not the records' {len(chunks)}/{len(units)}")
        if cvecs.shape != (len(chunks), dim) or uvecs.shape != (len(units), dim):
            raise ValueError(f"{VECTORS_FILE} holds vectors of shape {cvecs.shape}/{uvecs.shape}, not {dim} wide")
        return cls([str(c) for c in cids], cvecs.astype(np.float32), np.array([c.provider for c in chunks]), uvecs.astype(np.float32))

    def query(self, vec: np.ndarray, providers: list[str], n: int) -> dict:
        """Chroma's answer shape: ids and cosine distances, nearest first."""
        idx = np.flatnonzero(np.isin(self.providers, providers))
        q = np.asarray(vec, dtype=np.float32)
        sims = self.chunk_vecs[idx] @ (q / (np.linalg.norm(q) or 1.0))
        order = np.argsort(-sims, kind="stable")[: max(1, n)]
        return {"ids": [[self.chunk_ids[i] for i in idx[order]]], "distances": [[float(1.0 - sims[k]) for k in order]]}

    def close(self) -> None:
        pass


STORES = {"chroma": ChromaStore, "exact": ExactStore}  # BOT_VECTOR_STORE's values


class Index:
    """A loaded, read-only build: its records, unit vectors and a vector store to search.

    :meth:`close` releases the store (a Chroma client) and the hold on the build folder; an
    Index that is dropped without it is released when it is garbage-collected."""

    def __init__(self, index_dir: Path, build_id: str, manifest: dict, store: Any, chunks: list[Chunk], units: list[Unit], docs: dict[str, dict], hold: int | None = None):
        self._finalizer = weakref.finalize(self, _release, store, hold)
        self.dir = index_dir
        self.build_id = build_id
        self.manifest = manifest
        self.store = store
        self.chunks = chunks
        self.chunk_by_id = {c.id: c for c in chunks}
        self.units = units
        self.unit_vecs = store.unit_vecs
        self.units_by_chunk: dict[str, list[int]] = {}
        for i, u in enumerate(units):
            self.units_by_chunk.setdefault(u.chunk_id, []).append(i)
        self.docs = docs  # doc id -> {title, url, provider, vendor, product, path}
        self.providers: dict[str, Provider] = {
            pid: Provider(pid, p["vendor"], p["product"], tuple(p.get("aliases", ()))) for pid, p in manifest["providers"].items()
        }

    @classmethod
    def open(cls, index_dir: Path, store: str = "chroma") -> "Index":
        """Open the current build, searching through ``store`` ("chroma" or "exact")."""
        index_dir = Path(index_dir)
        bid = _read_current(index_dir)
        if not bid:
            raise IndexMissingError(f"no index in {index_dir}", hint="run `triage index` to build it")
        build = index_dir / "builds" / bid
        opened = hold = None
        try:
            hold = _hold_build(build)
            manifest = json.loads((build / "manifest.json").read_text())
            chunks, units, docs = _read_records(build / "records.jsonl")
            opened = STORES[store].open(build, chunks, units, manifest["dim"])
        except Exception as e:  # any unreadable piece means the build cannot be trusted
            _release(opened, hold)
            if isinstance(e, IndexCorruptError):
                raise
            raise IndexCorruptError(
                f"index build {bid} in {index_dir} is unreadable ({type(e).__name__}: {e})",
                hint="run `triage index` to rebuild it",
            ) from None
        return cls(index_dir, bid, manifest, opened, chunks, units, docs, hold)

    def close(self) -> None:
        """Release the store and the build folder (idempotent). Queries after it fail."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def query(self, vec: np.ndarray, providers: list[str], n: int) -> dict:
        """Raw dense query: the store's answer for one query vector within ``providers``."""
        return self.store.query(vec, providers, n)


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
        _close_chroma(client)
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
        _write_vectors(build / VECTORS_FILE, chunks, units, vec)
        manifest = _manifest(bid, embedder, files, docs, chunks, units)
        _close_chroma(client)
        client = None
        _publish(index_dir, build, bid, manifest)
    except BaseException as e:
        _close_chroma(client)
        full = _disk_full(index_dir, e)
        if _read_current_or_none(index_dir) != bid:
            shutil.rmtree(build, ignore_errors=True)
            (index_dir / f"CURRENT.{bid}.tmp").unlink(missing_ok=True)
        if isinstance(e, BotError) or not isinstance(e, Exception):  # Ctrl-C, SystemExit: as they are
            raise
        raise IndexWriteError(
            f"could not write the new build of {index_dir} ({full or f'{type(e).__name__}: {e}'})",
            hint="the previous build is still in use; free disk space or fix the folder's permissions, then run `triage index` again",
        ) from e
    return bid


def _disk_full(index_dir: Path, e: BaseException) -> str | None:
    """"the disk is full …" when that is why a build failed: SQLite says so itself, but Chroma's
    compaction or numpy report it in their own words, so free space is checked too (before the
    half build is removed and frees it)."""
    try:
        free = shutil.disk_usage(index_dir).free
    except OSError:
        free = None
    if "disk is full" in str(e) or getattr(e, "errno", None) == 28 or (free is not None and free < 1 << 20):
        return f"the disk is full: {free // 1024 if free is not None else '?'} KB free; {type(e).__name__}: {e}"
    return None


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


def _write_vectors(path: Path, chunks: list[Chunk], units: list[Unit], vec: _Vectors) -> None:
    """The collections' vectors in record order, for :class:`ExactStore`."""
    with path.open("wb") as f:
        np.savez(
            f,
            chunk_ids=np.array([c.id for c in chunks]), chunk_vecs=np.asarray([vec.by_key[k] for k in vec.ckeys], dtype=np.float32),
            unit_ids=np.array([u.id for u in units]), unit_vecs=np.asarray([vec.by_key[k] for k in vec.ukeys], dtype=np.float32).reshape(len(units), -1),
        )
        f.flush()
        os.fsync(f.fileno())


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
