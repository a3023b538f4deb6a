"""bot.index: atomic, incremental builds; staleness; corruption; missing index; auto-index.

Index mechanics do not depend on the model, so these use the hash embedder (fast); the
real-model incremental path is covered by the third-provider test in test_service.py.
"""

from __future__ import annotations

import json
import os
import shutil
import time

import numpy as np
import pytest

from bot.engine.embed import HashEmbedder
from bot.engine.errors import IndexCorruptError, IndexMissingError, IndexStaleError
from bot.engine.index import Index, build_index, read_manifest, staleness
from bot.engine.service import Bot
from conftest import AKS_DOC, OKE_DOC, build_hash_index_in_subprocess, copy_corpus, silent

NEW_SENTENCE = "\nMicrosoft provides technical support for the widget gateway add-on.\n"


def _builds(index_dir):
    d = index_dir / "builds"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def _current(index_dir):
    return (index_dir / "CURRENT").read_text().strip()


def _ids_by_provider(index):
    out: dict[str, set[str]] = {}
    for c in index.chunks:
        out.setdefault(c.provider, set()).add(c.id)
    return out


def _istio_verdicts(env, index):
    """Answer from an already opened index (whatever the corpus says now)."""
    bot = Bot(env.settings(auto_index=False), env.embedder, index)
    ans = bot.answer("Is Istio supported?")
    return {f.provider: f.verdict for f in ans.findings}


# ------------------------------------------------------------------------------ building


def test_first_build_writes_a_complete_build_and_makes_it_current(hash_index):
    r = hash_index.report
    idx = hash_index.index_dir
    assert r.changed and r.build_id == _current(idx)
    assert r.chunks > 100 and r.units > 200
    assert r.embedded > 0 and r.reused == 0
    assert r.changed_files == [AKS_DOC, OKE_DOC]
    assert hash_index.embedder.texts_embedded == r.embedded  # each distinct text embedded once
    build = idx / "builds" / r.build_id
    assert {p.name for p in build.iterdir()} == {"chroma", "manifest.json", "records.jsonl", "vectors.npz"}
    m = read_manifest(idx)
    assert m["build_id"] == r.build_id and m["model_id"] == hash_index.embedder.model_id
    assert set(m["files"]) == {AKS_DOC, OKE_DOC}
    assert set(m["providers"]) == {"aks", "oke"} and m["providers"]["oke"]["vendor"] == "Oracle"
    index = Index.open(idx)
    assert len(index.chunks) == r.chunks and len(index.units) == r.units
    assert index.unit_vecs.shape == (r.units, 384)
    assert set(index.providers) == {"aks", "oke"}
    assert not list(idx.glob("CURRENT.*.tmp"))


def test_unchanged_reindex_embeds_nothing(hash_index):
    before = hash_index.embedder.texts_embedded
    r = build_index(hash_index.corpus_dir, hash_index.index_dir, hash_index.embedder)
    assert r.embedded == 0 and not r.changed
    assert "up to date" in r.message
    assert r.build_id == hash_index.report.build_id == _current(hash_index.index_dir)
    assert hash_index.embedder.texts_embedded == before
    # touching files (mtime only) is not a change either: staleness is by content hash
    later = time.time() + 10
    for p in hash_index.corpus_dir.rglob("*.md"):
        os.utime(p, (later, later))
    r2 = build_index(hash_index.corpus_dir, hash_index.index_dir, hash_index.embedder, force=False)
    assert r2.embedded == 0 and "up to date" in r2.message
    assert hash_index.embedder.texts_embedded == before
    assert _builds(hash_index.index_dir) == [hash_index.report.build_id]


