"""The verdict's rules as named data: cue phrases, heading/column/label cues, and the text
patterns that shape how a clause is read (conditions, circumstances, examples, categories).

Nothing here names a vendor. Cue patterns are templates: ``{party}`` (the vendor and its
staff, built from the provider's names in front matter), ``{cust}`` (the customer),
``{act}`` (what a party does), ``{not}`` (a negation), ``{w}`` (one word) and ``{names}``
(the provider's names) are filled in per provider by :func:`compile_template`; every other
brace is regex syntax.

Precedence (which cue of a clause wins) is explicit: see :data:`Tier` and :func:`precedence`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

from .text import normalize
from .types import Verdict

NEG: Verdict = "not-covered"
POS: Verdict = "covered"
BE: Verdict = "best-effort"


class Tier(IntEnum):
    """Which cue wins when several match one clause (higher wins).

    A strong cue (strength ≥ 0.9) outranks every weaker one; within each band best-effort
    beats the support phrase it sits in, a negation beats the positive phrase it negates,
    and a side (positive) beats shared responsibility."""

    WEAK_SHARED = 0
    WEAK_POSITIVE = 1
    WEAK_NEGATIVE = 2
    POSITIVE = 3
    NEGATIVE = 4
    BEST_EFFORT = 5


@dataclass(frozen=True)
class CueRule:
    """One cue phrase: a clause matching ``pattern`` takes ``verdict`` with ``strength``."""

    id: str
    pattern: str  # a regex template (see the module docstring), matched on normalized text
    verdict: Verdict | None  # None: shared responsibility (names no side)
    strength: float
    tier: Tier | None  # None: a heading/column/label cue, which never competes with another
    note: str = ""


@dataclass(frozen=True)
class TextRule:
    """A named regex that shapes how a clause is read (not a verdict by itself)."""

    id: str
    pattern: re.Pattern
    note: str = ""


def precedence(rule: CueRule, start: int) -> tuple:
    """Rank of a match: tier, then strength, then the earliest match in the clause. Equal
    ranks go to the rule listed first in :data:`CUE_RULES` (``max`` keeps the first)."""
    return (rule.tier, rule.strength, -start)


# -- shared sub-patterns (filled into the templates) ---------------------------------------

SUBPATTERNS: dict[str, str] = {
    "not": r"(?:does not|doesn't|do not|don't|did not|will not|won't|would not|cannot|can't|can not|is not|isn't|are not|aren't|not)",
    "w": r"(?:[\w'-]+\s+)",
    "cust": r"(?:you|customers?|users?|the\s+customer|the\s+user|the\s+client|clients?)",
    "staff": r"(?:(?:technical\s+)?support(?:\s+and\s+engineering)?(?:\s+teams?|\s+engineers?)?|product|engineering|engineers?|team|teams|personnel|staff|operations)",
    "party": r"(?:(?:{names})(?:'s)?(?:\s+{staff})?|the\s+[\w-]+\s+team|(?:our\s+)?support\s+engineers|we)",
    "act": (
        r"(?:manages|monitors|maintains|operates|performs|patches|deploys|hardens|handles|restores|repairs|backs\s+up|"
        r"applies|publishes|keeps|ships|builds|installs|hosts|runs|upgrades|updates|snapshots|replaces|fixes|resolves|"
        r"investigates|troubleshoots|assists|helps|takes\s+care|is\s+accountable|will\s+(?:patch|apply|detect|restore|handle|perform|fix|"
        r"investigate|help|assist|point|notify|replace|upgrade)|can\s+(?:advise|answer|help|assist))"
    ),
}
_SLOT = re.compile(r"\{(" + "|".join([*SUBPATTERNS, "names"]) + r")\}")


def names_pattern(names: tuple[str, ...]) -> str:
    """The provider's names as one alternation, longest first (front matter, never code)."""
    found = sorted({normalize(n) for n in names if len(n) > 1}, key=len, reverse=True)
    return "|".join(re.escape(n) for n in found)


