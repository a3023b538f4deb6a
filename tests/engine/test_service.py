"""bot.engine.service.Bot: scoping, input checks, verbatim citations, providers from front matter."""

from __future__ import annotations

import pytest

from bot.engine.errors import InputError, TooLargeError
from bot.engine.index import build_index
from bot.engine.service import Bot
from conftest import NKE_POLICY, Env, assert_citations_exact, copy_corpus, silent

QUESTIONS = [
    "Is Istio supported?",
    "Is Helm supported?",
    "What's the price of a node?",
    "Who patches the worker node OS?",
    "Are etcd backups taken for us?",
    "Who is responsible for application security?",
    "Is Linkerd supported?",
]


# ------------------------------------------------------------------------------ input checks


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
def test_empty_question_is_an_input_error(any_bot, question):
    bot, _ = any_bot
    with pytest.raises(InputError, match="empty") as ei:
        bot.answer(question)
    assert ei.value.exit_code == 2 and ei.value.http_status == 422


def test_oversized_question_is_too_large(any_bot):
    bot, _ = any_bot
    q = "Is Istio supported? " + "x" * 100_000
    with pytest.raises(TooLargeError) as ei:
        bot.answer(q)
    assert isinstance(ei.value, InputError) and ei.value.http_status == 413
    assert "limit" in str(ei.value)


def test_unknown_provider_is_an_input_error(any_bot):
    bot, _ = any_bot
    with pytest.raises(InputError, match="unknown provider") as ei:
        bot.answer("Is Istio supported?", provider="gke")
    assert "aks" in str(ei.value) and "oke" in str(ei.value)  # says which providers exist


def test_provider_argument_is_case_insensitive(hash_bot):
    assert [f.provider for f in hash_bot.answer("Is Istio supported?", provider=" AKS ").findings] == ["aks"]


# ------------------------------------------------------------------------------ scoping


def test_provider_argument_limits_findings(any_bot):
    bot, _ = any_bot
    ans = bot.answer("Is Istio supported?", provider="aks")
    assert [f.provider for f in ans.findings] == ["aks"]
    assert ans.findings[0].verdict == "not-covered"
    assert all(c.doc.startswith("aks/") for c in ans.findings[0].citations)


@pytest.mark.parametrize("question", ["Does Oracle support Istio?", "Is Istio supported on Oracle Cloud?"])
def test_question_naming_a_vendor_is_scoped_to_it(any_bot, question):
    bot, _ = any_bot
    ans = bot.answer(question)
    assert [f.provider for f in ans.findings] == ["oke"]
    assert ans.findings[0].verdict == "not-covered"
    assert ans.verdict == "not-covered"


def test_question_naming_no_vendor_asks_every_provider(hash_bot):
    assert [f.provider for f in hash_bot.answer("Is Istio supported?").findings] == ["aks", "oke"]


# ------------------------------------------------------------------------------ citations


@pytest.mark.slow
def test_every_citation_quotes_its_source_file_exactly(real_bot, real_env):
    total = 0
    for q in QUESTIONS:
        ans = real_bot.answer(q)
        total += assert_citations_exact(ans, real_env.corpus_dir, real_bot.index.docs)
        for f in ans.findings:
            assert len(f.citations) <= real_bot.settings.citations
    assert total >= 10


def test_citations_are_exact_with_the_hash_embedder_too(hash_bot, hash_env):
    for q in QUESTIONS:
        assert_citations_exact(hash_bot.answer(q), hash_env.corpus_dir, hash_bot.index.docs)


def test_answer_many_matches_answer(hash_bot):
    items = [("Is Istio supported?", None), ("Is Helm supported?", "aks"), ("What's the price of a node?", None)]
    many = hash_bot.answer_many(items)
    assert [a.to_dict() for a in many] == [hash_bot.answer(q, p).to_dict() for q, p in items]


def test_info_lists_providers_and_documents(hash_bot):
    info = hash_bot.info()
    assert info["build_id"] == hash_bot.index.build_id
    assert [p["id"] for p in info["providers"]] == ["aks", "oke"]
    aks = info["providers"][0]
    assert aks["vendor"] == "Microsoft" and aks["documents"][0]["chunks"] > 0
    assert aks["documents"][0]["url"] == "https://learn.microsoft.com/en-us/azure/aks/support-policies"


# ------------------------------------------------------------------------------ a third provider


