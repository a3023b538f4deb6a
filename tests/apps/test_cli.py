"""The `triage` console script, run as a subprocess against temp corpus/index dirs.

BOT_EMBEDDER=hash keeps these fast; one slow test runs `ask` with the real model.
"""

from __future__ import annotations

import json
import shutil

import pytest

from bot.engine.embed import HashEmbedder
from bot.engine.index import build_index
from conftest import TRIAGE, clean_env, copy_corpus, run_triage, source_text

ANSWER_KEYS = {"question", "verdict", "escalate", "answer", "findings"}
FINDING_KEYS = {"provider", "verdict", "confidence", "escalate", "reason", "citations"}
CITATION_KEYS = {"doc", "title", "section", "quote", "url", "start", "end", "score", "link"}


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    """A corpus copy with a prebuilt hash index, and the env pointing the CLI at it."""
    root = tmp_path_factory.mktemp("cli")
    corpus = copy_corpus(root / "corpus")
    build_index(corpus, root / "index", HashEmbedder())
    env = clean_env(BOT_INDEX_DIR=root / "index", BOT_CORPUS_DIR=corpus, BOT_EMBEDDER="hash")
    return {"root": root, "corpus": corpus, "index": root / "index", "env": env}


def test_console_script_is_installed():
    assert TRIAGE.is_file()


def test_ask_json_prints_the_answer_shape(cli):
    r = run_triage(["ask", "Is Istio supported?", "--json"], cli["env"], cwd=cli["root"])
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert set(d) == ANSWER_KEYS
    assert d["question"] == "Is Istio supported?" and d["verdict"] == "not-covered"
    assert d["escalate"] is False and isinstance(d["answer"], str)
    assert [f["provider"] for f in d["findings"]] == ["aks", "oke"]
    for f in d["findings"]:
        assert set(f) == FINDING_KEYS and f["verdict"] == "not-covered"
        assert f["citations"]
        for c in f["citations"]:
            assert set(c) == CITATION_KEYS
            path = {"aks/support-policies": "aks/support-policies.md", "oke/support-shared-responsibilities": "oke/support-shared-responsibilities.md"}[c["doc"]]
            assert source_text(cli["corpus"], path)[c["start"] : c["end"]] == c["quote"]


def test_ask_provider_option_and_stdin(cli):
    r = run_triage(["ask", "-", "--provider", "oke", "--json"], cli["env"], cwd=cli["root"], input="Is Helm supported?\n")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert [f["provider"] for f in d["findings"]] == ["oke"]


def test_ask_human_report(cli):
    r = run_triage(["ask", "Is Helm supported?"], cli["env"], cwd=cli["root"])
    assert r.returncode == 0, r.stderr
    assert "BEST EFFORT" in r.stdout and "NOT COVERED" in r.stdout and "MIXED" in r.stdout


def test_ask_report_is_for_people_no_offsets_section_links_and_one_needs_a_human(cli):
    """Every finding escalates (BOT_ESCALATE_BELOW=1): each badge asks to check, without
    the verdict's own label, and "needs a human" is said once; offsets stay in --json."""
    env = {**cli["env"], "BOT_ESCALATE_BELOW": "1", "COLUMNS": "200"}
    r = run_triage(["ask", "Is Helm supported?"], env, cwd=cli["root"])
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "BEST EFFORT ONLY? — CHECK" in out and "NOT COVERED? — CHECK" in out
    assert out.count("? — CHECK") == 2 and "MIXED" not in out  # no plain verdict badge, no overall verdict
    assert out.lower().count("needs a human") == 1 and "Microsoft and Oracle" in out
    assert "chars " not in out and "–" not in out.replace("—", "")  # no "chars 7350–7357"
    assert "https://learn.microsoft.com/en-us/azure/aks/support-policies#" in out  # the aks doc declares github anchors
    d = json.loads(run_triage(["ask", "Is Helm supported?", "--json"], env, cwd=cli["root"]).stdout)
    assert all(f["escalate"] for f in d["findings"]) and all("start" in c for f in d["findings"] for c in f["citations"])


def test_ask_too_long_question_gets_plain_words_and_the_cli_advice(cli):
    env = {**cli["env"], "BOT_MAX_QUESTION_CHARS": "40"}
    r = run_triage(["ask", "Is Helm supported? " * 5], env, cwd=cli["root"])
    assert r.returncode == 2
    [line] = _error_lines(r.stderr)
    assert line == ("error: the question is 95 characters; the limit is 40 "
                    "(please ask the question itself, in a sentence or two; for a whole ticket, use `triage classify`)")


