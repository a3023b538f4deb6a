"""Verdict: read the retrieved passages the way a support engineer reads a policy.

Nothing here knows a product or component name. A verdict comes from:

* the polarity of the clause that addresses the subject: its own cue phrase ("does not
  provide support", "best effort", "you are responsible", "is responsible for"), else the
  sentence that introduces its list, else the matrix cell label, else its section heading;
* exceptions: a note that names the subject beats the passage it qualifies, a conditional
  clause ("If <vendor> provides documentation…", "Unless otherwise documented") applies only
  when the ticket says the condition holds — otherwise it is stated, not applied;
* whether the passage addresses the subject at all (weighted term overlap plus sentence
  embedding similarity). Weak evidence gives ``unknown``: escalating beats a confident
  wrong answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from . import rules as R
from .params import JudgeParams
from .query import DOC_WORDS, Query, is_common_word, modifier_pairs
from .reasons import Grounds, reason, undecided_reason, with_condition
from .retrieve import Hit, KeywordIndex
from .text import HOWTO, STOPWORDS, normalize, stem, tokens, words
from .types import Citation, Finding, Provider, Span, Unit, Verdict

NEG, POS, BE = R.NEG, R.POS, R.BE
UNK: Verdict = "unknown"



@dataclass(frozen=True)
class Cue:
    verdict: Verdict | None  # None: the clause speaks of shared responsibility (no side)
    strength: float
    text: str  # the matched words
    end: int  # where the cue ends in the clause (its object follows)
    start: int = 0  # where the cue starts
    rule: str = ""  # id of the rule that produced it (bot.engine.rules)


@dataclass(frozen=True)
class Clause:
    text: str
    start: int  # offset in the unit text
    cue: Cue | None
    toks: frozenset[str] = frozenset()
    condition: str | None = None  # the if/unless clause governing it
    cond_kind: str | None = None  # "if": applies only when it holds; "unless": the default
    cond_docs: bool = False  # the condition is about following documentation
    cond_negated: bool = False  # "... not based on documentation"
    parenthetical: bool = False
    main_toks: frozenset[str] | None = None  # tokens after a leading "When ...," circumstance


class PolicyReader:
    """Cue-phrase grammar for one provider: the rules of bot.engine.rules compiled with the
    provider's names from front matter."""

    def __init__(self, provider: Provider):
        names = R.names_pattern(provider.names)
        self.patterns: list[tuple[re.Pattern, R.CueRule]] = [(re.compile(R.compile_template(r.pattern, names)), r) for r in R.CUE_RULES]
        self.col_vendor = re.compile(R.compile_template(R.COLUMN_VENDOR.pattern, names))
        self.col_customer = re.compile(R.compile_template(R.COLUMN_CUSTOMER.pattern, names))

    def cue(self, text: str) -> Cue | None:
        """Strongest cue in a clause, by :func:`bot.engine.rules.precedence`: best-effort beats
        the support phrase it sits in, a negation beats the positive phrase it negates."""
        low = normalize(text)
        found = [(rule, m) for pat, rule in self.patterns if (m := pat.search(low))]
        if not found:
            return None
        rule, m = max(found, key=lambda f: R.precedence(f[0], f[1].start()))
        return Cue(rule.verdict, rule.strength, m.group(0), m.end(), m.start(), rule.id)

    def heading_cue(self, heading: str) -> Cue | None:
        """A section heading: a vendor/customer column name, else a strong cue phrase in it."""
        low = normalize(heading)
        for rule, pat in ((R.COLUMN_CUSTOMER, self.col_customer), (R.COLUMN_VENDOR, self.col_vendor)):
            if pat.search(low):
                return Cue(rule.verdict, rule.strength, heading, len(heading), rule=rule.id)
        c = self.cue(heading)
        if c and c.verdict is not None and c.strength >= R.HEADING_MIN_STRENGTH:
            return Cue(c.verdict, R.HEADING_STRONG_CUE.strength, heading, len(heading), rule=R.HEADING_STRONG_CUE.id)
        return None

    def label_cue(self, label: str, headings: tuple[str, ...]) -> Cue | None:
        """A matrix cell: 'Responsibility: Total|Shared|None' under a vendor/customer column."""
        value = normalize(label.split(":", 1)[-1]).strip(" .")
        col = normalize(headings[-1]) if headings else ""
        side = POS if self.col_vendor.search(col) else NEG if self.col_customer.search(col) else None
        if side is None:
            return None
        other = NEG if side == POS else POS
        if value in R.LABEL_TOTAL_VALUES:
            rule, verdict = R.LABEL_TOTAL, side
        elif value in R.LABEL_NONE_VALUES:
            rule, verdict = R.LABEL_NONE, other
        else:
            rule, verdict = R.LABEL_SHARED, side
        return Cue(verdict, rule.strength, label, len(label), rule=rule.id)


