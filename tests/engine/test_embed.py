"""bot.embed: the fake and the real embedder, the shared-instance cache, library adapters."""

from __future__ import annotations

import numpy as np
import pytest

from bot.engine.embed import (
    MINILM_ID,
    CountingEmbedder,
    Embedder,
    HashEmbedder,
    OnnxEmbedder,
    SentenceTransformerEmbedder,
    _mean_pool_normalise,
    export_onnx,
    onnx_export_dir,
    chroma_embedding_function,
    get_embedder,
)
from bot.engine.errors import InputError


def test_hash_embedder_is_deterministic_unit_norm_and_counts_calls():
    e = HashEmbedder()
    assert isinstance(e, Embedder)
    v = e.embed(["Is Istio supported?", "Helm charts", "the of and"])  # last: only stopwords
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-6)
    assert np.array_equal(v, HashEmbedder().embed(["Is Istio supported?", "Helm charts", "the of and"]))
    assert (e.calls, e.texts_embedded) == (1, 3)
    empty = e.embed([])
    assert empty.shape == (0, 384)
    assert (e.calls, e.texts_embedded) == (2, 3)


def test_hash_embedder_is_bag_of_stemmed_words():
    e = HashEmbedder()
    a, b, c = e.embed(["Istio, supported.", "is istio SUPPORT?", "price of a node"])
    assert a @ b == pytest.approx(1.0)
    assert a @ c < 0.5


def test_hash_embedder_reports_progress():
    seen = []
    HashEmbedder(dim=16).embed(["a b", "c d"], progress=seen.append)
    assert seen == [2]


def test_counting_embedder_wraps_and_counts():
    inner = HashEmbedder()
    c = CountingEmbedder(inner)
    assert (c.model_id, c.dim) == (inner.model_id, inner.dim)
    out = c.embed(["one", "two"])
    assert np.array_equal(out, inner.embed(["one", "two"]))
    assert c.texts_embedded == 2


def test_get_embedder_shares_one_instance_per_name():
    assert get_embedder("hash") is get_embedder("hash")
    with pytest.raises(InputError, match="unknown embedder"):
        get_embedder("word2vec")


def test_chroma_embedding_function_adapter():
    ef = chroma_embedding_function(HashEmbedder())
    out = ef(["Istio", "Helm"])
    assert len(out) == 2 and np.asarray(out[0]).shape == (384,)
    assert ef.get_config()["model_id"].startswith("hash")


@pytest.mark.slow
def test_real_model_loads_once_and_embeds_normalised_vectors():
    e = get_embedder("minilm")
    assert isinstance(e, OnnxEmbedder)  # answers never wait for torch to import
    assert get_embedder("minilm") is e  # loaded once per process
    assert e.model_id == "sentence-transformers/all-MiniLM-L6-v2" and e.dim == 384
    texts = ["The cat sits on the mat.", "A kitten is sitting on a rug.", "Kubernetes control plane upgrade policy."]
    seen = []
    v = e.embed(texts, batch_size=2, progress=seen.append)
    assert seen == [2, 1]
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2  # paraphrase closer than an unrelated sentence
    # batching does not change the vectors
    assert np.allclose(v, e.embed(texts, batch_size=64), atol=1e-5)
    assert e.embed([]).shape == (0, 384)


def test_mean_pooling_ignores_padding_and_normalises():
    hidden = np.array([[[1.0, 0.0], [3.0, 0.0], [100.0, 100.0]], [[0.0, 2.0], [9.0, 9.0], [9.0, 9.0]]], dtype=np.float32)
    mask = np.array([[1, 1, 0], [1, 0, 0]])
    v = _mean_pool_normalise(hidden, mask)
    assert np.allclose(v, [[1.0, 0.0], [0.0, 1.0]])  # the padded positions (100, 9) count for nothing


SAMPLES = [
    "Is Istio supported?", "can I ssh into my worker nodes?", "", "a", "héllo wörld — 日本語 😀",
    "kubectl logs: pod restarted after probe failure " * 80,  # past the model's 256 tokens: truncated alike
    "Microsoft doesn't provide technical support for the following: third-party open-source projects.",
]


@pytest.mark.slow
def test_onnx_export_gives_sentence_transformers_vectors(tmp_path):
    """Exported once into a folder of its own, then the same vectors (~1e-7) and model id as
    sentence-transformers, in one batch (padded) and one by one; a second export is a no-op."""
    folder = export_onnx(tmp_path / "cache")
    assert onnx_export_dir(tmp_path / "cache") == folder and {p.name for p in folder.iterdir()} == {"model.onnx", "tokenizer.json", "export.json"}
    stamp = (folder / "model.onnx").stat().st_mtime_ns
    assert export_onnx(tmp_path / "cache") == folder and (folder / "model.onnx").stat().st_mtime_ns == stamp
    onnx, st = OnnxEmbedder(folder), get_embedder("minilm-torch")
    assert isinstance(st, SentenceTransformerEmbedder) and onnx.model_id == st.model_id == MINILM_ID and onnx.dim == 384
    want = st.embed(SAMPLES)
    assert np.abs(onnx.embed(SAMPLES) - want).max() < 1e-5
    assert np.abs(np.vstack([onnx.embed([t]) for t in SAMPLES]) - want).max() < 1e-5
    meta = (folder / "export.json").read_text()
    (folder / "export.json").write_text(meta.replace('"format": 1', '"format": 0'))
    assert onnx_export_dir(tmp_path / "cache") is None  # an old or foreign export is made again


@pytest.mark.slow
def test_a_cache_folder_that_cannot_be_written_falls_back_to_sentence_transformers(tmp_path, caplog):
    (tmp_path / "file").write_text("not a folder")
    with caplog.at_level("WARNING", logger="bot.embed"):
        e = get_embedder("minilm", tmp_path / "file" / "cache", notify=lambda m: None)
    assert isinstance(e, SentenceTransformerEmbedder) and e.model_id == MINILM_ID
    assert "could not export the embedding model" in caplog.text


def test_the_model_id_a_staleness_check_expects_is_the_one_the_embedder_has():
    from bot.engine.manifest import model_id_for

    assert model_id_for("hash") == HashEmbedder().model_id and model_id_for("minilm") == MINILM_ID
    with pytest.raises(InputError):
        model_id_for("word2vec")
