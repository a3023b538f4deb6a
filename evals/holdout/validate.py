#!/usr/bin/env python3
"""Validate the hold-out eval files.

Checks, per record: JSON parses; required keys; unique ids; question length
1..1500 chars; verdicts in the allowed set; the scope rule (provider field if
set, else vendors named in the question, else every known provider); evidence
present exactly for in-scope providers whose verdict is not "unknown"; each
evidence string is 25-90 chars and occurs verbatim within a single line of
that provider's source document.

Usage: python3 validate.py            (validates tickets.jsonl and vendor/questions.jsonl)
"""
import collections
import glob
import json
import os
import re
import sys
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = str(Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "seeds")
VERDICTS = {"covered", "best-effort", "not-covered", "unknown"}
NAMES = {
    "oke": re.compile(r"\b(oracle|oke|oci)\b", re.I),
    "aks": re.compile(r"\b(microsoft|azure|aks)\b", re.I),
}


def doc_lines(path):
    text = open(path, encoding="utf-8").read()
    if text.startswith("---\n"):  # drop YAML front matter
        end = text.index("\n---\n", 4)
        text = text[end + 5:]
    return text.splitlines()


def load_sources():
    src = {
        "oke": doc_lines(os.path.join(SEEDS, "000_72ca83ec85a36c95.txt")),
        "aks": doc_lines(os.path.join(SEEDS, "004_a820f3de1921e1bd.txt")),
    }
    for path in glob.glob(os.path.join(HERE, "vendor", "*", "*.txt")):
        head = open(path, encoding="utf-8").read().split("\n---\n", 1)[0]
        m = re.search(r"^provider:\s*(\S+)", head, re.M)
        if m:
            src[m.group(1)] = doc_lines(path)
    return src


def expected_scope(rec, all_providers, name_rx):
    if rec["provider"] is not None:
        return {rec["provider"]}
    named = {p for p, rx in name_rx.items() if rx.search(rec["question"])}
    return named or set(all_providers)


def validate(path, src, all_providers, name_rx, fixed_provider=None):
    errors, ids = [], set()
    dist = collections.Counter()
    per_ticket = collections.Counter()
    n = 0
    with open(path, encoding="utf-8") as f:
        for ln, line in enumerate(f, 1):
            where = f"{os.path.basename(path)}:{ln}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                errors.append(f"{where}: JSON error {e}")
                continue
            n += 1
            if set(rec) != {"id", "question", "provider", "expected", "evidence"}:
                errors.append(f"{where}: keys {sorted(rec)}")
                continue
            rid = rec["id"]
            if rid in ids:
                errors.append(f"{where}: duplicate id {rid}")
            ids.add(rid)
            q = rec["question"]
            if not isinstance(q, str) or not (1 <= len(q) <= 1500):
                errors.append(f"{where}: question length {len(q)}")
            if rec["provider"] is not None and rec["provider"] not in src:
                errors.append(f"{where}: unknown provider {rec['provider']}")
            if fixed_provider and rec["provider"] != fixed_provider:
                errors.append(f"{where}: provider must be {fixed_provider}")
            scope = expected_scope(rec, all_providers, name_rx)
            if set(rec["expected"]) != scope:
                errors.append(f"{where}: expected keys {sorted(rec['expected'])} != scope {sorted(scope)}")
            for prov, verdict in rec["expected"].items():
                if verdict not in VERDICTS:
                    errors.append(f"{where}: bad verdict {verdict}")
                dist[(prov, verdict)] += 1
            want_ev = {p for p, v in rec["expected"].items() if v != "unknown"}
            if set(rec["evidence"]) != want_ev:
                errors.append(f"{where}: evidence keys {sorted(rec['evidence'])} != {sorted(want_ev)}")
            for prov, ev in rec["evidence"].items():
                if prov not in src:
                    errors.append(f"{where}: no source for {prov}")
                    continue
                if not (25 <= len(ev) <= 90):
                    errors.append(f"{where}: evidence for {prov} is {len(ev)} chars")
                if not any(ev in l for l in src[prov]):
                    errors.append(f"{where}: evidence for {prov} not found in one line: {ev!r}")
            verdicts = set(rec["expected"].values())
            per_ticket["all-unknown" if verdicts == {"unknown"} else "decided"] += 1
    return n, errors, dist, per_ticket


def report(title, n, errors, dist, per_ticket):
    print(f"== {title}: {n} records, {len(errors)} errors")
    for e in errors:
        print("  ERROR", e)
    provs = sorted({p for p, _ in dist})
    for p in provs:
        row = {v: dist[(p, v)] for v in ["covered", "best-effort", "not-covered", "unknown"]}
        print(f"  {p}: " + ", ".join(f"{k}={v}" for k, v in row.items()) + f"  (in scope {sum(row.values())})")
    print("  tickets:", dict(per_ticket))


def main():
    src = load_sources()
    ok = True
    t = os.path.join(HERE, "tickets.jsonl")
    if os.path.exists(t):
        r = validate(t, src, ["oke", "aks"], NAMES)
        report("tickets.jsonl", *r)
        ok &= not r[1]
    q = os.path.join(HERE, "vendor", "questions.jsonl")
    if os.path.exists(q):
        extra = sorted(set(src) - {"oke", "aks"})
        if len(extra) != 1:
            print("expected exactly one vendor document under vendor/*/, found", extra)
            ok = False
        else:
            prov = extra[0]
            # questions are scoped by the provider field; the seed vendors must not be named
            r = validate(q, src, [prov], NAMES, fixed_provider=prov)
            report("vendor/questions.jsonl", *r)
            ok &= not r[1]
            with open(q, encoding="utf-8") as f:
                for line in f:
                    rec = json.loads(line)
                    for p, rx in NAMES.items():
                        if rx.search(rec["question"]):
                            print(f"  ERROR {rec['id']}: names seed vendor {p}")
                            ok = False
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
