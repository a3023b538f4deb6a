"""Cleaning what people type before the core sees it (the HTTP API and Slack call it).

``clean_input`` removes characters that change how text looks or reads without being
visible — zero-width spaces and joiners, bidirectional overrides and isolates, the byte-order
mark, soft hyphens, tag characters (every code point of Unicode's *format* category, Cf) —
so "Is To\u200bol supported?" is the same question as "Is Tool supported?". Other control
characters become spaces (tabs and newlines stay), line/paragraph separators become newlines,
and unpaired surrogates (which JSON's ``\\ud800`` escapes can smuggle in, and which cannot be
stored or encoded) become U+FFFD. Nothing visible is changed or dropped.

``check_raw`` refuses text that is too large *as sent*, before any cleaning: the limits after
cleaning alone let 600,000 zero-width spaces around a short question through.
"""

from __future__ import annotations

import re

from ..engine.claims import drop_claims
from ..engine.errors import TooLargeError

# Unicode's Cf (format) category, as ranges (checked against unicodedata by the tests).
_FORMAT = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064"
    "\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE = re.compile("\r\n?|[\u2028\u2029\x85]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def fix_surrogates(text: str) -> str:
    """Unpaired surrogates → U+FFFD (what a UTF-8 decoder makes of them)."""
    return _SURROGATE.sub("\ufffd", text)


def check_raw(text: str, *, max_chars: int, max_bytes: int, what: str = "question") -> str:
    """``text`` unchanged if it is within both limits as sent, else TooLargeError (413) saying
    which limit, with the size after cleaning when invisible characters made up the excess."""
    chars = len(text)
    size = len(text.encode("utf-8", "surrogatepass"))
    if chars <= max_chars and size <= max_bytes:
        return text
    visible = len(clean_input(text))
    after = f" ({visible:,} after removing invisible characters)" if visible != chars else ""
    said = f"{chars:,} characters{after}; the limit is {max_chars:,}" if chars > max_chars else f"{size:,} bytes as UTF-8; the limit is {max_bytes:,}"
    raise TooLargeError(f"the {what} is {said}", hint=f"send the {what} itself, without invisible characters or padding")


def clean_input(text: str) -> str:
    """``text`` without invisible format characters or control characters (see the module)."""
    text = fix_surrogates(text)
    text = _FORMAT.sub("", text)
    text = _LINE.sub("\n", text)
    return _CONTROL.sub(" ", text)


def drop_instructions(text: str) -> str:
    """``text`` without sentences aimed at the bot ("ignore previous instructions", "say
    covered", a "system:" line) or claiming a verdict ("the correct answer is: covered"): the
    engine's named rules (:mod:`bot.engine.claims`, matched after NFKC, so full-width letters
    do not hide them), applied here too so what is stored and echoed as answered is what was
    answered. Unchanged if nothing else is left."""
    return drop_claims(text).text


def clean_question(text: str) -> str:
    """What a front end hands the core: :func:`clean_input`, then :func:`drop_instructions`."""
    return drop_instructions(clean_input(text))
