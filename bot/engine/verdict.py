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
from dataclasses import dataclass

import numpy as np

from .query import DOC_WORDS, Query, is_common_word, modifier_pairs
from .retrieve import Hit, KeywordIndex
from .text import HOWTO, STOPWORDS, normalize, stem, tokens, words
from .types import Citation, Finding, Provider, Span, Unit, Verdict

NEG: Verdict = "not-covered"
POS: Verdict = "covered"
BE: Verdict = "best-effort"
UNK: Verdict = "unknown"

TOP_TERMS = 4
LONG_WORDS = 20
RETAINED = 0.8  # below this cosine the question means something the corpus never speaks of
IDF_POWER = 2.0  # squared idf: the rarest words (names of things) decide what a passage is about
_NOT = r"(?:does not|doesn't|do not|don't|did not|will not|won't|would not|cannot|can't|can not|is not|isn't|are not|aren't|not)"


@dataclass(frozen=True)
class Cue:
    verdict: Verdict | None  # None: the clause speaks of shared responsibility (no side)
    strength: float
    text: str  # the matched words
    end: int  # where the cue ends in the clause (its object follows)
    start: int = 0  # where the cue starts


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
    """Cue-phrase grammar for one provider; vendor names come from front matter."""

    def __init__(self, provider: Provider):
        names = sorted({normalize(n) for n in provider.names if len(n) > 1}, key=len, reverse=True)
        v = "|".join(re.escape(n) for n in names)
        staff = r"(?:(?:technical\s+)?support(?:\s+and\s+engineering)?(?:\s+teams?|\s+engineers?)?|product|engineering|engineers?|team|teams|personnel|staff|operations)"
        party = rf"(?:(?:{v})(?:'s)?(?:\s+{staff})?|the\s+[\w-]+\s+team|(?:our\s+)?support\s+engineers|we)"
        self.vendor = party
        cust = r"(?:you|customers?|users?|the\s+customer|the\s+user|the\s+client|clients?)"
        w = r"(?:[\w'-]+\s+)"
        act = (r"(?:manages|monitors|maintains|operates|performs|patches|deploys|hardens|handles|restores|repairs|backs\s+up|"
               r"applies|publishes|keeps|ships|builds|installs|hosts|runs|upgrades|updates|snapshots|replaces|fixes|resolves|"
               r"investigates|troubleshoots|assists|helps|takes\s+care|is\s+accountable|will\s+(?:patch|apply|detect|restore|handle|perform|fix|"
               r"investigate|help|assist|point|notify|replace|upgrade)|can\s+(?:advise|answer|help|assist))")
        self.patterns: list[tuple[re.Pattern, Verdict | None, float]] = [
            (re.compile(r"\bbest[\s-]*effort\b"), BE, 1.0),
            (re.compile(r"\b(?:does not|doesn't|do not|don't|will not|won't)\s+(?:affect|impact|change|void)\s+(?:your\s+|the\s+)?support\b"), POS, 1.0),
            (re.compile(rf"\b{_NOT}\s+{w}{{0,2}}(?:provide|offer|give)\s+{w}{{0,3}}?(?:support|advice|assistance|help)\b"), NEG, 1.0),
            (re.compile(r"\b(?:does not|doesn't|do not|don't|will not|won't|cannot|can't|never)\s+(?!affect|impact|change|void)(?:\w+\s+)?support\b"), NEG, 1.0),
            (re.compile(r"\b(?:not|isn't|aren't|never|no longer)\s+(?:be\s+|being\s+|officially\s+)?(?:supported|covered)\b"), NEG, 1.0),
            (re.compile(r"\b(?:unsupported|unsupportable|not\s+supportable)\b"), NEG, 1.0),
            (re.compile(r"\b(?:out\s*(?:side)?\s+(?:of\s+)?(?:the\s+)?scope|not\s+in\s+(?:the\s+)?scope|not\s+within\s+(?:the\s+)?scope|excluded\s+from)\b"), NEG, 0.9),
            (re.compile(rf"\b{cust}\s+(?:alone\s+)?(?:are|is)\s+(?:\w+\s+)?(?:responsible|accountable)\b"), NEG, 1.0),
            (re.compile(r"\b(?:it\s+is\s+)?your\s+(?:own\s+)?(?:responsibilit(?:y|ies)|task|job|duty)\b|\b(?:is|are)\s+yours\s+to\b"), NEG, 1.0),
            (re.compile(r"\bcustomer(?:'s)?\s+responsibilit(?:y|ies)\b"), NEG, 1.0),
            (re.compile(rf"\b{cust}\s+(?:have|has)\s+(?:a|the)\s+responsibility\b"), NEG, 0.6),
            (re.compile(rf"\b{cust}\s+(?:must|(?:are|is)\s+required\s+to)\b"), NEG, 0.5),
            (re.compile(rf"\b{cust}\s+(?:cannot|can't|can\s+not|(?:are|is)\s+not\s+(?:allowed|permitted|able)\s+to|may\s+not)\b"), NEG, 0.8),
            (re.compile(rf"\b(?:not|aren't|isn't)\s+(?:directly\s+)?(?:available|accessible)\s+to\s+{cust}"), NEG, 0.8),
            (re.compile(rf"\b(?:responsibility|responsible)\s+of\s+{cust}\b"), NEG, 1.0),
            (re.compile(rf"\b{cust}\s+(?:\w+\s+){{1,6}}?(?:yourself|yourselves|themselves|on\s+your\s+own)\b"), NEG, 0.7),
            (re.compile(r"\b(?:share|shares|shared)\s+(?:the\s+)?responsibilit(?:y|ies)\b|\bresponsibility\s*:\s*shared\b"), None, 0.4),
            (re.compile(rf"\b{party}\s+(?:{_NOT}|never)\s+(?:\w+\s+){{0,2}}?(?:automatically\s+)?\w+"), NEG, 0.7),
            (re.compile(rf"\b{party}\s+{w}{{0,2}}?(?:provides?|offers?|gives?|delivers?)\s+{w}{{0,4}}?support\b"), POS, 1.0),
            (re.compile(rf"\b{party}\s+(?:\w+\s+)?(?:supports|does\s+support|will\s+support|is\s+supported)\b"), POS, 1.0),
            (re.compile(r"\bsupport\s+includes\b|\b(?:is|are)\s+(?:fully\s+)?supported\b|\bareas\s+covered\b|\bcovered\s+by\b|\bwithin\s+(?:the\s+)?scope\b|\bin\s+scope\b"), POS, 0.9),
            (re.compile(rf"\b{party}\s+(?:alone\s+)?(?:is|are)\s+(?:\w+\s+)?(?:responsible|accountable)\b"), POS, 1.0),
            (re.compile(rf"\b(?:it\s+is\s+)?{party}\s+responsibilit(?:y|ies)\b|\bresponsibilit(?:y|ies)\s+of\s+{party}|\b{party}\s+(?:has|have|assumes?)\s+(?:the\s+)?responsibility\b"), POS, 1.0),
            (re.compile(rf"\b(?:managed|maintained|operated|monitored|patched|handled|performed|hardened|provided|remediated|restored|run|hosted|built)\s+(?:\w+\s+)?by\s+{party}\b"), POS, 0.9),
            (re.compile(rf"\b{party}\s+(?:\w+\s+)?{act}\b"), POS, 0.8),
            (re.compile(r"\b(?:are|is|be|get)\s+automatically\s+(?:remediated|patched|restored|applied|updated|upgraded|backed\s+up)\b|\breceive\s+(?:[\w-]+\s+){0,3}automatically\b|\bautomated\b"), POS, 0.7),
        ]
        self.col_vendor = re.compile(rf"\b{party}\s*responsibilit|\bresponsibilities\s+for\b.*\b(?:{v})\b|^(?:{v})\b.*\bresponsibilit")
        self.col_customer = re.compile(r"\b(?:your|customer|customers|user|users|client)(?:'s)?\s+responsibilit")

    def cue(self, text: str) -> Cue | None:
        """Strongest cue in a clause; best-effort beats the support phrase it sits in, a
        negation beats the positive phrase it negates."""
        low = normalize(text)
        found: list[tuple[int, float, int, Cue]] = []
        order = {BE: 3, NEG: 2, POS: 1, None: 0}
        for pat, verdict, strength in self.patterns:
            m = pat.search(low)
            if m:
                found.append((order[verdict], strength, -m.start(), Cue(verdict, strength, m.group(0), m.end(), m.start())))
        if not found:
            return None
        found.sort(key=lambda x: (x[1] >= 0.9, x[0], x[1], x[2]), reverse=True)
        return found[0][3]

    def heading_cue(self, heading: str) -> Cue | None:
        low = normalize(heading)
        if self.col_customer.search(low):
            return Cue(NEG, 0.8, heading, len(heading))
        if self.col_vendor.search(low):
            return Cue(POS, 0.8, heading, len(heading))
        c = self.cue(heading)
        if c and c.verdict is not None and c.strength >= 0.9:
            return Cue(c.verdict, 0.7, heading, len(heading))
        return None

    def label_cue(self, label: str, headings: tuple[str, ...]) -> Cue | None:
        """A matrix cell: 'Responsibility: Total|Shared|None' under a vendor/customer column."""
        value = normalize(label.split(":", 1)[-1]).strip(" .")
        col = normalize(headings[-1]) if headings else ""
        side = POS if self.col_vendor.search(col) else NEG if self.col_customer.search(col) else None
        if side is None:
            return None
        other = NEG if side == POS else POS
        if value in ("total", "full", "sole", "yes"):
            return Cue(side, 1.0, label, len(label))
        if value in ("none", "no"):
            return Cue(other, 0.9, label, len(label))
        return Cue(side, 0.6, label, len(label))  # shared: the cell lists this side's part


