"""Answers given and the ratings users put on them, in SQLite under the data dir.

Every answer a front end hands out is recorded with an id, so a 👍/👎 can be reviewed beside
the question, the resolved follow-up and the verdicts it rates (``export``). SQLite in WAL
mode: readers never block the writer, a crash loses at most the last commit. One connection
behind a lock: each write is one small transaction and SQLite serialises writers anyway;
``busy_timeout`` lets a second process on the same file wait its turn instead of failing.

Storage faults never stop the service. A data dir that cannot be opened or written (read-only,
full disk, not a folder) is logged with what to do, and then:

* ``record`` (called on every answer) logs a warning and drops the record: the answer is still
  given, it is just not stored (``dropped`` counts them);
* ``rate`` and ``export`` raise :class:`~bot.errors.StorageError` (HTTP 503
  ``storage_unavailable``, hint naming ``BOT_DATA_DIR``);
* the store tries again after ``retry_seconds``: freeing space or fixing the folder heals it
  without a restart.

A StorageError's message reaches any caller of the API, so it names the cause but never a path
of this machine; the log line written with it names the file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Literal, TypeVar

from ..engine.errors import NotFoundError, StorageError
from ..engine.types import Answer

log = logging.getLogger("bot.feedback")
T = TypeVar("T")
BUSY_TIMEOUT_S = 10.0
WARN_EVERY_S = 60.0

Rating = Literal["up", "down"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    session_id TEXT,
    question TEXT NOT NULL,
    resolved_question TEXT NOT NULL,
    provider TEXT,
    verdict TEXT NOT NULL,
    escalate INTEGER NOT NULL,
    answer_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    answer_id TEXT NOT NULL REFERENCES answers(id),
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    comment TEXT,
    created_at REAL NOT NULL,
    rater TEXT
);
CREATE INDEX IF NOT EXISTS feedback_answer ON feedback(answer_id);
"""


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a database made by an older version up to :data:`_SCHEMA` (columns only added)."""
    cols = {row[1] for row in db.execute("PRAGMA table_info(feedback)")}
    if "rater" not in cols:
        db.execute("ALTER TABLE feedback ADD COLUMN rater TEXT")


@dataclass(frozen=True)
class AnswerRecord:
    """One answer as handed out: what was asked, what was answered, and the answer."""

    answer_id: str
    question: str
    resolved_question: str
    answer: Answer
    provider: str | None = None
    session_id: str | None = None


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


_HINT = "the server's BOT_DATA_DIR must be a writable folder with free space (its log names the file); answers are still given meanwhile, but not recorded"


class FeedbackStore:
    """``FeedbackStore(data_dir)`` never raises for storage faults (see the module doc);
    ``error`` holds the current one (None when healthy), ``dropped`` counts unrecorded answers."""

    def __init__(self, data_dir: Path, *, retry_seconds: float = 5.0):
        self.dir = Path(data_dir)
        self.path = self.dir / "feedback.sqlite3"
        self.retry_seconds = retry_seconds
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._closed = False
        self._failed_at = float("-inf")
        self._warned_at = float("-inf")
        self.error: StorageError | None = None
        self.dropped = 0
        with self._lock:
            self._reopen()

    # -- connection -------------------------------------------------------------------------

    def _reopen(self) -> None:
        """(Re)open the database; on failure set ``error`` and when to try again."""
        db = None
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_S)
            db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; a crash loses at most the last commits
            db.execute("PRAGMA foreign_keys=ON")
            db.executescript(_SCHEMA)
            _migrate(db)
            db.execute("BEGIN IMMEDIATE")  # proves the file can be written now, not at the first rating
            db.execute("ROLLBACK")
        except (OSError, sqlite3.Error) as e:
            if db is not None:
                db.close()
            self._fail(e, "cannot be opened")
            return
        if self.error is not None:
            log.warning("feedback store %s is writable again (%d answers were not recorded meanwhile)", self.path, self.dropped)
        self._db, self.error = db, None

    def _fail(self, e: BaseException, what: str) -> StorageError:
        if self._db is not None:  # a new connection next time: e.g. one opened read-only stays so
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None
        said = os.strerror(e.errno) if isinstance(e, OSError) and e.errno else str(e)  # an OSError's str names the path
        said = said.replace(str(self.path), "feedback.sqlite3").replace(str(self.dir), "BOT_DATA_DIR")
        reason = getattr(e, "sqlite_errorname", None)
        detail = f"{type(e).__name__}: {said}" + (f", {reason}" if reason and reason not in said else "")
        log.warning("feedback store unavailable: %s %s (%s: %s)", self.path, what, type(e).__name__, e)
        self.error = StorageError(f"the feedback store {what} ({detail})", hint=_HINT)
        self._failed_at = time.monotonic()
        return self.error

    def _run(self, what: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(connection)`` under the lock; storage faults become StorageError."""
        with self._lock:
            if self._closed:
                raise StorageError("the feedback store is closed (the server is shutting down)", hint="retry in a moment")
            if self._db is None:
                if self.error is None or time.monotonic() >= self._failed_at + self.retry_seconds:
                    self._reopen()
                if self._db is None:
                    e = self.error
                    raise StorageError(e.message, hint=e.hint)  # type: ignore[union-attr]  # a fresh one per caller
            try:
                return fn(self._db)
            except sqlite3.IntegrityError:
                raise  # a bug in the caller (a repeated id), not the storage
            except (OSError, sqlite3.Error) as e:
                raise self._fail(e, what) from None

    @property
    def available(self) -> bool:
        return self.error is None and not self._closed

    def status(self) -> dict:
        """For health endpoints: ``{"ok", "path", "error"?, "hint"?, "dropped"}``."""
        e = self.error
        return {"ok": self.available, "path": str(self.path), "dropped": self.dropped,
                **({"error": e.message, "hint": e.hint} if e else {})}

    @property
    def journal_mode(self) -> str:
        return self._run("cannot be read", lambda db: db.execute("PRAGMA journal_mode").fetchone()[0])

    # -- writes and reads -------------------------------------------------------------------

    def record(self, records: Iterable[AnswerRecord]) -> bool:
        """Store answers (one transaction for the lot, e.g. a whole classify request).

        Never raises for storage faults: the answers were already given, so they are dropped
        with a warning (at most one a minute, with the count) and False is returned."""
        now = time.time()
        rows = [
            (r.answer_id, now, r.session_id, r.question, r.resolved_question, r.provider, r.answer.verdict,
             int(r.answer.escalate), json.dumps(r.answer.to_dict(), ensure_ascii=False))
            for r in records
        ]

        def write(db: sqlite3.Connection) -> None:
            db.execute("BEGIN")
            try:
                db.executemany("INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):  # the write's own error is the one to report
                        db.execute("ROLLBACK")
                raise

        try:
            self._run("cannot be written", write)
            return True
        except StorageError as e:
            with self._lock:
                self.dropped += len(rows)
                dropped, warn = self.dropped, time.monotonic() - self._warned_at >= WARN_EVERY_S
                if warn:
                    self._warned_at = time.monotonic()
            if warn:
                log.warning("answers are not being recorded (%d dropped so far): %s", dropped, e)
            return False

    def rate(self, answer_id: str, rating: Rating, comment: str | None = None, rater: str | None = None) -> int:
        """Store a rating of a recorded answer; returns the feedback id. A rater's new rating of
        the same answer (👍 then 👎, or 👎 and then a comment) replaces the earlier one, so an
        answer has one row per rater (``rater``: e.g. a Slack user id; the widget's visitor has
        none, so the answer's single reader rates it). NotFoundError for an unknown answer,
        StorageError when the store cannot be written."""

        def write(db: sqlite3.Connection) -> int:
            db.execute("BEGIN IMMEDIATE")  # the replace is atomic across connections and processes
            try:
                if db.execute("SELECT 1 FROM answers WHERE id = ?", (answer_id,)).fetchone() is None:
                    raise NotFoundError(f"no answer with id {answer_id!r}", hint="rate an answer_id returned by /v1/ask or /v1/classify")
                db.execute("DELETE FROM feedback WHERE answer_id = ? AND rater IS ?", (answer_id, rater))
                cur = db.execute(
                    "INSERT INTO feedback (answer_id, rating, comment, created_at, rater) VALUES (?, ?, ?, ?, ?)",
                    (answer_id, rating, comment, time.time(), rater),
                )
                db.execute("COMMIT")
                return int(cur.lastrowid)
            except BaseException:
                if db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                raise

        return self._run("cannot be written", write)

    def export(self, *, since: float | None = None, until: float | None = None, after: int = 0, limit: int | None = None) -> Iterator[dict]:
        """Ratings with the answers they rate, oldest first: rated at or after ``since`` and
        before ``until`` (Unix times), with a feedback id above ``after``, at most ``limit``
        (a page: the last row's ``feedback_id`` is the next page's ``after``). Reads the page
        before returning, so a StorageError is raised here, not halfway through a response."""
        where, args = ["f.id > ?"], [after]
        if since is not None:
            where.append("f.created_at >= ?")
            args.append(since)
        if until is not None:
            where.append("f.created_at < ?")
            args.append(until)
        sql = (
            "SELECT f.id, f.answer_id, f.rating, f.comment, f.created_at, a.created_at, a.session_id, "
            "a.question, a.resolved_question, a.provider, a.verdict, a.escalate, a.answer_json "
            f"FROM feedback f JOIN answers a ON a.id = f.answer_id WHERE {' AND '.join(where)} ORDER BY f.id LIMIT ?"
        )
        rows = self._run("cannot be read", lambda db: db.execute(sql, (*args, -1 if limit is None else limit)).fetchall())
        return self._rows(rows)

    @staticmethod
    def _rows(rows: list) -> Iterator[dict]:
        for fid, aid, rating, comment, rated, answered, sid, q, rq, prov, verdict, esc, aj in rows:
            findings = json.loads(aj)["findings"]
            yield {
                "feedback_id": fid, "answer_id": aid, "rating": rating, "comment": comment, "rated_at": _iso(rated),
                "answered_at": _iso(answered), "session_id": sid, "question": q, "resolved_question": rq,
                "provider": prov, "verdict": verdict, "escalate": bool(esc),
                "findings": [{"provider": f["provider"], "verdict": f["verdict"], "confidence": f["confidence"]} for f in findings],
            }

    def close(self) -> None:
        """Close the database (idempotent). Later ``record`` calls drop their answers with a
        warning; ``rate``/``export`` raise StorageError."""
        with self._lock:
            self._closed = True
            if self._db is not None:
                self._db.close()
                self._db = None
