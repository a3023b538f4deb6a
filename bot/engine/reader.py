"""The trained reader: reads every sentence unit of a vendor's policy against the ticket, picks
the passage that decides it (or none) and reads the verdict from it.

Why: hand-tuned rules fit the questions they were tuned on, not the next ones. The reader is a
small network trained on the labelled tickets of ``evals/train`` (:mod:`bot.engine.train`).
Every unit of the vendor is a candidate — so the deciding passage is always among them — and
each is described by features of the pair:

* retrieval: sentence-embedding similarity, keyword (BM25) score, their ranks, subject coverage
  of the unit and of its context (headings, lead-in);
* what the rules engine reads in the unit (its cue's verdict and strength, the polarity it
  inherits from a lead-in, matrix label or heading, its role) and what it decided for the
  vendor (verdict, confidence, whether it cited this unit);
* the ticket: fact request, how-to, support intent, documentation claims, length; and a learned
  low-rank match between the ticket's and the unit's embeddings, plus a learned "kind of ask"
  read from the ticket's embedding (a change of our own, an access request, a symptom …).

The network scores each unit's relevance against a "no passage decides this" option (a softmax
over both, trained listwise) and reads a verdict from each unit. The vendor's score is
P(some passage decides) × P(verdict | best passage); below the threshold calibrated on
``evals/validation`` the finding is ``unknown``. Inference is plain numpy.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .query import Query
from .reasons import reason, undecided_reason
from .text import HOWTO, tokens
from .types import Finding, Unit

VERDICTS = ("covered", "best-effort", "not-covered")
_CUE = {"covered": 0, "best-effort": 1, "not-covered": 2, None: 3}
_ROLE = {"body": 0, "note": 1, "lead": 2, "label": 3}
WEIGHTS_FILE = "reader.npz"
META_FILE = "reader.json"
UNIT_FEATURES = (
    "dense", "dense_rank_inv", "keyword", "keyword_rank_inv", "coverage", "coverage_with_context",
    "rule_cited", "rule_cite_rank_inv",
    "own_cue_covered", "own_cue_best_effort", "own_cue_not_covered", "own_cue_shared", "own_cue_strength",
    "inherited_covered", "inherited_best_effort", "inherited_not_covered", "inherited_shared", "inherited_strength",
    "role_body", "role_note", "role_lead", "role_label", "governed", "length",
    "dense_gap", "coverage_gap",
)
QUERY_FEATURES = (
    "rule_confidence", "rule_covered", "rule_best_effort", "rule_not_covered", "rule_unknown",
    "fact_request", "support_intent", "how_to", "asserts_docs", "negates_docs", "length", "retained", "names_a_tool",
    "changed_ourselves", "access_request", "questions", "no_question",
)
RULE_UNIT = slice(6, 8)  # unit features that come from the rules engine's finding
RULE_QUERY = slice(0, 5)  # query features that come from the rules engine's finding


# -- features -------------------------------------------------------------------------------


class UnitTable:
    """What the reader knows of each unit before any question: the rules engine's reading of
    it, its tokens and its context's tokens, its chunk. Built once per Bot (a few ms)."""

    def __init__(self, judge, index, keyword):
        self.judge = judge  # reads a unit's deciding words for the reason (Judge.grounds)
        self.units: list[Unit] = index.units
        self.vecs: np.ndarray = index.unit_vecs
        self.keyword = keyword
        ids: dict[str, list[int]] = {}
        for i, u in enumerate(self.units):
            ids.setdefault(u.provider, []).append(i)
        self.by_provider = {p: np.asarray(v, dtype=np.int64) for p, v in ids.items()}
        chunk_pos = {c.id: i for i, c in enumerate(keyword.chunks)}
        self.unit_chunk = np.asarray([chunk_pos[u.chunk_id] for u in self.units], dtype=np.int64)
        self.static = np.stack([_static_row(judge, u) for u in self.units]) if self.units else np.zeros((0, 16), np.float32)
        self.toks = keyword.unit_tokens  # frozenset(tokens(u.text)) per unit, computed once by the keyword index
        self.ctx = [judge.context_tokens(u) | t for u, t in zip(self.units, self.toks)]


