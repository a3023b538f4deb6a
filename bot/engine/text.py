"""Tokenizing, stemming and sentence splitting shared by the keyword index and the verdict.

Tokens keep hyphenated and dotted words whole *and* split ("node-pool" → "node-pool",
"node", "pool") so exact component names match, and punctuation never sticks to a word
("Tool," → "tool"), which is what a plain ``str.split`` tokenizer gets wrong.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer

_stemmer = Stemmer.Stemmer("english")

STOPWORDS = frozenset(
    """a an and are as at be been being but by for from has have had he her his i if in into is it
    its itself me my myself no nor not of on once only or other our ours out over own same she should
    so some such than that the their theirs them then there these they this those through to too under
    until up very was we were what when where which while who whom why will with would you your yours
    yourself can could do does did doing done don doesn didn isn aren wasn weren won wouldn shouldn
    couldn t s ll re ve d m o y am any all also just get got here how about again further each few
    more most both off above below between during before after us via per etc eg ie e g hi hello
    thanks thank please regards dear team hey ok okay e.g i.e""".split()
)

_WORD = re.compile(r"[a-z0-9]+(?:[-_./'][a-z0-9]+)*")
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def normalize(text: str) -> str:
    """NFKC, strip zero-width/bidi control characters, unify quotes, lowercase."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    return text.lower()


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return _stemmer.stemWord(word)


def words(text: str) -> list[str]:
    """Lowercased surface words (hyphenated words kept whole and also split)."""
    out: list[str] = []
    for m in _WORD.finditer(normalize(text)):
        w = m.group(0).strip("'")
        if w.endswith("'s"):
            w = w[:-2]
        if not w:
            continue
        out.append(w)
        if any(c in w for c in "-_./"):
            out.extend(p for p in re.split(r"[-_./']", w) if p)
    return out


HOWTO = "howto"
_HOWTO = re.compile(r"\bhow(?:\s+|-)(?:to|2|do\s+(?:i|we|you)|can\s+(?:i|we)|should\s+(?:i|we)|would\s+(?:i|we))\b", re.I)


def tokens(text: str) -> list[str]:
    """Stemmed content tokens: the vocabulary of both BM25 and subject matching.

    "how to" / "how do I" become one token, ``howto``: policies exclude how-to questions as
    a class, and the phrase is otherwise made of stopwords."""
    text = _HOWTO.sub(f" {HOWTO} ", text)
    return [stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 1 or w.isdigit()]


_ABBREV = re.compile(r"\b(?:e\.g|i\.e|etc|vs|approx|incl|no|fig|cf)\.$", re.I)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of ``text``; never splits inside parentheses."""
    spans: list[tuple[int, int]] = []
    depth = 0
    start = 0
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth = max(0, depth - 1)
        elif c in ".!?" and depth == 0:
            j = i + 1
            while j < n and text[j] in "'\")":
                j += 1
            if j >= n or text[j].isspace():
                k = j
                while k < n and text[k].isspace():
                    k += 1
                if k >= n or text[k].isupper() or text[k] in "\"'(":
                    if not _ABBREV.search(text[start : i + 1]):
                        spans.append((start, j))
                        start = k
                        i = k
                        continue
        i += 1
    if start < n and text[start:].strip():
        end = n
        while end > start and text[end - 1].isspace():
            end -= 1
        spans.append((start, end))
    return [(s, e) for s, e in spans if text[s:e].strip()]
