"""bot.runtime.reload.BotHolder: a new index build swapped in while the service answers.

Real parts: real index builds (in this process and by the `triage index` command in a
subprocess), real Chroma clients, real threads holding a request open across the swap. The
mechanics use the hash embedder; the new-vendor check also runs with the real model.
"""

from __future__ import annotations

import gc
import logging
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.engine.errors import BotError, IndexStaleError, ReloadError
from bot.engine.index import Index, build_index
from bot.runtime.reload import BotHolder
from bot.engine.service import Bot
from conftest import NKE_POLICY, clean_env, copy_corpus, run_triage, silent, REPO

MESHLY = "Does Northwind support third-party service meshes such as Meshly?"


def _builds(index_dir):
    return sorted(p.name for p in (index_dir / "builds").iterdir())


def _add_nke(corpus_dir):
    (corpus_dir / "nke").mkdir()
    (corpus_dir / "nke" / "support-policy.md").write_text(NKE_POLICY, encoding="utf-8")


def _holder(env):
    return BotHolder.of(Bot.open(env.settings(auto_index=False), embedder=env.embedder, notify=silent))


def _chroma_paths():
    from chromadb.api.shared_system_client import SharedSystemClient

    return set(SharedSystemClient._identifier_to_system)


def test_reload_without_a_new_build_changes_nothing(hash_index):
    holder = _holder(hash_index)
    bot = holder.bot
    r = holder.reload()
    assert r["changed"] is False and r["old_build"] == r["new_build"] == bot.index.build_id
    assert r["seconds"] >= 0 and holder.bot is bot
    # a build of an unchanged corpus is "up to date": no new build, nothing to reload
    build_index(hash_index.corpus_dir, hash_index.index_dir, hash_index.embedder)
    assert holder.reload()["changed"] is False and holder.bot is bot


def _hold_retrieval(bot):
    """Make ``bot``'s requests wait inside retrieval until released (no reference kept here)."""
    entered, release = threading.Event(), threading.Event()
    real_retrieve = bot.retriever.retrieve

    def held(*a, **k):
        entered.set()
        assert release.wait(30)
        return real_retrieve(*a, **k)

    bot.retriever.retrieve = held
    return entered, release


def test_a_request_in_flight_finishes_on_the_old_build_while_reload_swaps(hash_index):
    """A request holds the old Bot inside retrieval while two new builds land and are swapped
    in. The old build is neither current nor previous by then, yet it is not collected while
    in use: the request finishes with the old answer, the next one gets the new corpus."""
    holder = _holder(hash_index)
    old_build = holder.bot.index.build_id
    entered, release = _hold_retrieval(holder.bot)  # only the old Bot's requests wait

    def request():
        bot = holder.bot  # what a front end does once per request
        return bot.answer("Is Istio supported?")

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(request)
        assert entered.wait(10)
        _add_nke(hash_index.corpus_dir)
        r1 = build_index(hash_index.corpus_dir, hash_index.index_dir, hash_index.embedder)
        swap = holder.reload()
        assert swap == {**swap, "old_build": old_build, "new_build": r1.build_id, "changed": True}
        r2 = build_index(hash_index.corpus_dir, hash_index.index_dir, hash_index.embedder, force=True)
        assert holder.reload()["new_build"] == r2.build_id
        assert old_build in _builds(hash_index.index_dir)  # in use: kept
        assert not pending.done()
        assert set(holder.bot.providers) == {"aks", "oke", "nke"}  # new requests: the new corpus
        release.set()
        ans = pending.result(30)
    assert {f.provider: f.verdict for f in ans.findings} == {"aks": "not-covered", "oke": "not-covered"}
    assert all(c.quote for f in ans.findings for c in f.citations)
    # the old Bot is released when its last request lets go: Chroma client closed, build collectable
    gc.collect()
    assert not any(old_build in p for p in _chroma_paths())
    build_index(hash_index.corpus_dir, hash_index.index_dir, hash_index.embedder, force=True)
    assert old_build not in _builds(hash_index.index_dir)


