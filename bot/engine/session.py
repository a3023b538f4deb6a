"""Conversations: follow-up questions resolved against the previous turn of a session.

A chat user does not repeat the question: after "Is <tool> supported?" they write
"and on <provider>?" or "what about <other tool>?". The core answers whole questions only, so
a follow-up is first rewritten into one ("Is <tool> supported on <provider>?") from the
session's last turn, and that rewritten question is what gets answered and remembered.

Everything here is generic: provider names come from the corpus front matter
(:attr:`Provider.names`), the previous subject from the query analyzer's subject terms.
Any front end keys sessions as it likes (a browser session id, a chat thread id).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Callable, Literal

from cachetools import TTLCache

from .providers import ProviderNames
from .query import INTENT, QueryAnalyzer
from .text import stem, tokens
from .types import Provider

FollowUpKind = Literal["provider", "subject"]


@dataclass(frozen=True)
class Turn:
    """What a session remembers: the question as answered and the provider it was scoped to."""

    question: str
    provider: str | None


@dataclass(frozen=True)
class Resolution:
    """The question to answer for what the user typed; ``kind`` is None when it stands alone."""

    question: str
    provider: str | None
    kind: FollowUpKind | None = None


class SessionStore:
    """Last turn per session: an LRU bounded in size, entries expire after ``ttl`` seconds
    (a :class:`cachetools.TTLCache`, behind a lock: it is not thread-safe by itself).

    In memory on purpose: a follow-up refers to the last few minutes of one conversation,
    and losing them on restart only means the next question has to be asked in full."""

    def __init__(self, max_sessions: int = 10_000, ttl: float = 3600.0, clock: Callable[[], float] = time.monotonic):
        self.max_sessions = max(1, max_sessions)
        self.ttl = ttl
        self._turns: TTLCache[str, Turn] = TTLCache(self.max_sessions, ttl, timer=clock)
        self._lock = threading.Lock()

    def get(self, session_id: str) -> Turn | None:
        with self._lock:
            return self._turns.get(session_id)

    def put(self, session_id: str, turn: Turn) -> None:
        with self._lock:
            self._turns[session_id] = turn

    def __len__(self) -> int:
        with self._lock:
            self._turns.expire()
            return len(self._turns)


# "what about X", "how about X", "and X", "same for X", "also X" (optionally after "ok,", "and", "but")
_LEAD = re.compile(
    r"^\s*(?:(?:ok(?:ay)?|so|and|but|also|plus)\s*,?\s+)?"
    r"(?:(?:what|how)\s+about|what\s+of|same\s+(?:for|with|on|in)|and|also|plus)\b[\s,]*",
    re.I,
)
_TAIL = re.compile(r"(?:[\s,]+(?:then|too|instead|also|as\s+well|please|pls))*[\s?.!]*$", re.I)
# Words that carry no subject in a follow-up ("and for the <provider> side, then?")
_FILLER = frozenset("on for with in at of the a an about then too instead also and or as well please pls side case one same what how".split())
# A remainder holding one of these has a verb or a person of its own: it is a new question.
_OWN_CLAUSE = frozenset(
    "is are was were be do does did can could will would should may might must has have had "
    "i we you he she they it my our your their me us".split()
)
_WORD = re.compile(r"[A-Za-z0-9](?:[\w+-]|\.(?=\w))*")
_MAX_SUBJECT_WORDS = 6
_MAX_PREVIOUS_CHARS = 400  # a whole ticket has no single subject span to swap


class FollowUpResolver:
    """Rewrites a follow-up into a whole question using the previous :class:`Turn`.

    * provider follow-up — only provider names and filler ("and on <name>?", "<name>?",
      "what about <name>?"): the previous question, re-scoped to the named provider(s);
    * subject follow-up — a lead ("what about", "how about", "and", "same for") and a short
      phrase with no verb of its own: the previous question with its subject (the span of its
      subject terms) replaced by the phrase; the previous scope is kept unless a provider is
      named too ("what about <tool> on <name>?").

    Anything else, or no previous turn, stands alone.
    """

    def __init__(self, providers: dict[str, Provider], analyzer: QueryAnalyzer):
        self.providers = providers
        self.analyzer = analyzer
        self.names = analyzer.names if analyzer.names.providers is providers else ProviderNames(providers)

    # -- provider names ----------------------------------------------------------------

    def _mentions(self, text: str) -> list[tuple[int, int, str]]:
        """Non-overlapping (start, end, provider id) spans of provider names, in text order."""
        return self.names.spans(text)

    @staticmethod
    def _blank(text: str, spans: list[tuple[int, int, str]]) -> str:
        out, last = [], 0
        for s, e, _ in spans:
            out += [text[last:s], " "]
            last = e
        return "".join(out + [text[last:]])

    # -- the rewrite -------------------------------------------------------------------

    def resolve(self, question: str, provider: str | None, previous: Turn | None) -> Resolution:
        """``provider`` is the caller's explicit scope; like everywhere in the core, it wins."""
        standalone = Resolution(question, provider)
        if previous is None or len(question) > 200:
            return standalone
        lead = _LEAD.match(question)
        body = question[lead.end() :] if lead else question
        body = _TAIL.sub("", body).strip()
        mentions = self._mentions(body)
        rest = [w for w in _WORD.findall(self._blank(body, mentions)) if w.lower() not in _FILLER]
        named = list(dict.fromkeys(pid for _, _, pid in mentions))
        if not rest and named:
            text = self._rescope(previous.question, body, mentions)
            return Resolution(text, provider or (named[0] if len(named) == 1 else None), "provider")
        if not lead or not rest or len(rest) > _MAX_SUBJECT_WORDS or any(w.lower() in _OWN_CLAUSE for w in rest):
            return standalone
        subject = self._subject_phrase(self._blank(body, mentions))
        text = self._swap_subject(previous.question, subject) if subject else None
        if text is None:
            return standalone
        if named:
            return Resolution(self._rescope(text, body, mentions), provider or (named[0] if len(named) == 1 else None), "subject")
        return Resolution(text, provider or previous.provider, "subject")

    def _subject_phrase(self, body: str) -> str:
        """The follow-up's phrase without leading/trailing filler and ask words."""
        ws = _WORD.findall(body)

        def idle(w: str) -> bool:
            return w.lower() in _FILLER or stem(w.lower()) in INTENT

        while ws and idle(ws[0]):
            ws.pop(0)
        while ws and idle(ws[-1]):
            ws.pop()
        return " ".join(ws)

    def _swap_subject(self, previous: str, subject: str) -> str | None:
        """``previous`` with the span from its first to its last subject term replaced."""
        if len(previous) > _MAX_PREVIOUS_CHARS:
            return None
        terms = set(self.analyzer.analyze(previous).terms)
        names = self._mentions(previous)
        hits = [
            m for m in _WORD.finditer(previous)
            if set(tokens(m.group(0))) & terms and not any(s <= m.start() < e for s, e, _ in names)
        ]
        if not hits:
            return None
        return previous[: hits[0].start()] + subject + previous[hits[-1].end() :]

    def _rescope(self, previous: str, body: str, mentions: list[tuple[int, int, str]]) -> str:
        """``previous`` naming the follow-up's provider(s) instead of its own."""
        said = " and ".join(dict.fromkeys(body[s:e] for s, e, _ in mentions))
        old = self._mentions(previous)
        if old:
            out, last = [], 0
            for s, e, _ in old:
                out += [previous[last:s], said]
                last = e
            return "".join(out + [previous[last:]])
        prep = re.match(r"(?i)\s*(on|for|with|in|at)\b", self._blank(body, mentions))
        head, end = re.match(r"(?s)(.*?)([\s?.!]*)$", previous).groups()
        return f"{head} {prep.group(1).lower() if prep else 'on'} {said}{end.strip() or '?'}"
