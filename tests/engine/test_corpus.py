"""bot.corpus: loading documents, structure-aware chunks/units, exact source offsets, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine.corpus import chunk_corpus, chunk_document, load_corpus, load_document, providers_of
from bot.engine.embed import HashEmbedder
from bot.engine.errors import BotError, CorpusError
from bot.engine.index import build_index
from conftest import AKS_DOC, AKS_SEED, CORPUS, OKE_DOC, OKE_SEED, copy_corpus, front_matter, source_text


def _chunks_of(rel: str, root: Path = CORPUS):
    doc = load_document(root / rel, root)
    chunks, units = chunk_document(doc)
    return doc, chunks, units


def _assert_exact(doc, chunks, units) -> None:
    text = doc.text
    assert chunks and units
    for c in chunks:
        assert c.doc_id == doc.id and c.provider == doc.provider
        assert c.spans
        for s in c.spans:
            assert 0 <= s.start < s.end <= len(text)
            assert text[s.start : s.end] == s.text, (c.id, s.role)
        assert 0 <= c.start < c.end <= len(text)
    for u in units:
        assert 0 <= u.start < u.end <= len(text)
        assert text[u.start : u.end] == u.text, u.id
        assert u.block_start <= u.start and u.end <= u.block_end
        for g in u.governors:
            assert text[g.start : g.end] == g.text
        if u.qualified is not None:
            assert text[u.qualified.start : u.qualified.end] == u.qualified.text
    chunk_ids = {c.id for c in chunks}
    assert all(u.chunk_id in chunk_ids for u in units)
    assert len(chunk_ids) == len(chunks), "chunk ids must be unique"


def _chunk_with(chunks, needle: str, role: str = "body"):
    found = [c for c in chunks if any(s.role == role and needle in s.text for s in c.spans)]
    assert len(found) == 1, f"{len(found)} chunks have a {role} span with {needle!r}"
    return found[0]


# ------------------------------------------------------------------------------ loading


def test_documents_carry_front_matter_and_the_whole_source_file():
    docs = load_corpus(CORPUS)
    by_id = {d.id: d for d in docs}
    assert set(by_id) == {"aks/support-policies", "oke/support-shared-responsibilities"}
    aks = by_id["aks/support-policies"]
    assert (aks.provider, aks.vendor, aks.product) == ("aks", "Microsoft", "Azure Kubernetes Service (AKS)")
    assert aks.url == "https://learn.microsoft.com/en-us/azure/aks/support-policies"
    assert aks.path == AKS_DOC
    for d in docs:
        assert d.text == source_text(CORPUS, d.path)  # front matter included: offsets index the file


def test_providers_are_discovered_from_front_matter():
    provs = providers_of(load_corpus(CORPUS))
    assert set(provs) == {"aks", "oke"}
    assert provs["oke"].vendor == "Oracle"
    names = {n.lower() for n in provs["oke"].names}
    assert {"oke", "oracle", "container engine for kubernetes"} <= names
    assert {"aks", "microsoft", "azure"} <= {n.lower() for n in provs["aks"].names}


# ------------------------------------------------------------------------------ exact slices


@pytest.mark.parametrize("rel", [AKS_DOC, OKE_DOC])
def test_every_span_and_unit_is_an_exact_slice_of_the_source_file(rel):
    doc, chunks, units = _chunks_of(rel)
    assert doc.text == source_text(CORPUS, rel)
    _assert_exact(doc, chunks, units)
    assert len(chunks) > 30 and len(units) > 80


def test_chunking_is_deterministic():
    docs = load_corpus(CORPUS)
    a, ua = chunk_corpus(docs)
    b, ub = chunk_corpus(load_corpus(CORPUS))
    assert [c.id for c in a] == [c.id for c in b]
    assert [u.id for u in ua] == [u.id for u in ub]


# ------------------------------------------------------------------------------ structure


def test_bullet_chunk_carries_its_lead_in_sentence():
    doc, chunks, _ = _chunks_of(AKS_DOC)
    c = _chunk_with(chunks, "Istio")
    assert c.kind == "bullet"
    leads = [s for s in c.spans if s.role == "lead"]
    assert len(leads) == 1
    assert "doesn't provide technical support for the following" in leads[0].text
    assert c.headings == ("AKS support coverage",)
    # the lead is embedded / keyword-indexed together with the bullet
    assert "doesn't provide technical support for the following" in c.embed_text()


def test_bullet_units_are_governed_by_the_lead_in():
    doc, chunks, units = _chunks_of(OKE_DOC)
    c = _chunk_with(chunks, "Istio")
    body = [u for u in units if u.chunk_id == c.id and u.role == "body" and "Istio" in u.text]
    assert len(body) == 1
    assert [g.text for g in body[0].governors] == ["Oracle does not provide support for the following areas:"]


def test_note_inside_a_bullet_is_attached_to_that_bullet():
    doc, chunks, units = _chunks_of(AKS_DOC)
    note_text = "best-effort support for third-party open-source projects such as Helm"
    c = _chunk_with(chunks, note_text, role="note")
    # the same chunk is the Istio bullet (with its lead-in), not a free-standing note
    assert c.kind == "bullet"
    assert any(s.role == "body" and "Istio" in s.text for s in c.spans)
    assert [c2 for c2 in chunks if note_text in c2.embed_text()] == [c]
    notes = [u for u in units if u.role == "note" and note_text in u.text]
    assert len(notes) == 1
    body = next(s for s in c.spans if s.role == "body")
    assert notes[0].chunk_id == c.id
    assert notes[0].qualified is not None and notes[0].qualified.start == body.start


def test_nested_bullets_keep_their_parent_and_root_lead():
    doc, chunks, _ = _chunks_of(AKS_DOC)
    with_child = [c for c in chunks if any("Kubenet (basic) and advanced networking" in s.text for s in c.spans)]
    # the parent bullet lists its children, and the child has a chunk of its own
    assert len(with_child) == 2
    c = next(c for c in with_child if any(s.role == "parent" for s in c.spans))
    roles = [s.role for s in c.spans]
    assert roles[:2] == ["lead", "parent"]
    assert "Microsoft provides technical support for the following" in c.spans[0].text
    assert c.spans[1].text.startswith("Issues about networking")


def test_oke_responsibility_matrix_rows_have_area_and_column_headings():
    doc, chunks, units = _chunks_of(OKE_DOC)
    matrix = [c for c in chunks if "Responsibility Matrix" in c.headings]
    assert matrix
    cols = {"Your Responsibility", "Oracle's Responsibility"}
    areas = {}
    for c in matrix:
        if c.headings[-1] in cols:
            assert c.headings[0] == "Responsibility Matrix" and len(c.headings) == 3
            areas.setdefault(c.headings[1], set()).add(c.headings[-1])
    for area in ("Kubernetes Control Plane", "Kubernetes Data Plane", "Worker Nodes", "Backups", "Cluster Networking", "Application Security"):
        assert areas.get(area) == cols, area
    # each cell keeps its "Responsibility: X" label as a span
    cell = next(c for c in matrix if c.headings[1:] == ("Cluster Networking", "Your Responsibility"))
    assert cell.kind == "matrix-row"
    assert [s.text for s in cell.spans if s.role == "label"] == ["Responsibility: Total"]
    # a cell with nothing but a label still yields a unit that carries the label
    empty = next(c for c in matrix if c.headings[1:] == ("Cluster Networking", "Oracle's Responsibility"))
    assert [u.label for u in units if u.chunk_id == empty.id] == ["Responsibility: None"]


# ------------------------------------------------------------------------------ plain .txt layout


def _txt_corpus(tmp_path: Path, provider: str, fm_from: str, seed: Path) -> Path:
    root = tmp_path / "txt-corpus"
    (root / provider).mkdir(parents=True)
    (root / provider / "policy.txt").write_text(front_matter(fm_from) + seed.read_text(encoding="utf-8"), encoding="utf-8")
    return root


def test_plain_txt_layout_recovers_headings_and_keeps_exact_slices(tmp_path):
    root = _txt_corpus(tmp_path, "oke", OKE_DOC, OKE_SEED)
    [doc] = load_corpus(root)
    assert doc.path == "oke/policy.txt" and doc.provider == "oke"
    chunks, units = chunk_document(doc)
    _assert_exact(doc, chunks, units)
    headings = {h for c in chunks for h in c.headings}
    for h in ("Support Coverage", "Areas covered by Oracle Support", "Areas not covered by Oracle Support",
              "Shared Responsibilities for the Data Plane", "Responsibility Matrix", "Worker Nodes",
              "Oracle's Responsibility", "Your Responsibility"):
        assert h in headings, h
    # bullets ("  • ") get their list lead-in and the section they sit in
    c = _chunk_with(chunks, "Istio")
    assert c.kind == "bullet"
    assert c.headings[-1] == "Areas not covered by Oracle Support"
    assert [s.text for s in c.spans if s.role == "lead"] == ["Oracle does not provide support for the following areas:"]
    # the flattened matrix is rebuilt: area + column headings and a label per cell
    cell = [c for c in chunks if c.headings[-2:] == ("Cluster Networking", "Your Responsibility")]
    assert cell and cell[0].kind == "matrix-row"
    assert [s.text for s in cell[0].spans if s.role == "label"] == ["Responsibility: Total"]
    # the flattened table header line "Area Oracle's Responsibility Your Responsibility" is not content
    assert not any(s.text.startswith("Area Oracle's Responsibility") for c in chunks for s in c.spans)


def test_plain_txt_layout_attaches_note_lines_to_their_bullet(tmp_path):
    root = _txt_corpus(tmp_path, "aks", AKS_DOC, AKS_SEED)
    [doc] = load_corpus(root)
    chunks, units = chunk_document(doc)
    _assert_exact(doc, chunks, units)
    c = _chunk_with(chunks, "best-effort support for third-party open-source projects such as Helm", role="note")
    assert any(s.role == "body" and "Istio" in s.text for s in c.spans)
    assert any(s.role == "lead" and "doesn't provide technical support for the following" in s.text for s in c.spans)
    assert "AKS support coverage" in c.headings


# ------------------------------------------------------------------------------ errors


GOOD_FM = "---\nprovider: zzz\nvendor: Zed\ntitle: Zed policy\nurl: https://zed.example/policy\n---\n\n# Zed\n\nZed provides support for widgets.\n"


@pytest.mark.parametrize(
    "name, content, needle",
    [
        ("no-front-matter.md", b"# Policy\n\nWe support widgets.\n", "no front matter"),
        ("latin1.md", GOOD_FM.encode() + "Caf\xe9 support.\n".encode("latin-1"), "not UTF-8"),
        ("no-url.md", b"---\nprovider: zzz\nvendor: Zed\ntitle: Zed policy\n---\n\nText.\n", "url"),
        ("bad-yaml.md", b"---\nprovider: [zzz\n---\n\nText.\n", "YAML"),
        ("bad-provider.md", GOOD_FM.replace("provider: zzz", "provider: Zed Cloud!").encode(), "provider id"),
    ],
)
def test_unusable_file_raises_corpus_error_naming_the_file(tmp_path, corpus_dir, name, content, needle):
    bad = corpus_dir / "zzz" / name
    bad.parent.mkdir()
    bad.write_bytes(content)
    with pytest.raises(CorpusError) as ei:
        load_document(bad, corpus_dir)
    assert f"zzz/{name}" in str(ei.value) and needle in str(ei.value)
    assert ei.value.exit_code == 3 and isinstance(ei.value, BotError)

    # the whole corpus is refused, and build_index raises before writing anything
    with pytest.raises(CorpusError, match=name):
        load_corpus(corpus_dir)
    index_dir = tmp_path / "index"
    emb = HashEmbedder()
    with pytest.raises(CorpusError, match=name):
        build_index(corpus_dir, index_dir, emb)
    assert not (index_dir / "CURRENT").exists()
    assert not (index_dir / "builds").exists()
    assert emb.texts_embedded == 0


def test_corpus_error_on_rebuild_keeps_the_current_build(hash_index):
    cur = (hash_index.index_dir / "CURRENT").read_text()
    builds = sorted(p.name for p in (hash_index.index_dir / "builds").iterdir())
    (hash_index.corpus_dir / "aks" / "broken.md").write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(CorpusError, match="aks/broken.md"):
        build_index(hash_index.corpus_dir, hash_index.index_dir, hash_index.embedder)
    assert (hash_index.index_dir / "CURRENT").read_text() == cur
    assert sorted(p.name for p in (hash_index.index_dir / "builds").iterdir()) == builds


def test_missing_or_empty_corpus_folder(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README.md").write_text("not a document")
    with pytest.raises(CorpusError, match="no .md or .txt"):
        load_corpus(tmp_path / "empty")


def test_duplicate_document_ids_are_refused(tmp_path):
    root = copy_corpus(tmp_path / "c")
    (root / "aks" / "support-policies.txt").write_bytes((root / AKS_DOC).read_bytes())
    with pytest.raises(CorpusError, match="both give document id aks/support-policies"):
        load_corpus(root)


def test_an_empty_quote_line_is_skipped_not_a_crash(tmp_path):
    """A '> ' line alone (an empty note) once made chunking fail with a traceback."""
    folder = tmp_path / "corpus" / "zz"
    folder.mkdir(parents=True)
    (folder / "p.md").write_text(
        "---\nprovider: zz\nvendor: Zed\nproduct: Zed Cloud\ntitle: T\nurl: https://zed.example\n---\n\n"
        "# T\n\nSome text here.\n\n> \n\nMore text.\n", encoding="utf-8")
    chunks, units = chunk_document(load_document(folder / "p.md", tmp_path / "corpus"))
    assert [c.kind for c in chunks] == ["paragraph", "paragraph"] and len(units) == 2