def test_triage_index_then_reload_answers_from_the_new_vendor_document(tmp_path):
    """The real commands: `triage index` in a subprocess on a changed corpus, then reload."""
    from bot.engine.embed import HashEmbedder
    from bot.runtime.config import Settings

    corpus = copy_corpus(tmp_path / "corpus")
    env = clean_env(BOT_EMBEDDER="hash", BOT_CORPUS_DIR=corpus, BOT_INDEX_DIR=tmp_path / "index")
    assert run_triage(["index"], env, cwd=REPO).returncode == 0
    s = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", embedder="hash", auto_index=False)
    holder = BotHolder.of(Bot.open(s, embedder=HashEmbedder(), notify=silent))
    holder.bot.ask("Is Istio supported?", session_id="s1")
    assert "nke" not in holder.bot.providers
    _add_nke(corpus)
    done = run_triage(["index", "--json"], env, cwd=REPO)
    assert done.returncode == 0, done.stderr
    r = holder.reload()
    assert r["changed"] and r["new_build"] == holder.bot.index.build_id != r["old_build"]
    ans = holder.bot.answer(MESHLY)
    assert [f.provider for f in ans.findings] == ["nke"]
    # a conversation started before the reload carries on after it
    ans, res = holder.bot.ask("and on Northwind?", session_id="s1")
    assert res.question == "Is Istio supported on Northwind?" and [f.provider for f in ans.findings] == ["nke"]


@pytest.mark.slow
def test_reload_with_the_real_model_answers_the_new_vendor(real_env, tmp_path):
    """Real model: a copy of the session's real index, a new vendor document, an incremental
    build (only the new texts are embedded), reload, and the new vendor's verdicts."""
    from bot.runtime.config import Settings

    corpus = copy_corpus(tmp_path / "corpus")
    shutil.copytree(real_env.index_dir, tmp_path / "index", ignore=shutil.ignore_patterns(".lock"))
    s = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", embedder="minilm", auto_index=False)
    holder = BotHolder.of(Bot.open(s, embedder=real_env.embedder, notify=silent, reader=False))
    _add_nke(corpus)
    rep = build_index(corpus, tmp_path / "index", real_env.embedder)
    assert rep.changed and 0 < rep.embedded < 40 and rep.reused > 300
    r = holder.reload()
    assert r["changed"] and r["new_build"] == rep.build_id
    ans = holder.bot.answer("Are custom kernel modules supported?", provider="nke")
    assert ans.findings[0].verdict == "not-covered"
    assert any("Custom kernel modules" in c.quote for c in ans.findings[0].citations)
    assert holder.bot.answer("Is node pool autoscaling supported?", provider="nke").findings[0].verdict == "covered"
    assert holder.bot.answer("Is Helm supported?", provider="aks").findings[0].verdict == "best-effort"


def test_a_failed_reload_keeps_the_old_bot_and_says_why(hash_index):
    holder = _holder(hash_index)
    bot = holder.bot
    _add_nke(hash_index.corpus_dir)
    r = build_index(hash_index.corpus_dir, hash_index.index_dir, hash_index.embedder)
    (hash_index.index_dir / "builds" / r.build_id / "records.jsonl").write_text("{half a record")
    with pytest.raises(ReloadError) as ei:
        holder.reload()
    e = ei.value
    assert isinstance(e, BotError) and e.code == "reload_failed"
    assert f"still serving build {bot.index.build_id}" in e.message and "unreadable" in e.message
    assert "triage index" in e.hint
    assert holder.bot is bot and holder.last_error is e
    assert bot.answer("Is Istio supported?").verdict == "not-covered"
    # `triage index` repairs it; the next reload takes it
    build_index(hash_index.corpus_dir, hash_index.index_dir, hash_index.embedder)
    assert holder.reload()["changed"] and "nke" in holder.bot.providers and holder.last_error is None


def test_a_build_made_with_another_model_is_refused(hash_index):
    from bot.engine.embed import HashEmbedder

    holder = _holder(hash_index)
    bot = holder.bot
    build_index(hash_index.corpus_dir, hash_index.index_dir, HashEmbedder(dim=256), force=True)
    with pytest.raises(ReloadError, match="hash-bow-256") as ei:
        holder.reload()
    assert isinstance(ei.value.__cause__, IndexStaleError) and "BOT_EMBEDDER" in ei.value.hint
    assert holder.bot is bot


def test_an_open_fn_failure_of_any_kind_is_a_bot_error(hash_index):
    bot = Bot.open(hash_index.settings(auto_index=False), embedder=hash_index.embedder, notify=silent)

    def broken():
        raise OSError("disk went away")

    holder = BotHolder(bot, broken)
    build_index(hash_index.corpus_dir, hash_index.index_dir, hash_index.embedder, force=True)
    with pytest.raises(ReloadError, match="OSError: disk went away"):
        holder.reload()
    assert holder.bot is bot


