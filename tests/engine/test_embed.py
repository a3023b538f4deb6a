"""bot.embed: the fake and the real embedder, the shared-instance cache, library adapters."""

from __future__ import annotations

import numpy as np
import pytest

from bot.engine.embed import (
    CountingEmbedder,
    Embedder,
    HashEmbedder,
    SentenceTransformerEmbedder,
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
    assert isinstance(e, SentenceTransformerEmbedder)
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
