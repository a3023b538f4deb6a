"""bot.retrieve: BM25 keyword index, reciprocal-rank fusion, hybrid per-provider retrieval."""

from __future__ import annotations

import numpy as np
import pytest

from bot.engine.retrieve import RRF_K, Hit, rrf
from bot.engine.text import tokens

THIRD_PARTY = "Third-party open-source projects"


# ------------------------------------------------------------------------------ RRF


def test_rrf_sums_reciprocal_ranks():
    fused = rrf([["a", "b", "c"], ["b", "d"]], k=60)
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["c"] == pytest.approx(1 / 63)
    assert fused["d"] == pytest.approx(1 / 62)
    assert sorted(fused, key=lambda x: -fused[x]) == ["b", "a", "d", "c"]


def test_rrf_default_k_and_edge_cases():
    assert RRF_K == 60
    assert rrf([["x"]]) == {"x": pytest.approx(1 / 61)}
    assert rrf([]) == {} and rrf([[], []]) == {}
    # a smaller k sharpens the preference for the top rank
    assert rrf([["x", "y"]], k=0)["x"] == pytest.approx(1.0)
    assert rrf([["x", "y"]], k=0)["y"] == pytest.approx(0.5)
    # agreeing lists beat a single first place
    fused = rrf([["solo", "both"], ["both", "other"]])
    assert fused["both"] > fused["solo"]


# ------------------------------------------------------------------------------ BM25


def test_bm25_matches_a_name_with_punctuation_attached(hash_bot):
    kw = hash_bot.keyword
    raw = [c for c in kw.chunks if "Istio," in c.embed_text()]
    assert {c.provider for c in raw} == {"aks", "oke"}  # in the source the name is always followed by ","
    scores = kw.scores(tokens("Istio"))
    hit_ids = {kw.chunks[i].id for i in np.flatnonzero(scores > 0)}
    assert hit_ids == {c.id for c in raw}
    assert kw.scores(tokens("Istio,")).tolist() == scores.tolist()


def test_bm25_unknown_terms_score_zero(hash_bot):
    assert not np.any(hash_bot.keyword.scores(tokens("zzqx blorf")))
    assert not hash_bot.keyword.known("blorf") and hash_bot.keyword.known("istio")


# ------------------------------------------------------------------------------ hybrid


@pytest.mark.parametrize("question", ["Istio", "Is Istio supported?"])
def test_hybrid_retriever_returns_the_third_party_chunk_for_each_provider(any_bot, question):
    bot, _ = any_bot
    hits = bot.search(question)
    assert set(hits) == {"aks", "oke"}
    for provider, hs in hits.items():
        assert hs and all(isinstance(h, Hit) and h.chunk.provider == provider for h in hs)
        top = hs[0].chunk
        assert THIRD_PARTY in top.embed_text() and "Istio" in top.embed_text(), (provider, top.embed_text()[:120])
        assert hs[0].keyword > 0
        assert [h.rank for h in hs] == list(range(len(hs)))
        assert all(a.score >= b.score for a, b in zip(hs, hs[1:]))
        assert len(hs) <= bot.settings.top_k + 1  # + the best keyword match, if fusion dropped it


def test_hybrid_retriever_respects_provider_scope(hash_bot):
    hits = hash_bot.search("Is Istio supported?", provider="oke")
    assert list(hits) == ["oke"]
    assert all(h.chunk.provider == "oke" for h in hits["oke"])


def test_dense_and_keyword_lists_are_both_fused(hash_bot):
    q = hash_bot.analyzer.analyze("Is Istio supported?")
    vec = hash_bot.embedder.embed([q.text])[0]
    hits = hash_bot.retriever.retrieve(vec, list(q.all_tokens), ["aks"])["aks"]
    top = hits[0]
    # in both lists -> fused score above what a first place in one list alone gives
    assert top.dense > 0 and top.keyword > 0
    assert top.score > 1 / (RRF_K + 1)
    assert hash_bot.retriever.retrieve(vec, [], []) == {}


def test_the_best_exact_term_match_survives_fusion_when_dense_misses_it(hash_bot):
    from bot.engine.retrieve import HybridRetriever

    retriever = HybridRetriever(hash_bot.index, hash_bot.keyword, top_k=1)
    toks = tokens("closed-source software support")
    scores = retriever.keyword.scores(toks)
    idx = np.flatnonzero(retriever.keyword.provider_of == "aks")
    best = retriever.keyword.chunks[idx[np.argmax(scores[idx])]]
    assert "closed-source" in best.embed_text()
    # a query vector pointing away from that chunk: the dense list never ranks it, and the
    # dense favourite (which also says "support") wins the single fused slot
    vec = -hash_bot.embedder.embed([best.embed_text()])[0]
    hits = retriever.retrieve(vec, toks, ["aks"])["aks"]
    assert hits[0].chunk.id != best.id
    assert best.id in [h.chunk.id for h in hits]
