#!/usr/bin/env python3
"""Validate the blind evaluation files.

Checks, for every JSONL file:
  - each line parses as a JSON object with exactly the keys
    id, question, provider, expected, evidence;
  - ids are unique (across all files);
  - provider is null or a known provider id;
  - scope rule: if "provider" is set, scope = {provider}; otherwise scope =
    providers named in the question (Oracle/OKE/OCI -> oke,
    Microsoft/Azure/AKS -> aks, whole words, case-insensitive), or both
    oke and aks when none is named; "expected" must cover exactly the scope;
  - verdicts are one of covered / best-effort / not-covered / unknown;
  - "evidence" has exactly the in-scope providers whose verdict is not unknown;
  - each evidence string is 25-90 characters and occurs verbatim within a single
    line of that provider's source document.

Usage: python3 validate.py [--quiet]    (exit status 1 on any error)
"""
import collections
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEEDS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "seeds"
SOURCES = {
    "oke": SEEDS / "000_72ca83ec85a36c95.txt",
    "aks": SEEDS / "004_a820f3de1921e1bd.txt",
    "ccs": HERE / "vendor" / "ccs" / "support-policy.md",
}
FILES = [HERE / "tickets.jsonl", HERE / "vendor" / "questions.jsonl"]
VERDICTS = {"covered", "best-effort", "not-covered", "unknown"}
KEYS = {"id", "question", "provider", "expected", "evidence"}
NAME_PATTERNS = {
    "oke": re.compile(r"\b(oracle|oke|oci)\b", re.I),
    "aks": re.compile(r"\b(microsoft|azure|aks)\b", re.I),
}
DEFAULT_SCOPE = {"oke", "aks"}


def scope_of(row):
    if row.get("provider"):
        return {row["provider"]}
    named = {p for p, rx in NAME_PATTERNS.items() if rx.search(row["question"])}
    return named or set(DEFAULT_SCOPE)


def size_class(text):
    n = len(text)
    return "short(<150)" if n < 150 else "medium(150-399)" if n < 400 else "long(400+)"


def main():
    quiet = "--quiet" in sys.argv
    lines_of = {p: path.read_text(encoding="utf-8").splitlines() for p, path in SOURCES.items()}
    errors = []
    seen_ids = set()

    for path in FILES:
        rows = []
        for ln, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{path.relative_to(HERE)}:{ln}"
            if not raw.strip():
                errors.append(f"{where}: blank line")
                continue
            try:
                row = json.loads(raw)
            except json.JSONDecodeError as exc:
                errors.append(f"{where}: invalid JSON ({exc})")
                continue
            if not isinstance(row, dict) or set(row) != KEYS:
                errors.append(f"{where}: keys must be exactly {sorted(KEYS)}")
                continue
            rid = row["id"]
            where = f"{where} [{rid}]"
            if not isinstance(rid, str) or not rid:
                errors.append(f"{where}: bad id")
            elif rid in seen_ids:
                errors.append(f"{where}: duplicate id")
            seen_ids.add(rid)
            if not isinstance(row["question"], str) or not row["question"].strip():
                errors.append(f"{where}: empty question")
                continue
            prov = row["provider"]
            if prov is not None and prov not in SOURCES:
                errors.append(f"{where}: unknown provider {prov!r}")
                continue
            exp, ev = row["expected"], row["evidence"]
            if not isinstance(exp, dict) or not isinstance(ev, dict):
                errors.append(f"{where}: expected/evidence must be objects")
                continue
            scope = scope_of(row)
            if set(exp) != scope:
                errors.append(f"{where}: expected covers {sorted(exp)}, scope is {sorted(scope)}")
            for p, v in exp.items():
                if v not in VERDICTS:
                    errors.append(f"{where}: invalid verdict {v!r} for {p}")
            need_ev = {p for p in scope if exp.get(p) not in (None, "unknown")}
            if set(ev) != need_ev:
                errors.append(f"{where}: evidence for {sorted(ev)}, expected exactly {sorted(need_ev)}")
            for p, s in ev.items():
                if p not in lines_of:
                    errors.append(f"{where}: evidence for unknown provider {p!r}")
                    continue
                if not isinstance(s, str) or not 25 <= len(s) <= 90:
                    errors.append(f"{where}: evidence for {p} must be a 25-90 char string (got {len(s) if isinstance(s, str) else type(s).__name__})")
                    continue
                if not any(s in line for line in lines_of[p]):
                    errors.append(f"{where}: evidence for {p} not found within one line of {SOURCES[p].name}: {s!r}")
            rows.append(row)

        if not quiet:
            report(path, rows)

    ccs_lines = len(SOURCES["ccs"].read_text(encoding="utf-8").splitlines())
    print(f"\nccs policy: {SOURCES['ccs'].relative_to(HERE)} has {ccs_lines} lines"
          f"{'' if 70 <= ccs_lines <= 110 else '  <-- outside 70-110'}")
    if errors:
        print(f"\n{len(errors)} ERROR(S):")
        for e in errors:
            print("  " + e)
        return 1
    print(f"\nOK: {len(seen_ids)} rows in {len(FILES)} files, no errors")
    return 0


def report(path, rows):
    print(f"== {path.relative_to(HERE)}: {len(rows)} rows")
    print("  length:", dict(collections.Counter(size_class(r["question"]) for r in rows)))
    print("  provider field:", dict(collections.Counter(str(r["provider"]) for r in rows)))
    print("  scope:", dict(collections.Counter("+".join(sorted(scope_of(r))) for r in rows)))
    per = collections.defaultdict(collections.Counter)
    for r in rows:
        for p, v in r["expected"].items():
            per[p][v] += 1
    for p in sorted(per):
        print(f"  verdicts[{p}]:", dict(sorted(per[p].items())))
    all_unknown = sum(all(v == "unknown" for v in r["expected"].values()) for r in rows)
    differ = sum(len(set(r["expected"].values())) > 1 for r in rows)
    print(f"  all-unknown rows: {all_unknown}; rows where in-scope providers differ: {differ}")


if __name__ == "__main__":
    sys.exit(main())
