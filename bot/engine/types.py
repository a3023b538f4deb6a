"""Domain types: small frozen dataclasses shared by every module.

Pydantic lives only at the edges (settings, HTTP bodies, eval files); inside the engine
everything is a plain immutable value so it can be cached, hashed and compared cheaply.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

Verdict = Literal["covered", "best-effort", "not-covered", "unknown"]
VERDICTS: tuple[Verdict, ...] = ("covered", "best-effort", "not-covered", "unknown")
TopVerdict = Literal["covered", "best-effort", "not-covered", "unknown", "mixed"]

# Roles of a span inside a chunk.
#   lead    - the sentence introducing a list ("X doesn't provide support for the following:")
#   parent  - an enclosing bullet of a nested bullet
#   body    - the passage itself
#   note    - an exception/note attached to the passage
#   label   - a matrix cell label ("Responsibility: Total")
Role = Literal["lead", "parent", "body", "note", "label", "context"]


@dataclass(frozen=True)
class Provider:
    """A vendor as described by the front matter of its documents."""

    id: str
    vendor: str
    product: str
    aliases: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every way a ticket may name this provider (id, vendor, product, acronym, aliases)."""
        out: list[str] = [self.id, self.vendor, self.product, *self.aliases]
        first = self.vendor.split()[0] if self.vendor.split() else ""
        if len(self.vendor.split()) > 1 and len(first) >= 4 and first[0].isupper():
            out.append(first)  # "Acme Cloud" is also written "Acme"
        if "(" in self.product and self.product.endswith(")"):
            base, _, acro = self.product[:-1].partition("(")
            out += [base.strip(), acro.strip()]
        seen: dict[str, None] = {}
        for n in out:
            if n and n.lower() not in {s.lower() for s in seen}:
                seen[n] = None
        return tuple(seen)


@dataclass(frozen=True)
class Document:
    """One policy document of the corpus, with its full source text (offsets index into it)."""

    id: str  # "<provider>/<stem>"
    provider: str
    vendor: str
    product: str
    title: str
    url: str
    path: str  # relative to the corpus root
    text: str  # the whole file, front matter included
    sha256: str
    aliases: tuple[str, ...] = ()
    anchors: str | None = None  # how the page at ``url`` names its sections' anchors (front matter ``anchors``)


@dataclass(frozen=True)
class Span:
    """A verbatim slice ``doc.text[start:end]`` with the role it plays in its chunk."""

    role: Role
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Chunk:
    """A retrievable unit: a paragraph, a bullet with its lead-in, a note with what it
    qualifies, or a matrix row. ``spans`` keep the exact source pieces for citations."""

    id: str
    doc_id: str
    provider: str
    kind: Literal["paragraph", "bullet", "note", "matrix-row"]
    headings: tuple[str, ...]
    spans: tuple[Span, ...]
    start: int
    end: int

    @property
    def section(self) -> str:
        return " > ".join(self.headings)

    def embed_text(self) -> str:
        """Text that is embedded and keyword-indexed: heading path, then the spans in order."""
        parts = [self.section] if self.headings else []
        parts += [" ".join(s.text.split()) for s in self.spans]
        return "\n".join(parts)


@dataclass(frozen=True)
class Unit:
    """One sentence (or clause) of a chunk with everything that governs how it reads.

    The verdict works on units: ``governors`` are the sentences whose polarity a neutral
    unit inherits, nearest first (its list lead-in, an enclosing bullet that ends in ':'),
    ``headings`` give the section polarity, and ``block_*`` is the passage cited for it.
    """

    id: str
    doc_id: str
    provider: str
    chunk_id: str
    role: Literal["body", "note", "lead", "label"]
    headings: tuple[str, ...]
    text: str
    start: int
    end: int
    block_start: int
    block_end: int
    governors: tuple[Span, ...] = ()
    label: str | None = None  # a matrix cell label such as "Responsibility: Total"
    qualified: Span | None = None  # for a note: the passage it qualifies

    @property
    def section(self) -> str:
        return " > ".join(self.headings)


@dataclass(frozen=True)
class Citation:
    doc: str
    title: str
    section: str
    quote: str
    url: str
    start: int
    end: int
    score: float
    link: str = ""  # the section's address (``url#anchor``) when the document declares its anchors, else ``url``


@dataclass(frozen=True)
class Finding:
    provider: str
    verdict: Verdict
    confidence: float
    reason: str
    citations: tuple[Citation, ...] = ()
    condition: str | None = None  # a condition the policy states but the ticket does not settle
    # how it was decided: the judge's named steps and the deciding rule ids ("decide:weak→category",
    # "rule:third-party-category"); for debugging and evals, never in the JSON output
    trace: tuple[str, ...] = field(default=(), compare=False)
    escalate: bool = False  # a human must check it: undecided, or decided with low confidence (set by compose)


@dataclass(frozen=True)
class Answer:
    question: str
    verdict: TopVerdict
    escalate: bool
    answer: str
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        """The public JSON shape (CLI ``--json``, HTTP API)."""
        return {
            "question": self.question,
            "verdict": self.verdict,
            "escalate": self.escalate,
            "answer": self.answer,
            "findings": [
                {
                    "provider": f.provider,
                    "verdict": f.verdict,
                    "confidence": round(f.confidence, 3),
                    "escalate": f.escalate,
                    "reason": f.reason,
                    "citations": [
                        {**asdict(c), "score": round(c.score, 4), "link": c.link or c.url} for c in f.citations
                    ],
                }
                for f in self.findings
            ],
        }