_COND = R.CONDITION.pattern
_UNLESS_MID = R.UNLESS_MID.pattern
_CIRCUMSTANCE = R.CIRCUMSTANCE.pattern
_HOWTO_CATEGORY = R.HOWTO_CATEGORY.pattern
_PASSIVE = R.PASSIVE.pattern  # a cue ending in a participle ("… aren't supported", "managed by X") follows its subject
_PAREN = re.compile(r"\(([^()]*)\)")
_EXAMPLES = R.EXAMPLES.pattern
_THIRD_PARTY = R.THIRD_PARTY.pattern


def split_clauses(text: str) -> list[tuple[int, str, bool]]:
    """(offset, clause, parenthetical) — parentheticals read separately from their sentence."""
    out: list[tuple[int, str, bool]] = []
    main = text
    for m in _PAREN.finditer(text):
        inner = m.group(1)
        if len(inner.split()) >= R.ASIDE_MIN_WORDS and not _EXAMPLES.match(inner):
            out.append((m.start(1), inner, True))
        main = main[: m.start()] + " " * (m.end() - m.start()) + main[m.end() :]
    out.insert(0, (0, main, False))
    return out


def _example_names(text: str) -> list[str]:
    """Names a sentence gives as examples of its subject ("networking (such as fooproxy,
    BarDNS, …)"): the sentence is about them too. Generic words in the aside are not."""
    out: list[str] = []
    for m in _PAREN.finditer(text):
        if _EXAMPLES.match(m.group(1)):
            out += [stem(w) for w in words(m.group(1)) if w not in STOPWORDS and not is_common_word(w)]
    return out


def _condition_of(text: str) -> tuple[str | None, str | None, str]:
    """(condition, kind, body): the if/unless clause governing a clause and what it governs.
    "if" applies only when the ticket says it holds; "unless" states the default."""
    cond, kind, body = None, None, text
    m = _COND.match(text)
    if m and len(text) > m.end() + R.CONDITION_MIN_BODY and not R.NOT_A_CONDITION.pattern.match(text):
        cond = text[: m.end()].strip(" ,")
        kind = "unless" if cond.lower().startswith("unless") else "if"
        body = text[m.end() :]
    um = _UNLESS_MID.search(text)
    if um:
        cond, kind = um.group(0), "unless"
        body = text.replace(um.group(0), " ")
    return cond, kind, body


def _traced(f: Finding, *steps: str) -> Finding:
    """The finding with ``steps`` recorded before the steps it already names."""
    return replace(f, trace=(*steps, *f.trace))


@dataclass
class Candidate:
    unit: Unit
    clause: Clause
    verdict: Verdict
    strength: float
    source: str  # own | lead | label | heading
    governor: Span | None
    lex: float  # subject coverage by the clause/unit itself
    lex_ctx: float  # coverage by its context (headings, lead, qualified passage)
    dense: float
    lex_obj: float = 0.0  # coverage by what the cue phrase is about (the words after it)
    rel: float = 0.0
    conditional: bool = False
    cond_holds: bool = False
    exception: bool = False  # a note that overrides the passage it qualifies
    rule: str = ""  # id of the cue rule the verdict comes from


@dataclass(frozen=True)
class _Ask:
    """One provider's question, as every deciding step needs it."""

    query: Query
    provider: str
    qvec: np.ndarray
    n_citations: int
    docs: dict[str, dict]


@dataclass(frozen=True)
class _Weights:
    """Question-term weights: ``terms`` (idf ** power, 0 for words the corpus lacks); their
    sums over every term (unknown ones at the highest idf), the known ones, the top ones."""

    terms: dict[str, float]
    w_all: float
    w_known: float
    w_norm: float


@dataclass(frozen=True)
class _Evidence:
    """How squarely the best candidate addresses the question."""

    cov_all: float  # share of the whole question's weight it covers
    off_corpus: bool  # the question means something the corpus never speaks of
    weak: bool  # it does not address the subject well enough to decide
    loose: bool  # a long ticket read as an item of what support covers (low confidence)
    narrowed: str | None  # the question's narrowing word the passage never speaks of
    steps: tuple[str, ...]


