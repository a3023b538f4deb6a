"""Faults with real parts: `kill -9` of a real `triage index` mid-build, damaged index folders
opened by the real commands, a full file system (a real tmpfs mount).

All use the hash embedder: none of this depends on the model (the model's side of a reload is
checked in test_reload.py). Mount-based tests need CAP_SYS_ADMIN (root in a container) and are
skipped, saying so, without it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from bot.embed import HashEmbedder
from bot.errors import IndexCorruptError, IndexWriteError
from bot.index import Index, _build_lock, build_index
from conftest import NKE_POLICY, PYTHON, REPO, clean_env, copy_corpus, run_triage

MESHLY = "Does Northwind support third-party service meshes such as Meshly?"


def _builds(index_dir: Path) -> list[str]:
    return sorted(p.name for p in (index_dir / "builds").iterdir())


def _current(index_dir: Path) -> str:
    return (index_dir / "CURRENT").read_text().strip()


def _env(corpus: Path, index: Path, **more) -> dict[str, str]:
    return clean_env(BOT_EMBEDDER="hash", BOT_CORPUS_DIR=corpus, BOT_INDEX_DIR=index, **more)


def _triage_json(args, env) -> dict:
    p = run_triage([*args, "--json"], env, cwd=REPO, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@contextlib.contextmanager
def tmpfs(path: Path, size: str, *, read_only: bool = False):
    """A real tmpfs of ``size`` at ``path`` (optionally read-only), unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if read_only else "")
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({p.stderr.strip() or p.returncode}); needs CAP_SYS_ADMIN")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


# ------------------------------------------------------------------------------ kill -9 mid-build

# `triage index` exactly as installed, except that writing records.jsonl (after the new build's
# Chroma collections are written) announces itself and stalls: the kill lands mid-build, always.
STALLED_INDEX = """
import sys, time
import bot.index
def stall(*a, **k):
    print("STALLED", flush=True)
    time.sleep(600)
bot.index._write_records = stall
from bot.cli import main
sys.argv = ["triage", "index"]
main()
"""