_COND = re.compile(r"^\s*(?:if|when|where|once|unless|provided that|as long as)\b[^,]*,\s*", re.I)
_UNLESS_MID = re.compile(r"\bunless\s+(?:otherwise\s+)?[\w\s-]{0,40}?(?:documented|specified|stated|noted|agreed)\b", re.I)
_CIRCUMSTANCE = re.compile(r"(?i)^\s*(?:when|whenever|once|after|before)\b[^,]{8,}?,\s*")
_HOWTO_CATEGORY = re.compile(r"\bhow[\s-]+to\b|\badvice\b", re.I)
# a cue ending in a participle ("… aren't supported", "managed by X") follows its subject
_PASSIVE = re.compile(r"(?i)(?:supported|covered|supportable|(?:available|accessible)\b[^,;]*|remediated|patched|restored|applied|updated|upgraded|backed\s+up|automated|\bby\b[^,;]*)\s*$")
_PAREN = re.compile(r"\(([^()]*)\)")
_EXAMPLES = re.compile(r"(?i)\s*(?:such\s+as|for\s+example|for\s+instance|e\.\s?g\.|including|like)\b")
_THIRD_PARTY = re.compile(
    r"\b(?:third[\s-]+party|open[\s-]+source|closed[\s-]+source|commercial|other\s+vendors?)\b[^.]{0,80}?\b(?:software|projects?|tools?|products?|packages?|components?|applications?|solutions?)\b"
    r"|\b(?:software|projects?|tools?|products?|packages?)\b[^.]{0,40}?\b(?:third[\s-]+part(?:y|ies)|other\s+vendors?)\b",
    re.I,
)


