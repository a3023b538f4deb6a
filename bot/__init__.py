"""Support-triage bot: answers "is X supported?" from vendors' support-policy documents.

The public API is what ``__all__`` lists: open a :class:`Bot` once
(``Bot.open(Settings())``) and call ``bot.answer(question, provider=None)`` for an
:class:`Answer`; every front end (CLI, HTTP API, Slack, batch) is a thin adapter over it.

Layout (imports only go down this list): ``bot.apps`` (front ends) → ``bot.runtime`` (what a
running service needs around the engine) → ``bot.engine`` (corpus, index, retrieval, verdicts);
``bot.integrations`` (LangChain) sits beside the front ends, over the engine, imported by none.
Names are loaded on first use, so ``import bot`` stays cheap.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "Bot": "bot.engine.service",
    "EngineSettings": "bot.engine.config",
    "Settings": "bot.runtime.config",
    "Answer": "bot.engine.types",
    "Finding": "bot.engine.types",
    "Citation": "bot.engine.types",
    "Provider": "bot.engine.types",
    "BotError": "bot.engine.errors",
    "InputError": "bot.engine.errors",
    "TooLargeError": "bot.engine.errors",
    "IndexMissingError": "bot.engine.errors",
    "IndexStaleError": "bot.engine.errors",
    "IndexCorruptError": "bot.engine.errors",
    "build_index": "bot.engine.index",
    "get_embedder": "bot.engine.embed",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    """Load a public name from its module on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bot' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
