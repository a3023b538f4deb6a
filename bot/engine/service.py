"""The core facade. Every front end (CLI, HTTP API, Slack, batch) calls :class:`Bot`.

``Bot.open(settings)`` loads the model and the index once (building a missing index and
refreshing a stale one when ``auto_index`` is on); ``bot.answer(question, provider)`` is the
one call that turns a question into an :class:`~bot.types.Answer`.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field, replace
import time
from typing import Callable, Sequence

import numpy as np

from .answer import Links, compose
from .config import EngineSettings
from .embed import Embedder, get_embedder
from .errors import IndexCorruptError, IndexMissingError, IndexStaleError, IndexWriteError, InputError, TooLargeError
from .index import Index, build_index, info_of, read_manifest, staleness
from .manifest import catalog
from .params import JudgeParams
from .providers import ProviderNames
from . import reader as rd
from .query import Query, QueryAnalyzer
from .retrieve import Hit, HybridRetriever, KeywordIndex
from .session import FollowUpResolver, Resolution, SessionStore, Turn
from .tickets import Prepared, prepare
from .types import Answer, Finding
from .verdict import Judge

Notify = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def ensure_index(settings: EngineSettings, embedder: Embedder, notify: Notify = _stderr, on_progress=None) -> None:
    """Build a missing index, refresh a stale one (or raise when auto_index is off)."""
    manifest = read_manifest(settings.index_dir)
    if manifest is None:
        if not settings.auto_index:
            raise IndexMissingError(f"no index in {settings.index_dir}", hint="run `triage index`")
        notify(f"No index in {settings.index_dir}: building it from {settings.corpus_dir} …")
        r = build_index(settings.corpus_dir, settings.index_dir, embedder, batch_size=settings.batch_size, on_progress=on_progress)
        notify(f"Index built: {r.message} in {r.seconds:.1f}s.")
        return
    reasons = staleness(manifest, settings.corpus_dir, embedder.model_id)
    if reasons:
        if not settings.auto_index:
            raise IndexStaleError(f"index is stale ({'; '.join(reasons)})", hint="run `triage index`")
        notify(f"Index is stale ({'; '.join(reasons)}): refreshing …")
        try:
            r = build_index(settings.corpus_dir, settings.index_dir, embedder, batch_size=settings.batch_size, on_progress=on_progress)
        except IndexWriteError as e:
            raise IndexWriteError(f"index is stale ({'; '.join(reasons)}) and cannot be refreshed: {e.message}", hint=e.hint) from None
        notify(f"Index refreshed: {r.message} in {r.seconds:.1f}s.")


def single_thread_blas() -> None:
    """numpy's BLAS on one thread, process-wide. The reader's small matrix products are
    faster so, and OpenBLAS threads that spin after them steal the cores the embedding model
    needs next: measured on the validation tickets, answer p50 80 → 46 ms and the floor itself
    83 → 30 ms."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def load_reader(settings: EngineSettings) -> "rd.ReaderModel | None":
    """The trained reader in ``settings.reader_dir``, if it is on and there is one."""
    folder = settings.reader_dir
    if not settings.reader or not (folder / rd.WEIGHTS_FILE).exists():
        return None
    try:
        return rd.ReaderModel.load(folder)
    except (OSError, ValueError, KeyError) as e:
        raise IndexCorruptError(f"the trained reader in {folder} is unreadable ({type(e).__name__}: {e})",
                                hint="run `triage train` to rebuild it, or set BOT_READER=false") from None


@dataclass(frozen=True)
class VendorTrace:
    """How one vendor's finding was reached (see :meth:`Bot.explain`)."""

    provider: str
    rule: Finding  # the rules engine's finding (its trace names the steps and rule ids)
    final: Finding  # what the answer says (the reader's, when there is one)
    hits: tuple[Hit, ...]  # retrieved chunks with their fused, dense and keyword scores and ranks
    cands: "rd.Candidates | None"
    reading: "rd.Reading | None"


