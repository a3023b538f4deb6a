"""bot.evaluate: metric computation (with a scripted fake bot), eval-file loading, a real run."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from bot.engine.errors import InputError
from bot.engine.evaluate import EvalItem, _pct, evaluate, load_items, write_jsonl
from bot.engine.types import Answer, Citation, Finding
from conftest import REPO


def _f(provider, verdict, quote="", conf=0.9):
    cits = (Citation(f"{provider}/d", "T", "S", quote, "u", 0, len(quote), 1.0),) if quote else ()
    return Finding(provider, verdict, conf, "r", cits)


class FakeBot:
    """Just enough of Bot for evaluate(): scripted answers, trivial floor steps."""

    def __init__(self, script: dict[str, list[Finding]]):
        self.script = script
        self.calls: list[tuple[str, str | None]] = []
        self.providers = {"aks": None, "oke": None}
        self.analyzer = SimpleNamespace(analyze=lambda q: SimpleNamespace(text=q))
        self.embedder = SimpleNamespace(embed=lambda texts: np.zeros((len(texts), 4), np.float32))
        self.index = SimpleNamespace(chunks=[object()] * 10, query=lambda vec, providers, n: {"ids": [[]]})

    def answer(self, question, provider=None):
        self.calls.append((question, provider))
        findings = tuple(self.script.get(question, ()))
        return Answer(question, "unknown", True, "", findings)


ITEMS = [
    EvalItem(id="a", question="qa", expected={"aks": "covered", "oke": "not-covered"}, evidence={"aks": "X quote", "oke": "Y quote"}),
    EvalItem(id="b", question="qb", expected={"aks": "unknown", "oke": "unknown"}),
    EvalItem(id="c", question="qc", provider="aks", expected={"aks": "best-effort"}),
]
SCRIPT = {
    "qa": [_f("aks", "covered", "... X quote ..."), _f("oke", "covered", "something else")],  # right+hit, wrong+miss
    "qb": [_f("aks", "unknown"), _f("oke", "not-covered", "Z")],  # right, wrong
    "qc": [_f("aks", "unknown"), _f("oke", "covered", "W")],  # wrong, plus an out-of-scope provider
}


@pytest.fixture
def report():
    bot = FakeBot(SCRIPT)
    rep = evaluate(bot, ITEMS, repeats=2)
    rep["_calls"] = bot.calls
    return rep


def test_accuracy_and_counts(report):
    assert report["file_items"] == 3
    assert report["pairs"] == 5
    assert report["verdict_accuracy"] == pytest.approx(2 / 5)


def test_per_label_precision_recall_f1(report):
    pl = report["per_label"]
    assert pl["covered"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
    assert pl["not-covered"] == pytest.approx({"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1})
    assert pl["unknown"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert pl["best-effort"] == pytest.approx({"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1})
    assert report["macro_f1"] == pytest.approx((2 / 3 + 0 + 0.5 + 0) / 4)
    assert report["unknown_precision"] == pytest.approx(0.5)
    assert report["unknown_recall"] == pytest.approx(0.5)


def test_evidence_hit_at_3(report):
    # only (a, aks) and (a, oke) have evidence for a decided verdict; one quote matches
    assert report["evidence_pairs"] == 2
    assert report["evidence_hit_at_3"] == pytest.approx(0.5)


def test_misses_list_wrong_verdicts_evidence_misses_and_out_of_scope(report):
    got = {(m["id"], m["provider"], m["expected"], m["predicted"]) for m in report["misses"]}
    assert got == {
        ("a", "oke", "not-covered", "covered"),
        ("b", "oke", "unknown", "not-covered"),
        ("c", "aks", "best-effort", "unknown"),
        ("c", "oke", "(out of scope)", "covered"),
    }
    a_oke = next(m for m in report["misses"] if m["id"] == "a")
    assert a_oke["evidence_hit"] is False


def test_latency_is_measured_per_repeat_and_against_a_floor(report):
    lat = report["latency_ms"]
    assert lat["samples"] == 6  # 3 items x 2 repeats
    assert set(lat) >= {"answer_p50", "answer_p95", "floor_p50", "floor_p95", "ratio_p50", "ratio_p95"}
    assert lat["answer_p95"] >= lat["answer_p50"] >= 0 and lat["floor_p50"] >= 0
    # warm-up first, then each item asked with its provider scope
    assert report["_calls"][0] == ("warm-up question about support", None)
    assert ("qc", "aks") in report["_calls"]


def test_missing_finding_counts_as_out_of_scope_prediction():
    bot = FakeBot({"q": [_f("aks", "covered")]})
    rep = evaluate(bot, [EvalItem(id="x", question="q", expected={"aks": "covered", "oke": "unknown"})])
    assert rep["verdict_accuracy"] == 0.5
    assert rep["per_label"]["unknown"]["recall"] == 0.0
    assert any(m["predicted"] == "(out of scope)" for m in rep["misses"])


def test_percentile_interpolates():
    assert _pct([], 0.5) == 0.0
    assert _pct([3.0, 1.0, 2.0], 0.5) == 2.0
    assert _pct([0.0, 10.0], 0.95) == pytest.approx(9.5)


# ------------------------------------------------------------------------------ eval files


def test_load_items_reads_the_repo_dev_set():
    items = load_items(REPO / "evals" / "dev.jsonl")
    assert len(items) > 50
    assert all(set(i.expected.values()) <= {"covered", "best-effort", "not-covered", "unknown"} for i in items)


@pytest.mark.parametrize(
    "content, needle",
    [
        ("", "has no items"),
        ("{not json}\n", ":1: not a valid eval item"),
        ('\n{"id": "x", "question": "q", "expected": {"aks": "maybe"}}\n', ":2: unknown verdict 'maybe'"),
        ('{"id": "x", "expected": {"aks": "covered"}}\n', "not a valid eval item"),
    ],
)
def test_load_items_rejects_bad_files(tmp_path, content, needle):
    f = tmp_path / "e.jsonl"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=needle.replace("(", r"\(")):
        load_items(f)


def test_load_items_missing_and_non_utf8(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_items(tmp_path / "nope.jsonl")
    (tmp_path / "l1.jsonl").write_bytes(b"\xff\xfe")
    with pytest.raises(InputError, match="not UTF-8"):
        load_items(tmp_path / "l1.jsonl")


def test_write_jsonl_round_trips(tmp_path):
    rows = [{"id": 1, "q": "Microsoft’s policy"}, {"id": 2}]
    write_jsonl(tmp_path / "o.jsonl", rows)
    assert [json.loads(x) for x in (tmp_path / "o.jsonl").read_text(encoding="utf-8").splitlines()] == rows


# ------------------------------------------------------------------------------ a real run


def test_evaluate_with_the_hash_bot_on_dev_items(hash_bot):
    items = load_items(REPO / "evals" / "dev.jsonl")[:8]
    rep = evaluate(hash_bot, items)
    assert rep["file_items"] == 8
    assert rep["pairs"] == sum(len(i.expected) for i in items)
    for k in ("verdict_accuracy", "macro_f1", "evidence_hit_at_3", "unknown_precision", "unknown_recall"):
        assert 0.0 <= rep[k] <= 1.0
    assert rep["latency_ms"]["samples"] == 8
    json.dumps(rep)  # the CLI prints it as JSON