@pytest.fixture(scope="module")
def nke_env(tmp_path_factory, minilm) -> Env:
    """Repo corpus + a fictional third vendor, indexed with the real model (no code change)."""
    root = tmp_path_factory.mktemp("nke")
    corpus = copy_corpus(root / "corpus")
    (corpus / "nke").mkdir()
    (corpus / "nke" / "support-policy.md").write_text(NKE_POLICY, encoding="utf-8")
    report = build_index(corpus, root / "index", minilm)
    return Env(corpus, root / "index", minilm, report)


@pytest.fixture(scope="module")
def nke_bot(nke_env):
    return Bot.open(nke_env.settings(auto_index=False), embedder=nke_env.embedder, notify=silent, reader=False)


@pytest.mark.slow
def test_new_provider_is_discovered_from_front_matter(nke_bot):
    assert set(nke_bot.providers) == {"aks", "oke", "nke"}
    p = nke_bot.providers["nke"]
    assert (p.vendor, p.product) == ("Northwind", "Northwind Kubernetes Engine (NKE)")
    assert [x["id"] for x in nke_bot.info()["providers"]] == ["aks", "nke", "oke"]


@pytest.mark.slow
def test_new_provider_not_covered_item_is_cited(nke_bot, nke_env):
    ans = nke_bot.answer("Are custom kernel modules supported?", provider="nke")
    [f] = ans.findings
    assert f.provider == "nke" and f.verdict == "not-covered"
    assert any("Custom kernel modules" in c.quote for c in f.citations), [c.quote for c in f.citations]
    assert all(c.url == "https://docs.northwind.example/nke/support-policy" for c in f.citations)
    assert_citations_exact(ans, nke_env.corpus_dir, nke_bot.index.docs)


@pytest.mark.slow
def test_new_provider_covered_item(nke_bot, nke_env):
    ans = nke_bot.answer("Is node pool autoscaling supported?", provider="nke")
    [f] = ans.findings
    assert f.verdict == "covered"
    assert any("Node pool autoscaling issues." in c.quote for c in f.citations)
    assert_citations_exact(ans, nke_env.corpus_dir, nke_bot.index.docs)


@pytest.mark.slow
def test_new_provider_vendor_name_scopes_the_question(nke_bot):
    ans = nke_bot.answer("Does Northwind support custom kernel modules?")
    assert [f.provider for f in ans.findings] == ["nke"]
    assert ans.findings[0].verdict == "not-covered"
    # the original providers still answer as before in the bigger index
    ans = nke_bot.answer("Is Helm supported?", provider="aks")
    assert ans.findings[0].verdict == "best-effort"


# -- one provider resolver, one ticket path ----------------------------------------------------


def _a_name(bot) -> tuple[str, str]:
    """A provider id and a name of it other than the id (from the corpus front matter)."""
    pid, p = sorted(bot.providers.items())[0]
    return pid, next(n for n in p.names if n.lower() != pid).upper()


def test_a_provider_name_scopes_like_its_id(hash_bot):
    pid, name = _a_name(hash_bot)
    by_id, by_name = hash_bot.answer("Is Istio supported?", pid), hash_bot.answer("Is Istio supported?", name)
    assert [f.provider for f in by_name.findings] == [pid]
    assert by_name.to_dict() == by_id.to_dict()
    ans, res = hash_bot.ask("Is Istio supported?", name)
    assert res.provider == pid and [f.provider for f in ans.findings] == [pid]


def test_bot_prepare_uses_the_bots_limit_and_names(hash_bot):
    pid, name = _a_name(hash_bot)
    p = hash_bot.prepare("x" * (hash_bot.settings.max_ticket_chars + 5), name)
    assert p.provider == pid and len(p.text) == hash_bot.settings.max_ticket_chars and p.notes


def test_answer_many_embeds_through_the_given_embedder(hash_bot):
    class Counting:
        def __init__(self, inner):
            self.inner, self.calls = inner, 0

        def embed(self, texts, **kw):
            self.calls += 1
            return self.inner.embed(texts, **kw)

    view = Counting(hash_bot.embedder)
    items = [("Is Istio supported?", None), ("Is Helm supported?", None)]
    got = hash_bot.answer_many(items, embedder=view)
    assert view.calls == 1
    assert [a.to_dict() for a in got] == [a.to_dict() for a in hash_bot.answer_many(items)]