def compile_template(template: str, names: str) -> str:
    """Fill the named slots of a template (recursively: ``{party}`` holds ``{names}``)."""
    slots = {**SUBPATTERNS, "names": names}
    return _SLOT.sub(lambda m: compile_template(slots[m.group(1)], names) if m.group(1) != "names" else names, template)


# -- cue phrases of a clause ---------------------------------------------------------------

CUE_RULES: tuple[CueRule, ...] = (
    CueRule("best-effort", r"\bbest[\s-]*effort\b", BE, 1.0, Tier.BEST_EFFORT),
    CueRule("support-unaffected", r"\b(?:does not|doesn't|do not|don't|will not|won't)\s+(?:affect|impact|change|void)\s+(?:your\s+|the\s+)?support\b", POS, 1.0, Tier.POSITIVE, "doing X does not void your support"),
    CueRule("not-provide-support", r"\b{not}\s+{w}{0,2}(?:provide|offer|give)\s+{w}{0,3}?(?:support|advice|assistance|help)\b", NEG, 1.0, Tier.NEGATIVE),
    CueRule("does-not-support", r"\b(?:does not|doesn't|do not|don't|will not|won't|cannot|can't|never)\s+(?!affect|impact|change|void)(?:\w+\s+)?support\b", NEG, 1.0, Tier.NEGATIVE),
    CueRule("not-supported", r"\b(?:not|isn't|aren't|never|no longer)\s+(?:be\s+|being\s+|officially\s+)?(?:supported|covered)\b", NEG, 1.0, Tier.NEGATIVE),
    CueRule("unsupported", r"\b(?:unsupported|unsupportable|not\s+supportable)\b", NEG, 1.0, Tier.NEGATIVE),
    CueRule("out-of-scope", r"\b(?:out\s*(?:side)?\s+(?:of\s+)?(?:the\s+)?scope|not\s+in\s+(?:the\s+)?scope|not\s+within\s+(?:the\s+)?scope|excluded\s+from)\b", NEG, 0.9, Tier.NEGATIVE),
    CueRule("customer-responsible", r"\b{cust}\s+(?:alone\s+)?(?:are|is)\s+(?:\w+\s+)?(?:responsible|accountable)\b", NEG, 1.0, Tier.NEGATIVE),
    CueRule("your-responsibility", r"\b(?:it\s+is\s+)?your\s+(?:own\s+)?(?:responsibilit(?:y|ies)|task|job|duty)\b|\b(?:is|are)\s+yours\s+to\b", NEG, 1.0, Tier.NEGATIVE),
    CueRule("customer-responsibility", r"\bcustomer(?:'s)?\s+responsibilit(?:y|ies)\b", NEG, 1.0, Tier.NEGATIVE),
    CueRule("customer-has-responsibility", r"\b{cust}\s+(?:have|has)\s+(?:a|the)\s+responsibility\b", NEG, 0.6, Tier.WEAK_NEGATIVE),
    CueRule("customer-must", r"\b{cust}\s+(?:must|(?:are|is)\s+required\s+to)\b", NEG, 0.5, Tier.WEAK_NEGATIVE),
    CueRule("customer-cannot", r"\b{cust}\s+(?:cannot|can't|can\s+not|(?:are|is)\s+not\s+(?:allowed|permitted|able)\s+to|may\s+not)\b", NEG, 0.8, Tier.WEAK_NEGATIVE),
    CueRule("not-available-to-customer", r"\b(?:not|aren't|isn't)\s+(?:directly\s+)?(?:available|accessible)\s+to\s+{cust}", NEG, 0.8, Tier.WEAK_NEGATIVE),
    CueRule("responsibility-of-customer", r"\b(?:responsibility|responsible)\s+of\s+{cust}\b", NEG, 1.0, Tier.NEGATIVE),
    CueRule("customer-does-it-themselves", r"\b{cust}\s+(?:\w+\s+){1,6}?(?:yourself|yourselves|themselves|on\s+your\s+own)\b", NEG, 0.7, Tier.WEAK_NEGATIVE),
    CueRule("shared-responsibility", r"\b(?:share|shares|shared)\s+(?:the\s+)?responsibilit(?:y|ies)\b|\bresponsibility\s*:\s*shared\b", None, 0.4, Tier.WEAK_SHARED),
    CueRule("vendor-does-not", r"\b{party}\s+(?:{not}|never)\s+(?:\w+\s+){0,2}?(?:automatically\s+)?\w+", NEG, 0.7, Tier.WEAK_NEGATIVE),
    CueRule("vendor-provides-support", r"\b{party}\s+{w}{0,2}?(?:provides?|offers?|gives?|delivers?)\s+{w}{0,4}?support\b", POS, 1.0, Tier.POSITIVE),
    CueRule("vendor-supports", r"\b{party}\s+(?:\w+\s+)?(?:supports|does\s+support|will\s+support|is\s+supported)\b", POS, 1.0, Tier.POSITIVE),
    CueRule("supported-or-in-scope", r"\bsupport\s+includes\b|\b(?:is|are)\s+(?:fully\s+)?supported\b|\bareas\s+covered\b|\bcovered\s+by\b|\bwithin\s+(?:the\s+)?scope\b|\bin\s+scope\b", POS, 0.9, Tier.POSITIVE),
    CueRule("vendor-responsible", r"\b{party}\s+(?:alone\s+)?(?:is|are)\s+(?:\w+\s+)?(?:responsible|accountable)\b", POS, 1.0, Tier.POSITIVE),
    CueRule("vendor-responsibility", r"\b(?:it\s+is\s+)?{party}\s+responsibilit(?:y|ies)\b|\bresponsibilit(?:y|ies)\s+of\s+{party}|\b{party}\s+(?:has|have|assumes?)\s+(?:the\s+)?responsibility\b", POS, 1.0, Tier.POSITIVE),
    CueRule("done-by-vendor", r"\b(?:managed|maintained|operated|monitored|patched|handled|performed|hardened|provided|remediated|restored|run|hosted|built)\s+(?:\w+\s+)?by\s+{party}\b", POS, 0.9, Tier.POSITIVE),
    CueRule("vendor-acts", r"\b{party}\s+(?:\w+\s+)?{act}\b", POS, 0.8, Tier.WEAK_POSITIVE),
    CueRule("automatic", r"\b(?:are|is|be|get)\s+automatically\s+(?:remediated|patched|restored|applied|updated|upgraded|backed\s+up)\b|\breceive\s+(?:[\w-]+\s+){0,3}automatically\b|\bautomated\b", POS, 0.7, Tier.WEAK_POSITIVE),
)