def test_kill_9_mid_build_leaves_the_old_build_serving_and_the_next_build_cleans_up(tmp_path):
    v1 = copy_corpus(tmp_path / "v1")
    v2 = copy_corpus(tmp_path / "v2")
    (v2 / "nke").mkdir()
    (v2 / "nke" / "support-policy.md").write_text(NKE_POLICY, encoding="utf-8")
    idx = tmp_path / "index"
    old = _triage_json(["index"], _env(v1, idx))["build_id"]

    proc = subprocess.Popen([str(PYTHON), "-c", STALLED_INDEX], env=_env(v2, idx), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "STALLED", proc.stderr.read()
        half = [b for b in _builds(idx) if b != old]
        assert len(half) == 1 and (idx / "builds" / half[0] / "chroma" / "chroma.sqlite3").exists()
        assert (idx / ".lock").read_text() == str(proc.pid)  # the builder holds the lock
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        proc.kill()
        proc.communicate()

    # the old build still serves: Index.open, `triage ask` (corpus v1, no auto-build)
    assert _current(idx) == old and Index.open(idx).build_id == old
    ans = _triage_json(["ask", "Is Istio supported?"], _env(v1, idx, BOT_AUTO_INDEX="false"))
    assert {f["provider"]: f["verdict"] for f in ans["findings"]} == {"aks": "not-covered", "oke": "not-covered"}

    # the dead builder's lock (its pid is still in the file) does not block the next build
    assert (idx / ".lock").read_text() == str(proc.pid)
    t0 = time.monotonic()
    report = _triage_json(["index"], _env(v2, idx))
    assert time.monotonic() - t0 < 30
    new = report["build_id"]
    assert report["changed"] and new not in (old, half[0])
    assert _builds(idx) == sorted([old, new])  # the half build is gone, the previous one kept
    assert (idx / ".lock").read_text() == ""
    ans = _triage_json(["ask", MESHLY], _env(v2, idx, BOT_AUTO_INDEX="false"))
    assert [f["provider"] for f in ans["findings"]] == ["nke"]


def test_a_running_build_is_named_to_a_second_builder(tmp_path):
    idx = tmp_path / "index"
    holding, release = threading.Event(), threading.Event()

    def hold():
        with _build_lock(idx):
            holding.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert holding.wait(10)
        with pytest.raises(IndexCorruptError, match=rf"another `triage index` \(pid {os.getpid()}\) is building") as ei:
            with _build_lock(idx, wait=False):
                pass
        assert ei.value.hint == "wait for it to finish"
    finally:
        release.set()
        t.join()


# ------------------------------------------------------------------------------ damaged index folders


def _cut_records_mid_line(build: Path) -> None:
    p = build / "records.jsonl"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _drop_last_records(build: Path) -> None:
    p = build / "records.jsonl"
    lines = p.read_text(encoding="utf-8").splitlines(keepends=True)
    p.write_text("".join(lines[:-10]), encoding="utf-8")


def _truncate_sqlite(build: Path) -> None:
    with open(build / "chroma" / "chroma.sqlite3", "r+b") as f:
        f.truncate(8192)


DAMAGE = {
    "records cut mid-line": (_cut_records_mid_line, "unreadable"),
    "records missing their last lines": (_drop_last_records, "records say"),
    "chroma database deleted": (lambda b: (b / "chroma" / "chroma.sqlite3").unlink(), "unreadable"),
    "chroma database truncated": (_truncate_sqlite, "malformed"),
    "chroma folder deleted": (lambda b: shutil.rmtree(b / "chroma"), "unreadable"),
    "manifest deleted": (lambda b: (b / "manifest.json").unlink(), "manifest.json"),
    "build folder deleted (CURRENT names a missing build)": (shutil.rmtree, "unreadable"),
    "CURRENT is text garbage": (lambda b: (b.parents[1] / "CURRENT").write_text("not a build id!\n"), "does not name a build"),
    "CURRENT is binary garbage": (lambda b: (b.parents[1] / "CURRENT").write_bytes(b"\x00\xff\xfe\x80" * 8), "does not name a build"),
    "CURRENT points outside builds/": (lambda b: (b.parents[1] / "CURRENT").write_text("../../etc\n"), "does not name a build"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_index_is_a_clear_error_and_a_plain_build_repairs_it(hash_index, damage):
    idx = hash_index.index_dir
    harm, says = DAMAGE[damage]
    harm(idx / "builds" / _current(idx))
    with pytest.raises(IndexCorruptError) as ei:
        Index.open(idx)
    e = ei.value
    assert says in e.message and e.hint == "run `triage index` to rebuild it" and e.exit_code == 4
    r = build_index(hash_index.corpus_dir, idx, hash_index.embedder)  # what `triage index` does, no --force
    assert r.changed
    index = Index.open(idx)
    assert index.build_id == r.build_id == _current(idx) and len(index.chunks) == r.chunks
    assert _builds(idx) in ([r.build_id], sorted([r.build_id, hash_index.report.build_id]))


@pytest.mark.parametrize("damage", ["records cut mid-line", "CURRENT is binary garbage"])
def test_the_commands_say_what_is_wrong_and_triage_index_repairs_it(hash_index, damage):
    idx = hash_index.index_dir
    DAMAGE[damage][0](idx / "builds" / _current(idx))
    env = _env(hash_index.corpus_dir, idx, BOT_AUTO_INDEX="false")
    p = run_triage(["ask", "Is Istio supported?"], env, cwd=REPO, timeout=60)
    assert p.returncode == 4, p.stderr
    [line] = p.stderr.strip().splitlines()  # one line, no traceback
    assert line.startswith("error: ") and "triage index" in line and "Traceback" not in p.stderr
    fixed = run_triage(["index"], env, cwd=REPO, timeout=60)
    assert fixed.returncode == 0, fixed.stderr
    assert _triage_json(["ask", "Is Istio supported?"], env)["verdict"] == "not-covered"


# ------------------------------------------------------------------------------ a full disk


def test_a_full_disk_mid_build_keeps_the_previous_build_and_leaves_no_half_build(tmp_path, corpus_dir):
    """A real 4 MB tmpfs: the first build (~2.4 MB) fits, a second one does not."""
    with tmpfs(tmp_path / "small", "4m") as mnt:
        idx = mnt / "index"
        emb = HashEmbedder()
        first = build_index(corpus_dir, idx, emb)
        with pytest.raises(IndexWriteError) as ei:
            build_index(corpus_dir, idx, emb, force=True)
        e = ei.value
        assert "disk is full" in e.message and str(idx) in e.message
        assert "previous build is still in use" in e.hint and "triage index" in e.hint and e.exit_code == 4
        assert _current(idx) == first.build_id and _builds(idx) == [first.build_id]
        assert not list(idx.glob("CURRENT.*.tmp"))
        assert len(Index.open(idx).chunks) == first.chunks
