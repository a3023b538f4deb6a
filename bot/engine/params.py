"""Every threshold and weight of the verdict, in one frozen, documented object.

``Judge(…, params=JudgeParams())`` reads nothing else, so an eval can sweep one field with
``dataclasses.replace(JudgeParams(), retained=0.75)``. Each field's ``doc`` (its metadata)
says what it is for; :func:`describe` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


def _p(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class JudgeParams:
    """Thresholds and weights of :class:`bot.engine.verdict.Judge` (defaults: the tuned values)."""

    # -- which words of the question matter
    top_terms: int = _p(4, "coverage of long questions is measured against this many most specific terms")
    long_words: int = _p(20, "a question of at least this many words is a long ticket (judged by match, not coverage)")
    retained: float = _p(0.8, "below this cosine the question means something the corpus never speaks of")
    idf_power: float = _p(2.0, "power of idf in term weights: the rarest words (names of things) decide what a passage is about")
    salient_terms: int = _p(3, "how many heaviest terms are checked for being addressed by the best passage")

    # -- how relevant a candidate clause is
    rel_lex: float = _p(0.4, "relevance weight of subject coverage by the clause itself")
    rel_obj: float = _p(0.15, "relevance weight of coverage by what the cue phrase is about")
    rel_ctx: float = _p(0.15, "relevance weight of coverage by the clause's context (headings, lead, qualified passage)")
    rel_dense: float = _p(0.45, "relevance weight of sentence-embedding similarity")
    spec_own: float = _p(1.0, "specificity of a clause's own cue phrase")
    spec_lead: float = _p(0.9, "specificity of a cue inherited from the list lead-in")
    spec_label: float = _p(0.85, "specificity of a cue read from a matrix cell label")
    spec_heading: float = _p(0.75, "specificity of a cue inherited from a section heading")
    spec_base: float = _p(0.85, "relevance factor is spec_base + spec_gain * specificity")
    spec_gain: float = _p(0.15, "how much specificity scales relevance (see spec_base)")
    note_boost: float = _p(1.05, "relevance factor of a note (an exception outranks its passage on a tie)")
    conditional_factor: float = _p(0.5, "relevance factor of an if-clause the ticket does not say holds")
    circumstance_weight: float = _p(0.5, "weight of the words of a leading 'When …,' circumstance in coverage")

    # -- exceptions and conditions
    exception_window: int = _p(6, "a note overriding the best passage is looked for among this many top candidates")
    condition_window: int = _p(8, "a held condition overriding the default is looked for among this many top candidates")
    lex_tolerance: float = _p(1e-9, "float tolerance when an exception note must cover at least as much as the best")

    # -- weak evidence gives unknown
    off_corpus_rel: float = _p(0.8, "an off-corpus question is still decided by a passage at least this relevant …")
    off_corpus_dense: float = _p(0.5, "… and at least this similar")
    weak_lex: float = _p(0.3, "evidence is weak below this coverage …")
    weak_dense: float = _p(0.45, "… together with similarity below this")
    weak_rel: float = _p(0.3, "evidence is weak below this relevance")
    addressed_dense: float = _p(0.5, "weak evidence that addresses a salient term counts from this similarity")
    long_weak_rel: float = _p(0.35, "a long ticket's evidence is weak below this relevance")
    loose_dense: float = _p(0.35, "a long ticket reading like an item of a covered list is loosely covered from this similarity")

    # -- confidence of an unknown finding
    info_request_conf: float = _p(0.8, "confidence of unknown for a request for a fact (price, date, region)")
    no_subject_conf: float = _p(0.9, "confidence of unknown when no question word is in the policy")
    no_terms_conf: float = _p(0.7, "confidence of unknown when the question has no subject at all")
    no_position_conf: float = _p(0.6, "confidence of unknown when no passage takes a position")
    unknown_base: float = _p(0.55, "unknown confidence is unknown_base + unknown_gain * (1 - coverage) * (1 - similarity) …")
    unknown_gain: float = _p(0.4, "… (see unknown_base)")
    unknown_max: float = _p(0.95, "… capped at this")
    category_conf: float = _p(0.55, "confidence of a verdict read from a category (third-party software, how-to)")
    max_unnamed: int = _p(2, "the category rule applies to questions naming at most this many unnamed tools")
    heads_category_chars: int = _p(5, "a passage heads its category when the category phrase starts before this offset")

    # -- confidence of a decided finding
    conf_base: float = _p(0.35, "confidence starts here …")
    conf_coverage: float = _p(0.3, "… plus this times coverage relative to conf_full_coverage …")
    conf_full_coverage: float = _p(0.8, "coverage counted as complete for confidence")
    conf_margin: float = _p(0.2, "… plus this times the margin over the best rival (scaled by conf_margin_scale) …")
    conf_margin_scale: float = _p(3.0, "a margin of 1/this counts as complete")
    conf_strength: float = _p(0.15, "… plus this times the cue strength")
    heading_penalty: float = _p(0.1, "confidence lost when the verdict comes only from a section heading")
    loose_cap: float = _p(0.5, "confidence cap of a loosely covered long ticket (so it escalates)")
    conf_min: float = _p(0.05, "lowest confidence of a decided finding")
    conf_max: float = _p(0.99, "highest confidence of a decided finding")

    # -- citations
    support_lex: float = _p(0.5, "a same-verdict passage supports the best if it covers this share of its coverage …")
    support_dense_gap: float = _p(0.1, "… and is at most this much less similar …")
    support_rel: float = _p(0.7, "… or is at least this share as relevant")
    cite_block_chars: int = _p(600, "a passage up to this long is cited whole, a longer one by its sentence")
    clip_chars: int = _p(220, "quotes in reasons are clipped to this many characters")

    def specificity(self, source: str) -> float:
        """How directly a cue from ``source`` (own | lead | label | heading) speaks of the clause."""
        return {"own": self.spec_own, "lead": self.spec_lead, "label": self.spec_label, "heading": self.spec_heading}[source]


def describe() -> dict[str, str]:
    """Field name → what it is for."""
    return {f.name: f.metadata["doc"] for f in fields(JudgeParams)}