def _static_row(judge, u: Unit) -> np.ndarray:
    """own cue (4 + strength), inherited cue (4 + strength), role (4), governed, length."""
    row = np.zeros(16, np.float32)
    cue = judge.readers[u.provider].cue(u.text)
    if cue is not None:
        row[_CUE[cue.verdict]], row[4] = 1, cue.strength
    inherited, _, _ = judge.inherited(u)
    if inherited is not None:
        row[5 + _CUE[inherited.verdict]], row[9] = 1, inherited.strength
    row[10 + _ROLE.get(u.role, 0)] = 1
    row[14] = 1.0 if u.governors else 0.0
    row[15] = min(1.0, len(u.text) / 400)
    return row


@dataclass(frozen=True)
class Candidates:
    """One vendor's units for one ticket: ids, unit features, unit vectors, query features."""

    ids: np.ndarray
    x: np.ndarray  # (n, len(UNIT_FEATURES))
    u: np.ndarray  # (n, dim) unit embeddings
    q: np.ndarray  # (dim,) ticket embedding
    z: np.ndarray  # (len(QUERY_FEATURES),)
    dense_rank: np.ndarray
    keyword_rank: np.ndarray


# The kind of ask that flips a passage's polarity: a change the customer made ("we patched it
# ourselves") is judged by the passage on customer changes, not by the one naming the thing as
# vendor-managed; a request for access to or a copy of something by the passage on access.
_OURSELVES = re.compile(r"(?i)\b(?:ourselves|our own|myself|by hand|manually|we(?: have| had|'ve)? (?:modified|edited|changed|patched|"
                        r"replaced|deleted|removed|tweaked|customi[sz]ed|disabled|rewrote|swapped|forked|altered|overrode|overwrote|"
                        r"bumped|upgraded|downgraded))\b")
_ACCESS = re.compile(r"(?i)\b(?:access to|cop(?:y|ies) of|give (?:us|me)|grant (?:us|me)|send (?:us|me)|provide (?:us|me)|"
                     r"export (?:of|the|our)|download (?:the|a|our)|root access|ssh (?:in)?to|shell access|credentials)\b")


def ask_flags(text: str) -> list[float]:
    """A change of our own, an access request, how many questions, none (a bare symptom)."""
    n = text.count("?")
    return [bool(_OURSELVES.search(text)), bool(_ACCESS.search(text)), math.log1p(n) / 2, n == 0]


def query_features(query: Query, finding: Finding | None) -> np.ndarray:
    rule = np.zeros(5, np.float32)
    if finding is not None:
        rule[0] = finding.confidence
        rule[1 + ("covered", "best-effort", "not-covered", "unknown").index(finding.verdict)] = 1
    flags = [query.info_request, query.support_intent, HOWTO in query.all_tokens, query.asserts_docs,
             query.negates_docs, math.log1p(len(query.text.split())) / 6, query.retained, bool(query.names), *ask_flags(query.text)]
    return np.concatenate([rule, np.asarray(flags, np.float32)])


def candidates(table: UnitTable, query: Query, qvec: np.ndarray, kw: np.ndarray, provider: str,
               finding: Finding | None, idf_power: float = 2.0) -> Candidates:
    """Step 1 of reading: every unit of ``provider`` with its features (see the module doc)."""
    ids = table.by_provider.get(provider, np.zeros(0, np.int64))
    U = table.vecs[ids]
    dense = U @ qvec
    kwn = kw[table.unit_chunk[ids]] if len(ids) else np.zeros(0, np.float32)
    top = float(kwn.max()) if kwn.size and kwn.max() > 0 else 1.0
    drank, krank = _ranks(dense), _ranks(kwn)
    cover = _coverage(table, query, idf_power)
    cited = {(c.start, c.end): r for r, c in enumerate(finding.citations)} if finding is not None else {}
    x = np.zeros((len(ids), len(UNIT_FEATURES)), np.float32)
    for k, ui in enumerate(ids):
        u = table.units[ui]
        cite = min([r for (s, e), r in cited.items() if s <= u.start and u.end <= e] or [-1]) if cited else -1
        x[k, :8] = (dense[k], 1 / (1 + drank[k]), kwn[k] / top, 1 / (1 + krank[k]), cover(table.toks[ui]),
                    cover(table.ctx[ui]), float(cite >= 0), 1 / (1 + cite) if cite >= 0 else 0.0)
        x[k, 8:24] = table.static[ui]
    x[:, 24:] = gaps(x)
    return Candidates(ids, x, U.astype(np.float32), qvec.astype(np.float32), query_features(query, finding), drank, krank)


