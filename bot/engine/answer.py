"""Compose the user-facing Answer from per-provider findings (no text beyond the documents)."""

from __future__ import annotations

from .types import Answer, Finding, Provider

LABEL = {
    "covered": "covered",
    "best-effort": "best effort only",
    "not-covered": "not covered",
    "unknown": "not decided by the policy — needs a human",
}

LEAD = {
    "covered": "{vendor}'s support policy covers this.",
    "best-effort": "{vendor} promises only best-effort support for this.",
    "not-covered": "{vendor}'s support policy does not cover this (or puts it on the customer).",
    "unknown": "{vendor}'s policy does not settle this; escalate to a human.",
}


def top_verdict(findings: list[Finding]) -> str:
    verdicts = {f.verdict for f in findings}
    return verdicts.pop() if len(verdicts) == 1 else ("mixed" if verdicts else "unknown")


def compose(question: str, findings: list[Finding], providers: dict[str, Provider], escalate_below: float) -> Answer:
    lines: list[str] = []
    for f in findings:
        p = providers.get(f.provider)
        name = f"{p.vendor} {p.product}" if p else f.provider
        vendor = p.vendor if p else f.provider
        text = f"**{name}: {LABEL[f.verdict]}.** {LEAD[f.verdict].format(vendor=vendor)} {f.reason}"
        if f.condition:
            text += f' Condition: "{" ".join(f.condition.split())}" — the ticket does not say this holds, so the default applies.'
        if f.citations and f.verdict != "unknown":
            c = f.citations[0]
            text += f" Source: [{c.title} — {c.section or 'top'}]({c.url})."
        lines.append(text)
    escalate = any(f.verdict == "unknown" or f.confidence < escalate_below for f in findings) or not findings
    if escalate and findings:
        lines.append("_Needs a human: at least one vendor's policy does not clearly decide this._")
    return Answer(question, top_verdict(findings), escalate, "\n\n".join(lines), tuple(findings))  # type: ignore[arg-type]
