"""bot.session: follow-ups rewritten from the previous turn; the bounded, expiring session store.

The resolver is tested on the repo corpus' providers (hash bot: no model needed) and on a
made-up provider set, to show nothing in it depends on the corpus' vendors.
"""

from __future__ import annotations

import pytest

from bot.engine.query import QueryAnalyzer
from bot.engine.session import FollowUpResolver, Resolution, SessionStore, Turn
from bot.engine.types import Provider


@pytest.fixture(scope="module")
def resolver(hash_bot) -> FollowUpResolver:
    return hash_bot.followups


PROVIDER_FOLLOWUPS = [
    # previous question, its scope, follow-up -> resolved question, scope
    ("Is Istio supported?", None, "and on AKS?", "Is Istio supported on AKS?", "aks"),
    ("Is Istio supported?", None, "AKS?", "Is Istio supported on AKS?", "aks"),
    ("Is Istio supported?", None, "what about Oracle?", "Is Istio supported on Oracle?", "oke"),
    ("Is Istio supported?", None, "And for OKE, then?", "Is Istio supported for OKE?", "oke"),
    ("Is Istio supported on AKS?", "aks", "and on OKE?", "Is Istio supported on OKE?", "oke"),
    ("Can I ssh into my worker nodes?", None, "same for Azure", "Can I ssh into my worker nodes on Azure?", "aks"),
    ("Does Oracle support custom kernel modules?", None, "and on AKS?", "Does AKS support custom kernel modules?", "aks"),
    ("Is Istio supported?", None, "and on AKS and OKE?", "Is Istio supported on AKS and OKE?", None),
]


@pytest.mark.parametrize("prev,prev_scope,followup,resolved,scope", PROVIDER_FOLLOWUPS)
def test_provider_followup_rescopes_the_previous_question(resolver, prev, prev_scope, followup, resolved, scope):
    assert resolver.resolve(followup, None, Turn(prev, prev_scope)) == Resolution(resolved, scope, "provider")


SUBJECT_FOLLOWUPS = [
    ("Is Istio supported?", None, "what about Helm?", "Is Helm supported?", None),
    ("Is Istio supported on AKS?", "aks", "what about Helm?", "Is Helm supported on AKS?", "aks"),
    ("Is Istio supported?", "aks", "how about Helm?", "Is Helm supported?", "aks"),  # the scope carries over
    ("Is Istio supported?", None, "and Linkerd?", "Is Linkerd supported?", None),
    ("Is Istio supported?", None, "Same for Linkerd", "Is Linkerd supported?", None),
    ("Is Istio supported?", None, "what about the Helm chart too?", "Is Helm chart supported?", None),
    ("Who is responsible for upgrading the control plane?", None, "what about node pools?", "Who is responsible for node pools?", None),
    ("Is Istio supported?", None, "how about Helm on OKE?", "Is Helm supported on OKE?", "oke"),
]


@pytest.mark.parametrize("prev,prev_scope,followup,resolved,scope", SUBJECT_FOLLOWUPS)
def test_subject_followup_swaps_the_previous_subject(resolver, prev, prev_scope, followup, resolved, scope):
    assert resolver.resolve(followup, None, Turn(prev, prev_scope)) == Resolution(resolved, scope, "subject")


@pytest.mark.parametrize(
    "followup",
    [
        "Is Helm supported?",  # a whole question
        "and can I reboot my nodes?",  # a lead, but a verb and a person of its own
        "what about it?",  # nothing to swap in
        "Helm?",  # no lead, not a provider: asked as is
        "Thanks!",
    ],
)
def test_standalone_questions_are_left_alone(resolver, followup):
    assert resolver.resolve(followup, None, Turn("Is Istio supported?", None)) == Resolution(followup, None)


def test_no_previous_turn_means_standalone(resolver):
    assert resolver.resolve("and on AKS?", None, None) == Resolution("and on AKS?", None)


def test_previous_question_without_subject_terms_is_not_rewritten(resolver):
    assert resolver.resolve("what about Helm?", None, Turn("Is it supported?", None)).kind is None


def test_explicit_provider_wins_like_everywhere_in_the_core(resolver):
    r = resolver.resolve("and on OKE?", "aks", Turn("Is Istio supported?", None))
    assert r.question == "Is Istio supported on OKE?" and r.provider == "aks"


def test_resolver_is_generic_over_any_provider_names():
    providers = {
        "nke": Provider("nke", "Northwind", "Northwind Kubernetes Engine (NKE)"),
        "zcs": Provider("zcs", "Zephyr Cloud", "Zephyr Container Service (ZCS)", aliases=("Zephyr",)),
    }
    r = FollowUpResolver(providers, QueryAnalyzer(providers))
    prev = Turn("Are service meshes supported on Northwind?", None)
    assert r.resolve("and on Zephyr Cloud?", None, prev) == Resolution("Are service meshes supported on Zephyr Cloud?", "zcs", "provider")
    assert r.resolve("what about ZCS?", None, prev).provider == "zcs"
    swapped = r.resolve("what about kernel modules?", None, Turn("Are service meshes supported?", "nke"))
    assert swapped == Resolution("Are kernel modules supported?", "nke", "subject")


# ------------------------------------------------------------------------------ the store


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_store_expires_turns_after_ttl():
    clock = Clock()
    s = SessionStore(max_sessions=10, ttl=60, clock=clock)
    s.put("a", Turn("q", None))
    clock.now = 59
    assert s.get("a") == Turn("q", None)
    clock.now = 59 + 61  # a get() does not refresh; a put() does
    assert s.get("a") is None and len(s) == 0


def test_store_is_bounded_least_recently_used_first():
    s = SessionStore(max_sessions=2, ttl=60, clock=Clock())
    s.put("a", Turn("qa", None))
    s.put("b", Turn("qb", None))
    assert s.get("a") is not None  # "a" is now the most recently used
    s.put("c", Turn("qc", None))
    assert len(s) == 2 and s.get("b") is None and s.get("a") and s.get("c")


def test_bot_ask_remembers_the_resolved_turn_per_session(hash_bot):
    _, r1 = hash_bot.ask("Is Istio supported?", session_id="t-session-1")
    a2, r2 = hash_bot.ask("and on AKS?", session_id="t-session-1")
    assert r1.kind is None and r2 == Resolution("Is Istio supported on AKS?", "aks", "provider")
    assert [f.provider for f in a2.findings] == ["aks"] and a2.question == r2.question
    assert hash_bot.sessions.get("t-session-1") == Turn("Is Istio supported on AKS?", "aks")
    _, other = hash_bot.ask("and on AKS?", session_id="t-session-2")  # another session has no history
    assert other.kind is None
    _, none = hash_bot.ask("and on AKS?")  # no session: plain answer()
    assert none.kind is None
