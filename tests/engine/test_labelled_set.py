"""The labelled splits keep to evals/SPEC.md: every decided verdict's evidence occurs verbatim in
one line of its vendor's document, ids are unique, a paraphrase group sits in one split, the
test-only vendor appears nowhere else (evals/validate.py, run as CI runs it)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_labelled_item_passes_the_validator():
    r = subprocess.run([sys.executable, str(ROOT / "evals" / "validate.py"), "--quiet"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert r.stdout.strip().endswith("0 error(s)")


def test_the_splits_are_at_least_as_large_as_the_issue_asks():
    counts = {s: sum(1 for f in (ROOT / "evals" / s).glob("*.jsonl") for line in f.read_text(encoding="utf-8").splitlines() if line.strip())
              for s in ("train", "validation", "test")}
    assert counts["train"] >= 1500 and counts["validation"] >= 250 and counts["test"] >= 300, counts