@dataclass(frozen=True)
class Explanation:
    query: Query
    answer: Answer
    vendors: tuple[VendorTrace, ...]
    units: list = field(default_factory=list, repr=False, compare=False)  # the index's units (for to_dict)

    def to_dict(self, top: int = 8) -> dict:
        """The trace as JSON: the extracted ask, then per vendor the rules' finding and trace,
        the reader's decision, and the ``top`` candidates with their ranks and scores."""
        q = self.query
        ask = {"text": q.text, "terms": list(q.terms), "names": list(q.names), "fact_request": q.info_request,
               "support_intent": q.support_intent, "asserts_docs": q.asserts_docs, "retained": round(q.retained, 3),
               "claims_dropped": list(q.claims)}
        return {"ask": ask, "vendors": [self._vendor(v, top) for v in self.vendors]}

    def _vendor(self, v: VendorTrace, top: int) -> dict:
        out = {"provider": v.provider, "verdict": v.final.verdict, "confidence": round(v.final.confidence, 3),
               "why": v.final.reason, "trace": list(v.final.trace),
               "rules": {"verdict": v.rule.verdict, "confidence": round(v.rule.confidence, 3), "trace": list(v.rule.trace)},
               "retrieved": [{"rank": h.rank, "section": h.chunk.section, "fused": round(h.score, 4), "dense": round(h.dense, 3),
                              "keyword": round(h.keyword, 3)} for h in v.hits]}
        r = v.reading
        if r is not None:
            out["reader"] = {"verdict": r.verdict, "score": round(r.score, 3), "decides": round(r.decides, 3), "threshold": r.threshold,
                             "candidates": [self._candidate(r, int(k)) for k in r.order[:top]]}
        return out

    def _candidate(self, r: "rd.Reading", k: int) -> dict:
        u = self.units[int(r.cands.ids[k])]
        feats = dict(zip(rd.UNIT_FEATURES, (round(float(x), 3) for x in r.cands.x[k])))
        return {"text": " ".join(u.text.split())[:240], "section": u.section, "relevance": round(float(r.relevance[k]), 3),
                "verdict_probs": dict(zip(rd.VERDICTS, (round(float(x), 3) for x in r.verdicts[k]))),
                "dense_rank": int(r.cands.dense_rank[k]) + 1, "keyword_rank": int(r.cands.keyword_rank[k]) + 1,
                "features": {k2: v2 for k2, v2 in feats.items() if v2}}


