"""Hybrid retrieval: dense (Chroma) + BM25 (bm25s) fused by reciprocal rank, per provider.

Vector search alone misses exact names of tools; BM25 alone misses paraphrase ("start the
upgrade" vs "initiating the upgrade"). Reciprocal-rank fusion needs no score calibration.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from .index import Index
from .text import tokens, words
from .types import Chunk

RRF_K = 60


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float  # fused RRF score
    dense: float  # cosine similarity (0 when not in the dense list)
    keyword: float  # BM25 score
    rank: int


class KeywordIndex:
    """BM25 over chunk texts plus document frequencies over units (for subject weighting)."""

    def __init__(self, index: Index):
        import bm25s  # here, not at the top: it pulls in scipy, which commands that load no index never need

        self.chunks = index.chunks
        self.chunk_tokens = [tokens(c.embed_text()) for c in self.chunks]
        self.bm25 = bm25s.BM25()
        self.bm25.index([t or ["\x00"] for t in self.chunk_tokens], show_progress=False)
        self.unit_tokens = [frozenset(tokens(u.text)) for u in index.units]
        df: Counter[str] = Counter()
        for toks in self.unit_tokens:
            df.update(toks)
        for toks in self.chunk_tokens:  # headings and leads count as vocabulary too
            df.update(t for t in set(toks) if t not in df)
        self.df = df
        self.vocab_by_prefix: dict[str, set[str]] = {}
        for t in df:
            self.vocab_by_prefix.setdefault(t[:4], set()).add(t)
        self.surface = {w for c in self.chunks for w in words(c.embed_text())}
        self.provider_terms: dict[str, set[str]] = {}
        for c, toks in zip(self.chunks, self.chunk_tokens):
            self.provider_terms.setdefault(c.provider, set()).update(toks)
        self.n_units = max(1, len(self.unit_tokens))
        self.provider_of = np.array([c.provider for c in self.chunks])

    def idf(self, term: str) -> float:
        df = self.df.get(term, 0) or max((self.df[v] for v in self.expand(term)), default=0)
        return math.log(1.0 + (self.n_units - df + 0.5) / (df + 0.5))

    def expand(self, term: str) -> frozenset[str]:
        """Corpus terms a query term stands for: itself, and (4+ letters) the terms it is a
        prefix of ("auto" ~ "automat") or that are at most one letter shorter than it."""
        if term in self.df:
            return frozenset({term})  # a word the corpus uses means itself ("work" is not "worker")
        alts: set[str] = set()
        if len(term) >= 4:
            alts |= {v for v in self.vocab_by_prefix.get(term[:4], ()) if v.startswith(term) or (len(v) >= 5 and len(term) - len(v) <= 1 and term.startswith(v))}
        return frozenset(alts)

    def known(self, term: str) -> bool:
        return term in self.df or bool(self.expand(term))

    def scores(self, qtokens: list[str]) -> np.ndarray:
        q = [t for t in qtokens if t in self.df]
        if not q:
            return np.zeros(len(self.chunks), dtype=np.float32)
        return self.bm25.get_scores(q)


def rrf(rankings: list[list[str]], k: int = RRF_K) -> dict[str, float]:
    out: dict[str, float] = {}
    for ranking in rankings:
        for r, cid in enumerate(ranking):
            out[cid] = out.get(cid, 0.0) + 1.0 / (k + r + 1)
    return out


class HybridRetriever:
    def __init__(self, index: Index, keyword: KeywordIndex, *, top_k: int = 8, dense_k: int = 20):
        self.index = index
        self.keyword = keyword
        self.top_k = top_k
        self.dense_k = dense_k

    def retrieve(self, qvec: np.ndarray, qtokens: list[str], providers: list[str], kw: np.ndarray | None = None) -> dict[str, list[Hit]]:
        """Top chunks per provider. One Chroma query covers every provider in scope."""
        if not providers:
            return {}
        res = self.index.query(qvec, providers, min(len(self.index.chunks), self.dense_k * len(providers)))
        dense_sim: dict[str, float] = {cid: 1.0 - d for cid, d in zip(res["ids"][0], res["distances"][0])}
        kw = self.keyword.scores(qtokens) if kw is None else kw  # the caller may have them already
        out: dict[str, list[Hit]] = {}
        for p in providers:
            dense_rank = [cid for cid in res["ids"][0] if self.index.chunk_by_id[cid].provider == p][: self.dense_k]
            idx = np.flatnonzero(self.keyword.provider_of == p)
            order = idx[np.argsort(-kw[idx], kind="stable")]
            kw_rank = [self.keyword.chunks[i].id for i in order[: self.dense_k] if kw[i] > 0]
            fused = rrf([dense_rank, kw_rank])
            kw_of = {self.keyword.chunks[i].id: float(kw[i]) for i in order[: self.dense_k]}
            ranked = sorted(fused.items(), key=lambda x: -x[1])[: self.top_k]
            # rank fusion rewards chunks both lists found; the best exact-term match must not
            # drop out just because the dense side missed it ("closed-source", a tool's name)
            if kw_rank and kw_rank[0] not in {cid for cid, _ in ranked}:
                ranked.append((kw_rank[0], fused[kw_rank[0]]))
            out[p] = [
                Hit(self.index.chunk_by_id[cid], s, dense_sim.get(cid, 0.0), kw_of.get(cid, 0.0), r)
                for r, (cid, s) in enumerate(ranked)
            ]
        return out