class Judge:
    """Decides one provider's verdict from its retrieved chunks."""

    def __init__(
        self,
        providers: dict[str, Provider],
        keyword: KeywordIndex,
        unit_vecs: np.ndarray,
        units: list[Unit],
        units_by_chunk: dict[str, list[int]],
        chunk_by_id: dict | None = None,
        params: JudgeParams = JudgeParams(),
    ):
        self.params = params
        self.chunk_by_id = chunk_by_id or {}
        self.readers = {pid: PolicyReader(p) for pid, p in providers.items()}
        self.keyword = keyword
        self.unit_vecs = unit_vecs
        self.units = units
        self.units_by_chunk = units_by_chunk
        self.unit_tokens = keyword.unit_tokens
        self._clauses: dict[str, list[Clause]] = {}
        self._cat_cache: dict[tuple[str, str], list[int]] = {}
        self._ctx_tokens: dict[str, frozenset[str]] = {}

    # -- reading units ----------------------------------------------------------------

    def clauses(self, u: Unit) -> list[Clause]:
        got = self._clauses.get(u.id)
        if got is None:
            reader = self.readers[u.provider]
            got = [self._read_clause(reader, u, off, text, paren) for off, text, paren in split_clauses(u.text)]
            self._clauses[u.id] = got
        return got

    def _read_clause(self, reader: PolicyReader, u: Unit, off: int, text: str, paren: bool) -> Clause:
        cond, kind, body = _condition_of(text)
        c = reader.cue(body) or (reader.cue(text) if cond else None)
        cond_toks = tokens(cond or "")
        named = [] if paren else _example_names(u.text)
        circ = _CIRCUMSTANCE.match(text)
        return Clause(
            text=text,
            start=off,
            cue=c,
            toks=frozenset(tokens(text)) | frozenset(named),
            condition=cond,
            cond_kind=kind,
            cond_docs=any(t in DOC_WORDS for t in cond_toks),
            cond_negated=bool(cond) and kind == "if" and bool(R.CONDITION_NEGATED.pattern.search(normalize(cond))),
            parenthetical=paren,
            main_toks=frozenset(tokens(text[circ.end() :])) if circ and c is not None and c.start >= circ.end() - 1 else None,
        )

    def context_tokens(self, u: Unit) -> frozenset[str]:
        got = self._ctx_tokens.get(u.id)
        if got is None:
            parts = list(u.headings) + [g.text for g in u.governors]
            if u.qualified is not None:
                parts.append(u.qualified.text)
            got = frozenset(tokens(" ".join(parts)))
            self._ctx_tokens[u.id] = got
        return got

    def inherited(self, u: Unit) -> tuple[Cue | None, str, Span | None]:
        reader = self.readers[u.provider]
        for g in u.governors:
            c = reader.cue(g.text)
            if c is not None and c.verdict is not None:
                return c, "lead", g
        if u.label:
            c = reader.label_cue(u.label, u.headings)
            if c is not None:
                return c, "label", None
        for h in reversed(u.headings):
            c = reader.heading_cue(h)
            if c is not None:
                return c, "heading", None
        return None, "", None

    # -- candidates -------------------------------------------------------------------

    def _candidates(self, query: Query, unit_ids: list[int], qvec: np.ndarray, match, w_known: float) -> list[Candidate]:
        """Every side-taking clause of the units (each span once), scored, most relevant first."""
        cands: list[Candidate] = []
        for ui in self._distinct(unit_ids):
            u = self.units[ui]
            dense = float(self.unit_vecs[ui] @ qvec)
            ctx = self.context_tokens(u) | self.unit_tokens[ui]
            lex_ctx = match(ctx) / w_known if w_known else 0.0
            for cl in self.clauses(u):
                c = self._candidate(query, u, cl, match, w_known, lex_ctx, dense)
                if c is not None:
                    cands.append(c)
        cands.sort(key=lambda c: c.rel, reverse=True)
        return cands

    def _distinct(self, unit_ids: list[int]):
        """The unit indices, each span of a document once (chunks overlap)."""
        seen: set[tuple[int, int, str]] = set()
        for ui in unit_ids:
            u = self.units[ui]
            key = (u.start, u.end, u.doc_id)
            if key not in seen:
                seen.add(key)
                yield ui

    def _clause_cue(self, u: Unit, cl: Clause) -> tuple[Cue, str, Span | None] | None:
        """The side-taking cue a clause reads by: its own, else (not for an aside) the one it
        inherits from its lead-in, matrix label or heading."""
        if cl.cue is not None and cl.cue.verdict is not None:
            return cl.cue, "own", None
        if cl.parenthetical:
            return None
        cue, source, gov = self.inherited(u)
        if cue is None or cue.verdict is None:
            return None
        return cue, source, gov

    def _candidate(self, query: Query, u: Unit, cl: Clause, match, w_known: float, lex_ctx: float, dense: float) -> Candidate | None:
        read = self._clause_cue(u, cl)
        if read is None:
            return None
        cue, source, gov = read
        lex, lex_obj = self._coverage(cl, cue, source, match, w_known)
        c = Candidate(u, cl, cue.verdict, cue.strength, source, gov, lex, lex_ctx, dense, lex_obj, conditional=cl.cond_kind == "if", rule=cue.rule)
        self._apply_condition(c, cl, query)
        c.rel = self._relevance(c)
        return c

    def _coverage(self, cl: Clause, cue: Cue, source: str, match, w_known: float) -> tuple[float, float]:
        """(lex, lex_obj): subject coverage by the clause, and by what its cue is about."""
        if source == "own" and cl.main_toks is not None:
            # what a cue decides is its own clause, not the circumstance before it
            main = match(cl.main_toks)
            lex = (main + self.params.circumstance_weight * (match(cl.toks) - main)) / w_known if w_known else 0.0
        else:
            lex = match(cl.toks) / w_known if w_known else 0.0
        if source == "own" and w_known and not _PASSIVE.search(cue.text):
            obj = normalize(cl.text)[cue.start :]
            return lex, match(frozenset(tokens(obj))) / w_known
        return lex, lex

    @staticmethod
    def _apply_condition(c: Candidate, cl: Clause, query: Query) -> None:
        """An 'unless documented' the ticket meets flips the default; an if-clause holds when
        the ticket says so."""
        if cl.cond_kind == "unless" and cl.cond_docs and query.asserts_docs:
            c.verdict = {NEG: POS, POS: NEG}.get(c.verdict, c.verdict)
            c.cond_holds = True
        if c.conditional:
            c.cond_holds = cl.cond_docs and (query.negates_docs if cl.cond_negated else query.asserts_docs)

    def _relevance(self, c: Candidate) -> float:
        """Weighted coverage and similarity, scaled by how directly the cue speaks of the clause."""
        p = self.params
        spec = p.specificity(c.source)
        role = p.note_boost if c.unit.role == "note" else 1.0
        rel = (p.rel_lex * c.lex + p.rel_obj * c.lex_obj + p.rel_ctx * c.lex_ctx + p.rel_dense * max(0.0, c.dense)) * (p.spec_base + p.spec_gain * spec) * role
        if c.conditional and not c.cond_holds:
            rel *= p.conditional_factor
        return rel

    # -- deciding ---------------------------------------------------------------------

    def decide(self, query: Query, provider: str, hits: list[Hit], qvec: np.ndarray, n_citations: int, docs: dict[str, dict]) -> Finding:
        """Weights → early exits → candidates → best (exception note, held condition) →
        stated condition → evidence → an unknown or a decided finding. ``Finding.trace``
        names the steps taken and the rule id of the deciding cue."""
        ask = _Ask(query, provider, qvec, n_citations, docs)
        w = self._weights(query)
        early = self._early_exit(ask, w)
        if early is not None:
            return early
        unit_ids = [ui for hit in hits for ui in self.units_by_chunk.get(hit.chunk.id, [])]
        cands = self._candidates(query, unit_ids, qvec, self._matcher(w.terms), w.w_norm)
        if not cands:
            return Finding(provider, UNK, self.params.no_position_conf, undecided_reason(None), (), trace=("decide:no-position",))
        best, picked = self._pick_best(cands)
        condition = self._condition(best, cands)
        ev = self._evidence(query, w, best)
        if ev.off_corpus or ev.weak:
            return self._unknown_finding(ask, best, ev, picked + ev.steps)
        return self._decided_finding(ask, best, cands, ev, condition, picked + ev.steps)

    def _weights(self, query: Query) -> _Weights:
        kw, power = self.keyword, self.params.idf_power
        terms = {t: kw.idf(t) ** power if kw.known(t) else 0.0 for t in query.terms}
        max_idf = kw.idf("\x00never\x00") ** power
        w_all = sum(terms[t] if kw.known(t) else max_idf for t in query.terms)
        # long tickets: coverage is measured against their most specific terms, not every word
        w_norm = sum(sorted(terms.values(), reverse=True)[: self.params.top_terms])
        return _Weights(terms, w_all, sum(terms.values()), w_norm)

    def _early_exit(self, ask: _Ask, w: _Weights) -> Finding | None:
        """Questions no passage decides: a request for a fact, or no subject the policy knows
        (unless the question names a tool of a category the policy states)."""
        q, p = ask.query, self.params
        if q.info_request:
            why = "This asks for a fact (a price, date, region or figure), not whether something is supported; a support policy does not decide it."
            return Finding(ask.provider, UNK, p.info_request_conf, why, (), trace=("decide:info-request",))
        if q.terms and w.w_known > 0:
            return None
        cat = self._by_category(ask)
        if cat is not None:
            return _traced(cat, "decide:no-subject→category")
        why = "the question names nothing the policy speaks about" if q.terms else "the question has no subject to look up"
        step = "decide:no-subject" if q.terms else "decide:no-terms"
        return Finding(ask.provider, UNK, p.no_subject_conf if q.terms else p.no_terms_conf, f"Not decided by the policy: {why}.", (), trace=(step,))

    def _pick_best(self, cands: list[Candidate]) -> tuple[Candidate, tuple[str, ...]]:
        """The most relevant candidate, unless a note names the subject as an exception to it,
        or a condition the ticket says holds overrides the default in the same passage."""
        best, steps = cands[0], ("pick:most-relevant",)
        note = self._exception_note(cands, best)
        if note is not None:
            note.exception = True
            best, steps = note, ("pick:exception-note",)
        for c in cands[: self.params.condition_window]:
            if c.conditional and c.cond_holds and c is not best and c.unit.block_start == best.unit.block_start:
                return c, steps + ("pick:held-condition",)
        return best, steps

    def _exception_note(self, cands: list[Candidate], best: Candidate) -> Candidate | None:
        """A note qualifying the best passage, naming the subject, with the other verdict."""
        for c in cands[1 : self.params.exception_window]:
            if (
                c.unit.role == "note"
                and best.unit.role != "note"
                and c.unit.qualified is not None
                and c.unit.qualified.start == best.unit.block_start
                and c.verdict != best.verdict
                and not c.conditional
                and c.lex >= best.lex - self.params.lex_tolerance
                and c.lex > 0
            ):
                return c
        return None

    @staticmethod
    def _condition(best: Candidate, cands: list[Candidate]) -> str | None:
        """A condition the policy states that the ticket does not settle: the best clause's
        own 'unless', else an if-clause of the same passage that would change the verdict."""
        if best.clause.cond_kind == "unless" and not best.cond_holds:
            return best.unit.text
        for c in cands:
            if c.conditional and not c.cond_holds and c.unit.block_start == best.unit.block_start and c.verdict != best.verdict:
                return c.unit.text
        return None

    def _evidence(self, query: Query, w: _Weights, best: Candidate) -> _Evidence:
        p = self.params
        long = len(query.text.split()) >= p.long_words
        # off the corpus ... unless a passage answers the question squarely anyway
        off_corpus = query.retained < p.retained and not (best.rel >= p.off_corpus_rel and best.dense >= p.off_corpus_dense)
        weak = self._is_weak(w, best)
        narrowed = None if weak or long else self._narrowed(query, best)
        weak, loose = weak or narrowed is not None, False
        if long:
            # long tickets carry jargon and logs the policy never mentions: judge them by how
            # well the best passage matches, not by how much of the ticket the corpus explains
            off_corpus, weak = False, best.rel < p.long_weak_rel
            # ... and a problem report that reads like an item of what support covers is
            # covered, loosely (the low confidence escalates it)
            if weak and best.verdict == POS and best.dense >= p.loose_dense and not best.conditional:
                weak, loose = False, True
        flags = (("long-ticket", long), ("narrowed", narrowed is not None), ("off-corpus", off_corpus), ("weak", weak), ("loose", loose))
        steps = tuple(f"evidence:{name}" for name, on in flags if on)
        return _Evidence(min(1.0, best.lex * w.w_norm / w.w_all), off_corpus, weak, loose, narrowed, steps)

    def _is_weak(self, w: _Weights, best: Candidate) -> bool:
        """The best passage neither covers the subject nor reads like the question, unless it
        squarely addresses one of the question's most specific words."""
        p = self.params
        salient = sorted((t for t in w.terms if w.terms[t] > 0), key=lambda t: -w.terms[t])[: p.salient_terms]
        addressed = any(self._matcher({t: 1.0})(best.clause.toks | self.context_tokens(best.unit)) for t in salient)
        return ((best.lex < p.weak_lex and best.dense < p.weak_dense) or best.rel < p.weak_rel) and not (addressed and best.dense >= p.addressed_dense)

    def _unknown_finding(self, ask: _Ask, best: Candidate, ev: _Evidence, steps: tuple[str, ...]) -> Finding:
        """Weak evidence: the policy's category statement (third-party software, how-to) if
        the question falls in one, else unknown — escalating beats a confident wrong answer."""
        p = self.params
        exit_ = "decide:off-corpus" if ev.off_corpus else "decide:weak"
        cat = self._by_category(ask)
        if cat is not None:
            return _traced(cat, *steps, f"{exit_}→category")
        howto = self._by_howto(ask) if ask.query.retained >= p.retained else None
        if howto is not None:
            return _traced(howto, *steps, f"{exit_}→howto")
        why = "The closest passages do not address this subject."
        if ev.narrowed:
            why = f'The closest passages speak of this in general, never of "{ev.narrowed}"; the policy does not decide that case.'
        conf = float(min(p.unknown_max, p.unknown_base + p.unknown_gain * (1.0 - ev.cov_all) * (1.0 - max(0.0, best.dense))))
        cits = self._citations([best], ask.docs, ask.n_citations)
        return Finding(ask.provider, UNK, conf, why, cits, trace=(*steps, f"{exit_}→unknown", f"rule:{best.rule}"))

    def _decided_finding(self, ask: _Ask, best: Candidate, cands: list[Candidate], ev: _Evidence, condition: str | None, steps: tuple[str, ...]) -> Finding:
        """The best candidate's verdict, cited with the passages that agree with it."""
        p = self.params
        support = [best] + [
            c for c in cands[1:] if c.verdict == best.verdict and (c.lex >= p.support_lex * best.lex and c.dense >= best.dense - p.support_dense_gap or c.rel >= p.support_rel * best.rel)
        ]
        cits = self._citations(support, ask.docs, ask.n_citations)
        trace = (*steps, "decide:loose" if ev.loose else "decide:decided", f"rule:{best.rule}")
        return Finding(ask.provider, best.verdict, self._confidence(best, cands, ev), self._reason(best, condition), cits, condition, trace=trace)

    def _confidence(self, best: Candidate, cands: list[Candidate], ev: _Evidence) -> float:
        """Coverage, margin over the best rival verdict, and cue strength; less for a heading."""
        p = self.params
        rivals = [c for c in cands[1:] if c.verdict != best.verdict and not (c.conditional and not c.cond_holds)]
        margin = best.rel - (rivals[0].rel if rivals else 0.0)
        conf = p.conf_base + p.conf_coverage * min(1.0, ev.cov_all / p.conf_full_coverage) + p.conf_margin * min(1.0, margin * p.conf_margin_scale) + p.conf_strength * best.strength
        if best.source == "heading":
            conf -= p.heading_penalty
        if ev.loose:
            conf = min(conf, p.loose_cap)
        return float(max(p.conf_min, min(p.conf_max, conf)))

    def _narrowed(self, query: Query, best: Candidate) -> str | None:
        """The question narrows a subject the passage speaks of by an English word no policy
        uses ("spot nodes", "ARM-based nodes"): the passage is about the broader thing only,
        so it does not decide the narrower one. Names of tools are left to the category rule."""
        seen = best.clause.toks | self.context_tokens(best.unit)
        for mod, head, word in query.modifiers:
            # the stem must be an English word itself: nouns naming a kind ("spot", "arm",
            # "training") pass; derived adjectives ("commercial" -> "commerci") rarely name one
            if len(mod) < 2 or mod.isdigit() or self.keyword.known(mod) or not is_common_word(mod):
                continue
            if not (self.keyword.expand(head) | {head}).isdisjoint(seen):
                return word
        return self._sibling(query, best)

    def _sibling(self, query: Query, best: Candidate) -> str | None:
        """The passage names a sibling kind of the question's subject ("Alpha features" for
        "beta features"), and this policy never uses the question's word (another policy
        does, so it is a real kind): the passage does not decide the question's kind."""
        vocab = self.keyword.provider_terms.get(best.unit.provider, set())
        theirs = {(m, h) for m, h, _ in modifier_pairs(best.clause.text, chain=False)}
        for mod, head, word in query.modifiers:
            if mod in vocab or self.keyword.expand(mod) & vocab or not self.keyword.known(mod):
                continue
            if R.PARTICIPLE.pattern.search(word.lower()):
                continue  # a participle says what state a thing is in, not what kind it is
            mine = {m for m, h, _ in query.modifiers if h == head}
            if any(h == head and m not in mine for m, h in theirs):
                return word
        return None

    def _category_units(self, provider: str, pattern: re.Pattern | None = None) -> list[int]:
        """Units of the passages stating the policy for a category (default: third-party software)."""
        pattern = pattern or _THIRD_PARTY
        got = self._cat_cache.get((provider, pattern.pattern))
        if got is None:
            mine = [i for i, u in enumerate(self.units) if u.provider == provider and u.role != "note"]
            blocks = {self.units[i].block_start for i in mine if pattern.search(self.units[i].text)}
            got = [i for i in mine if self.units[i].block_start in blocks]
            self._cat_cache[(provider, pattern.pattern)] = got
        return got

    def _by_category(self, ask: _Ask) -> Finding | None:
        """An unnamed tool ("Is <tool> supported?"): the policy never names it, but it names
        the category every tool the vendor did not ship falls in — third-party software."""
        query, p = ask.query, self.params
        pterms = self.keyword.provider_terms.get(ask.provider, set())
        names = [n for n in query.names if not set(tokens(n)) <= pterms]
        if not (names and query.support_intent) or len(names) > p.max_unnamed:
            return None
        sibling_ids = self._category_units(ask.provider)
        if not sibling_ids:
            return None
        kw = self.keyword
        weights = {t: kw.idf(t) ** p.idf_power for t in query.terms if kw.known(t)}
        cands = [c for c in self._candidates(query, sibling_ids, ask.qvec, self._matcher(weights), sum(weights.values()) or 1.0) if c.verdict != POS]
        return self._category_finding(ask, names[0], cands) if cands else None

    def _heads_category(self, c: Candidate) -> bool:
        m = _THIRD_PARTY.search(c.unit.text)
        return m is not None and m.start() < self.params.heads_category_chars

    def _category_finding(self, ask: _Ask, name: str, cands: list[Candidate]) -> Finding:
        """The passage heading the category (an if-clause only when it holds) decides."""
        cands.sort(key=lambda c: (not c.conditional or c.cond_holds, self._heads_category(c), round(c.lex, 2), c.dense), reverse=True)
        best = cands[0]
        others = [c for c in cands[1:] if self._heads_category(c) and c.unit.block_start != best.unit.block_start and c.verdict == best.verdict]
        condition = next((c.unit.text for c in cands if c.conditional and not c.cond_holds and c.unit.block_start == best.unit.block_start), None)
        why = f'"{name}" is not named in the policy; as third-party software it falls under: "{self._clip(self._block_text(best, ask.docs))}" ({best.unit.section}).' + with_condition(condition)
        cits = self._citations([best] + others[:1], ask.docs, ask.n_citations)
        trace = (f"rule:{R.THIRD_PARTY.id}", f"rule:{best.rule}")
        return Finding(ask.provider, best.verdict, self.params.category_conf, why, cits, condition, trace=trace)

    def _by_howto(self, ask: _Ask) -> Finding | None:
        """A how-to question ("how do I write a manifest?"): policies state once, as a category,
        whether usage advice is supported; the question need not share words with it."""
        if HOWTO not in ask.query.all_tokens:
            return None
        ids = self._category_units(ask.provider, _HOWTO_CATEGORY)
        cands = [c for c in self._candidates(ask.query, ids, ask.qvec, self._matcher({HOWTO: 1.0}), 1.0) if c.lex > 0 and not c.conditional]
        if not cands:
            return None
        best = max(cands, key=lambda c: c.dense)
        why = f'A how-to question; the policy states for those: "{self._clip(self._block_text(best, ask.docs))}" ({best.unit.section}).'
        trace = (f"rule:{R.HOWTO_CATEGORY.id}", f"rule:{best.rule}")
        return Finding(ask.provider, best.verdict, self.params.category_conf, why, self._citations([best], ask.docs, ask.n_citations), trace=trace)

    def _block_text(self, c: Candidate, docs: dict[str, dict]) -> str:
        return docs[c.unit.doc_id]["text"][c.unit.block_start : c.unit.block_end]

    def _matcher(self, weights: dict[str, float]):
        """Weighted overlap of query terms with a token set; a query term also matches corpus
        terms it is a prefix of ("auto" ~ "automat", "config" ~ "configur")."""
        expand = {t: self.keyword.expand(t) | {t} for t in weights}

        def match(toks: frozenset[str]) -> float:
            return sum(w for t, w in weights.items() if w and not expand[t].isdisjoint(toks))

        return match

    def _reason(self, c: Candidate, condition: str | None = None) -> str:
        """The deciding words of the best candidate and where they sit (see bot.engine.reasons)."""
        u, g = c.unit, Grounds(c.unit.text, c.unit.section, condition=condition)
        if c.exception:
            return reason(Grounds(u.text, u.section, note=True, condition=condition))
        read = self._clause_cue(u, c.clause)
        cue = read[0] if read is not None else None
        if c.source == "own" and cue is not None:
            g = Grounds(u.text, u.section, cue=self._cue_words(c.clause, cue), condition=condition)
        elif c.source == "lead" and c.governor is not None:
            g = Grounds(u.text, u.section, lead_in=c.governor.text, condition=condition)
        elif c.source == "label":
            g = Grounds(u.text, u.section, label=u.label, condition=condition)
        elif c.source == "heading" and cue is not None:
            g = Grounds(u.text, u.section, heading=cue.text, condition=condition)
        return reason(g)

    def grounds(self, u: Unit, verdict: str, condition: str | None = None) -> Grounds:
        """What makes unit ``u`` read as ``verdict`` (for a verdict decided elsewhere, e.g. by
        the reader): its own cue phrase, else the lead-in, matrix label or heading it inherits
        its polarity from, when that agrees; else just the passage."""
        for cl in self.clauses(u):
            if cl.cue is not None and cl.cue.verdict == verdict:
                return Grounds(u.text, u.section, cue=self._cue_words(cl, cl.cue), condition=condition)
        cue, source, gov = self.inherited(u)
        if cue is not None and cue.verdict == verdict:
            if source == "lead" and gov is not None:
                return Grounds(u.text, u.section, lead_in=gov.text, condition=condition)
            if source == "label":
                return Grounds(u.text, u.section, label=u.label, condition=condition)
            return Grounds(u.text, u.section, heading=cue.text, condition=condition)
        return Grounds(u.text, u.section, condition=condition)

    @staticmethod
    def _cue_words(cl: Clause, cue: Cue) -> str:
        """The cue phrase as the document writes it (cues are matched on normalized text)."""
        low = normalize(cl.text)
        at = low.find(cue.text)
        return cl.text[at : at + len(cue.text)] if at >= 0 and len(low) == len(cl.text) else cue.text

    def _citations(self, cands: list[Candidate], docs: dict[str, dict], n: int) -> tuple[Citation, ...]:
        """Up to ``n`` quotes, no span twice nor inside another: each candidate's passage
        (a long one by its sentence), and for the first what it reads with."""
        out: list[Citation] = []
        seen: set[tuple[int, int]] = set()

        def add(doc_id: str, section: str, start: int, end: int, text: str, score: float):
            if (start, end) in seen or end <= start or len(out) >= n:
                return
            if any(s <= start and end <= e for s, e in seen):
                return
            seen.add((start, end))
            meta = docs[doc_id]
            out.append(Citation(doc_id, meta["title"], section, text, meta["url"], start, end, score))

        for i, c in enumerate(cands):
            u = c.unit
            if u.block_end - u.block_start <= self.params.cite_block_chars:
                add(u.doc_id, u.section, u.block_start, u.block_end, docs[u.doc_id]["text"][u.block_start : u.block_end], c.rel)
            else:
                add(u.doc_id, u.section, u.start, u.end, u.text, c.rel)
            for sp in self._read_with(c) if i == 0 else ():
                add(u.doc_id, u.section, sp.start, sp.end, sp.text, c.rel)
            if len(out) >= n:
                break
        return tuple(out)

    def _read_with(self, c: Candidate) -> list[Span]:
        """What the best passage reads with: the bullet a nested bullet sits in, its lead-in,
        and for a note the passage it qualifies."""
        u = c.unit
        chunk = self.chunk_by_id.get(u.chunk_id)
        out = [sp for sp in (chunk.spans if chunk is not None else ()) if sp.role == "parent"]
        if c.governor is not None:
            out.append(c.governor)
        if u.qualified is not None and u.role == "note":
            out.append(u.qualified)
        return out

    def _clip(self, s: str) -> str:
        n = self.params.clip_chars
        s = " ".join(s.split())
        return s if len(s) <= n else s[: n - 1].rstrip() + "…"
