"""bot.runtime.feedback.FeedbackStore under load and under storage faults, with real SQLite files.

Real: threads and separate processes writing the same database; a data dir that is a file; a
database path that is a folder; a read-only file system and a full one (tmpfs mounts, which
need CAP_SYS_ADMIN: skipped, saying so, without it). Simulated, and said so where used: a
connection whose writes SQLite refuses as read-only (``PRAGMA query_only``) and a database
capped at its current size (``PRAGMA max_page_count``: SQLite then reports SQLITE_FULL exactly
as for a full disk). Tests run as root here, so chmod cannot make a folder unwritable.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.engine.errors import BotError, NotFoundError, StorageError
from bot.runtime.feedback import AnswerRecord, FeedbackStore
from conftest import PYTHON, REPO, clean_env
from helpers import tmpfs

ISTIO = "Is Istio supported?"


@pytest.fixture(scope="module")
def answer(hash_bot):
    return hash_bot.answer(ISTIO)


def _rec(aid: str, answer, question: str = ISTIO) -> AnswerRecord:
    return AnswerRecord(aid, question, question, answer)


def _assert_storage_error(e: BaseException, *words: str) -> StorageError:
    assert isinstance(e, StorageError) and isinstance(e, BotError)
    assert e.code == "storage_unavailable" and e.http_status == 503
    assert "BOT_DATA_DIR" in e.hint
    for w in words:
        assert w in e.message, (w, e.message)
    return e


# ------------------------------------------------------------------------------ concurrency


def test_16_threads_x_200_answers_and_ratings_lose_nothing(tmp_path, answer):
    """Half the threads write through one store, half through a second store on the same file
    (two connections, as two server processes would have): SQLite's locking and busy_timeout
    serialise them; every answer and every rating is in the export."""
    stores = [FeedbackStore(tmp_path), FeedbackStore(tmp_path)]
    errors: list[BaseException] = []
    start = threading.Barrier(16)

    def writer(t: int) -> None:
        store = stores[t % 2]
        start.wait()
        try:
            for i in range(200):
                aid = f"t{t:02d}-{i:03d}"
                assert store.record([_rec(aid, answer, f"question {aid}")])
                store.rate(aid, "up" if i % 2 else "down", comment=aid)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    rows = list(stores[0].export())
    assert len(rows) == 16 * 200
    assert {r["answer_id"] for r in rows} == {f"t{t:02d}-{i:03d}" for t in range(16) for i in range(200)}
    assert all(r["comment"] == r["answer_id"] and r["question"] == f"question {r['answer_id']}" for r in rows)
    assert len({r["feedback_id"] for r in rows}) == len(rows)
    for s in stores:
        assert s.journal_mode == "wal" and s.dropped == 0 and s.available
        s.close()


WRITER = """
import sys
from pathlib import Path
from bot.runtime.feedback import AnswerRecord, FeedbackStore
from bot.engine.types import Answer
store = FeedbackStore(Path(sys.argv[1]))
a = Answer("q", "covered", False, "text", ())
tag = sys.argv[2]
for i in range(300):
    assert store.record([AnswerRecord(f"{tag}-{i}", "q", "q", a)])
    store.rate(f"{tag}-{i}", "up")
