"""Faults with real parts: `kill -9` of a real `triage index` mid-build, damaged index folders
opened by the real commands, a full file system (a real tmpfs mount), SIGTERM to a real
`triage serve` with a request in flight.

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
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from bot.engine.embed import HashEmbedder
from bot.engine.errors import IndexCorruptError, IndexWriteError
from bot.engine.index import Index, _build_lock, build_index
from helpers import tmpfs
from conftest import NKE_POLICY, PYTHON, REPO, TRIAGE, clean_env, copy_corpus, run_triage

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


# ------------------------------------------------------------------------------ kill -9 mid-build

# `triage index` exactly as installed, except that writing records.jsonl (after the new build's
# Chroma collections are written) announces itself and stalls: the kill lands mid-build, always.
STALLED_INDEX = """
import sys, time
import bot.engine.index
def stall(*a, **k):
    print("STALLED", flush=True)
    time.sleep(600)
bot.engine.index._write_records = stall
from bot.apps.cli import main
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


# ------------------------------------------------------------------------------ SIGTERM to triage serve


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(tmp_path: Path, **env):
    """`triage serve` (hash embedder) on a free loopback port with a prebuilt index; ready."""
    corpus = tmp_path / "corpus"
    if not corpus.exists():
        copy_corpus(corpus)
        build_index(corpus, tmp_path / "index", HashEmbedder())
    port = _free_port()
    e = _env(corpus, tmp_path / "index", BOT_DATA_DIR=tmp_path / "data", BOT_LOG_FORMAT="text", **env)
    proc = subprocess.Popen([str(TRIAGE), "serve", "--port", str(port)], env=e, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[0]
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            pytest.fail("triage serve was not ready in 60 s")
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def _slow_classify(url: str, n: int, out: list) -> threading.Thread:
    """POST /v1/classify with ``n`` tickets in a thread; appends (status or error, when) to ``out``."""
    tickets = [{"id": i, "text": f"Is Istio supported on our node pools, case {i}? We also run a service mesh."} for i in range(n)]

    def go():
        try:
            r = httpx.post(url + "/v1/classify", json={"tickets": tickets}, timeout=120)
            got = (r.status_code, len(r.json()["answers"]) if r.status_code == 200 else r.text[:200])
        except httpx.HTTPError as e:
            got = (type(e).__name__, str(e))
        out.append((got, time.monotonic()))

    t = threading.Thread(target=go)
    t.start()
    return t


def _sigterm_during_requests(tmp_path, tickets: int, requests: int = 1, **env):
    """Start ``requests`` classify requests, SIGTERM the server while they run; returns
    (results, when SIGTERM was sent, when the process had exited, exit code)."""
    with served(tmp_path, **env) as (proc, url):
        out: list = []
        threads = [_slow_classify(url, tickets, out) for _ in range(requests)]
        time.sleep(0.7)  # the requests are sent and being answered
        assert not out
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(httpx.ConnectError):  # no new connections once shutting down
            httpx.get(url + "/healthz", timeout=2)
        for t in threads:
            t.join(120)
        rc = proc.wait(60)
        exited = time.monotonic()
    return out, sent, exited, rc


def test_sigterm_lets_the_request_in_flight_finish_then_exits_0(tmp_path):
    out, sent, _exited, rc = _sigterm_during_requests(tmp_path, 600)
    [(result, at)] = out
    assert result == (200, 600)
    assert at > sent  # it was in flight when the signal came, and it got its whole answer
    assert rc == 0


def test_sigterm_waits_no_longer_than_the_grace(tmp_path):
    """BOT_SHUTDOWN_GRACE_SECONDS=1 and two requests that need several seconds more: the
    server exits, with 0, about a second after SIGTERM instead of waiting for them; they are
    cut off with an error status, not left hanging."""
    out, sent, exited, rc = _sigterm_during_requests(tmp_path, 1000, requests=2, BOT_SHUTDOWN_GRACE_SECONDS="1")
    assert rc == 0
    assert exited - sent < 1 + 2.5
    assert len(out) == 2 and all(result[0] != 200 for result, _ in out)


def test_a_request_cut_off_at_shutdown_gets_the_json_error_shape(tmp_path):
    """A classify request surely in flight (written whole on a raw socket) when SIGTERM comes,
    with a 1 s grace: it is answered 503 `shutting_down` in the API's error shape, not with
    uvicorn's plain-text 500."""
    tickets = [{"id": i, "text": f"Is Istio supported on our node pools, case {i}? We also run a service mesh."} for i in range(1000)]
    body = json.dumps({"tickets": tickets}).encode()
    with served(tmp_path, BOT_SHUTDOWN_GRACE_SECONDS="1") as (proc, url):
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            reply = b""
            with contextlib.suppress(OSError):
                while chunk := s.recv(65536):
                    reply += chunk
        assert proc.wait(30) == 0
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503") and b"content-type: application/json" in head.lower(), reply[:300]
    err = json.loads(payload)["error"]
    assert err["code"] == "shutting_down" and err["request_id"]