# -- section headings, matrix columns and matrix cell labels -------------------------------
# These cues have no pattern of their own beyond the column templates: a heading takes its
# polarity from the column it names, else from a strong cue phrase in it; a matrix cell from
# its value under a vendor or customer column.

COLUMN_VENDOR = CueRule("column-vendor", r"\b{party}\s*responsibilit|\bresponsibilities\s+for\b.*\b(?:{names})\b|^(?:{names})\b.*\bresponsibilit", POS, 0.8, None, "a heading or column naming the vendor's responsibilities")
COLUMN_CUSTOMER = CueRule("column-customer", r"\b(?:your|customer|customers|user|users|client)(?:'s)?\s+responsibilit", NEG, 0.8, None, "a heading or column naming the customer's responsibilities")
HEADING_STRONG_CUE = CueRule("heading-strong-cue", "", None, 0.7, None, "a heading holding a strong (≥ 0.9) side-taking cue phrase; verdict is that cue's")
LABEL_TOTAL = CueRule("label-total", "", None, 1.0, None, "cell 'total|full|sole|yes': the column's side")
LABEL_NONE = CueRule("label-none", "", None, 0.9, None, "cell 'none|no': the other side")
LABEL_SHARED = CueRule("label-shared", "", None, 0.6, None, "any other cell (shared): the cell lists this column's part")
HEADING_MIN_STRENGTH = 0.9  # a heading's own cue phrase counts only if at least this strong
LABEL_TOTAL_VALUES = ("total", "full", "sole", "yes")
LABEL_NONE_VALUES = ("none", "no")
STRUCTURE_RULES: tuple[CueRule, ...] = (COLUMN_VENDOR, COLUMN_CUSTOMER, HEADING_STRONG_CUE, LABEL_TOTAL, LABEL_NONE, LABEL_SHARED)

