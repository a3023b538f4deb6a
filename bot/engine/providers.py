"""Provider names: one place that knows every way a ticket or a caller may name a provider.

The corpus front matter gives each provider its id, vendor, product and aliases
(:attr:`Provider.names`). A caller's provider value (``--provider``, ``"provider"`` in the API,
a CSV provider column) resolves by any of them, case-insensitively, to the id; a text's
mentions are found with the same names, so an explicit scope and a named one always agree.
"""

from __future__ import annotations

import re
from typing import Mapping

from .errors import InputError
from .text import normalize
from .types import Provider

Span = tuple[int, int, str]  # (start, end, provider id)


def _in_text(name: str, flags: int = 0) -> re.Pattern:
    """A name as a whole word (a hyphen joins words: "x-name" does not name "name")."""
    return re.compile(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])", flags)


class ProviderNames:
    """Resolves provider values to ids and finds the providers a text names."""

    def __init__(self, providers: Mapping[str, Provider]):
        self.providers = providers
        self.known = sorted(providers)
        self.by_name: dict[str, str] = {}
        for pid, p in providers.items():
            for n in (pid, *p.names):
                self.by_name.setdefault(n.strip().lower(), pid)
        # on normalized text, longest name first per provider (what the query analyzer blanks)
        self.patterns: dict[str, list[re.Pattern]] = {
            pid: [_in_text(normalize(n)) for n in sorted(p.names, key=len, reverse=True)] for pid, p in providers.items()
        }
        # on the text as typed, longest name first overall ("Cloud Infra" before "Cloud")
        named = sorted(((n, pid) for pid, p in providers.items() for n in p.names), key=lambda x: len(x[0]), reverse=True)
        self._typed = [(_in_text(n, re.I), pid) for n, pid in named]

    def resolve(self, value: str | None) -> str | None:
        """The provider id ``value`` names (its id or any of its names); None when blank."""
        if value is None or not value.strip():
            return None
        pid = self.by_name.get(value.strip().lower())
        if pid is None:
            raise InputError(f"unknown provider {value!r}", hint=f"known providers: {', '.join(self.known)}")
        return pid

    def mentioned(self, text: str) -> tuple[str, ...]:
        """Ids of the providers ``text`` names, in corpus order."""
        low = normalize(text)
        return tuple(pid for pid, pats in self.patterns.items() if any(p.search(low) for p in pats))

    def spans(self, text: str) -> list[Span]:
        """Non-overlapping (start, end, provider id) spans of provider names in ``text`` as
        typed (offsets into it), in text order; a longer name wins over one inside it."""
        spans: list[Span] = []
        for pat, pid in self._typed:
            for m in pat.finditer(text):
                if not any(s < m.end() and m.start() < e for s, e, _ in spans):
                    spans.append((m.start(), m.end(), pid))
        return sorted(spans)