def test_force_reembeds_everything_into_a_new_build(hash_index):
    r = build_index(hash_index.corpus_dir, hash_index.index_dir, hash_index.embedder, force=True)
    assert r.changed and r.build_id != hash_index.report.build_id
    assert r.embedded == hash_index.report.embedded and r.reused == 0
    assert _current(hash_index.index_dir) == r.build_id
    # the previous build is kept (one back), older ones are collected
    assert _builds(hash_index.index_dir) == sorted([hash_index.report.build_id, r.build_id])
    r3 = build_index(hash_index.corpus_dir, hash_index.index_dir, hash_index.embedder, force=True)
    assert _builds(hash_index.index_dir) == sorted([r.build_id, r3.build_id])


def test_changing_one_file_reembeds_only_a_few_texts(hash_index):
    old = Index.open(hash_index.index_dir)
    old_ids = _ids_by_provider(old)
    total = hash_index.report.embedded
    p = hash_index.corpus_dir / AKS_DOC
    p.write_text(p.read_text(encoding="utf-8") + NEW_SENTENCE, encoding="utf-8")
    r = build_index(hash_index.corpus_dir, hash_index.index_dir, hash_index.embedder)
    assert r.changed and r.changed_files == [AKS_DOC]
    assert 0 < r.embedded <= 5 and r.embedded * 20 < total
    assert r.reused >= total - 5
    new = Index.open(hash_index.index_dir)
    new_ids = _ids_by_provider(new)
    assert new_ids["oke"] == old_ids["oke"]  # the other provider's chunks keep their ids
    assert len(new_ids["aks"] - old_ids["aks"]) == 1 and old_ids["aks"] <= new_ids["aks"]
    assert any("widget gateway" in c.embed_text() for c in new.chunks)


def test_removing_a_file_reuses_every_remaining_vector(hash_index):
    old_ids = _ids_by_provider(Index.open(hash_index.index_dir))
    before = hash_index.embedder.texts_embedded
    shutil.rmtree(hash_index.corpus_dir / "oke")
    r = build_index(hash_index.corpus_dir, hash_index.index_dir, hash_index.embedder)
    assert r.changed and r.embedded == 0 and r.reused > 0
    assert r.removed_files == [OKE_DOC]
    assert hash_index.embedder.texts_embedded == before
    index = Index.open(hash_index.index_dir)
    assert set(index.providers) == {"aks"}
    assert _ids_by_provider(index) == {"aks": old_ids["aks"]}


def test_interrupted_build_leaves_the_previous_build_current(hash_index):
    idx = hash_index.index_dir
    cur, builds = _current(idx), _builds(idx)
    p = hash_index.corpus_dir / AKS_DOC
    p.write_text(p.read_text(encoding="utf-8") + NEW_SENTENCE, encoding="utf-8")
    with pytest.raises(RuntimeError, match="simulated crash"):
        build_index(hash_index.corpus_dir, idx, hash_index.embedder, _crash_after_embed=True)
    assert _current(idx) == cur
    assert _builds(idx) == builds  # nothing half-written left behind
    assert not list(idx.glob("CURRENT.*.tmp"))
    index = Index.open(idx)
    assert index.build_id == cur
    assert not any("widget gateway" in c.embed_text() for c in index.chunks)
    # still answering from the previous build ...
    assert _istio_verdicts(hash_index, index) == {"aks": "not-covered", "oke": "not-covered"}
    # ... which is now known to be stale
    assert staleness(read_manifest(idx), hash_index.corpus_dir, hash_index.embedder.model_id) == [f"changed: {AKS_DOC}"]


def test_build_lock_is_released_after_a_crash(hash_index):
    with pytest.raises(RuntimeError):
        build_index(hash_index.corpus_dir, hash_index.index_dir, hash_index.embedder, force=True, _crash_after_embed=True)
    r = build_index(hash_index.corpus_dir, hash_index.index_dir, hash_index.embedder, force=True)
    assert r.changed


def test_progress_callback_reports_embedding_and_writing(tmp_path, corpus_dir):
    events = []
    build_index(corpus_dir, tmp_path / "index", HashEmbedder(), on_progress=lambda *a: events.append(a))
    stages = [e[0] for e in events]
    assert stages[0] == "embedding" and events[0][1] == 0 and stages[-1] == "writing"
    last_embed = [e for e in events if e[0] == "embedding"][-1]
    assert last_embed[1] == last_embed[2] > 0