class Bot:
    def __init__(self, settings: EngineSettings, embedder: Embedder, index: Index, *, params: JudgeParams = JudgeParams(),
                 reader: "rd.ReaderModel | None" = None):
        self.settings = settings
        self.reader = reader
        if reader is not None:
            single_thread_blas()
        self._unit_table: rd.UnitTable | None = None
        self.embedder = embedder
        self.index = index
        self.providers = index.providers
        self.keyword = KeywordIndex(index)
        self.retriever = HybridRetriever(index, self.keyword, top_k=settings.top_k)
        self.analyzer = QueryAnalyzer(self.providers, self.keyword.surface)
        self.judge = Judge(self.providers, self.keyword, index.unit_vecs, index.units, index.units_by_chunk, index.chunk_by_id, params)
        self.links = Links(index.docs)
        self.loaded_at = time.time()
        self.sessions = SessionStore(settings.max_sessions, settings.session_ttl_seconds)
        self.followups = FollowUpResolver(self.providers, self.analyzer)

    @classmethod
    def open(cls, settings: EngineSettings | None = None, *, embedder: Embedder | None = None, notify: Notify = _stderr, on_progress=None,
             params: JudgeParams = JudgeParams(), reader: "rd.ReaderModel | bool | None" = None) -> "Bot":
        """``reader``: a model, False for the rules engine alone, or None for the one in
        ``settings.reader_dir`` (when ``settings.reader`` is on and the folder holds one)."""
        settings = settings or EngineSettings()
        embedder = embedder or get_embedder(settings.embedder, settings.onnx_dir, notify)
        ensure_index(settings, embedder, notify, on_progress)
        model = reader if isinstance(reader, rd.ReaderModel) else load_reader(settings) if reader is None else None
        if model is not None and model.meta.get("model_id", embedder.model_id) != embedder.model_id:
            logging.getLogger("bot.reader").info("the trained reader was made with %s; this process embeds with %s: rules engine alone",
                                                 model.meta["model_id"], embedder.model_id)
            model = None
        store = "chroma" if settings.vector_store == "auto" else settings.vector_store
        return cls(settings, embedder, Index.open(settings.index_dir, store), params=params, reader=model)

    # -- input checks -------------------------------------------------------------------

    def check_question(self, question: str) -> str:
        if not isinstance(question, str) or not question.strip():
            raise InputError("the question is empty", hint="ask something, e.g. 'Is <tool> supported?'")
        if len(question) > self.settings.max_question_chars:
            raise TooLargeError(
                f"the question is {len(question):,} characters; the limit is {self.settings.max_question_chars:,}",
                hint="please ask the question itself, in a sentence or two",  # plain words: end users read it too
            )
        return question

    @property
    def model_id(self) -> str:
        """The embedding model this bot answers with (the index was built with it)."""
        return self.embedder.model_id

    @property
    def names(self) -> ProviderNames:
        """Every name of every provider: resolves a caller's provider value, finds mentions."""
        return self.analyzer.names

    def scope(self, query: Query, provider: str | None) -> list[str]:
        """The providers to answer for: the caller's (by id or any name), else those the
        question names, else all."""
        pid = self.names.resolve(provider)
        if pid:
            return [pid]
        return list(query.mentioned) or sorted(self.providers)

    def prepare(self, text: str, provider: str | None = None, *, split: bool = True) -> Prepared:
        """A ticket ready to answer (:func:`bot.engine.tickets.prepare`): trimmed at
        ``max_ticket_chars``, its provider resolved, its separate questions found."""
        return prepare(
            text, provider, limit=self.settings.max_ticket_chars, names=self.names,
            has_subject=lambda q: bool(self.analyzer.analyze(q).terms), split=split,
        )

    # -- the core call ------------------------------------------------------------------

    def answer(self, question: str, provider: str | None = None) -> Answer:
        return self.answer_many([(question, provider)])[0]

    def answer_many(
        self, items: Sequence[tuple[str, str | None]], *, check: bool = True, embedder: Embedder | None = None
    ) -> list[Answer]:
        """Answer several questions with one batched embedding call, through ``embedder``
        when given (a view of this bot's model, e.g. one that orders texts by length)."""
        if check:
            for q, _ in items:
                self.check_question(q)
        queries = [self.analyzer.analyze(q) for q, _ in items]
        scopes = [self.scope(qr, p) for qr, (_, p) in zip(queries, items)]
        extra = [i for i, qr in enumerate(queries) if qr.reduced is not None]
        texts = [qr.text for qr in queries] + [queries[i].reduced for i in extra]
        vecs = (embedder or self.embedder).embed(texts, batch_size=self.settings.batch_size)
        for k, i in enumerate(extra):
            queries[i] = replace(queries[i], retained=float(vecs[i] @ vecs[len(queries) + k]))
        return [self._answer(qr, sc, v) for qr, sc, v in zip(queries, scopes, vecs[: len(queries)])]

    def _answer(self, query: Query, scope: list[str], qvec: np.ndarray) -> Answer:
        return self._decide(query, scope, qvec).answer

    def _decide(self, query: Query, scope: list[str], qvec: np.ndarray, *, candidates: bool = False) -> Explanation:
        """Per vendor: the rules engine's finding, then (with a reader) the reader's decision
        over every unit of the vendor, with the rules' reading among its features."""
        kw = self.keyword.scores(list(query.all_tokens))  # BM25 once: retrieval and the reader share it
        hits = self.retriever.retrieve(qvec, list(query.all_tokens), scope, kw)
        kw = kw if self.reader is not None or candidates else None
        vendors = []
        for p in scope:
            rule = self.judge.decide(query, p, hits.get(p, []), qvec, self.settings.citations, self.index.docs)
            cands = rd.candidates(self.unit_table, query, qvec, kw, p, rule) if kw is not None else None
            reading = rd.read(self.reader, cands) if self.reader is not None else None
            final = rd.finding(reading, rule, self.unit_table, self.index.docs, self.settings.citations) if reading else rule
            vendors.append(VendorTrace(p, rule, final, tuple(hits.get(p, [])), cands, reading))
        answer = compose(query.original, [v.final for v in vendors], self.providers, self.settings.escalate_below, self.links)
        return Explanation(query, answer, tuple(vendors), self.index.units)

    def explain(self, question: str, provider: str | None = None, *, candidates: bool = True, check: bool = True) -> Explanation:
        """Everything behind :meth:`answer`: the ticket's extracted ask, and per vendor the
        retrieved passages with their ranks, the rules engine's finding and trace, and the
        reader's score for every unit of the policy with why it decided or abstained.
        ``check=False`` for a ticket that went through :meth:`prepare` (no question-length limit)."""
        if check:
            self.check_question(question)
        query = self.analyzer.analyze(question)
        texts = [query.text] + ([query.reduced] if query.reduced is not None else [])
        vecs = self.embedder.embed(texts, batch_size=self.settings.batch_size)
        if query.reduced is not None:
            query = replace(query, retained=float(vecs[0] @ vecs[1]))
        return self._decide(query, self.scope(query, provider), vecs[0], candidates=candidates)

    @property
    def unit_table(self) -> "rd.UnitTable":
        """The reader's per-unit features, built on first use (a few ms)."""
        if self._unit_table is None:
            self._unit_table = rd.UnitTable(self.judge, self.index, self.keyword)
        return self._unit_table

    def unit_quote(self, ui: int) -> str:
        return rd.unit_quote(self.unit_table, self.index.docs, ui)[2]

    def ask(self, question: str, provider: str | None = None, session_id: str | None = None) -> tuple[Answer, Resolution]:
        """:meth:`answer` for a conversation: within ``session_id`` a follow-up ("and on
        <provider>?", "what about <tool>?") is first rewritten from the previous turn, and the
        rewritten question is answered and remembered. Without a session it is :meth:`answer`."""
        self.check_question(question)
        provider = self.names.resolve(provider)
        previous = self.sessions.get(session_id) if session_id else None
        res = self.followups.resolve(question, provider, previous)
        ans = self.answer(res.question, res.provider)
        if session_id:
            self.sessions.put(session_id, Turn(res.question, res.provider))
        return ans, res

    def search(self, question: str, provider: str | None = None) -> dict[str, list[Hit]]:
        self.check_question(question)
        q = self.analyzer.analyze(question)
        vec = self.embedder.embed([q.text])[0]
        return self.retriever.retrieve(vec, list(q.all_tokens), self.scope(q, provider))

    def info(self) -> dict:
        counts: dict[str, int] = {}
        for c in self.index.chunks:
            counts[c.doc_id] = counts.get(c.doc_id, 0) + 1
        return info_of(self.index.manifest, counts)

    @staticmethod
    def describe(settings: EngineSettings | None = None, *, notify: Notify = _stderr, on_progress=None) -> dict:
        """:meth:`info` without opening a Bot (:func:`bot.engine.manifest.catalog`): read from
        the index folder, loading no model unless the index must be built or refreshed first."""
        return catalog(settings or EngineSettings(), notify=notify, on_progress=on_progress)

    # -- lifecycle ----------------------------------------------------------------------

    def reopen(self) -> "Bot":
        """A new Bot on the index folder's *current* build, with these settings and this
        (already loaded) embedder: what a running service swaps in after `triage index`
        (see :class:`bot.reload.BotHolder`). Never builds; the corpus is not consulted. A
        build made with another model is refused (IndexStaleError), not served."""
        index = Index.open(self.index.dir, self.index.store.name)
        built_with = index.manifest.get("model_id")
        if built_with != self.embedder.model_id:
            index.close()
            raise IndexStaleError(
                f"build {index.build_id} in {self.index.dir} was made with {built_with}; this process embeds with {self.embedder.model_id}",
                hint="rebuild with the same BOT_EMBEDDER (`triage index`), or restart with the model the index was built with",
            )
        return type(self)(self.settings, self.embedder, index, params=self.judge.params, reader=self.reader)

    def close(self) -> None:
        """Release the index (its Chroma client and its hold on the build folder). Idempotent.
        A Bot dropped without it is released when it is garbage-collected; answers after it fail."""
        self.index.close()