def test_ask_empty_question_fails_with_one_line_error(cli):
    r = run_triage(["ask", ""], cli["env"], cwd=cli["root"])
    assert r.returncode != 0 and r.returncode == 2
    assert r.stdout == ""
    lines = _error_lines(r.stderr)
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error:") and "question is empty" in lines[0]
    assert "Traceback" not in r.stderr


def test_ask_error_with_json_prints_a_json_error(cli):
    r = run_triage(["ask", "   ", "--json"], cli["env"], cwd=cli["root"])
    assert r.returncode == 2
    assert json.loads(r.stdout)["error"]["code"] == "bad_input"


def test_ask_unknown_provider_fails(cli):
    r = run_triage(["ask", "Is Istio supported?", "--provider", "gke"], cli["env"], cwd=cli["root"])
    assert r.returncode == 2 and "unknown provider" in r.stderr


def test_index_json_up_to_date(cli):
    r = run_triage(["index", "--json"], cli["env"], cwd=cli["root"])
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert {"build_id", "changed", "chunks", "units", "embedded", "reused", "message"} <= set(d)
    assert d["embedded"] == 0 and d["changed"] is False and "up to date" in d["message"]


def test_index_json_builds_into_the_dirs_given_as_options(cli, tmp_path):
    corpus = copy_corpus(tmp_path / "c")
    env = clean_env(BOT_EMBEDDER="hash", BOT_INDEX_DIR=tmp_path / "unused", BOT_CORPUS_DIR=tmp_path / "unused")
    r = run_triage(["index", "--json", "--index", tmp_path / "idx", "--corpus", corpus], env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["changed"] is True and d["embedded"] > 0 and d["chunks"] > 100
    assert (tmp_path / "idx" / "CURRENT").read_text().strip() == d["build_id"]
    assert not (tmp_path / "unused").exists()


def test_providers_json(cli):
    r = run_triage(["providers", "--json"], cli["env"], cwd=cli["root"])
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert [p["id"] for p in d["providers"]] == ["aks", "oke"]
    oke = d["providers"][1]
    assert oke["vendor"] == "Oracle"
    assert oke["documents"][0]["url"].startswith("https://docs.oracle.com/")
    assert d["chunks"] > 100 and d["model_id"] == "hash-bow-384"


EVAL_ITEMS = [
    {"id": "t-1", "question": "Is Istio supported?", "provider": None, "expected": {"aks": "not-covered", "oke": "not-covered"},
     "evidence": {"aks": "These projects might include Istio, Helm, Envoy, or others.", "oke": "These projects might include Istio, Helm, Envoy, and others."}},
    {"id": "t-2", "question": "Is Helm supported?", "provider": "aks", "expected": {"aks": "best-effort"},
     "evidence": {"aks": "Microsoft can provide best-effort support for third-party open-source projects such as Helm and Kured."}},
    {"id": "t-3", "question": "What's the price of a node?", "provider": None, "expected": {"aks": "unknown", "oke": "unknown"}, "evidence": {}},
]


def test_eval_json_reports_the_metrics(cli, tmp_path):
    f = tmp_path / "small.jsonl"
    f.write_text("".join(json.dumps(i) + "\n" for i in EVAL_ITEMS), encoding="utf-8")
    r = run_triage(["eval", f, "--json"], cli["env"], cwd=cli["root"])
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    for key in ("verdict_accuracy", "macro_f1", "evidence_hit_at_3", "unknown_precision", "unknown_recall", "latency_ms"):
        assert key in d, key
    assert d["file_items"] == 3 and d["pairs"] == 5 and d["evidence_pairs"] == 3
    assert all(0.0 <= d[k] <= 1.0 for k in ("verdict_accuracy", "macro_f1", "evidence_hit_at_3", "unknown_precision", "unknown_recall"))
    assert d["latency_ms"]["samples"] == 3 and d["latency_ms"]["answer_p50"] > 0
    assert d["verdict_accuracy"] == 1.0 and d["evidence_hit_at_3"] == 1.0  # the hash bot gets these three right


def test_eval_writes_the_trace_of_every_miss(cli, tmp_path):
    f = tmp_path / "small.jsonl"
    wrong = [{**i, "expected": {p: ("covered" if v != "covered" else "not-covered") for p, v in i["expected"].items()}} for i in EVAL_ITEMS]
    f.write_text("".join(json.dumps(i) + "\n" for i in wrong), encoding="utf-8")
    out = tmp_path / "traces.jsonl"
    r = run_triage(["eval", f, "--json", "--traces", out], cli["env"], cwd=cli["root"])
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [row["id"] for row in rows] == [i["id"] for i in wrong]
    for row in rows:
        assert row["explain"]["ask"]["text"] and row["explain"]["vendors"] and row["got"]


def test_eval_bad_file_fails_cleanly(cli, tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"id": "x", "question": "q", "expected": {"aks": "maybe"}}\n')
    r = run_triage(["eval", f, "--json"], cli["env"], cwd=cli["root"])
    assert r.returncode == 2 and "unknown verdict" in r.stderr and "Traceback" not in r.stderr


def test_classify_writes_one_line_per_input_line(cli, tmp_path):
    lines = [
        json.dumps({"id": "a", "question": "Is Istio supported?"}),
        json.dumps({"id": "b", "question": "Is Helm supported?", "provider": "aks"}),
        '{"id": "broken", "question": ',
        json.dumps({"id": "c", "question": ""}),
        json.dumps({"id": "d", "question": "Is Istio supported?", "provider": "gke"}),
        json.dumps({"id": "e", "text": "What's the price of a node?"}),
    ]
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = run_triage(["classify", inp, "--out", out, "--json"], cli["env"], cwd=cli["root"])
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(lines) == summary["rows"]
    assert summary["errors"] == 3
    broken = [x for x in rows if x.get("id") is None]
    assert len(broken) == 1 and "line 3" in broken[0]["error"]
    by_id = {x["id"]: x for x in rows if x.get("id")}
    assert set(by_id) == {"a", "b", "c", "d", "e"}
    assert "empty" in by_id["c"]["error"] and "unknown provider" in by_id["d"]["error"]
    # the full Answer JSON plus the triage fields of the batch issue (route, verdict_<provider>, …)
    assert by_id["a"]["verdict"] == "not-covered" and ANSWER_KEYS | {"id"} <= set(by_id["a"])
    assert by_id["a"]["route"] == "customer-responsibility" and by_id["a"]["error"] is None
    assert [f["provider"] for f in by_id["b"]["findings"]] == ["aks"]
    assert by_id["e"]["verdict"] == "unknown"


def _bad_corpus(tmp_path):
    corpus = copy_corpus(tmp_path / "corpus")
    (corpus / "aks" / "legacy-notes.md").write_bytes(b"---\nprovider: aks\n---\n\xff\xfe caf\xe9\n")
    return corpus


def test_index_with_non_utf8_file_fails_without_writing_a_build(tmp_path):
    corpus = _bad_corpus(tmp_path)
    env = clean_env(BOT_EMBEDDER="hash", BOT_CORPUS_DIR=corpus, BOT_INDEX_DIR=tmp_path / "index")
    r = run_triage(["index"], env, cwd=tmp_path)
    assert r.returncode == 3
    assert "aks/legacy-notes.md" in r.stderr and "UTF-8" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "index" / "CURRENT").exists()
    assert not (tmp_path / "index" / "builds").exists()

    # with an existing index: the current build stays current, no new build dir appears
    good = copy_corpus(tmp_path / "good")
    build_index(good, tmp_path / "index2", HashEmbedder())
    cur = (tmp_path / "index2" / "CURRENT").read_text()
    builds = sorted(p.name for p in (tmp_path / "index2" / "builds").iterdir())
    r = run_triage(["index", "--json", "--index", tmp_path / "index2"], env, cwd=tmp_path)
    assert r.returncode == 3
    assert json.loads(r.stdout)["error"]["code"] == "corpus_error"
    assert (tmp_path / "index2" / "CURRENT").read_text() == cur
    assert sorted(p.name for p in (tmp_path / "index2" / "builds").iterdir()) == builds


