#!/usr/bin/env python3
"""Validate the labelled splits (evals/train, evals/validation, evals/test) against SPEC.md.

Checks every item's keys, ids (unique across splits), provider and scope rule, verdicts, that
every decided verdict has evidence occurring verbatim within one line of that vendor's
document, that a group sits in one split only, and that the test-only vendors appear in no
other split. Prints one line per problem and a count table; exit status 1 on any error.

Usage: python3 evals/validate.py [--quiet]
"""
from __future__ import annotations

import collections
import json
import re
import sys
from pathlib import Path

EVALS = Path(__file__).resolve().parent
ROOT = EVALS.parent
SPLITS = ("train", "validation", "test")
VERDICTS = {"covered", "best-effort", "not-covered", "unknown"}
KEYS = {"id", "question", "provider", "expected", "evidence", "kind", "ask", "group"}
KINDS = {"short", "long", "log-paste", "yaml-paste", "typos", "symptom-only", "changed-ourselves",
         "access-request", "how-to", "fact-request", "multi-question", "other-vendor-product",
         "greeting-signature", "out-of-scope", "follow-up-thread"}
SEED_NAMES = {"oke": re.compile(r"\b(oracle|oke|oci)\b", re.I), "aks": re.compile(r"\b(microsoft|azure|aks)\b", re.I)}
PREFIX = {"train": "tr-", "validation": "va-", "test": "te-"}


def front_matter_provider(path: Path) -> str | None:
    m = re.match(r"---\n(.*?)\n---\n", path.read_text(encoding="utf-8"), re.S)
    if not m:
        return None
    p = re.search(r"^provider:\s*(\S+)", m.group(1), re.M)
    return p.group(1).strip("'\"") if p else None


def documents() -> tuple[dict[str, list[str]], set[str]]:
    """provider id -> the document's lines; and the ids of the test-only vendors."""
    docs: dict[str, list[str]] = {}
    test_only: set[str] = set()
    folders = [(ROOT / "corpus", False), (EVALS / "vendors", False), (EVALS / "test" / "vendors", True)]
    for folder, only_test in folders:
        for f in sorted(folder.glob("*/*")) if folder.exists() else []:
            if f.suffix not in (".md", ".txt") or not f.is_file():
                continue
            pid = front_matter_provider(f)
            if pid:
                docs.setdefault(pid, []).extend(f.read_text(encoding="utf-8").splitlines())
                if only_test:
                    test_only.add(pid)
    return docs, test_only


def check_item(item: dict, split: str, docs: dict[str, list[str]], test_only: set[str]) -> list[str]:
    errs = []
    if set(item) != KEYS:
        return [f"keys {sorted(item)} != {sorted(KEYS)}"]
    if not str(item["id"]).startswith(PREFIX[split]):
        errs.append(f"id should start with {PREFIX[split]}")
    prov = item["provider"]
    if prov is not None and prov not in docs:
        errs.append(f"unknown provider {prov!r}")
    if prov in test_only and split != "test":
        errs.append(f"test-only vendor {prov!r} outside test/")
    if prov is not None:
        scope = {prov}
    else:
        scope = {p for p, rx in SEED_NAMES.items() if rx.search(item["question"])} or set(SEED_NAMES)
    if set(item["expected"]) != scope:
        errs.append(f"expected covers {sorted(item['expected'])}, scope rule says {sorted(scope)}")
    for p, v in item["expected"].items():
        if v not in VERDICTS:
            errs.append(f"{p}: unknown verdict {v!r}")
    decided = {p for p, v in item["expected"].items() if v != "unknown"}
    if set(item["evidence"]) != decided:
        errs.append(f"evidence for {sorted(item['evidence'])}, decided verdicts for {sorted(decided)}")
    for p, quote in item["evidence"].items():
        if not 25 <= len(quote) <= 90:
            errs.append(f"{p}: evidence is {len(quote)} characters (25-90)")
        elif p in docs and not any(quote in line for line in docs[p]):
            errs.append(f"{p}: evidence not verbatim in one line of the document: {quote!r}")
    bad_kinds = [k for k in item["kind"] if k not in KINDS] if isinstance(item["kind"], list) else ["(not a list)"]
    if bad_kinds or not item["kind"]:
        errs.append(f"kind must be a non-empty list of known tags; bad: {bad_kinds}")
    if not str(item["question"]).strip() or not str(item["ask"]).strip() or not str(item["group"]).strip():
        errs.append("question, ask and group must be non-empty")
    return errs


def main() -> int:
    quiet = "--quiet" in sys.argv
    docs, test_only = documents()
    errors = 0
    ids: set[str] = set()
    group_split: dict[str, str] = {}
    counts = collections.Counter()
    for split in SPLITS:
        for f in sorted((EVALS / split).glob("*.jsonl")):
            for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                where = f"{f.relative_to(ROOT)}:{n}"
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as e:
                    print(f"{where}: not JSON ({e.msg})"); errors += 1; continue
                errs = check_item(item, split, docs, test_only)
                if item.get("id") in ids:
                    errs.append(f"duplicate id {item.get('id')!r}")
                ids.add(item.get("id"))
                g = item.get("group")
                if g in group_split and group_split[g] != split:
                    errs.append(f"group {g!r} is also in {group_split[g]}")
                group_split.setdefault(g, split)
                for e in errs:
                    print(f"{where}: {e}")
                errors += len(errs)
                for p, v in (item.get("expected") or {}).items():
                    counts[(split, p, v)] += 1
    if not quiet:
        provs = sorted({p for _, p, _ in counts})
        for split in SPLITS:
            total = sum(c for (s, _, _), c in counts.items() if s == split)
            row = ", ".join(f"{p}={sum(c for (s, q, _), c in counts.items() if s == split and q == p)}" for p in provs)
            by_v = ", ".join(f"{v}={sum(c for (s, _, w), c in counts.items() if s == split and w == v)}" for v in sorted(VERDICTS))
            print(f"{split}: {total} pairs ({row}) [{by_v}]")
    print(f"{errors} error(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