store.close()
"""


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    procs = [
        subprocess.Popen([str(PYTHON), "-c", WRITER, str(tmp_path), tag], cwd=REPO, env=clean_env(), stderr=subprocess.PIPE, text=True)
        for tag in ("p1", "p2", "p3")
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    store = FeedbackStore(tmp_path)
    ids = [r["answer_id"] for r in store.export()]
    assert len(ids) == 900 and set(ids) == {f"{t}-{i}" for t in ("p1", "p2", "p3") for i in range(300)}
    store.close()


def test_wal_and_busy_timeout_are_set(tmp_path):
    store = FeedbackStore(tmp_path)
    assert store.journal_mode == "wal"
    assert store._run("read", lambda db: db.execute("PRAGMA busy_timeout").fetchone()[0]) >= 5000
    store.close()


# ------------------------------------------------------------------------------ an unusable data dir at startup


def _data_dir_is_a_file(tmp_path: Path) -> Path:
    p = tmp_path / "data"
    p.write_text("not a folder")
    return p


def _database_is_a_folder(tmp_path: Path) -> Path:
    (tmp_path / "data" / "feedback.sqlite3").mkdir(parents=True)
    return tmp_path / "data"


@pytest.mark.parametrize("make", [_data_dir_is_a_file, _database_is_a_folder], ids=["data dir is a file", "database is a folder"])
def test_an_unusable_data_dir_is_reported_not_raised(tmp_path, answer, make, caplog):
    data = make(tmp_path)
    store = FeedbackStore(data)  # the service still starts
    e = _assert_storage_error(store.error, "cannot be opened")
    assert str(tmp_path) not in e.message + e.hint  # no path of this machine to callers; the log names it
    assert any("feedback store unavailable" in m and str(data) in m for m in caplog.messages)
    assert store.status() == {"ok": False, "path": str(data / "feedback.sqlite3"), "dropped": 0, "error": e.message, "hint": e.hint}
    caplog.clear()
    assert store.record([_rec("a1", answer)]) is False and store.record([_rec("a2", answer)]) is False
    assert store.dropped == 2
    assert len([m for m in caplog.messages if "not being recorded" in m]) == 1  # one warning, not one per answer
    with pytest.raises(StorageError) as ei:
        store.rate("a1", "up")
    _assert_storage_error(ei.value, "cannot be opened")
    with pytest.raises(StorageError):
        store.export()


def test_a_read_only_file_system_is_reported_and_a_writable_one_heals_it(tmp_path, answer):
    """A real read-only tmpfs as BOT_DATA_DIR; then the same path writable (retry_seconds=0)."""
    ro = tmp_path / "ro"
    with tmpfs(ro, "1m", read_only=True):
        store = FeedbackStore(ro, retry_seconds=0)
        _assert_storage_error(store.error, "cannot be opened")
        assert store.record([_rec("a1", answer)]) is False
        with pytest.raises(StorageError):
            store.rate("a1", "up")
    # unmounted: the folder under it is writable; the store recovers without a restart
    assert store.record([_rec("a2", answer)]) is True and store.error is None
    assert store.rate("a2", "up") >= 1
    assert [r["answer_id"] for r in store.export()] == ["a2"]
    store.close()


# ------------------------------------------------------------------------------ faults while running


def test_a_full_disk_drops_answers_refuses_ratings_and_recovers_when_space_is_freed(tmp_path, answer, caplog):
    """A real 1 MB tmpfs filled up by another file while the store is open."""
    with tmpfs(tmp_path / "small", "1m") as mnt:
        store = FeedbackStore(mnt / "data", retry_seconds=0)
        assert store.record([_rec("before", answer)]) and store.rate("before", "up")
        filler = mnt / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:  # fill every last block
            for chunk in (65536, 512):
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, b"\0" * chunk)
        finally:
            os.close(fd)
        big = [_rec(f"full-{i}", answer, "x" * 20_000) for i in range(20)]
        assert store.record(big) is False and store.dropped == 20
        assert any("not being recorded" in m and "full" in m for m in caplog.messages)
        with pytest.raises(StorageError) as ei:
            for i in range(200):  # a rating is small; keep going until the disk says no
                store.rate("before", "down", comment="y" * 4000)
        _assert_storage_error(ei.value, "cannot be written", "full")
        filler.unlink()
        assert store.record([_rec("after", answer)]) is True and store.available
        store.rate("after", "up")
        ids = [r["answer_id"] for r in store.export()]
        assert ids[0] == "before" and ids[-1] == "after" and "full-0" not in ids
        store.close()


@pytest.mark.parametrize(
    "pragma, says",
    [("PRAGMA query_only=ON", "readonly"), ("PRAGMA max_page_count={pages}", "full")],
    ids=["read-only (simulated: query_only)", "full (simulated: max_page_count)"],
)
def test_write_errors_are_storage_errors_naming_the_cause(tmp_path, answer, pragma, says):
    """Simulated on the store's open connection: SQLite then refuses writes exactly as on a
    file system that went read-only (SQLITE_READONLY) or full (SQLITE_FULL). The failed
    connection is dropped; the next one (here after retry_seconds=0) writes again."""
    store = FeedbackStore(tmp_path, retry_seconds=60)
    assert store.record([_rec("a0", answer)])
    pages = store._run("read", lambda db: db.execute("PRAGMA page_count").fetchone()[0])
    store._run("set up", lambda db: db.execute(pragma.format(pages=pages)))
    assert store.record([_rec("a1", answer, "z" * 50_000)]) is False
    with pytest.raises(StorageError) as ei:
        store.rate("a0", "up")
    _assert_storage_error(ei.value, says, "cannot be written")
    store.retry_seconds = 0
    assert store.rate("a0", "up") >= 1 and store.available
    store.close()


def test_unknown_answer_is_still_not_found_and_duplicates_are_not_storage_errors(tmp_path, answer):
    store = FeedbackStore(tmp_path)
    with pytest.raises(NotFoundError):
        store.rate("nope", "up")
    store.record([_rec("dup", answer)])
    with pytest.raises(sqlite3.IntegrityError):  # a caller's bug stays loud
        store.record([_rec("dup", answer)])
    assert store.available and store.dropped == 0
    store.close()


def test_after_close_answers_are_dropped_and_ratings_refused(tmp_path, answer):
    store = FeedbackStore(tmp_path)
    store.close()
    store.close()  # idempotent
    assert store.record([_rec("late", answer)]) is False and store.dropped == 1
    with pytest.raises(StorageError, match="closed"):
        store.rate("late", "up")


# ------------------------------------------------------------------------------ through the HTTP API


def test_the_api_answers_without_storage_and_says_why_feedback_fails(hash_bot, tmp_path, caplog):
    data = _data_dir_is_a_file(tmp_path)
    from bot.apps.api.app import create_app

    s = hash_bot.settings.model_copy(update={"data_dir": data})
    with TestClient(create_app(hash_bot, s), raise_server_exceptions=False) as c:
        r = c.post("/v1/ask", json={"question": ISTIO})
        assert r.status_code == 200 and r.json()["verdict"] == "not-covered"  # answered, not recorded
        assert any("not being recorded" in m for m in caplog.messages)
        fb = c.post("/v1/feedback", json={"answer_id": r.json()["answer_id"], "rating": "up"})
        assert fb.status_code == 503, fb.text
        err = fb.json()["error"]
        assert err["code"] == "storage_unavailable" and "BOT_DATA_DIR" in err["hint"] and "cannot be opened" in err["message"]
        assert str(tmp_path) not in fb.text and "/" not in err["message"]  # no server path to callers
        assert any(str(data) in m for m in caplog.messages)  # the log has it
        exp = c.get("/v1/feedback/export")
        assert exp.status_code == 503 and exp.json()["error"]["code"] == "storage_unavailable"
        cl = c.post("/v1/classify", json={"tickets": [{"id": 1, "text": ISTIO}]})
        assert cl.status_code == 200 and json.loads(cl.text)["answers"][0]["verdict"] == "not-covered"


# ------------------------------------------------------------------------------ re-rating


def test_re_rating_replaces_the_earlier_rating_per_rater(tmp_path, answer):
    """👍 then 👎 with a comment is one row (the last); another rater (a Slack user) has a row
    of their own, and re-rates only it."""
    store = FeedbackStore(tmp_path)
    store.record([_rec("a1", answer)])
    store.rate("a1", "up")
    last = store.rate("a1", "down", comment="the quote is about something else")
    store.rate("a1", "up", rater="U1")
    store.rate("a1", "down", rater="U1")
    rows = list(store.export())
    assert [(r["rating"], r["comment"]) for r in rows] == [("down", "the quote is about something else"), ("down", None)]
    assert rows[0]["feedback_id"] == last
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT rater, rating FROM feedback ORDER BY id").fetchall() == [(None, "down"), ("U1", "down")]
    with pytest.raises(NotFoundError):
        store.rate("nope", "up")
    store.close()


def test_a_database_from_before_raters_is_migrated_and_keeps_its_ratings(tmp_path, answer):
    with sqlite3.connect(tmp_path / "feedback.sqlite3") as db:
        db.executescript("""
            CREATE TABLE answers (id TEXT PRIMARY KEY, created_at REAL NOT NULL, session_id TEXT, question TEXT NOT NULL,
                resolved_question TEXT NOT NULL, provider TEXT, verdict TEXT NOT NULL, escalate INTEGER NOT NULL, answer_json TEXT NOT NULL);
            CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, answer_id TEXT NOT NULL REFERENCES answers(id),
                rating TEXT NOT NULL CHECK (rating IN ('up', 'down')), comment TEXT, created_at REAL NOT NULL);
        """)
        db.execute("INSERT INTO answers VALUES ('old', 0, NULL, 'q', 'q', NULL, 'covered', 0, ?)", (json.dumps(answer.to_dict()),))
        db.execute("INSERT INTO feedback (answer_id, rating, comment, created_at) VALUES ('old', 'up', 'kept', 0)")
    store = FeedbackStore(tmp_path)
    assert store.available, store.error
    assert [(r["answer_id"], r["rating"], r["comment"]) for r in store.export()] == [("old", "up", "kept")]
    store.rate("old", "down")  # the old row had no rater: the widget's re-rating replaces it
    assert [(r["rating"], r["comment"]) for r in store.export()] == [("down", None)]
    store.close()
