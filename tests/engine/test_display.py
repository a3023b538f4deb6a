"""What people read of an answer (bot.engine.answer, bot.engine.reasons, section links in
bot.engine.corpus): an escalated finding looks undecided and "Needs a human" is said once; a
reason names the deciding words; citations stand on their own and link their section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.engine.answer import Links, compose, is_bare_lead_in, label
from bot.engine.corpus import github_anchor, load_document, section_anchors, section_link
from bot.engine.errors import CorpusError
from bot.engine.reasons import Grounds, reason, undecided_reason
from bot.engine.types import Citation, Finding, Provider

PROVIDERS = {"acme": Provider("acme", "Acme", "Acme Cloud (AC)"), "zed": Provider("zed", "Zed", "Zed Engine (ZE)")}
LEAD_IN = "Acme does not provide support for the following areas:"


def _cit(quote="Widgets are supported.", doc="acme/d", start=0):
    return Citation(doc, "T", "S", quote, "https://x.example/p", start, start + len(quote), 0.5)


# ------------------------------------------------------------------------------ escalation


def test_an_escalated_decided_finding_reads_undecided_and_needs_a_human_is_said_once():
    shaky = Finding("acme", "covered", 0.45, "The policy says in \"S\": \"Widgets are supported.\"", (_cit(),))
    unk = Finding("zed", "unknown", 0.9, undecided_reason("S"), (_cit(doc="zed/d"),))
    ans = compose("Are widgets supported?", [shaky, unk], PROVIDERS, 0.6)
    first, second, human = ans.answer.split("\n\n")
    assert first.startswith("**Acme Acme Cloud (AC): covered? — check.**") and "not a clear match" in first
    assert second.startswith("**Zed Zed Engine (ZE): not decided by the policy.**")
    assert ans.answer.lower().count("needs a human") == 1 and ans.answer.lower().count("human") == 1
    assert human == "_Needs a human: the policies of Acme and Zed do not clearly decide this._"
    assert [f.escalate for f in ans.findings] == [True, True] and ans.escalate
    assert [label(f) for f in ans.findings] == ["covered? — check", "not decided by the policy"]
    d = json.loads(json.dumps(ans.to_dict()))
    assert [f["escalate"] for f in d["findings"]] == [True, True]


def test_a_sure_finding_keeps_its_plain_label_beside_an_escalated_one():
    sure = Finding("acme", "not-covered", 0.9, "r.", (_cit(),))
    unk = Finding("zed", "unknown", 0.9, "n.")
    ans = compose("q", [sure, unk], PROVIDERS, 0.6)
    assert [f.escalate for f in ans.findings] == [False, True]
    assert ans.answer.startswith("**Acme Acme Cloud (AC): not covered.** Acme's support policy does not cover this")
    assert ans.answer.endswith("_Needs a human: Zed's policy does not clearly decide this._")
    alone = compose("q", [sure], PROVIDERS, 0.6)
    assert not alone.escalate and "human" not in alone.answer.lower()


# ------------------------------------------------------------------------------ citations


@pytest.mark.parametrize("quote, bare", [
    (LEAD_IN, True),
    ("  Examples include, but are not limited to:\n", True),
    ("Issues could include packet loss. Acme supports various networking scenarios:", False),  # says something first
    ("Widgets are supported.", False),
])
def test_bare_lead_in(quote, bare):
    assert is_bare_lead_in(quote) is bare


def test_a_bare_lead_in_is_never_a_citation_of_its_own():
    item = "Third-party projects such as widgets."
    f = Finding("acme", "not-covered", 0.9, "r.", (_cit(item, start=60), _cit(LEAD_IN, start=0)))
    [shown] = compose("q", [f], PROVIDERS, 0.6).findings
    assert [c.quote for c in shown.citations] == [item]


# ------------------------------------------------------------------------------ section links


@pytest.mark.parametrize("heading, anchor", [
    ("Network ports, access, and NSGs", "network-ports-access-and-nsgs"),
    ("Unsupported alpha and beta features", "unsupported-alpha-and-beta-features"),
    ("Using `kubectl` with [the CLI](https://x.example)", "using-kubectl-with-the-cli"),
    ("Acme's Responsibilities (API)", "acmes-responsibilities-api"),
    ("snake_case and hy-phen", "snake_case-and-hy-phen"),
])
def test_github_anchor(heading, anchor):
    assert github_anchor(heading) == anchor


DOC = "---\nprovider: acme\nvendor: Acme\ntitle: T\nurl: https://x.example/p\nanchors: github\n---\n\n# Policy\n\nIntro.\n\n## Coverage\n\nWidgets.\n\n## Coverage\n\nGadgets.\n"


def test_section_anchors_number_repeated_headings_and_links_pick_the_enclosing_section():
    anchors = section_anchors(DOC, "github")
    assert [a for _, a in anchors] == ["policy", "coverage", "coverage-1"]
    assert section_link("https://x.example/p", anchors, DOC.index("Widgets")) == "https://x.example/p#coverage"
    assert section_link("https://x.example/p", anchors, DOC.index("Gadgets")) == "https://x.example/p#coverage-1"
    assert section_link("https://x.example/p#old", anchors, DOC.index("Intro")) == "https://x.example/p#policy"
    assert section_link("https://x.example/p", anchors, 3) == "https://x.example/p"  # before any heading: the page
    assert section_anchors(DOC, None) == ()


def test_compose_links_sections_only_for_documents_that_declare_their_anchors():
    docs = {"acme/d": {"text": DOC, "anchors": "github"}, "zed/d": {"text": DOC.replace("anchors: github\n", "")}}
    at = DOC.index("Gadgets")
    fs = [Finding("acme", "covered", 0.9, "r.", (_cit("Gadgets.", start=at),)),
          Finding("zed", "covered", 0.9, "r.", (_cit("Gadgets.", doc="zed/d", start=at),))]
    ans = compose("q", fs, PROVIDERS, 0.6, Links(docs))
    assert [f.citations[0].link for f in ans.findings] == ["https://x.example/p#coverage-1", "https://x.example/p"]
    assert "(https://x.example/p#coverage-1)" in ans.answer
    assert [f.citations[0].url for f in ans.findings] == ["https://x.example/p"] * 2  # url stays the page


def _write(tmp_path: Path, name: str, text: str) -> Path:
    (tmp_path / "acme").mkdir(exist_ok=True)
    p = tmp_path / "acme" / name
    p.write_text(text, encoding="utf-8")
    return p


def test_front_matter_anchor_style(tmp_path):
    assert load_document(_write(tmp_path, "a.md", DOC), tmp_path).anchors == "github"
    assert load_document(_write(tmp_path, "b.md", DOC.replace("anchors: github\n", "")), tmp_path).anchors is None
    assert load_document(_write(tmp_path, "c.txt", DOC), tmp_path).anchors is None  # no Markdown headings to link
    with pytest.raises(CorpusError, match=r"acme/d\.md: unknown anchors style 'wiki'") as e:
        load_document(_write(tmp_path, "d.md", DOC.replace("github", "wiki")), tmp_path)
    assert "github" in e.value.hint


# ------------------------------------------------------------------------------ reasons


def test_reason_names_the_deciding_words_and_where_they_sit():
    q = "Third-party projects such as widgets."
    assert reason(Grounds(q, "Coverage > Not covered", lead_in=LEAD_IN)) == (
        f'Listed under "{LEAD_IN}" in "Coverage > Not covered": "{q}"')
    assert reason(Grounds(q, "M > Row > Your part", label="Responsibility: Total")).startswith(
        'The responsibility matrix marks this "Responsibility: Total" in "M > Row > Your part": ')
    assert reason(Grounds(q, "A > B", heading="Customer responsibilities")).startswith('Under the heading "Customer responsibilities"')
    assert reason(Grounds("Acme doesn't support widgets.", "S", cue="doesn't support")) == (
        'The policy says "doesn\'t support" in "S": "Acme doesn\'t support widgets."')
    assert reason(Grounds(q, "S", note=True)).startswith('A note in "S" makes an exception')
    assert reason(Grounds("No full stop", "")) == 'The policy says in the document: "No full stop".'


def test_reason_ends_with_the_condition_the_ticket_does_not_settle():
    why = reason(Grounds("Widgets are not supported.", "S", cue="not supported", condition="If  Acme documents it,\nit is best effort."))
    assert why.endswith('so the default applies: "If Acme documents it, it is best effort."')
    assert why.count('."') == 2 and not why.endswith('.".')
    own = "Unless otherwise documented, widgets are not supported."
    assert reason(Grounds(own, "S", cue="not supported", condition=own)) == (
        'The policy says "not supported" in "S": "Unless otherwise documented, widgets are not supported." '
        "The passage states a condition the ticket does not settle, so its default applies.")


def test_long_quotes_are_clipped_in_reasons_only():
    long = "word " * 100
    why = reason(Grounds(long, "S"))
    assert len(why) < 300 and "…" in why


def test_undecided_reason_names_the_closest_section_and_no_scores():
    assert undecided_reason("A > B") == 'No passage of the policy clearly decides this; the closest is in "A > B".'
    assert undecided_reason(None) == "No passage of the policy takes a position on this."


def test_judge_grounds_reads_the_lead_in_a_bullet_inherits(hash_bot):
    """The reader's verdict gets its reason from the document's structure: a bullet under a
    lead-in that takes a side is "listed under" it; against that side, just the passage."""
    judge = hash_bot.judge
    u = next(u for u in hash_bot.index.units if u.governors and judge.inherited(u)[1] == "lead"
             and not any(cl.cue is not None and cl.cue.verdict is not None for cl in judge.clauses(u)))
    side = judge.inherited(u)[0].verdict
    g = judge.grounds(u, side, condition="If so.")
    assert g.lead_in == u.governors[0].text and g.condition == "If so." and g.quote == u.text
    other = next(v for v in ("covered", "not-covered") if v != side)
    assert judge.grounds(u, other) == Grounds(u.text, u.section)
