#!/usr/bin/env python3
"""Score the engine on the labelled splits (evals/train, validation, test): per split and per
vendor group, verdict accuracy, macro-F1, evidence hit@3, decided precision (of the pairs the bot
commits on, the share right) and the share escalated (`unknown`).

Seed-vendor items are answered from `corpus/` alone (their scope rule is the two seed vendors);
items of the written vendors from `corpus/` plus `evals/vendors/*` (and, for test,
`evals/test/vendors/*`), scoped by their `provider`. Read test only to report.

Usage: .venv/bin/python evals/splits.py [validation ...] [--misses FILE] [--json]
"""
from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot import Bot, Settings  # noqa: E402
from bot.engine.train import corpora, load_split  # noqa: E402

VERDICTS = ("covered", "best-effort", "not-covered", "unknown")


READER = None  # None: the shipped reader (models/reader) when there is one; False: the rules engine alone


def answer_all(items: list[dict], corpus: Path, tmp: Path, embedder) -> list[tuple[dict, dict]]:
    """(item, provider → finding) for every item, from a fresh index of ``corpus``."""
    settings = Settings(corpus_dir=corpus, index_dir=tmp / f"index-{corpus.name}", max_question_chars=1_000_000)
    bot = Bot.open(settings, embedder=embedder, notify=lambda m: None, reader=READER)
    try:
        return [(it, {f.provider: f for f in bot.answer(it["question"], it["provider"]).findings}) for it in items]
    finally:
        bot.close()


def score(rows: list[tuple[dict, str, str, object]]) -> dict:
    """rows: (item, provider, expected, finding or None)."""
    pairs = [(exp, f.verdict if f else "(none)") for _, _, exp, f in rows]
    n = len(pairs)
    decided = [(e, p) for e, p in pairs if p in VERDICTS and p != "unknown"]
    hits = [any(it["evidence"][p] in c.quote for c in (f.citations[:3] if f else ())) for it, p, exp, f in rows if exp != "unknown"]
    f1 = []
    for label in VERDICTS:
        tp = sum(e == label and p == label for e, p in pairs)
        fp = sum(e != label and p == label for e, p in pairs)
        fn = sum(e == label and p != label for e, p in pairs)
        if tp + fn:
            prec, rec = (tp / (tp + fp) if tp + fp else 0.0), tp / (tp + fn)
            f1.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    return {
        "pairs": n,
        "accuracy": sum(e == p for e, p in pairs) / n if n else 0.0,
        "macro_f1": statistics.fmean(f1) if f1 else 0.0,
        "evidence_hit_at_3": sum(hits) / len(hits) if hits else 0.0,
        "decided_precision": sum(e == p for e, p in decided) / len(decided) if decided else 0.0,
        "escalated": sum(p == "unknown" for _, p in pairs) / n if n else 0.0,
        "wrongly_decided": sum(e != p for e, p in decided) / n if n else 0.0,
    }


def run(split: str, embedder, misses: list) -> tuple[dict, object]:
    items = load_split(ROOT / "evals" / split)
    rows = []
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        for group, corpus in corpora(items, ROOT / "corpus", ROOT / "evals", split, tmp):
            for it, found in answer_all(group, corpus, tmp, embedder):
                for p, exp in it["expected"].items():
                    rows.append((it, p, exp, found.get(p)))
    by_vendor = collections.defaultdict(list)
    for r in rows:
        by_vendor[r[1]].append(r)
    for it, p, exp, f in rows:
        got = f.verdict if f else "(none)"
        if got != exp:
            misses.append({"split": split, "id": it["id"], "provider": p, "expected": exp, "predicted": got,
                           "reason": f.reason if f else "", "question": it["question"][:300]})
    return {"all": score(rows), **{p: score(rs) for p, rs in sorted(by_vendor.items())}}, embedder


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("splits", nargs="*", default=["train", "validation"])
    ap.add_argument("--misses", type=Path, help="write every miss here (JSONL)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--rules-only", action="store_true", help="the rules engine alone, without the trained reader")
    ap.add_argument("--reader", type=Path, help="a reader folder other than models/reader (e.g. an ablation)")
    a = ap.parse_args()
    global READER
    from bot.engine.reader import ReaderModel

    READER = False if a.rules_only else ReaderModel.load(a.reader) if a.reader else None
    from bot.engine.embed import get_embedder

    embedder, misses, report = get_embedder("minilm"), [], {}
    for split in a.splits:
        report[split], embedder = run(split, embedder, misses)
    if a.misses:
        a.misses.write_text("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in misses), encoding="utf-8")
    if a.json:
        print(json.dumps(report, indent=1))
        return 0
    cols = ("pairs", "accuracy", "macro_f1", "evidence_hit_at_3", "decided_precision", "escalated", "wrongly_decided")
    print("| split | vendor | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 2) + "|")
    for split, groups in report.items():
        for name, m in groups.items():
            print(f"| {split} | {name} | " + " | ".join(f"{m[c]:.3f}" if isinstance(m[c], float) else str(m[c]) for c in cols) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
