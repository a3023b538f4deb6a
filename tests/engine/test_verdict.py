"""The rules engine's verdicts (no trained reader: ``rules_bot``), pinned at ``Bot.answer`` level
(the reader reads its findings as features), plus the composition rules of bot.answer."""

from __future__ import annotations

import json

import pytest

from bot.engine.answer import compose, top_verdict
from bot.engine.types import Citation, Finding, Provider
from conftest import assert_citations_exact

THIRD_PARTY = "Third-party open-source projects"
HELM_NOTE = "best-effort support for third-party open-source projects such as Helm"


def _by_provider(ans):
    return {f.provider: f for f in ans.findings}


# ------------------------------------------------------------------------------ real model


@pytest.mark.slow
def test_istio_is_not_covered_by_either_provider(rules_bot, real_env):
    ans = rules_bot.answer("Is Istio supported?")
    f = _by_provider(ans)
    assert set(f) == {"aks", "oke"}
    assert f["aks"].verdict == "not-covered" and f["oke"].verdict == "not-covered"
    assert ans.verdict == "not-covered"
    for p in ("aks", "oke"):
        quotes = [c.quote for c in f[p].citations]
        assert any(THIRD_PARTY in q and "Istio" in q for q in quotes), (p, quotes)
        assert f[p].citations[0].doc.startswith(p + "/")
    assert assert_citations_exact(ans, real_env.corpus_dir, rules_bot.index.docs) >= 2


@pytest.mark.slow
def test_helm_is_best_effort_on_aks_not_covered_on_oke(rules_bot, real_env):
    ans = rules_bot.answer("Is Helm supported?")
    f = _by_provider(ans)
    assert f["aks"].verdict == "best-effort"
    assert f["oke"].verdict == "not-covered"
    assert ans.verdict == "mixed"
    assert any(HELM_NOTE in c.quote for c in f["aks"].citations)
    assert any(THIRD_PARTY in c.quote and "Helm" in c.quote for c in f["oke"].citations)
    assert_citations_exact(ans, real_env.corpus_dir, rules_bot.index.docs)


@pytest.mark.slow
def test_how_to_questions_fall_under_the_policys_how_to_category(rules_bot, real_env):
    ans = rules_bot.answer("How do I write a Deployment manifest?")
    for f in ans.findings:
        assert f.verdict == "not-covered"
        assert any("how to use Kubernetes" in c.quote for c in f.citations)
    assert_citations_exact(ans, real_env.corpus_dir, rules_bot.index.docs)
    # a how-to about something the corpus never speaks of stays undecided
    off = rules_bot.answer("How do I write a Python function that parses a JSON config file?")
    assert {f.verdict for f in off.findings} == {"unknown"}


@pytest.mark.slow
def test_price_question_is_unknown_and_escalated(rules_bot):
    ans = rules_bot.answer("What's the price of a node?")
    f = _by_provider(ans)
    assert {p: x.verdict for p, x in f.items()} == {"aks": "unknown", "oke": "unknown"}
    assert ans.verdict == "unknown"
    assert ans.escalate is True
    assert "human" in ans.answer.lower()


@pytest.mark.slow
def test_a_kind_the_policy_never_names_is_not_decided_by_the_general_passage(rules_bot):
    # the policies speak of worker nodes, never of ARM-based ones
    ans = rules_bot.answer("Can I run ARM-based worker nodes?")
    for f in ans.findings:
        assert f.verdict == "unknown", (f.provider, f.reason)
        assert '"ARM"' in f.reason
    assert ans.escalate is True
    # without the narrowing word the same passages decide it
    plain = _by_provider(rules_bot.answer("Who patches the worker nodes' OS?"))
    assert plain["aks"].verdict == "covered"


@pytest.mark.slow
def test_a_sibling_kind_in_the_passage_does_not_decide_the_asked_kind(rules_bot):
    # one policy excludes "Kubernetes Alpha features" and never says "beta"; the other says both
    f = _by_provider(rules_bot.answer("Are Kubernetes beta features supported?"))
    assert f["oke"].verdict == "unknown" and '"beta"' in f["oke"].reason
    assert f["aks"].verdict == "not-covered"
    assert any("beta" in c.quote for c in f["aks"].citations)