def gaps(x: np.ndarray) -> np.ndarray:
    """How far each unit's similarity and subject coverage fall short of the vendor's best:
    the same raw score means a near miss in one document and the best match in another."""
    if not len(x):
        return np.zeros((0, 2), np.float32)
    return np.stack([x[:, 0] - x[:, 0].max(), x[:, 4] - x[:, 4].max()], 1)


def _ranks(scores: np.ndarray) -> np.ndarray:
    out = np.empty(len(scores))
    out[np.argsort(-scores, kind="stable")] = np.arange(len(scores))
    return out


def _coverage(table: UnitTable, query: Query, idf_power: float):
    """Share of the question's subject weight (idf^power) that a token set covers."""
    kw = table.keyword
    weights = {t: (kw.idf(t) ** idf_power if kw.known(t) else 0.0) for t in query.terms}
    total = sum(weights.values()) or 1.0
    expand = {t: kw.expand(t) | {t} for t in weights}

    def cover(toks: frozenset[str]) -> float:
        return sum(w for t, w in weights.items() if w and not expand[t].isdisjoint(toks)) / total

    return cover


# -- the model ------------------------------------------------------------------------------

ARRAYS = ("x_mu", "x_sd", "z_mu", "z_sd", "w_ask", "b_ask", "w_proj", "w1", "b1", "w_rel", "b_rel", "w_ver", "b_ver", "w_n1", "b_n1", "w_n2", "b_n2")