# ------------------------------------------------------------------------------ corruption


def _deleted_chroma_index(tmp_path, corpus_dir):
    """A hash index built by another process whose current build lost its chroma folder."""
    idx = tmp_path / "index"
    build_hash_index_in_subprocess(corpus_dir, idx)
    shutil.rmtree(idx / "builds" / _current(idx) / "chroma")
    return idx


def _garbage_records_index(hash_index):
    idx = hash_index.index_dir
    (idx / "builds" / _current(idx) / "records.jsonl").write_text("this is {not json\n")
    return idx


def test_deleted_chroma_folder_is_reported_as_corrupt(tmp_path, corpus_dir):
    idx = _deleted_chroma_index(tmp_path, corpus_dir)
    with pytest.raises(IndexCorruptError) as ei:
        Index.open(idx)
    assert "triage index" in str(ei.value)
    assert ei.value.exit_code == 4


def test_garbage_records_are_reported_as_corrupt(hash_index):
    idx = _garbage_records_index(hash_index)
    with pytest.raises(IndexCorruptError) as ei:
        Index.open(idx)
    assert "triage index" in str(ei.value) and "unreadable" in str(ei.value)
    with pytest.raises(IndexCorruptError):
        Bot.open(hash_index.settings(auto_index=True), embedder=hash_index.embedder, notify=silent)


def test_forced_rebuild_repairs_a_corrupt_index(tmp_path, corpus_dir):
    idx = _deleted_chroma_index(tmp_path, corpus_dir)
    emb = HashEmbedder()
    r = build_index(corpus_dir, idx, emb, force=True)
    assert r.changed
    index = Index.open(idx)
    assert index.build_id == r.build_id and len(index.chunks) == r.chunks


@pytest.mark.parametrize("damage", ["records", "chroma"])
def test_plain_rebuild_repairs_a_corrupt_index(tmp_path, hash_index, damage):
    if damage == "records":
        idx, corpus = _garbage_records_index(hash_index), hash_index.corpus_dir
    else:
        corpus = copy_corpus(tmp_path / "corpus2")
        idx = _deleted_chroma_index(tmp_path / "sub", corpus)
    build_index(corpus, idx, HashEmbedder())  # what `triage index` does (no --force)
    Index.open(idx)


# ------------------------------------------------------------------------------ missing / stale


def test_missing_index(tmp_path, corpus_dir):
    with pytest.raises(IndexMissingError, match="triage index"):
        Index.open(tmp_path / "no-index")
    from bot.runtime.config import Settings

    s = Settings(corpus_dir=corpus_dir, index_dir=tmp_path / "no-index", embedder="hash", auto_index=False)
    with pytest.raises(IndexMissingError):
        Bot.open(s, embedder=HashEmbedder(), notify=silent)
    assert not (tmp_path / "no-index" / "CURRENT").exists()


def test_auto_index_builds_a_missing_index(tmp_path, corpus_dir):
    from bot.runtime.config import Settings

    msgs: list[str] = []
    s = Settings(corpus_dir=corpus_dir, index_dir=tmp_path / "auto", embedder="hash", auto_index=True)
    bot = Bot.open(s, embedder=HashEmbedder(), notify=msgs.append)
    assert (tmp_path / "auto" / "CURRENT").exists()
    assert any("No index" in m for m in msgs) and any("Index built" in m for m in msgs)
    assert set(bot.providers) == {"aks", "oke"}
    assert bot.answer("Is Istio supported?").verdict == "not-covered"


