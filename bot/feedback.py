"""Answers given and the ratings users put on them, in SQLite under the data dir.

Every answer a front end hands out is recorded with an id, so a 👍/👎 can be reviewed beside
the question, the resolved follow-up and the verdicts it rates (``export``). SQLite in WAL
mode: readers never block the writer, a crash loses at most the last commit. One connection
behind a lock: each write is one small transaction and SQLite serialises writers anyway.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Literal

from .errors import NotFoundError
from .types import Answer

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
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_answer ON feedback(answer_id);
"""


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


class FeedbackStore:
    def __init__(self, data_dir: Path):
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        self.path = Path(data_dir) / "feedback.sqlite3"
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; a crash loses at most the last commits
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)

    @property
    def journal_mode(self) -> str:
        with self._lock:
            return self._db.execute("PRAGMA journal_mode").fetchone()[0]

    def record(self, records: Iterable[AnswerRecord]) -> None:
        """Store answers (one transaction for the lot, e.g. a whole classify request)."""
        now = time.time()
        rows = [
            (r.answer_id, now, r.session_id, r.question, r.resolved_question, r.provider, r.answer.verdict,
             int(r.answer.escalate), json.dumps(r.answer.to_dict(), ensure_ascii=False))
            for r in records
        ]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def rate(self, answer_id: str, rating: Rating, comment: str | None = None) -> int:
        """Store a rating of a recorded answer; returns the feedback id."""
        with self._lock:
            if self._db.execute("SELECT 1 FROM answers WHERE id = ?", (answer_id,)).fetchone() is None:
                raise NotFoundError(f"no answer with id {answer_id!r}", hint="rate an answer_id returned by /v1/ask or /v1/classify")
            cur = self._db.execute(
                "INSERT INTO feedback (answer_id, rating, comment, created_at) VALUES (?, ?, ?, ?)",
                (answer_id, rating, comment, time.time()),
            )
            return int(cur.lastrowid)

    def export(self) -> Iterator[dict]:
        """Every rating with the answer it rates, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT f.id, f.answer_id, f.rating, f.comment, f.created_at, a.created_at, a.session_id, "
                "a.question, a.resolved_question, a.provider, a.verdict, a.escalate, a.answer_json "
                "FROM feedback f JOIN answers a ON a.id = f.answer_id ORDER BY f.id"
            ).fetchall()
        for fid, aid, rating, comment, rated, answered, sid, q, rq, prov, verdict, esc, aj in rows:
            findings = json.loads(aj)["findings"]
            yield {
                "feedback_id": fid, "answer_id": aid, "rating": rating, "comment": comment, "rated_at": _iso(rated),
                "answered_at": _iso(answered), "session_id": sid, "question": q, "resolved_question": rq,
                "provider": prov, "verdict": verdict, "escalate": bool(esc),
                "findings": [{"provider": f["provider"], "verdict": f["verdict"], "confidence": f["confidence"]} for f in findings],
            }

    def close(self) -> None:
        with self._lock:
            self._db.close()