@dataclass(frozen=True)
class ReaderModel:
    """The trained weights (numpy), the abstention threshold and the card of how it was made.

    ``others``: further members of a seed ensemble (same layers, other seeds); :func:`read`
    averages the members' probabilities, which evens out the seed-to-seed noise of one model."""

    arrays: dict[str, np.ndarray]
    threshold: float
    meta: dict = field(default_factory=dict)
    others: tuple[dict[str, np.ndarray], ...] = ()

    @property
    def rule_features(self) -> bool:
        return bool(self.meta.get("rule_features", True))

    @property
    def members(self) -> tuple[dict[str, np.ndarray], ...]:
        return (self.arrays, *self.others)

    def forward(self, c: Candidates, arrays: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray, float]:
        """(relevance per unit, verdict logits per unit, the no-passage logit) of one member
        (the first unless ``arrays`` names another)."""
        a = self.arrays if arrays is None else arrays
        x, z = c.x, c.z
        if not self.rule_features:
            x, z = x.copy(), z.copy()
            x[:, RULE_UNIT], z[RULE_QUERY] = 0, 0
        x = (x - a["x_mu"]) / a["x_sd"]
        z = (z - a["z_mu"]) / a["z_sd"]
        ask = np.tanh(c.q @ a["w_ask"] + a["b_ask"])
        match = (c.q @ a["w_proj"])[None, :] * (c.u @ a["w_proj"])
        ticket = np.concatenate([ask, z])
        h = np.maximum(0.0, np.concatenate([x, match, np.broadcast_to(ticket, (len(x), len(ticket)))], 1) @ a["w1"] + a["b1"])
        n = np.maximum(0.0, np.concatenate([z, ask]) @ a["w_n1"] + a["b_n1"]) @ a["w_n2"] + a["b_n2"]
        return (h @ a["w_rel"] + a["b_rel"]).ravel(), h @ a["w_ver"] + a["b_ver"], float(np.ravel(n)[0])

    def save(self, folder: Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {(f"m{i}.{k}" if i else k): m[k].astype(np.float32) for i, m in enumerate(self.members) for k in ARRAYS}
        np.savez_compressed(folder / WEIGHTS_FILE, **arrays)
        meta = {**self.meta, "threshold": self.threshold, "members": len(self.members)}
        (folder / META_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "ReaderModel":
        folder = Path(folder)
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        n = int(meta.pop("members", 1))
        with np.load(folder / WEIGHTS_FILE) as z:
            members = [{k: z[f"m{i}.{k}" if i else k].astype(np.float32) for k in ARRAYS} for i in range(n)]
        return cls(members[0], float(meta.pop("threshold")), meta, tuple(members[1:]))


def _softmax(v: np.ndarray) -> np.ndarray:
    """Along the last axis."""
    e = np.exp(v - v.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@dataclass(frozen=True)
class Reading:
    """The reader's decision for one vendor, with what the explain trace shows."""

    verdict: str  # covered | best-effort | not-covered | unknown
    score: float  # P(a passage decides) × P(verdict | best passage)
    decides: float  # P(a passage decides)
    order: np.ndarray  # candidate positions, most relevant first
    relevance: np.ndarray  # P(this unit is the deciding passage), per candidate
    verdicts: np.ndarray  # P(verdict | unit), per candidate (n, 3)
    cands: Candidates
    threshold: float


def read(model: ReaderModel, cands: Candidates) -> Reading:
    """Step 2: the best passage against "none decides"; its verdict, or unknown below the
    threshold. An ensemble's members vote by their averaged probabilities."""
    if len(cands.ids) == 0:
        empty = np.zeros(0)
        return Reading("unknown", 0.0, 0.0, empty.astype(np.int64), empty, np.zeros((0, 3)), cands, model.threshold)
    p, pv = np.zeros(len(cands.ids) + 1), np.zeros((len(cands.ids), 3))
    for a in model.members:
        rel, ver, null = model.forward(cands, a)
        p += _softmax(np.concatenate([[null], rel]))
        pv += _softmax(ver)
    p, pv = p / len(model.members), pv / len(model.members)
    best = int(np.argmax(p[1:]))
    k = int(np.argmax(pv[best]))
    decides = float(1.0 - p[0])
    score = decides * float(pv[best, k])
    verdict = VERDICTS[k] if score >= model.threshold else "unknown"
    return Reading(verdict, score, decides, np.argsort(-p[1:], kind="stable"), p[1:], pv, cands, model.threshold)


# -- the finding ----------------------------------------------------------------------------


def unit_quote(table: UnitTable, docs: dict[str, dict], ui: int) -> tuple[int, int, str]:
    """What is cited for a unit: its whole passage when short, else the sentence itself."""
    u = table.units[ui]
    if u.block_end - u.block_start <= 600:
        return u.block_start, u.block_end, docs[u.doc_id]["text"][u.block_start : u.block_end]
    return u.start, u.end, u.text


def finding(reading: Reading, rule: Finding, table: UnitTable, docs: dict[str, dict], n_citations: int) -> Finding:
    """Step 3: the vendor's Finding from the reading — the deciding passage's words as the
    reason, the passages that support the verdict as citations, how it was decided as trace."""
    trace = (f"reader:{'decided' if reading.verdict != 'unknown' else 'abstained'}", f"reader:score={reading.score:.3f}",
             f"reader:threshold={reading.threshold:.2f}", f"rules:{rule.verdict}")
    if len(reading.order) == 0:
        return Finding(rule.provider, "unknown", 0.9, "The policy has no passage to read for this vendor.", (), None, trace)
    best = int(reading.order[0])
    u = table.units[reading.cands.ids[best]]
    if reading.verdict == "unknown":
        why = undecided_reason(u.section)  # the scores against the threshold are in the trace and --explain
        return Finding(rule.provider, "unknown", round(1.0 - reading.score, 6), why, _cite(reading, [best], table, docs, 1), None, trace)
    v = VERDICTS.index(reading.verdict)
    support = [int(k) for k in reading.order[:8] if int(np.argmax(reading.verdicts[k])) == v][:n_citations] or [best]
    condition = rule.condition if rule.verdict == reading.verdict else None
    why = reason(table.judge.grounds(u, reading.verdict, condition))
    return Finding(rule.provider, reading.verdict, reading.score, why, _cite(reading, support, table, docs, n_citations), condition, trace)


def _cite(reading: Reading, positions: list[int], table: UnitTable, docs: dict[str, dict], n: int):
    from .types import Citation

    out, seen = [], []
    for k in positions:
        ui = int(reading.cands.ids[k])
        u = table.units[ui]
        start, end, quote = unit_quote(table, docs, ui)
        if any(s <= start and end <= e for s, e in seen):
            continue
        seen.append((start, end))
        meta = docs[u.doc_id]
        out.append(Citation(u.doc_id, meta["title"], u.section, quote, meta["url"], start, end, float(reading.relevance[k])))
        if len(out) >= n:
            break
    return tuple(out)
