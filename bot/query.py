"""Question analysis: strip ticket noise, find named providers, extract the subject terms.

Tickets arrive with logs, stack traces, quoted replies and signatures. Retrieval and the
verdict should see the support question, not the noise, so lines that look like machine
output are dropped before anything else (the original text is kept for the answer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .text import normalize, stem, tokens, words
from .types import Provider

# Words that say *that* the ticket asks about support, not *what* it asks about.
INTENT = frozenset(
    stem(w)
    for w in """support supported supports supporting help helps helped assist assistance cover covered
    coverage responsible responsibility responsibilities issue issues problem problems question questions
    ask asking need needs want know tell anyone someone something anything whether able allowed allow
    possible can could would officially official policy policies vendor provider provide provides
    ticket case hi hello thanks regards team us our we customer customers you your sure wondering
    like look looking clarify confirm confirmation handle handles handled""".split()
)

# Generic words standing for "documented instructions" in conditions and in tickets.
DOC_WORDS = frozenset(stem(w) for w in "documentation documented docs doc documents document guide guides guidance instructions instruction tutorial manual walkthrough".split())

_LOG_LINE = re.compile(
    r"""^\s*(?:
        \d{4}-\d{2}-\d{2}[T\s]\d{1,2}:\d{2}      # ISO timestamps
      | [IWEF]\d{4}\s                           # klog
      | \[?\d{1,2}:\d{2}:\d{2}                  # times
      | at\s+[\w.$<>]+\(.*\)\s*$                 # java frames
      | File\s+".*",\s+line\s+\d+               # python frames
      | Traceback\s\(most\srecent
      | (?:[\w.-]+/)?[\w.-]+\s{2,}\S+\s{2,}     # kubectl-style columns
      | NAME\s{2,}|NAMESPACE\s{2,}
      | \$\s|\#\s|kubectl\s|helm\s|az\s|oci\s   # shell prompts and commands
      | [{}\[\]]\s*$|"[\w-]+":\s                # JSON
      | (?:Error|Warning|WARN|INFO|DEBUG|ERROR|FATAL)[:\]\s]
      | goroutine\s\d+|panic:
      | >                                       # quoted reply
    )""",
    re.X,
)
_SIGNATURE = re.compile(r"^\s*(?:--\s*$|(?:best|kind|warm)?\s*regards,?\s*$|thanks,?\s*$|thank you,?\s*$|cheers,?\s*$|sent from my)", re.I)
_QUOTE_HEADER = re.compile(r"^\s*(?:on .+ wrote:|-+\s*original message\s*-+|from:\s.+)\s*$", re.I)


def strip_noise(text: str) -> str:
    """Drop log lines, stack traces, command output, quoted replies and signatures."""
    if len(text) < 200 and "\n" not in text:
        return text.strip()
    kept: list[str] = []
    for line in text.splitlines():
        if _SIGNATURE.match(line) or _QUOTE_HEADER.match(line):
            break
        s = line.strip()
        if not s:
            continue
        if _LOG_LINE.match(line):
            continue
        letters = sum(c.isalpha() for c in s)
        if letters < 0.5 * len(s) or len(words(s)) < 2:
            continue
        kept.append(s)
    out = " ".join(kept).strip()
    return out or " ".join(text.split())


def question_sentences(text: str) -> str:
    """Sentences that carry the ask (questions and requests) when a ticket is long."""
    if len(text) < 400:
        return text
    parts = re.split(r"(?<=[.?!])\s+", text)
    asks = [p for p in parts if "?" in p or re.match(r"(?i)(is|are|does|do|can|could|will|who|what|how|please|we need|i need|need to know|want to know)\b", p)]
    return " ".join(asks) if asks else text


@dataclass(frozen=True)
class Query:
    original: str
    text: str  # noise stripped, what is embedded
    mentioned: tuple[str, ...]  # provider ids named in the text
    terms: tuple[str, ...]  # stemmed subject terms (intent words and provider names removed)
    all_tokens: tuple[str, ...]  # stemmed tokens for BM25
    asserts_docs: bool  # the ticket says it followed the vendor's documentation
    negates_docs: bool  # ... or says it did not


def _name_pattern(name: str) -> re.Pattern:
    return re.compile(r"(?<![\w-])" + re.escape(normalize(name)) + r"(?![\w-])")


class QueryAnalyzer:
    def __init__(self, providers: dict[str, Provider]):
        self.providers = providers
        self._patterns = {pid: [_name_pattern(n) for n in sorted(p.names, key=len, reverse=True)] for pid, p in providers.items()}

    def mentioned(self, text: str) -> tuple[str, ...]:
        low = normalize(text)
        return tuple(pid for pid, pats in self._patterns.items() if any(p.search(low) for p in pats))

    def analyze(self, question: str) -> Query:
        cleaned = strip_noise(question)
        focus = question_sentences(cleaned)
        toks = tokens(focus)
        unnamed = normalize(focus)
        for pats in self._patterns.values():
            for p in pats:
                unnamed = p.sub(" ", unnamed)
        terms: list[str] = []
        for t in tokens(unnamed):
            if t in INTENT or t in terms or len(t) < 2:
                continue
            terms.append(t)
        low = normalize(focus)
        doc_hit = any(t in DOC_WORDS for t in toks)
        neg_doc = bool(re.search(r"\b(?:not|n't|without|never|didn't|no)\b[^.?!]{0,40}\b(?:doc|guide|instruction|tutorial)", low))
        return Query(
            original=question,
            text=focus[:2000],
            mentioned=self.mentioned(question),
            terms=tuple(terms),
            all_tokens=tuple(toks),
            asserts_docs=doc_hit and not neg_doc,
            negates_docs=neg_doc,
        )
