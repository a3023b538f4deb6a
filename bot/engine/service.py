"""The core facade. Every front end (CLI, HTTP API, Slack, batch) calls :class:`Bot`.

``Bot.open(settings)`` loads the model and the index once (building a missing index and
refreshing a stale one when ``auto_index`` is on); ``bot.answer(question, provider)`` is the
one call that turns a question into an :class:`~bot.types.Answer`.
"""

from __future__ import annotations

import sys
from dataclasses import replace
import time
from typing import Callable, Sequence

import numpy as np

from .answer import compose
from .config import EngineSettings
from .embed import Embedder, get_embedder
from .errors import IndexMissingError, IndexStaleError, InputError, TooLargeError
from .index import Index, build_index, read_manifest, staleness
from .params import JudgeParams
from .providers import ProviderNames
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
        r = build_index(settings.corpus_dir, settings.index_dir, embedder, batch_size=settings.batch_size, on_progress=on_progress)
        notify(f"Index refreshed: {r.message} in {r.seconds:.1f}s.")


class Bot:
    def __init__(self, settings: EngineSettings, embedder: Embedder, index: Index, *, params: JudgeParams = JudgeParams()):
        self.settings = settings
        self.embedder = embedder
        self.index = index
        self.providers = index.providers
        self.keyword = KeywordIndex(index)
        self.retriever = HybridRetriever(index, self.keyword, top_k=settings.top_k)
        self.analyzer = QueryAnalyzer(self.providers, self.keyword.surface)
        self.judge = Judge(self.providers, self.keyword, index.unit_vecs, index.units, index.units_by_chunk, index.chunk_by_id, params)
        self.loaded_at = time.time()
        self.sessions = SessionStore(settings.max_sessions, settings.session_ttl_seconds)
        self.followups = FollowUpResolver(self.providers, self.analyzer)

    @classmethod
    def open(cls, settings: EngineSettings | None = None, *, embedder: Embedder | None = None, notify: Notify = _stderr, on_progress=None, params: JudgeParams = JudgeParams()) -> "Bot":
        settings = settings or EngineSettings()
        embedder = embedder or get_embedder(settings.embedder)
        ensure_index(settings, embedder, notify, on_progress)
        return cls(settings, embedder, Index.open(settings.index_dir), params=params)

    # -- input checks -------------------------------------------------------------------

    def check_question(self, question: str) -> str:
        if not isinstance(question, str) or not question.strip():
            raise InputError("the question is empty", hint="ask something, e.g. 'Is <tool> supported?'")
        if len(question) > self.settings.max_question_chars:
            raise TooLargeError(
                f"the question is {len(question):,} characters; the limit is {self.settings.max_question_chars:,}",
                hint="send the support question itself, or use `triage classify` for whole tickets",
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
        hits = self.retriever.retrieve(qvec, list(query.all_tokens), scope)
        findings: list[Finding] = [
            self.judge.decide(query, p, hits.get(p, []), qvec, self.settings.citations, self.index.docs) for p in scope
        ]
        return compose(query.original, findings, self.providers, self.settings.escalate_below)

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
        m = self.index.manifest
        counts: dict[str, int] = {}
        for c in self.index.chunks:
            counts[c.doc_id] = counts.get(c.doc_id, 0) + 1
        return {
            "build_id": m["build_id"],
            "built_at": m["built_at"],
            "model_id": m["model_id"],
            "chunks": m["chunks"],
            "providers": [
                {
                    "id": pid,
                    "vendor": p.vendor,
                    "product": p.product,
                    "documents": [
                        {"id": d["id"], "title": d["title"], "url": d["url"], "chunks": counts.get(d["id"], 0)}
                        for d in m["documents"] if d["provider"] == pid
                    ],
                }
                for pid, p in sorted(self.providers.items())
            ],
        }

    # -- lifecycle ----------------------------------------------------------------------

    def reopen(self) -> "Bot":
        """A new Bot on the index folder's *current* build, with these settings and this
        (already loaded) embedder: what a running service swaps in after `triage index`
        (see :class:`bot.reload.BotHolder`). Never builds; the corpus is not consulted. A
        build made with another model is refused (IndexStaleError), not served."""
        index = Index.open(self.index.dir)
        built_with = index.manifest.get("model_id")
        if built_with != self.embedder.model_id:
            index.close()
            raise IndexStaleError(
                f"build {index.build_id} in {self.index.dir} was made with {built_with}; this process embeds with {self.embedder.model_id}",
                hint="rebuild with the same BOT_EMBEDDER (`triage index`), or restart with the model the index was built with",
            )
        return type(self)(self.settings, self.embedder, index, params=self.judge.params)

    def close(self) -> None:
        """Release the index (its Chroma client and its hold on the build folder). Idempotent.
        A Bot dropped without it is released when it is garbage-collected; answers after it fail."""
        self.index.close()

