"""The verdict's rules as data: one example row per rule id (no model needed), the
precedence between cues, the parameters object, and the trace of ``Judge.decide``."""

from __future__ import annotations

import dataclasses

import pytest

from bot.engine import rules as R
from bot.engine.params import JudgeParams, describe
from bot.engine.types import Provider
from bot.engine.verdict import PolicyReader

NEG, POS, BE = "not-covered", "covered", "best-effort"

# a fictional vendor: every name the rules use comes from this front matter
ZEPHYR = Provider("zke", "Zephyr Cloud", "Zephyr Kubernetes Engine (ZKE)")


@pytest.fixture(scope="module")
def reader() -> PolicyReader:
    return PolicyReader(ZEPHYR)


# (rule id, sentence, verdict): the rule must be the one that wins the clause
CUE_ROWS = [
    ("best-effort", "Helm charts get best-effort help.", BE),
    ("support-unaffected", "Installing extensions does not void your support.", POS),
    ("not-provide-support", "Zephyr does not provide technical support for service meshes.", NEG),
    ("does-not-support", "We don't support Windows nodes.", NEG),
    ("not-supported", "Alpha features are not supported.", NEG),
    ("unsupported", "Custom kernels are unsupported.", NEG),
    ("out-of-scope", "Service meshes are out of scope.", NEG),
    ("customer-responsible", "You are responsible for your application code.", NEG),
    ("your-responsibility", "Backing up your data is your responsibility.", NEG),
    ("customer-responsibility", "Application code is a customer responsibility.", NEG),
    ("customer-has-responsibility", "Customers have a responsibility to rotate their keys.", NEG),
    ("customer-must", "Customers must rotate their keys.", NEG),
    ("customer-cannot", "Customers cannot log in to the control plane nodes.", NEG),
    ("not-available-to-customer", "The etcd backups aren't directly available to customers.", NEG),
    ("responsibility-of-customer", "Securing workloads is the responsibility of the customer.", NEG),
    ("customer-does-it-themselves", "You configure the network policies yourself.", NEG),
    ("shared-responsibility", "Security is a shared responsibility.", None),
    ("vendor-does-not", "Zephyr never restarts your pods automatically.", NEG),
    ("vendor-provides-support", "Zephyr Support provides technical support for the control plane.", POS),
    ("vendor-supports", "Zephyr fully supports node autoscaling.", POS),
    ("supported-or-in-scope", "Node autoscaling issues are supported.", POS),
    ("vendor-responsible", "Zephyr is responsible for the control plane.", POS),
    ("vendor-responsibility", "Patching the control plane is Zephyr's responsibility.", POS),
    ("done-by-vendor", "Node images are managed by Zephyr.", POS),
    ("vendor-acts", "Zephyr patches the node operating system.", POS),
    ("automatic", "Security patches are automatically applied to nodes.", POS),
]

# (rule id, section heading, verdict)
HEADING_ROWS = [
    ("column-customer", "Customer responsibilities", NEG),
    ("column-vendor", "Zephyr responsibilities", POS),
    ("heading-strong-cue", "Unsupported scenarios", NEG),
]

# (rule id, matrix cell label, its column heading, verdict)
LABEL_ROWS = [
    ("label-total", "Responsibility: Total", "Zephyr responsibilities", POS),
    ("label-none", "Responsibility: None", "Zephyr responsibilities", NEG),
    ("label-shared", "Responsibility: Shared", "Customer responsibilities", NEG),
]

# (rule id, text it matches, text it does not)
TEXT_ROWS = [
    ("condition", "If you follow the documentation, upgrades are supported.", "Upgrades are supported if you follow the documentation."),
    ("not-a-condition", "When a node fails, Zephyr replaces it.", "If a node fails, Zephyr replaces it."),
    ("condition-negated", "if the configuration is not based on documentation", "if the configuration follows the documentation"),
    ("unless-documented", "Changes are unsupported unless otherwise documented.", "Changes are unsupported."),
    ("circumstance", "When the cluster is upgraded, Zephyr drains the nodes.", "Zephyr drains the nodes when upgrading."),
    ("passive-cue", "are not supported", "does not provide support"),
    ("examples-aside", "such as Helm or Kustomize", "see the guide for the list"),
    ("third-party-category", "Third-party open-source projects are not supported.", "Node pools are supported."),
    ("howto-category", "Questions about how to use Kubernetes are not supported.", "Node pools are supported."),
    ("participle-modifier", "managed", "spot"),
]


@pytest.mark.parametrize("rule_id, sentence, verdict", CUE_ROWS, ids=[r[0] for r in CUE_ROWS])
def test_cue_rule(reader, rule_id, sentence, verdict):
    cue = reader.cue(sentence)
    assert cue is not None and (cue.rule, cue.verdict) == (rule_id, verdict)