@pytest.mark.slow
def test_verdicts_come_with_reasons_and_confidence(rules_bot):
    ans = rules_bot.answer("Is Istio supported?")
    for f in ans.findings:
        assert 0.0 < f.confidence <= 1.0
        assert f.reason
    assert ans.escalate is False


# ------------------------------------------------------------------------------ composition


def _cit(doc="aks/d", quote="q"):
    return Citation(doc, "T", "S", quote, "https://x.example", 0, len(quote), 0.5)


PROVIDERS = {
    "aks": Provider("aks", "Microsoft", "Azure Kubernetes Service (AKS)"),
    "oke": Provider("oke", "Oracle", "Container Engine for Kubernetes (OKE)"),
}


@pytest.mark.parametrize(
    "verdicts, top",
    [
        (["not-covered", "not-covered"], "not-covered"),
        (["best-effort", "not-covered"], "mixed"),
        (["covered"], "covered"),
        (["unknown", "unknown"], "unknown"),
        (["covered", "unknown"], "mixed"),
        ([], "unknown"),
    ],
)
def test_top_verdict(verdicts, top):
    assert top_verdict([Finding(f"p{i}", v, 0.9, "r") for i, v in enumerate(verdicts)]) == top


def test_compose_escalates_unknown_or_low_confidence():
    sure = Finding("aks", "covered", 0.9, "because", (_cit(),))
    shaky = Finding("oke", "not-covered", 0.4, "maybe", (_cit("oke/d"),))
    unk = Finding("oke", "unknown", 0.95, "no idea")
    assert compose("q", [sure], PROVIDERS, 0.6).escalate is False
    assert compose("q", [sure, shaky], PROVIDERS, 0.6).escalate is True
    assert compose("q", [sure, unk], PROVIDERS, 0.6).escalate is True
    assert compose("q", [], PROVIDERS, 0.6).escalate is True


def test_compose_names_vendor_and_source_and_to_dict_shape():
    f = Finding("aks", "best-effort", 0.87654, "A note says so.", (_cit(quote="best effort"),), condition="If  you\nfollow the docs.")
    ans = compose("Is Helm supported?", [f], PROVIDERS, 0.6)
    assert "Microsoft Azure Kubernetes Service (AKS): best effort only" in ans.answer
    assert "(https://x.example)" in ans.answer
    assert "follow the docs" not in ans.answer  # the condition is the reason's to state (bot.engine.reasons)
    d = json.loads(json.dumps(ans.to_dict()))
    assert set(d) == {"question", "verdict", "escalate", "answer", "findings"}
    [fd] = d["findings"]
    # fields are only ever added: escalate per finding, link per citation
    assert set(fd) == {"provider", "verdict", "confidence", "escalate", "reason", "citations"}
    assert fd["confidence"] == 0.877 and fd["escalate"] is False
    assert set(fd["citations"][0]) == {"doc", "title", "section", "quote", "url", "start", "end", "score", "link"}
    assert fd["citations"][0]["link"] == fd["citations"][0]["url"]  # compose without Links: the page


def test_names_given_as_examples_belong_to_the_sentence():
    from bot.engine.verdict import _example_names

    names = _example_names("Issues related to networking (such as kube-proxy, CoreDNS, or other network access issues).")
    assert "coredn" in names and "kube-proxi" in names
    assert "network" not in names and "access" not in names  # generic words of the aside are not
    assert _example_names("Support for networking (see the guide for the exact list of tools).") == []


def test_a_passive_cue_reads_its_subject_before_it():
    from bot.engine.rules import PASSIVE
    from bot.engine.verdict import PolicyReader

    _PASSIVE = PASSIVE.pattern
    reader = PolicyReader(Provider("x", "Acme", "Acme Kubernetes", ("Acme",)))
    for text in ("These backups aren't directly available to customers.", "Alpha features are not supported.", "Node images are managed by Acme support."):
        assert _PASSIVE.search(reader.cue(text).text), text
    for text in ("Acme doesn't provide support for service meshes.", "You are responsible for backups."):
        assert not _PASSIVE.search(reader.cue(text).text), text