def split_clauses(text: str) -> list[tuple[int, str, bool]]:
    """(offset, clause, parenthetical) — parentheticals read separately from their sentence."""
    out: list[tuple[int, str, bool]] = []
    main = text
    for m in _PAREN.finditer(text):
        inner = m.group(1)
        if len(inner.split()) >= 4 and not _EXAMPLES.match(inner):
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


class Judge:
    """Decides one provider's verdict from its retrieved chunks."""

    def __init__(self, providers: dict[str, Provider], keyword: KeywordIndex, unit_vecs: np.ndarray, units: list[Unit], units_by_chunk: dict[str, list[int]], chunk_by_id: dict | None = None):
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
        if got is not None:
            return got
        reader = self.readers[u.provider]
        out: list[Clause] = []
        for off, text, paren in split_clauses(u.text):
            cond, kind, body = None, None, text
            m = _COND.match(text)
            if m and len(text) > m.end() + 10 and not re.match(r"(?i)\s*(once|when|where)\b", text):
                cond = text[: m.end()].strip(" ,")
                kind = "unless" if cond.lower().startswith("unless") else "if"
                body = text[m.end() :]
            um = _UNLESS_MID.search(text)
            if um:
                cond, kind = um.group(0), "unless"
                body = text.replace(um.group(0), " ")
            c = reader.cue(body) or (reader.cue(text) if cond else None)
            cond_toks = tokens(cond or "")
            named = [] if paren else _example_names(u.text)
            circ = _CIRCUMSTANCE.match(text)
            out.append(
                Clause(
                    text=text,
                    start=off,
                    cue=c,
                    toks=frozenset(tokens(text)) | frozenset(named),
                    condition=cond,
                    cond_kind=kind,
                    cond_docs=any(t in DOC_WORDS for t in cond_toks),
                    cond_negated=bool(cond) and kind == "if" and bool(re.search(r"\bnot\b|n't\b|\bwithout\b", normalize(cond))),
                    parenthetical=paren,
                    main_toks=frozenset(tokens(text[circ.end() :])) if circ and c is not None and c.start >= circ.end() - 1 else None,
                )
            )
        self._clauses[u.id] = out
        return out

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

    # -- deciding ---------------------------------------------------------------------

    def _candidates(self, query: Query, unit_ids: list[int], qvec: np.ndarray, match, w_known: float) -> list[Candidate]:
        seen: set[tuple[int, int, str]] = set()
        cands: list[Candidate] = []
        for ui in unit_ids:
            u = self.units[ui]
            key = (u.start, u.end, u.doc_id)
            if key in seen:
                continue
            seen.add(key)
            dense = float(self.unit_vecs[ui] @ qvec)
            ctx = self.context_tokens(u) | self.unit_tokens[ui]
            lex_ctx = match(ctx) / w_known if w_known else 0.0
            for cl in self.clauses(u):
                if cl.cue is not None and cl.cue.verdict is not None:
                    cue, source, gov = cl.cue, "own", None
                elif cl.parenthetical:
                    continue
                else:
                    cue, source, gov = self.inherited(u)
                    if cue is None or cue.verdict is None:
                        continue
                # what a cue decides is its own clause, not the circumstance before it
                if source == "own" and cl.main_toks is not None:
                    main = match(cl.main_toks)
                    lex = (main + 0.5 * (match(cl.toks) - main)) / w_known if w_known else 0.0
                else:
                    lex = match(cl.toks) / w_known if w_known else 0.0
                if source == "own" and w_known and not _PASSIVE.search(cue.text):
                    obj = normalize(cl.text)[cue.start :]
                    lex_obj = match(frozenset(tokens(obj))) / w_known
                else:
                    lex_obj = lex
                c = Candidate(u, cl, cue.verdict, cue.strength, source, gov, lex, lex_ctx, dense, lex_obj, conditional=cl.cond_kind == "if")
                if cl.cond_kind == "unless" and cl.cond_docs and query.asserts_docs:
                    c.verdict = {NEG: POS, POS: NEG}.get(c.verdict, c.verdict)
                    c.cond_holds = True
                if c.conditional:
                    c.cond_holds = cl.cond_docs and (query.negates_docs if cl.cond_negated else query.asserts_docs)
                spec = {"own": 1.0, "lead": 0.9, "label": 0.85, "heading": 0.75}[c.source]
                role = 1.05 if u.role == "note" else 1.0
                c.rel = (0.4 * c.lex + 0.15 * c.lex_obj + 0.15 * c.lex_ctx + 0.45 * max(0.0, c.dense)) * (0.85 + 0.15 * spec) * role
                if c.conditional and not c.cond_holds:
                    c.rel *= 0.5
                cands.append(c)
        cands.sort(key=lambda c: c.rel, reverse=True)
        return cands

    def decide(self, query: Query, provider: str, hits: list[Hit], qvec: np.ndarray, n_citations: int, docs: dict[str, dict]) -> Finding:
        kw = self.keyword
        weights = {t: kw.idf(t) ** IDF_POWER if kw.known(t) else 0.0 for t in query.terms}
        max_idf = kw.idf("\x00never\x00") ** IDF_POWER
        w_all = sum(weights[t] if kw.known(t) else max_idf for t in query.terms)
        w_known = sum(weights.values())
        # long tickets: coverage is measured against their most specific terms, not every word
        top = sorted(weights.values(), reverse=True)[:TOP_TERMS]
        w_norm = sum(top)
        if query.info_request:
            return Finding(provider, UNK, 0.8, "This asks for a fact (a price, date, region or figure), not whether something is supported; a support policy does not decide it.", ())
        if not query.terms or w_known <= 0:
            cat = self._by_category(query, provider, qvec, n_citations, docs)
            if cat is not None:
                return cat
            why = "the question names nothing the policy speaks about" if query.terms else "the question has no subject to look up"
            return Finding(provider, UNK, 0.9 if query.terms else 0.7, f"Not decided by the policy: {why}.", ())

        unit_ids = [ui for hit in hits for ui in self.units_by_chunk.get(hit.chunk.id, [])]
        cands = self._candidates(query, unit_ids, qvec, self._matcher(weights), w_norm)
        if not cands:
            return Finding(provider, UNK, 0.6, "No passage of the policy takes a position on this.", ())
        best = cands[0]

        # a note that names the subject as an exception beats the passage it qualifies
        for c in cands[1:6]:
            if (
                c.unit.role == "note"
                and best.unit.role != "note"
                and c.unit.qualified is not None
                and c.unit.qualified.start == best.unit.block_start
                and c.verdict != best.verdict
                and not c.conditional
                and c.lex >= best.lex - 1e-9
                and c.lex > 0
            ):
                c.exception = True
                best = c
                break
        # a condition the ticket says holds, in the same passage, overrides the default
        for c in cands[:8]:
            if c.conditional and c.cond_holds and c is not best and c.unit.block_start == best.unit.block_start:
                best = c
                break

        condition = None
        if best.clause.cond_kind == "unless" and not best.cond_holds:
            condition = best.unit.text
        for c in cands:
            if condition is None and c.conditional and not c.cond_holds and c.unit.block_start == best.unit.block_start and c.verdict != best.verdict:
                condition = c.unit.text
                break

        loose = False
        cov_all = min(1.0, best.lex * w_norm / w_all)
        # ... unless a passage answers the question squarely anyway
        off_corpus = query.retained < RETAINED and not (best.rel >= 0.8 and best.dense >= 0.5)
        salient = sorted((t for t in weights if weights[t] > 0), key=lambda t: -weights[t])[:3]
        addressed = any(self._matcher({t: 1.0})(best.clause.toks | self.context_tokens(best.unit)) for t in salient)
        weak = ((best.lex < 0.3 and best.dense < 0.45) or best.rel < 0.3) and not (addressed and best.dense >= 0.5)
        narrowed = None if weak or len(query.text.split()) >= LONG_WORDS else self._narrowed(query, best)
        weak = weak or narrowed is not None
        if len(query.text.split()) >= LONG_WORDS:
            # long tickets carry jargon and logs the policy never mentions: judge them by how
            # well the best passage matches, not by how much of the ticket the corpus explains
            off_corpus, weak = False, best.rel < 0.35
            # ... and a problem report that reads like an item of what support covers is
            # covered, loosely (the low confidence escalates it)
            if weak and best.verdict == POS and best.dense >= 0.35 and not best.conditional:
                weak, loose = False, True
        if off_corpus or weak:
            cat = self._by_category(query, provider, qvec, n_citations, docs)
            if cat is None and query.retained >= RETAINED:
                cat = self._by_howto(query, provider, qvec, n_citations, docs)
            if cat is not None:
                return cat
            why = "The closest passages do not address this subject; a human should check."
            if narrowed:
                why = f'The closest passages speak of this in general, never of "{narrowed}"; the policy does not decide that case, a human should check.'
            return Finding(
                provider,
                UNK,
                float(min(0.95, 0.55 + 0.4 * (1.0 - cov_all) * (1.0 - max(0.0, best.dense)))),
                why,
                self._citations([best], docs, n_citations),
            )

        rivals = [c for c in cands[1:] if c.verdict != best.verdict and not (c.conditional and not c.cond_holds)]
        margin = best.rel - (rivals[0].rel if rivals else 0.0)
        conf = 0.35 + 0.3 * min(1.0, cov_all / 0.8) + 0.2 * min(1.0, margin * 3) + 0.15 * best.strength
        if best.source == "heading":
            conf -= 0.1
        if loose:
            conf = min(conf, 0.5)
        conf = float(max(0.05, min(0.99, conf)))
        reason = self._reason(best)
        support = [best] + [
            c for c in cands[1:] if c.verdict == best.verdict and (c.lex >= 0.5 * best.lex and c.dense >= best.dense - 0.1 or c.rel >= 0.7 * best.rel)
        ]
        return Finding(provider, best.verdict, conf, reason, self._citations(support, docs, n_citations), condition)

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
            if re.search(r"(?:ed|ing)$", word.lower()):
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

    def _by_category(self, query: Query, provider: str, qvec: np.ndarray, n_citations: int, docs: dict[str, dict]) -> Finding | None:
        """An unnamed tool ("Is <tool> supported?"): the policy never names it, but it names
        the category every tool the vendor did not ship falls in — third-party software."""
        pterms = self.keyword.provider_terms.get(provider, set())
        names = [n for n in query.names if not set(tokens(n)) <= pterms]
        if not (names and query.support_intent) or len(names) > 2:
            return None
        sibling_ids = self._category_units(provider)
        if not sibling_ids:
            return None
        kw = self.keyword
        weights = {t: kw.idf(t) ** IDF_POWER for t in query.terms if kw.known(t)}
        cands = [c for c in self._candidates(query, sibling_ids, qvec, self._matcher(weights), sum(weights.values()) or 1.0) if c.verdict != POS]
        if not cands:
            return None

        def heads_category(c: Candidate) -> bool:
            m = _THIRD_PARTY.search(c.unit.text)
            return m is not None and m.start() < 5

        cands.sort(key=lambda c: (not c.conditional or c.cond_holds, heads_category(c), round(c.lex, 2), c.dense), reverse=True)
        best = cands[0]
        others = [c for c in cands[1:] if heads_category(c) and c.unit.block_start != best.unit.block_start and c.verdict == best.verdict]
        condition = next((c.unit.text for c in cands if c.conditional and not c.cond_holds and c.unit.block_start == best.unit.block_start), None)
        name = names[0]
        reason = f'"{name}" is not named in the policy; as third-party software it falls under: "{_clip(self._block_text(best, docs))}" ({best.unit.section}).'
        return Finding(provider, best.verdict, 0.55, reason, self._citations([best] + others[:1], docs, n_citations), condition)

    def _by_howto(self, query: Query, provider: str, qvec: np.ndarray, n_citations: int, docs: dict[str, dict]) -> Finding | None:
        """A how-to question ("how do I write a manifest?"): policies state once, as a category,
        whether usage advice is supported; the question need not share words with it."""
        if HOWTO not in query.all_tokens:
            return None
        ids = self._category_units(provider, _HOWTO_CATEGORY)
        cands = [c for c in self._candidates(query, ids, qvec, self._matcher({HOWTO: 1.0}), 1.0) if c.lex > 0 and not c.conditional]
        if not cands:
            return None
        best = max(cands, key=lambda c: c.dense)
        reason = f'A how-to question; the policy states for those: "{_clip(self._block_text(best, docs))}" ({best.unit.section}).'
        return Finding(provider, best.verdict, 0.55, reason, self._citations([best], docs, n_citations))

    def _block_text(self, c: Candidate, docs: dict[str, dict]) -> str:
        return docs[c.unit.doc_id]["text"][c.unit.block_start : c.unit.block_end]

    def _matcher(self, weights: dict[str, float]):
        """Weighted overlap of query terms with a token set; a query term also matches corpus
        terms it is a prefix of ("auto" ~ "automat", "config" ~ "configur")."""
        expand = {t: self.keyword.expand(t) | {t} for t in weights}

        def match(toks: frozenset[str]) -> float:
            return sum(w for t, w in weights.items() if w and not expand[t].isdisjoint(toks))

        return match

    def _reason(self, c: Candidate) -> str:
        sec = c.unit.section or "the document"
        if c.exception:
            return f'A note in "{sec}" makes an exception that names this: "{_clip(c.unit.text)}"'
        if c.source == "own":
            return f'"{_clip(c.unit.text)}" ({sec}).'
        if c.source == "lead":
            return f'Listed under "{c.governor.text.strip()}" in "{sec}".'
        if c.source == "label":
            return f'Responsibility matrix, "{sec}": {c.unit.label}.'
        return f'In section "{sec}".'

    def _citations(self, cands: list[Candidate], docs: dict[str, dict], n: int) -> tuple[Citation, ...]:
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
            doc_text_block = (u.block_start, u.block_end)
            full = docs[u.doc_id]["text"]
            if doc_text_block[1] - doc_text_block[0] <= 600:
                add(u.doc_id, u.section, u.block_start, u.block_end, full[u.block_start : u.block_end], c.rel)
            else:
                add(u.doc_id, u.section, u.start, u.end, u.text, c.rel)
            if i == 0:
                chunk = self.chunk_by_id.get(u.chunk_id)
                for sp in chunk.spans if chunk is not None else ():
                    if sp.role == "parent":  # a nested bullet reads with the bullet it sits in
                        add(u.doc_id, u.section, sp.start, sp.end, sp.text, c.rel)
                if c.governor is not None:
                    add(u.doc_id, u.section, c.governor.start, c.governor.end, c.governor.text, c.rel)
                if u.qualified is not None and u.role == "note":
                    q = u.qualified
                    add(u.doc_id, u.section, q.start, q.end, q.text, c.rel)
            if len(out) >= n:
                break
        return tuple(out)


def _clip(s: str, n: int = 220) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1].rstrip() + "…"
