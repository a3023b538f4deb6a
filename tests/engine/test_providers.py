"""The one provider resolver: a value by id or any name, case-insensitive; mentions in a text."""

from __future__ import annotations

import pytest

from bot.engine.errors import InputError
from bot.engine.providers import ProviderNames
from bot.engine.types import Provider

# fictional vendors: the resolver knows only what the front matter says
PROVIDERS = {
    "acme": Provider("acme", "Acme Cloud", "Acme Container Engine (ACE)", ("acme-k8s",)),
    "zen": Provider("zen", "Zenith Systems", "Zen Compute"),
}
NAMES = ProviderNames(PROVIDERS)


@pytest.mark.parametrize(
    "value, pid",
    [("acme", "acme"), ("ACME", "acme"), ("Acme Cloud", "acme"), (" acme cloud ", "acme"), ("ACE", "acme"),
     ("Acme Container Engine", "acme"), ("acme-k8s", "acme"), ("Zen Compute", "zen"), ("zenith systems", "zen"), ("Zenith", "zen")],
)
def test_a_provider_resolves_by_id_or_any_name_in_any_case(value, pid):
    assert NAMES.resolve(value) == pid


@pytest.mark.parametrize("value", [None, "", "   "])
def test_no_provider_is_none(value):
    assert NAMES.resolve(value) is None


def test_an_unknown_provider_is_one_line_naming_the_known_ones():
    with pytest.raises(InputError) as e:
        NAMES.resolve("Globex")
    assert e.value.message == "unknown provider 'Globex'" and "\n" not in e.value.message
    assert e.value.hint == "known providers: acme, zen"


def test_mentions_and_spans_use_the_same_names():
    text = "Is tracing supported on ACE and on Zenith Systems?"
    assert NAMES.mentioned(text) == ("acme", "zen")
    assert [(text[s:e], pid) for s, e, pid in NAMES.spans(text)] == [("ACE", "acme"), ("Zenith Systems", "zen")]
    assert NAMES.mentioned("Is the race-ace feature on?") == ()  # a hyphen joins words