class _Collect(logging.Handler):
    """The watcher logs from its own thread, after the swap: collect on the logger itself and
    wait for a line rather than racing it (other tests may reconfigure root logging)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())

    def wait_for(self, pred, timeout: float = 10) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(pred(m) for m in list(self.messages)):
                return True
            time.sleep(0.02)
        return False


@pytest.fixture
def reload_log():
    lg = logging.getLogger("bot.reload")
    h, old, was_disabled = _Collect(), lg.level, lg.disabled
    lg.disabled = False  # a logging config applied by an earlier test may have disabled it
    lg.addHandler(h)
    lg.setLevel(logging.INFO)
    yield h
    lg.removeHandler(h)
    lg.setLevel(old)
    lg.disabled = was_disabled


def test_watch_reloads_on_a_new_build_and_stops(hash_index, reload_log):
    holder = _holder(hash_index)
    stop = holder.watch(0.05)
    try:
        _add_nke(hash_index.corpus_dir)
        r = build_index(hash_index.corpus_dir, hash_index.index_dir, hash_index.embedder)
        deadline = time.monotonic() + 10
        while holder.bot.index.build_id != r.build_id and time.monotonic() < deadline:
            time.sleep(0.02)
        assert holder.bot.index.build_id == r.build_id and "nke" in holder.bot.providers
        assert reload_log.wait_for(lambda m: "index reloaded" in m and r.build_id in m)
        # a broken CURRENT is logged, not fatal: the watcher keeps serving and keeps watching
        (hash_index.index_dir / "CURRENT").write_bytes(b"\x00\xffgarbage")
        time.sleep(0.3)
        assert holder.bot.index.build_id == r.build_id
        assert reload_log.wait_for(lambda m: "does not name a build" in m)
        r2 = build_index(hash_index.corpus_dir, hash_index.index_dir, hash_index.embedder)  # repairs CURRENT
        deadline = time.monotonic() + 10
        while holder.bot.index.build_id != r2.build_id and time.monotonic() < deadline:
            time.sleep(0.02)
        assert holder.bot.index.build_id == r2.build_id
    finally:
        stop.set()
    time.sleep(0.2)
    assert not any(t.name == "bot-index-watch" and t.is_alive() for t in threading.enumerate())


def test_many_reloads_leave_no_clients_folders_or_file_handles_behind(hash_index):
    """Ten build+reload rounds: one Chroma system (the current build's), two build folders
    (current and previous), and open files only in the current build."""
    import os

    holder = _holder(hash_index)
    idx = str(hash_index.index_dir)

    def state():
        gc.collect()
        fds = []
        for f in os.listdir("/proc/self/fd"):
            try:
                fds.append(os.readlink(f"/proc/self/fd/{f}"))
            except OSError:  # closed meanwhile (the listing's own fd, other threads)
                pass
        return (
            len([p for p in _chroma_paths() if p.startswith(idx)]),
            len(_builds(hash_index.index_dir)),
            sorted({p.split("/builds/")[1].split("/")[0] for p in fds if p.startswith(idx + "/builds/")}),
        )

    build_index(hash_index.corpus_dir, hash_index.index_dir, hash_index.embedder, force=True)
    holder.reload()
    assert state() == (1, 2, [holder.bot.index.build_id])
    for _ in range(10):
        build_index(hash_index.corpus_dir, hash_index.index_dir, hash_index.embedder, force=True)
        assert holder.reload()["changed"]
        holder.bot.answer("Is Helm supported?")
    assert state() == (1, 2, [holder.bot.index.build_id])
    holder.bot.close()
    assert not any(p.startswith(idx) for p in _chroma_paths())


def test_concurrent_reloads_are_serialised(hash_index):
    holder = _holder(hash_index)
    first = holder.bot.index.build_id
    build_index(hash_index.corpus_dir, hash_index.index_dir, hash_index.embedder, force=True)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: holder.reload(), range(4)))
    assert sum(r["changed"] for r in results) == 1
    assert [r for r in results if r["changed"]][0]["old_build"] == first


def test_the_index_must_exist_to_reload(hash_index):
    holder = _holder(hash_index)
    (hash_index.index_dir / "CURRENT").unlink()
    with pytest.raises(ReloadError, match="no index"):
        holder.reload()
    assert holder.bot.answer("Is Istio supported?").verdict == "not-covered"