def test_staleness_reports_changed_new_and_removed_files_and_model(hash_index):
    idx, corpus, mid = hash_index.index_dir, hash_index.corpus_dir, hash_index.embedder.model_id
    m = read_manifest(idx)
    assert staleness(m, corpus, mid) == []
    assert any("built with hash-bow-384" in r for r in staleness(m, corpus, "sentence-transformers/all-MiniLM-L6-v2"))
    p = corpus / AKS_DOC
    p.write_text(p.read_text(encoding="utf-8") + NEW_SENTENCE, encoding="utf-8")
    (corpus / "oke" / "extra.md").write_text((corpus / OKE_DOC).read_text(encoding="utf-8").replace("Oracle's", "Oracle’s", 1))
    assert set(staleness(m, corpus, mid)) == {f"changed: {AKS_DOC}", "new: oke/extra.md"}
    os.remove(corpus / OKE_DOC)
    assert f"removed: {OKE_DOC}" in staleness(m, corpus, mid)
    assert staleness({**m, "chunker": "0"}, corpus, mid)[0] == "index format changed"


def test_stale_index_raises_without_auto_index(hash_index):
    p = hash_index.corpus_dir / AKS_DOC
    p.write_text(p.read_text(encoding="utf-8") + NEW_SENTENCE, encoding="utf-8")
    with pytest.raises(IndexStaleError, match="changed: aks/support-policies.md"):
        Bot.open(hash_index.settings(auto_index=False), embedder=hash_index.embedder, notify=silent)


def test_auto_index_refreshes_a_stale_index_after_a_removal(hash_index):
    shutil.rmtree(hash_index.corpus_dir / "aks")
    msgs: list[str] = []
    bot = Bot.open(hash_index.settings(auto_index=True), embedder=hash_index.embedder, notify=msgs.append)
    assert any("stale" in m for m in msgs)
    assert bot.index.build_id != hash_index.report.build_id
    assert set(bot.providers) == {"oke"}
    assert staleness(read_manifest(hash_index.index_dir), hash_index.corpus_dir, hash_index.embedder.model_id) == []


def test_auto_index_refreshes_a_stale_index_after_an_edit(hash_index):
    p = hash_index.corpus_dir / AKS_DOC
    p.write_text(p.read_text(encoding="utf-8") + NEW_SENTENCE, encoding="utf-8")
    assert staleness(read_manifest(hash_index.index_dir), hash_index.corpus_dir, hash_index.embedder.model_id)
    bot = Bot.open(hash_index.settings(auto_index=True), embedder=hash_index.embedder, notify=silent)
    assert bot.index.build_id != hash_index.report.build_id
    assert any("widget gateway" in c.embed_text() for c in bot.index.chunks)
    assert staleness(read_manifest(hash_index.index_dir), hash_index.corpus_dir, hash_index.embedder.model_id) == []


def test_records_round_trip_through_the_index(hash_env):
    index = Index.open(hash_env.index_dir)
    doc = index.docs["aks/support-policies"]
    assert doc["path"] == AKS_DOC and doc["text"] == (hash_env.corpus_dir / AKS_DOC).read_bytes().decode()
    for c in index.chunks[:50]:
        for s in c.spans:
            assert index.docs[c.doc_id]["text"][s.start : s.end] == s.text
    assert json.loads((hash_env.index_dir / "builds" / index.build_id / "manifest.json").read_text())["chunks"] == len(index.chunks)


def test_chunk_ids_are_content_hashes_so_an_edit_keeps_other_ids(corpus_dir):
    """What makes incremental re-indexing possible, checked without building."""
    from bot.engine.corpus import chunk_corpus, load_corpus

    def ids():
        chunks, _ = chunk_corpus(load_corpus(corpus_dir))
        out: dict[str, set[str]] = {}
        for c in chunks:
            out.setdefault(c.provider, set()).add(c.id)
        return out

    before = ids()
    p = corpus_dir / AKS_DOC
    p.write_text(p.read_text(encoding="utf-8") + NEW_SENTENCE, encoding="utf-8")
    after = ids()
    assert after["oke"] == before["oke"]
    assert before["aks"] <= after["aks"] and len(after["aks"] - before["aks"]) == 1


