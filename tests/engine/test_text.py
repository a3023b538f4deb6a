"""bot.text: normalising, tokenizing (shared by BM25 and the verdict), sentence splitting."""

from __future__ import annotations

import pytest

from bot.engine.text import STOPWORDS, normalize, sentence_spans, stem, tokens, words


def test_normalize_strips_invisible_characters_and_unifies_quotes():
    assert normalize("Doesn\u2019t\u200b Work") == "doesn't work"
    assert normalize("\ufeffIstio") == "istio"
    assert normalize("`quoted\u2018") == "'quoted'"
    # NFKC folds compatibility forms (full-width letters)
    assert normalize("\uff29stio") == "istio"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Istio,", ["istio"]),
        ("Istio, Helm, Envoy, or others.", ["istio", "helm", "envoy"]),
        ("(Istio)", ["istio"]),
        ("\u201cIstio\u201d;", ["istio"]),
    ],
)
def test_tokens_never_keep_punctuation(text, expected):
    # a plain str.split tokenizer would produce "istio," and never match "Istio"
    assert [t for t in tokens(text) if t not in ("other",)] == expected


def test_words_keep_hyphenated_and_dotted_names_whole_and_split():
    w = words("kube-proxy and node.js")
    assert "kube-proxy" in w and "kube" in w and "proxy" in w
    assert "node.js" in w and "node" in w and "js" in w


def test_words_drop_possessive_s():
    assert words("Oracle's responsibility") == ["oracle", "responsibility"]


def test_tokens_stem_and_drop_stopwords():
    assert tokens("Is Istio supported?") == ["istio", stem("supported")]
    assert stem("supported") == stem("support")
    assert "is" in STOPWORDS and not any(t in STOPWORDS for t in tokens("Are the nodes patched automatically?"))


def test_tokens_keep_numbers():
    assert "30" in tokens("every 30 minutes")


def test_sentence_spans_respect_abbreviations_and_parentheses():
    t = "See e.g. this one. Next one (with. Inside) here! Last one"
    assert [t[s:e] for s, e in sentence_spans(t)] == ["See e.g. this one.", "Next one (with. Inside) here!", "Last one"]


def test_sentence_spans_are_offsets_into_the_text():
    t = "First sentence.  Second one?\n\nThird.  "
    spans = sentence_spans(t)
    assert [t[s:e] for s, e in spans] == ["First sentence.", "Second one?", "Third."]
    assert all(0 <= s < e <= len(t) for s, e in spans)


def test_sentence_spans_lowercase_after_period_is_not_a_break():
    t = "Version 1.2 is fine. v3 is not."
    # "1.2" has no space after the dot; "fine. v3" continues lowercase -> one sentence
    assert [t[s:e] for s, e in sentence_spans(t)] == ["Version 1.2 is fine. v3 is not."]


def test_sentence_spans_of_blank_text_is_empty():
    assert sentence_spans("   \n ") == []


def test_how_to_phrasings_become_one_token():
    from bot.engine.text import HOWTO

    for q in ("How to write a manifest?", "how do I write a manifest", "how-to guide", "pls tell me how 2 structure my app"):
        assert HOWTO in tokens(q), q
    assert HOWTO not in tokens("How many nodes are supported?")
