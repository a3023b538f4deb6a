"""Why a verdict follows, as one sentence a support agent can repeat to a customer.

A reason names the deciding words of the policy and where they sit — the sentence that
introduces the list the passage is in ("Listed under '… provides technical support for the
following:'"), a matrix cell's label, a heading, a note that makes an exception, or the
passage's own words — then quotes the passage, then the condition the policy attaches when
the ticket does not settle it. Everything comes from the documents' structure (lead-ins,
headings, labels, notes); nothing here knows a product.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Grounds", "reason", "with_condition", "undecided_reason", "clip"]

QUOTE_CHARS = 220  # a quoted passage is clipped to this many characters (the citation has it whole)


@dataclass(frozen=True)
class Grounds:
    """What a verdict rests on: the deciding passage and what makes it read as it does."""

    quote: str  # the deciding sentence or bullet, verbatim
    section: str = ""  # its heading path ("A > B")
    lead_in: str | None = None  # the sentence introducing the list it is listed under
    label: str | None = None  # a matrix cell label ("Responsibility: Total")
    heading: str | None = None  # the heading whose words decide (when nothing nearer does)
    cue: str | None = None  # the deciding words inside the passage itself
    note: bool = False  # the passage is a note making an exception to what it qualifies
    condition: str | None = None  # a condition the policy states and the ticket does not settle


def clip(text: str, n: int = QUOTE_CHARS) -> str:
    """``text`` on one line, at most ``n`` characters (an ellipsis marks a cut)."""
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _where(section: str) -> str:
    return f'"{section}"' if section else "the document"


def _end(text: str) -> str:
    """``text`` ended as a sentence: a quote that ends one ends it, else a full stop."""
    return text if text.endswith(('."', '…"', '?"', '!"', ":\"", ".")) else text + "."


def reason(g: Grounds) -> str:
    """The sentence: the deciding words and where they sit, the passage, the condition."""
    quote, where = f'"{clip(g.quote)}"', _where(g.section)
    if g.note:
        text = f"A note in {where} makes an exception that covers this: {quote}"
    elif g.lead_in:
        text = f'Listed under "{clip(g.lead_in)}" in {where}: {quote}'
    elif g.label:
        text = f'The responsibility matrix marks this "{clip(g.label, 60)}" in {where}: {quote}'
    elif g.heading:
        text = f'Under the heading "{clip(g.heading, 120)}" the policy says: {quote}'
    elif g.cue:
        text = f'The policy says "{clip(g.cue, 80)}" in {where}: {quote}'
    else:
        text = f"The policy says in {where}: {quote}"
    return _end(text) + with_condition(g.condition, g.quote)


def with_condition(condition: str | None, quote: str | None = None) -> str:
    """The sentence a reason ends with when the policy attaches a condition (else nothing);
    a condition inside the quoted passage itself is pointed at, not quoted twice."""
    if not condition:
        return ""
    if quote is not None and " ".join(condition.split()) == " ".join(quote.split()):
        return " The passage states a condition the ticket does not settle, so its default applies."
    return _end(f' It depends on a condition the ticket does not settle, so the default applies: "{clip(condition)}"')


def undecided_reason(closest_section: str | None) -> str:
    """An unknown finding: no passage decides it (the nearest one named, for the human)."""
    if closest_section is None:
        return "No passage of the policy takes a position on this."
    return f"No passage of the policy clearly decides this; the closest is in {_where(closest_section)}."
