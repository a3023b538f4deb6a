"""Question analysis: noise stripping, typo fixes, provider mentions, tool names, fact requests."""

from bot.engine.query import QueryAnalyzer, is_common_word, is_info_request, modifier_pairs, strip_noise
from bot.engine.types import Provider

PROVIDERS = {
    "aks": Provider("aks", "Microsoft", "Azure Kubernetes Service (AKS)", ("AKS", "Azure")),
    "oke": Provider("oke", "Oracle", "Container Engine for Kubernetes (OKE)", ("OKE", "OCI")),
}
VOCAB = {"istio", "helm", "support", "supported", "nodes", "worker", "network", "patches", "dns"}


def test_strip_noise_drops_logs_stack_frames_and_signature():
    ticket = (
        "Hello,\n\nOur pods cannot resolve names since this morning and we are blocked.\n"
        "2024-05-02 14:03:17.882 ERROR [api] resolver timeout\n"
        "\tat com.acme.Foo.bar(Foo.java:88)\n"
        "NAME     READY   STATUS\nweb-1    0/1     CrashLoopBackOff\n"
        "Is DNS resolution something your support covers?\n\nThanks,\nOwen\nACME Corp"
    )
    out = strip_noise(ticket)
    assert "resolver timeout" not in out and "Foo.java" not in out and "CrashLoopBackOff" not in out
    assert "Is DNS resolution something your support covers?" in out
    assert "ACME Corp" not in out


def test_typos_are_fixed_against_the_corpus_vocabulary():
    qa = QueryAnalyzer(PROVIDERS, VOCAB)
    q = qa.analyze("istoi suported??")
    assert "istio" in q.terms


def test_provider_mentions_and_names_are_not_subject_terms():
    qa = QueryAnalyzer(PROVIDERS, VOCAB)
    q = qa.analyze("Does Azure support Istio?")
    assert q.mentioned == ("aks",)
    assert "azur" not in q.terms and "istio" in q.terms


def test_unknown_tool_names_next_to_the_ask():
    qa = QueryAnalyzer(PROVIDERS, VOCAB)
    assert qa.analyze("Is Linkerd supported?").names == ("linkerd",)
    assert qa.analyze("What's the price of a node?").names == ()
    assert is_common_word("troubleshooting") and is_common_word("multi-cloud")


def test_fact_requests_are_told_apart_from_support_questions():
    assert is_info_request("What's the price of a node?")
    assert is_info_request("When will Kubernetes 1.31 be GA on your platform?")
    assert not is_info_request("What is covered for etcd backups?")
    assert not is_info_request("Who patches the control plane?")
    assert not is_info_request("What happens if I modify kube-proxy?")
    # commercial and availability facts, whatever the verb
    assert is_info_request("Is the managed service available in the Jakarta region yet?")
    assert is_info_request("Can you send me a quote for your premium support plan?")
    # ... but a quoted identifier is a name, not a topic
    assert not is_info_request("Someone deleted the 'billing' namespace. Do you keep audit logs?")


def test_modifier_pairs_are_adjacent_words_within_a_phrase():
    qa = QueryAnalyzer(PROVIDERS, VOCAB)
    mods = {(m, h) for m, h, _ in qa.analyze("Does the service support Windows Server worker nodes?").modifiers}
    assert ("window", "server") in mods and ("worker", "node") in mods
    assert ("window", "node") in mods  # a modifier narrows every word after it in its phrase
    # hyphenated modifiers count by their first part; punctuation and provider names break a phrase
    mods = {(m, h) for m, h, _ in qa.analyze("Can I run ARM-based worker nodes?").modifiers}
    assert ("arm", "worker") in mods
    mods = {(m, h) for m, h, _ in qa.analyze("Subject: OKE worker node down").modifiers}
    assert ("subject", "worker") not in mods and ("worker", "node") in mods


def test_typos_of_everyday_words_are_not_tool_names():
    from bot.engine.query import is_misspelt_word

    assert is_misspelt_word("acros") and is_misspelt_word("supportd")
    # names near rarer words, and real words, are not typos
    for w in ("istio", "linkerd", "falco", "kured", "across", "support"):
        assert not is_misspelt_word(w), w
    qa = QueryAnalyzer(PROVIDERS, VOCAB)
    assert qa.analyze("federation acros 3 public clouds - supported?").names == ()


def test_modifier_pairs_without_chain_keep_adjacent_words_only():
    assert {(m, h) for m, h, _ in modifier_pairs("Customers execute Kubernetes upgrades", chain=False)} == {("execut", "kubernet"), ("kubernet", "upgrad")}


def test_everyday_short_forms_map_to_the_policy_word():
    qa = QueryAnalyzer(PROVIDERS, VOCAB | {"application", "applications"})
    q = qa.analyze("who handles my app security")
    assert "applic" in q.terms
    # ... and do not count as words the corpus never uses
    assert q.reduced is None or "app" in q.reduced.split()