@pytest.mark.parametrize("rule_id, heading, verdict", HEADING_ROWS, ids=[r[0] for r in HEADING_ROWS])
def test_heading_rule(reader, rule_id, heading, verdict):
    cue = reader.heading_cue(heading)
    assert cue is not None and (cue.rule, cue.verdict) == (rule_id, verdict)


@pytest.mark.parametrize("rule_id, label, column, verdict", LABEL_ROWS, ids=[r[0] for r in LABEL_ROWS])
def test_label_rule(reader, rule_id, label, column, verdict):
    cue = reader.label_cue(label, ("Responsibility matrix", column))
    assert cue is not None and (cue.rule, cue.verdict) == (rule_id, verdict)


@pytest.mark.parametrize("rule_id, hit, miss", TEXT_ROWS, ids=[r[0] for r in TEXT_ROWS])
def test_text_rule(rule_id, hit, miss):
    rule = {r.id: r for r in R.TEXT_RULES}[rule_id]
    assert rule.pattern.search(hit)
    assert not rule.pattern.search(miss)


def test_every_rule_has_a_row():
    rows = [r[0] for r in CUE_ROWS + HEADING_ROWS + LABEL_ROWS + TEXT_ROWS]
    assert len(rows) == len(set(rows)), "one row per rule id"
    assert set(rows) == set(R.all_rule_ids())
    assert len(R.all_rule_ids()) == len(set(R.all_rule_ids())), "rule ids are unique"


def test_rule_ids_are_short_kebab_case():
    for rid in R.all_rule_ids():
        assert rid.replace("-", "").isalpha() and rid == rid.lower() and len(rid) <= 30, rid


def test_templates_hold_no_names_and_fill_every_slot(reader):
    for pat, rule in reader.patterns:
        assert "zephyr" not in rule.pattern.lower()
        assert not R._SLOT.search(pat.pattern), rule.id
    assert "zephyr" in reader.col_vendor.pattern


def test_precedence_is_tier_then_strength_then_position(reader):
    # a strong negation beats the weaker positive phrase it sits in
    assert reader.cue("Zephyr does not provide support for meshes.").rule == "not-provide-support"
    # best effort beats the support phrase it qualifies
    assert reader.cue("Zephyr provides best-effort support for Helm.").rule == "best-effort"
    # a strong positive beats a weak negative
    assert reader.cue("Customers must use nodes that are supported.").rule == "supported-or-in-scope"
    # same tier and strength: the earlier match wins
    cue = reader.cue("Meshes are unsupported and not supported.")
    assert cue.rule == "unsupported" and cue.start < 20
    # tiers follow the documented bands: strong (>= 0.9) above weak, then BE > NEG > POS > shared
    rank = {BE: 2, NEG: 1, POS: 0, None: -1}
    for a in R.CUE_RULES:
        for b in R.CUE_RULES:
            if (a.strength >= 0.9, rank[a.verdict]) > (b.strength >= 0.9, rank[b.verdict]):
                assert a.tier > b.tier, (a.id, b.id)


def test_judge_params_are_frozen_and_documented():
    p = JudgeParams()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.retained = 0.5  # type: ignore[misc]
    docs = describe()
    assert set(docs) == {f.name for f in dataclasses.fields(JudgeParams)}
    for name, doc in docs.items():
        assert isinstance(doc, str) and len(doc) > 5, name
    swept = dataclasses.replace(p, retained=0.7)
    assert swept.retained == 0.7 and p.retained == 0.8


def test_bot_passes_its_params_to_the_judge(hash_env):
    from bot.engine.service import Bot
    from conftest import silent

    p = dataclasses.replace(JudgeParams(), clip_chars=100)
    bot = Bot.open(hash_env.settings(auto_index=False), embedder=hash_env.embedder, notify=silent, params=p)
    try:
        assert bot.judge.params is p
    finally:
        bot.close()


@pytest.mark.parametrize(
    "question, steps",
    [
        ("What's the price of a node?", ("decide:info-request",)),
        ("hello there", ("decide:no-terms",)),
        ("Is Frobnicator 3000 supported?", ("decide:no-subject→category", "rule:third-party-category")),
        ("Is Istio supported?", ("decide:decided", "rule:not-provide-support")),
        ("Is Helm supported?", ("rule:best-effort",)),
    ],
)
def test_decide_records_its_steps(hash_bot, question, steps):
    ans = hash_bot.answer(question)
    for f in ans.findings:
        if question == "Is Helm supported?" and f.provider != "aks":
            continue
        assert all(s in f.trace for s in steps), (f.provider, f.trace)
        assert any(s.startswith("decide:") for s in f.trace)
    assert "trace" not in str(ans.to_dict())
