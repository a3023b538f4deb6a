"""Compose the user-facing Answer from per-provider findings (no text beyond the documents).

What people read must not contradict itself: a finding a human has to check (undecided, or
decided with low confidence) is labelled as such — "covered? — check", never a plain
"covered" — and "Needs a human" is said once, in the answer's last line. Citations are the
passages themselves: a sentence that only introduces a list ("… for the following:") is not
one (the reason names it), and each links to its section when the document says how its
page names anchors (front matter ``anchors``, see :data:`bot.engine.corpus.ANCHOR_STYLES`).
"""

from __future__ import annotations

from dataclasses import replace

from .corpus import section_anchors, section_link
from .text import sentence_spans
from .types import Answer, Citation, Finding, Provider

__all__ = ["LABEL", "Links", "compose", "is_bare_lead_in", "label", "needs_a_human", "top_verdict"]

LABEL = {
    "covered": "covered",
    "best-effort": "best effort only",
    "not-covered": "not covered",
    "unknown": "not decided by the policy",
}

LEAD = {
    "covered": "{vendor}'s support policy covers this.",
    "best-effort": "{vendor} promises only best-effort support for this.",
    "not-covered": "{vendor}'s support policy does not cover this (or puts it on the customer).",
    "unknown": "{vendor}'s policy does not settle this.",
}

# a decided finding below the confidence bar: the reading, said as one
TENTATIVE = {
    "covered": "{vendor}'s support policy seems to cover this, but the passage is not a clear match.",
    "best-effort": "{vendor} seems to promise only best-effort support for this, but the passage is not a clear match.",
    "not-covered": "{vendor}'s support policy seems not to cover this (or to put it on the customer), but the passage is not a clear match.",
}


def label(f: Finding) -> str:
    """The verdict as a person reads it: "covered", or "covered? — check" when it escalates."""
    if f.escalate and f.verdict != "unknown":
        return f"{LABEL[f.verdict]}? — check"
    return LABEL[f.verdict]


def top_verdict(findings: list[Finding]) -> str:
    verdicts = {f.verdict for f in findings}
    return verdicts.pop() if len(verdicts) == 1 else ("mixed" if verdicts else "unknown")


def is_bare_lead_in(quote: str) -> bool:
    """A sentence that only introduces a list ("… does not provide support for the following
    areas:"): it says nothing until its items are read, so it is never a citation of its own."""
    text = quote.strip()
    return text.endswith(":") and len(sentence_spans(text)) <= 1


class Links:
    """Citation links for one corpus: the section (``url#anchor``) when the document declares
    its anchor style, else the page. Each document's headings are read once."""

    def __init__(self, docs: dict[str, dict]):
        self.docs = docs
        self._anchors: dict[str, tuple[tuple[int, str], ...]] = {}

    def __call__(self, c: Citation) -> str:
        meta = self.docs.get(c.doc)
        if meta is None:
            return c.url
        if c.doc not in self._anchors:
            self._anchors[c.doc] = section_anchors(meta.get("text", ""), meta.get("anchors"))
        return section_link(c.url, self._anchors[c.doc], c.start)


def _shown(f: Finding, links: Links | None, escalate: bool) -> Finding:
    """The finding as people get it: standalone citations, linked, and whether it escalates."""
    cits = tuple(replace(c, link=links(c) if links else c.url) for c in f.citations if not is_bare_lead_in(c.quote))
    return replace(f, citations=cits, escalate=escalate)


def _paragraph(f: Finding, providers: dict[str, Provider]) -> str:
    p = providers.get(f.provider)
    name = f"{p.vendor} {p.product}" if p else f.provider
    vendor = p.vendor if p else f.provider
    lead = (TENTATIVE if f.escalate and f.verdict in TENTATIVE else LEAD)[f.verdict].format(vendor=vendor)
    text = f"**{name}: {label(f)}.** {lead} {f.reason}"
    if f.citations and f.verdict != "unknown":
        c = f.citations[0]
        text += f" Source: [{c.title} — {c.section or 'top'}]({c.link or c.url})."
    return text


def needs_a_human(findings: list[Finding] | tuple[Finding, ...], providers: dict[str, Provider]) -> str:
    """Why an answer needs a human, naming whose policies do not decide it (front ends that
    show "Needs a human" as a badge or box say this beside it)."""
    who = list(dict.fromkeys(providers[f.provider].vendor if f.provider in providers else f.provider for f in findings if f.escalate))
    if not who:
        return "no vendor's policy answered this."
    if len(who) == 1:
        return f"{who[0]}'s policy does not clearly decide this."
    return f"the policies of {', '.join(who[:-1])} and {who[-1]} do not clearly decide this."


def compose(question: str, findings: list[Finding], providers: dict[str, Provider], escalate_below: float,
            links: Links | None = None) -> Answer:
    """The Answer: one paragraph per finding, then "Needs a human" once when any escalates."""
    shown = [_shown(f, links, f.verdict == "unknown" or f.confidence < escalate_below) for f in findings]
    lines = [_paragraph(f, providers) for f in shown]
    escalate = any(f.escalate for f in shown) or not shown
    if escalate and shown:
        lines.append(f"_Needs a human: {needs_a_human(shown, providers)}_")
    return Answer(question, top_verdict(shown), escalate, "\n\n".join(lines), tuple(shown))  # type: ignore[arg-type]