# ------------------------------------------------------------------------------ the exact store


def _tie_groups(res: dict) -> list[set[str]]:
    """The ids grouped by equal distance, nearest first, the last (maybe cut) group left out."""
    groups: dict[float, set[str]] = {}
    for cid, d in zip(res["ids"][0], res["distances"][0]):
        groups.setdefault(round(d, 5), set()).add(str(cid))
    return [groups[d] for d in sorted(groups)][:-1]


def test_the_exact_store_ranks_as_chroma_does(hash_index):
    """Same vectors, same ranking: Chroma's HNSW is exact at this size, ExactStore by design."""
    chroma, exact = Index.open(hash_index.index_dir, "chroma"), Index.open(hash_index.index_dir, "exact")
    try:
        assert np.allclose(chroma.unit_vecs, exact.unit_vecs, atol=1e-6)  # Chroma keeps them normalised: 1 ulp apart
        providers = sorted(chroma.providers)
        for q in ("Is Istio supported?", "ssh into worker nodes", "node pool upgrade failed", "price of a cluster"):
            v = hash_index.embedder.embed([q])[0]
            for scope in ([providers[0]], providers):
                a, b = chroma.query(v, scope, 20), exact.query(v, scope, 20)
                assert np.allclose(a["distances"][0], b["distances"][0], atol=1e-5)
                assert _tie_groups(a) == _tie_groups(b), (q, scope)  # the hash embedder ties often; ties may come in any order
    finally:
        chroma.close()
        exact.close()


def _cut_vectors(build):
    p = build / "vectors.npz"
    p.write_bytes(p.read_bytes()[:1000])


def _other_vectors(build):
    with np.load(build / "vectors.npz") as z:
        d = dict(z)
    d["chunk_ids"] = d["chunk_ids"][::-1]
    np.savez(build / "vectors.npz", **d)


@pytest.mark.parametrize("harm", [lambda b: (b / "vectors.npz").unlink(), _cut_vectors, _other_vectors], ids=["deleted", "cut", "not the records"])
def test_a_damaged_vectors_file_is_a_clear_error_for_the_exact_store(hash_index, harm):
    idx = hash_index.index_dir
    harm(idx / "builds" / _current(idx))
    with pytest.raises(IndexCorruptError) as ei:
        Index.open(idx, "exact")
    assert "unreadable" in ei.value.message and ei.value.hint == "run `triage index` to rebuild it"


def _scores_apart(answer: dict) -> tuple[dict, list[float]]:
    """The answer with its findings' confidences and citation scores taken out, and those numbers."""
    scores = []
    for f in answer.get("findings", []):
        scores.append(f.pop("confidence"))
        for c in f.get("citations", []):
            scores.append(c.pop("score"))
    return answer, scores


@pytest.mark.slow
def test_with_the_real_model_both_stores_give_the_same_answers(real_env, real_bot):
    """What a one-shot `triage ask` answers (exact store) is what the server answers (Chroma),
    verdict, confidence and citations, over the dev questions. Chroma keeps its vectors
    normalised again (a last-bit difference), so a score on a rounding boundary may print one
    digit apart: scores are compared to 1e-3, everything else exactly."""
    from conftest import REPO

    exact = Bot(real_bot.settings, real_bot.embedder, Index.open(real_env.index_dir, "exact"), reader=real_bot.reader)
    try:
        questions = [json.loads(line)["question"] for line in (REPO / "evals" / "dev.jsonl").read_text().splitlines() if line.strip()]
        assert len(questions) >= 50
        for q in questions:
            (a, sa), (b, sb) = _scores_apart(exact.answer(q).to_dict()), _scores_apart(real_bot.answer(q).to_dict())
            assert a == b and len(sa) == len(sb) and all(abs(x - y) <= 1e-3 for x, y in zip(sa, sb)), q
    finally:
        exact.close()