# -- text rules: how a clause is read --------------------------------------------------------

CONDITION = TextRule("condition", re.compile(r"^\s*(?:if|when|where|once|unless|provided that|as long as)\b[^,]*,\s*", re.I), "a leading if/unless clause governs the rest")
CONDITION_MIN_BODY = 10  # a leading condition counts only with more than this many characters after it
NOT_A_CONDITION = TextRule("not-a-condition", re.compile(r"(?i)\s*(once|when|where)\b"), "'once/when/where …,' opens a circumstance, not a condition")
CONDITION_NEGATED = TextRule("condition-negated", re.compile(r"\bnot\b|n't\b|\bwithout\b"), "'if … not based on documentation'")
UNLESS_MID = TextRule("unless-documented", re.compile(r"\bunless\s+(?:otherwise\s+)?[\w\s-]{0,40}?(?:documented|specified|stated|noted|agreed)\b", re.I), "'… unless otherwise documented' states the default")
CIRCUMSTANCE = TextRule("circumstance", re.compile(r"(?i)^\s*(?:when|whenever|once|after|before)\b[^,]{8,}?,\s*"), "a leading 'When …,' is not what the cue decides")
PASSIVE = TextRule("passive-cue", re.compile(r"(?i)(?:supported|covered|supportable|(?:available|accessible)\b[^,;]*|remediated|patched|restored|applied|updated|upgraded|backed\s+up|automated|\bby\b[^,;]*)\s*$"), "a cue ending in a participle follows its subject")
ASIDE_MIN_WORDS = 4  # a parenthetical of at least this many words is read as a clause of its own
EXAMPLES = TextRule("examples-aside", re.compile(r"(?i)\s*(?:such\s+as|for\s+example|for\s+instance|e\.\s?g\.|including|like)\b"), "a parenthetical of examples belongs to its sentence")
THIRD_PARTY = TextRule(
    "third-party-category",
    re.compile(
        r"\b(?:third[\s-]+party|open[\s-]+source|closed[\s-]+source|commercial|other\s+vendors?)\b[^.]{0,80}?\b(?:software|projects?|tools?|products?|packages?|components?|applications?|solutions?)\b"
        r"|\b(?:software|projects?|tools?|products?|packages?)\b[^.]{0,40}?\b(?:third[\s-]+part(?:y|ies)|other\s+vendors?)\b",
        re.I,
    ),
    "the passage stating the policy for software the vendor did not ship",
)
HOWTO_CATEGORY = TextRule("howto-category", re.compile(r"\bhow[\s-]+to\b|\badvice\b", re.I), "the passage stating the policy for usage advice")
PARTICIPLE = TextRule("participle-modifier", re.compile(r"(?:ed|ing)$"), "a participle says what state a thing is in, not what kind it is")
TEXT_RULES: tuple[TextRule, ...] = (CONDITION, NOT_A_CONDITION, CONDITION_NEGATED, UNLESS_MID, CIRCUMSTANCE, PASSIVE, EXAMPLES, THIRD_PARTY, HOWTO_CATEGORY, PARTICIPLE)


def all_rule_ids() -> list[str]:
    """Every rule id, cue and text rules alike (a test holds one example row per id)."""
    return [r.id for r in (*CUE_RULES, *STRUCTURE_RULES, *TEXT_RULES)]
