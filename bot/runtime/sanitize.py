"""Cleaning what people type before the core sees it (the HTTP API and Slack call it).

``clean_input`` removes characters that change how text looks or reads without being
visible — zero-width spaces and joiners, bidirectional overrides and isolates, the byte-order
mark, soft hyphens, tag characters (every code point of Unicode's *format* category, Cf) —
so "Is To\u200bol supported?" is the same question as "Is Tool supported?". Other control
characters become spaces (tabs and newlines stay), line/paragraph separators become newlines,
and unpaired surrogates (which JSON's ``\\ud800`` escapes can smuggle in, and which cannot be
stored or encoded) become U+FFFD. Nothing visible is changed or dropped.
"""

from __future__ import annotations

import re

from ..engine.claims import drop_claims

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