def test_index_with_non_utf8_file_error_is_one_line(tmp_path):
    corpus = _bad_corpus(tmp_path)
    env = clean_env(BOT_EMBEDDER="hash", BOT_CORPUS_DIR=corpus, BOT_INDEX_DIR=tmp_path / "index")
    r = run_triage(["index"], env, cwd=tmp_path)
    assert r.returncode == 3
    lines = _error_lines(r.stderr)
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error:") and "aks/legacy-notes.md" in lines[0] and "triage index" in lines[0]


def test_ask_builds_a_missing_index_on_first_use(tmp_path):
    corpus = copy_corpus(tmp_path / "corpus")
    env = clean_env(BOT_EMBEDDER="hash", BOT_CORPUS_DIR=corpus, BOT_INDEX_DIR=tmp_path / "index")
    r = run_triage(["ask", "Is Istio supported?", "--json"], env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["verdict"] == "not-covered"
    assert "No index" in r.stderr
    assert (tmp_path / "index" / "CURRENT").exists()


def test_corrupt_index_exits_with_index_error(cli, tmp_path):
    idx = tmp_path / "index"
    shutil.copytree(cli["index"], idx)
    bid = (idx / "CURRENT").read_text().strip()
    (idx / "builds" / bid / "records.jsonl").write_text("garbage\n")
    env = {**cli["env"], "BOT_INDEX_DIR": str(idx)}
    r = run_triage(["providers"], env, cwd=tmp_path)
    assert r.returncode == 4
    assert "triage index" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_ask_with_the_real_model(real_env):
    env = clean_env(BOT_INDEX_DIR=real_env.index_dir, BOT_CORPUS_DIR=real_env.corpus_dir, BOT_EMBEDDER="minilm")
    r = run_triage(["ask", "Is Istio supported?", "--json"], env, cwd=real_env.index_dir.parent)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert set(d) == ANSWER_KEYS
    assert {f["provider"]: f["verdict"] for f in d["findings"]} == {"aks": "not-covered", "oke": "not-covered"}
    assert "No index" not in r.stderr and "stale" not in r.stderr  # reused the session's index as is


# ------------------------------------------------------------------------------ help, stdin, start-up


def _help(*cmd: str) -> str:
    r = run_triage([*cmd, "--help"], clean_env(COLUMNS="200"), cwd=TRIAGE.parent)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_help_shows_env_hints_defaults_and_flags_without_a_value():
    ask = _help("ask")
    assert "[env: BOT_INDEX_DIR]" in ask and "[env: BOT_CORPUS_DIR]" in ask  # not swallowed as rich markup
    for flag in ("--json", "--explain", "--help"):
        line = next(x for x in ask.splitlines() if f" {flag} " in x)
        assert "<bool>" not in line, line  # a flag takes no value
    classify = _help("classify")
    assert "[default: id]" in classify and "[default: provider]" in classify
    assert "<bool>" not in classify and "<bool>" not in _help()
    r = run_triage(["ask", "Is Istio supported?", "--json", "true"], clean_env(), cwd=TRIAGE.parent)
    assert r.returncode == 2 and "true" in r.stderr  # as the help says: --json alone


def test_a_long_ticket_on_stdin_goes_through_the_ticket_path(cli):
    ticket = "Hi team,\n\nIs Istio supported on our clusters?\n\n" + "kubectl logs: pod restarted after probe failure\n" * 1200
    env = {**cli["env"], "BOT_MAX_TICKET_CHARS": "20000"}
    r = run_triage(["ask", "-", "--json"], env, cwd=cli["root"], input=ticket)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert len(ticket) > 50_000 and len(d["question"]) == 20_000  # trimmed at the ticket limit, not refused at 4,000
    assert d["note"] == f"ticket text trimmed from {len(ticket):,} to 20,000 characters"
    r = run_triage(["ask", "-"], env, cwd=cli["root"], input=ticket)
    assert r.returncode == 0 and "note: ticket text trimmed" in r.stderr
    r = run_triage(["ask", ticket[:5000]], env, cwd=cli["root"])  # a question argument keeps the question limit
    assert r.returncode == 2 and "the limit is 4,000" in r.stderr


def _imported(args: list[str], env: dict, cwd) -> set[str]:
    """Top-level packages a `triage` run imports (python -X importtime)."""
    import subprocess

    from conftest import PYTHON

    r = subprocess.run([str(PYTHON), "-X", "importtime", "-m", "bot", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    return {line.split("|")[-1].strip().split(".")[0] for line in r.stderr.splitlines() if line.startswith("import time:")}


def test_providers_loads_no_model_and_no_vector_store(cli):
    env = {**cli["env"], "PYTHONPATH": str(TRIAGE.parents[2])}
    mods = _imported(["providers", "--json"], env, cli["root"])
    assert not mods & {"torch", "sentence_transformers", "transformers", "onnxruntime", "chromadb", "bm25s", "scipy"}, mods


@pytest.mark.slow
def test_ask_with_the_real_model_never_imports_torch(real_env):
    env = clean_env(BOT_INDEX_DIR=real_env.index_dir, BOT_CORPUS_DIR=real_env.corpus_dir, BOT_EMBEDDER="minilm", PYTHONPATH=TRIAGE.parents[2])
    mods = _imported(["ask", "Is Istio supported?", "--json"], env, real_env.index_dir.parent)
    assert "onnxruntime" in mods and not mods & {"torch", "sentence_transformers", "transformers"}, mods


@pytest.mark.parametrize("var, value, says", [("BOT_VECTOR_STORE", "faiss", "'auto', 'chroma' or 'exact'"), ("BOT_TOP_K", "many", "valid integer")])
def test_a_bad_setting_is_one_line_naming_its_variable(cli, var, value, says):
    for args in (["ask", "Is Istio supported?"], ["providers"]):
        r = run_triage(args, {**cli["env"], var: value}, cwd=cli["root"])
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        [line] = r.stderr.strip().splitlines()
        assert line.startswith(f"error: ") and f"({var})" in line and says in line and value not in line


def test_one_shot_ask_searches_the_builds_vectors_without_chroma_and_answers_as_chroma_does(cli):
    """`triage ask` opens no Chroma client (BOT_VECTOR_STORE auto → exact: ~1.1 s less to
    start); asked to use Chroma, it gives the same answer."""
    env = {**cli["env"], "PYTHONPATH": str(TRIAGE.parents[2])}
    mods = _imported(["ask", "Is Istio supported?", "--json"], env, cli["root"])
    assert "chromadb" not in mods and "numpy" in mods, mods
    q = ["ask", "can we ssh into the worker nodes?", "--json"]
    exact = json.loads(run_triage(q, env, cwd=cli["root"]).stdout)
    chroma = json.loads(run_triage(q, {**env, "BOT_VECTOR_STORE": "chroma"}, cwd=cli["root"]).stdout)
    assert exact == chroma


# ------------------------------------------------------------------------------ folders that cannot be written


def test_an_index_folder_that_cannot_be_written_is_one_line(cli, tmp_path):
    from helpers import read_only

    with read_only(tmp_path / "ro") as ro:
        r = run_triage(["index", "--index", ro / "index"], cli["env"], cwd=tmp_path)
    assert r.returncode == 4, r.stderr
    lines = _error_lines(r.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: cannot write to the index folder"), r.stderr
    assert "--index or BOT_INDEX_DIR" in lines[0] and "Traceback" not in r.stderr


def test_an_intact_index_on_a_read_only_folder_answers(cli, tmp_path):
    from helpers import read_only

    shutil.copytree(cli["index"], tmp_path / "ro" / "index")
    with read_only(tmp_path / "ro") as ro:
        env = {**cli["env"], "BOT_INDEX_DIR": str(ro / "index")}
        r = run_triage(["ask", "Is Istio supported?", "--json"], env, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["verdict"] == "not-covered" and "unreadable" not in r.stderr
        r = run_triage(["ask", "Is Istio supported?", "--json"], {**env, "BOT_VECTOR_STORE": "chroma"}, cwd=tmp_path)
        assert r.returncode == 0 and json.loads(r.stdout)["verdict"] == "not-covered", r.stderr  # Chroma, as the server opens it
        assert run_triage(["providers", "--json"], env, cwd=tmp_path).returncode == 0
        # a stale one cannot be refreshed there: one line saying both
        corpus = copy_corpus(tmp_path / "c")
        (corpus / "aks" / "support-policies.md").open("a").write("\nOne more line.\n")
        r = run_triage(["ask", "Is Istio supported?"], {**env, "BOT_CORPUS_DIR": str(corpus)}, cwd=tmp_path)
        assert r.returncode == 4 and "Traceback" not in r.stderr
        assert _error_lines(r.stderr)[-1].startswith("error: index is stale (changed: aks/support-policies.md) and cannot be refreshed")
