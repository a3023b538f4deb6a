"""Evaluation: verdict accuracy, macro-F1, evidence hit@3, unknown precision/recall, latency.

Latency is reported against a floor measured in the same run on the same questions: one
query embedding plus one raw Chroma query. ``answer()`` can't be faster than that, so the
ratio says what the rest of the pipeline costs, independent of the machine.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pydantic import BaseModel, ValidationError

from .errors import InputError
from .types import VERDICTS


class EvalItem(BaseModel):
    id: str
    question: str
    provider: str | None = None
    expected: dict[str, str]
    evidence: dict[str, str] = {}


def load_items(path: Path) -> list[EvalItem]:
    items = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"eval file {path} not found") from None
    except UnicodeDecodeError:
        raise InputError(f"eval file {path} is not UTF-8") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = EvalItem.model_validate_json(line)
        except ValidationError as e:
            raise InputError(f"{path}:{n}: not a valid eval item ({e.errors()[0]['msg']})") from None
        bad = [v for v in item.expected.values() if v not in VERDICTS]
        if bad:
            raise InputError(f"{path}:{n}: unknown verdict {bad[0]!r}")
        items.append(item)
    if not items:
        raise InputError(f"eval file {path} has no items")
    return items


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return 0.0
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def evaluate(bot, items: list[EvalItem], *, progress: Callable[[int], None] | None = None, repeats: int = 1) -> dict:
    tally = _Tally()
    # Step 1: warm up model, index and caches, so the first item is not timed cold.
    bot.answer("warm-up question about support")
    for item in items:
        # Step 2: time the floor and the full answer; Step 3: score the last answer.
        ans = _timed_answer(bot, item, repeats, tally)
        _score(item, ans, tally)
        if progress:
            progress(1)
    # Step 4: the report.
    return _report(items, tally)


@dataclass
class _Tally:
    """What :func:`evaluate` gathers, item by item."""

    pairs: list[tuple] = field(default_factory=list)  # (item id, provider, expected, predicted, confidence)
    hits: list[bool] = field(default_factory=list)  # evidence hit@3 per (item, provider) with evidence
    misses: list[dict] = field(default_factory=list)
    lat_answer: list[float] = field(default_factory=list)
    lat_floor: list[float] = field(default_factory=list)


def _timed_answer(bot, item: EvalItem, repeats: int, tally: _Tally):
    """Answer ``item`` ``repeats`` times, timing each answer and its floor: the two steps
    answer() cannot avoid (one query embedding, one raw Chroma query)."""
    for _ in range(repeats):
        t0 = time.perf_counter()
        q = bot.analyzer.analyze(item.question)
        vec = bot.embedder.embed([q.text])[0]
        bot.index.query(vec, sorted(bot.providers), min(len(bot.index.chunks), 40))
        tally.lat_floor.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ans = bot.answer(item.question, item.provider)
        tally.lat_answer.append(time.perf_counter() - t0)
    return ans


def _score(item: EvalItem, ans, tally: _Tally) -> None:
    """One pair per expected provider; misses for wrong verdicts, missed evidence, extra providers."""
    by_p = {f.provider: f for f in ans.findings}
    for p, exp in item.expected.items():
        f = by_p.get(p)
        pred = f.verdict if f else "(out of scope)"
        tally.pairs.append((item.id, p, exp, pred, f.confidence if f else 0.0))
        ok_ev = None
        if p in item.evidence and exp != "unknown":
            cits = f.citations[:3] if f else ()
            ok_ev = any(item.evidence[p] in c.quote for c in cits)
            tally.hits.append(ok_ev)
        if pred != exp or ok_ev is False:
            tally.misses.append(
                {"id": item.id, "provider": p, "expected": exp, "predicted": pred, "evidence_hit": ok_ev,
                 "question": item.question[:160], "reason": f.reason[:200] if f else ""}
            )
    extra = set(by_p) - set(item.expected)
    for p in extra:
        tally.misses.append({"id": item.id, "provider": p, "expected": "(out of scope)", "predicted": by_p[p].verdict, "evidence_hit": None, "question": item.question[:160], "reason": "answered a provider outside the expected scope"})


def _per_label(pairs: list[tuple]) -> dict[str, dict]:
    f1s = {}
    for label in VERDICTS:
        tp = sum(1 for _, _, e, p, _ in pairs if e == label and p == label)
        fp = sum(1 for _, _, e, p, _ in pairs if e != label and p == label)
        fn = sum(1 for _, _, e, p, _ in pairs if e == label and p != label)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1s[label] = {"precision": prec, "recall": rec, "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0, "support": tp + fn}
    return f1s


def _report(items: list[EvalItem], tally: _Tally) -> dict:
    pairs, hits = tally.pairs, tally.hits
    n = len(pairs)
    correct = sum(1 for _, _, e, p, _ in pairs if e == p)
    f1s = _per_label(pairs)
    present = [l for l in VERDICTS if f1s[l]["support"] > 0]
    p50a, p95a = _pct(tally.lat_answer, 0.5), _pct(tally.lat_answer, 0.95)
    p50f, p95f = _pct(tally.lat_floor, 0.5), _pct(tally.lat_floor, 0.95)
    return {
        "file_items": len(items),
        "pairs": n,
        "verdict_accuracy": correct / n if n else 0.0,
        "macro_f1": statistics.fmean(f1s[l]["f1"] for l in present) if present else 0.0,
        "evidence_hit_at_3": sum(hits) / len(hits) if hits else 0.0,
        "evidence_pairs": len(hits),
        "unknown_precision": f1s["unknown"]["precision"],
        "unknown_recall": f1s["unknown"]["recall"],
        "per_label": f1s,
        "latency_ms": {
            "answer_p50": p50a * 1000, "answer_p95": p95a * 1000,
            "floor_p50": p50f * 1000, "floor_p95": p95f * 1000,
            "ratio_p50": p50a / p50f if p50f else 0.0, "ratio_p95": p95a / p95f if p95f else 0.0,
            "samples": len(tally.lat_answer),
        },
        "misses": tally.misses,
    }


def write_jsonl(path: Path, rows) -> None:
    with Path(path).open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
