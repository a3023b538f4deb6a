"""Shared fixtures.

Nothing here writes into the repository: every corpus is copied into a temp dir and every
index is built into a temp dir, with explicit ``Settings`` (never the defaults that point at
the repo's ``index/``).

* ``minilm`` / ``real_env`` / ``real_bot`` - the real all-MiniLM-L6-v2 model (loaded once per
  process) and ONE index of the repo corpus per session; tests using them are ``slow``.
* ``hash_env`` / ``hash_bot`` - the same corpus with the fast fake embedder (read-only share).
* ``hash_index`` - a fresh corpus copy + hash index per test, for tests that mutate it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
SEEDS = REPO / "tests" / "fixtures" / "seeds"
OKE_SEED = SEEDS / "000_72ca83ec85a36c95.txt"
AKS_SEED = SEEDS / "004_a820f3de1921e1bd.txt"
AKS_DOC = "aks/support-policies.md"
OKE_DOC = "oke/support-shared-responsibilities.md"
TRIAGE = REPO / ".venv" / "bin" / "triage"
PYTHON = Path(sys.executable)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

NKE_POLICY = """\
---
provider: nke
vendor: Northwind
product: Northwind Kubernetes Engine (NKE)
title: Northwind Kubernetes Engine support policy
url: https://docs.northwind.example/nke/support-policy
---

# Northwind Kubernetes Engine support policy

This page describes what Northwind Support helps with for Northwind Kubernetes Engine clusters.

## Support

Northwind provides support for the following:

- Node pool autoscaling issues.
- Control plane availability and upgrades started from the Northwind console.

Northwind does not provide support for the following:

- Third-party service meshes such as Meshly.
- Custom kernel modules.
"""


# ------------------------------------------------------------------------------ helpers


def silent(_msg: str) -> None:
    """A ``notify`` callback that keeps test output clean."""


def copy_corpus(dst: Path) -> Path:
    """Copy the repo corpus (only its documents) to ``dst`` and return it."""
    shutil.copytree(CORPUS, dst)
    return dst


def front_matter(rel: str) -> str:
    """The front-matter block (with both '---' lines and the trailing newline) of a repo doc."""
    text = (CORPUS / rel).read_text(encoding="utf-8")
    end = text.index("\n---", 3) + len("\n---\n")
    return text[:end]


def source_text(corpus_dir: Path, rel_path: str) -> str:
    """A corpus file exactly as the bot decodes it (bytes -> UTF-8, no newline translation)."""
    return (Path(corpus_dir) / rel_path).read_bytes().decode("utf-8")


def assert_citations_exact(answer, corpus_dir: Path, docs: dict[str, dict]) -> int:
    """Every citation quotes its document file verbatim at [start:end]; returns the count."""
    n = 0
    for f in answer.findings:
        for c in f.citations:
            meta = docs[c.doc]
            assert meta["provider"] == f.provider, (c.doc, f.provider)
            assert c.url == meta["url"] and c.title == meta["title"]
            src = source_text(corpus_dir, meta["path"])
            assert 0 <= c.start < c.end <= len(src)
            assert src[c.start : c.end] == c.quote, (c.doc, c.start, c.end, c.quote[:80])
            n += 1
    return n


def clean_env(**bot_env: str | os.PathLike) -> dict[str, str]:
    """Environment for a CLI subprocess: no inherited BOT_* / terminal-size vars, offline."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_") and k not in ("COLUMNS", "LINES")}
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    env.update({k: str(v) for k, v in bot_env.items()})
    return env


def run_triage(args: Sequence[str], env: dict[str, str], *, cwd: Path, input: str | None = None, timeout: float = 180):
    return subprocess.run(
        [str(TRIAGE), *map(str, args)], env=env, cwd=cwd, input=input, capture_output=True, text=True, timeout=timeout
    )


def build_hash_index_in_subprocess(corpus_dir: Path, index_dir: Path) -> None:
    """Build a hash index in a separate process, so this process has no Chroma handle on it
    (Chroma caches one client system per path per process)."""
    code = (
        "import sys; from pathlib import Path; from bot.engine.embed import HashEmbedder; from bot.engine.index import build_index;"
        "build_index(Path(sys.argv[1]), Path(sys.argv[2]), HashEmbedder())"
    )
    subprocess.run([str(PYTHON), "-c", code, str(corpus_dir), str(index_dir)], check=True, cwd=REPO, env=clean_env(), timeout=120)


class CachingEmbedder:
    """Test helper around the real model: same ``model_id``/vectors, but a text embedded once in
    this session is not run through the model again. Lets a second real-model build (the
    third-provider corpus) cost only its new texts. ``model_texts`` counts texts really encoded."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self._cache: dict[str, np.ndarray] = {}
        self.model_texts = 0

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: Any = None) -> np.ndarray:
        texts = list(texts)
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if todo:
            vecs = self.inner.embed(todo, batch_size=batch_size)
            self.model_texts += len(todo)
            self._cache.update(zip(todo, vecs))
        if progress is not None and texts:
            progress(len(texts))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([self._cache[t] for t in texts]).astype(np.float32, copy=False)


@dataclass
class Env:
    corpus_dir: Path
    index_dir: Path
    embedder: Any
    report: Any = None

    def settings(self, **kw):
        from bot.runtime.config import LOOPBACK_NAMES, Settings

        kw.setdefault("embedder", "hash" if str(self.embedder.model_id).startswith("hash") else "minilm")
        kw.setdefault("allowed_hosts", [*LOOPBACK_NAMES, "testserver"])  # TestClient's Host: testserver
        return Settings(corpus_dir=self.corpus_dir, index_dir=self.index_dir, **kw)


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def minilm():
    """The real model (loaded once per process), behind a per-session text cache."""
    from bot.engine.embed import get_embedder

    return CachingEmbedder(get_embedder("minilm"))


@pytest.fixture(scope="session")
def real_env(tmp_path_factory, minilm) -> Env:
    """One real-model index of a copy of the repo corpus, shared by the whole session."""
    from bot.engine.index import build_index

    root = tmp_path_factory.mktemp("real")
    corpus = copy_corpus(root / "corpus")
    report = build_index(corpus, root / "index", minilm)
    return Env(corpus, root / "index", minilm, report)


@pytest.fixture(scope="session")
def real_bot(real_env):
    from bot.engine.service import Bot

    return Bot.open(real_env.settings(auto_index=False), embedder=real_env.embedder, notify=silent)


@pytest.fixture(scope="session")
def rules_bot(real_env):
    """The real model with the rules engine alone (no trained reader): for tests that pin
    what the rules engine reads, a component the reader builds on."""
    from bot.engine.service import Bot

    return Bot.open(real_env.settings(auto_index=False), embedder=real_env.embedder, notify=silent, reader=False)


@pytest.fixture(scope="session")
def hash_env(tmp_path_factory) -> Env:
    """A hash-embedder index of a copy of the repo corpus, shared read-only."""
    from bot.engine.embed import HashEmbedder
    from bot.engine.index import build_index

    root = tmp_path_factory.mktemp("hash")
    corpus = copy_corpus(root / "corpus")
    emb = HashEmbedder()
    report = build_index(corpus, root / "index", emb)
    return Env(corpus, root / "index", emb, report)


@pytest.fixture(scope="session")
def hash_bot(hash_env):
    from bot.engine.service import Bot

    return Bot.open(hash_env.settings(auto_index=False), embedder=hash_env.embedder, notify=silent)


@pytest.fixture
def corpus_dir(tmp_path) -> Path:
    """A private copy of the repo corpus."""
    return copy_corpus(tmp_path / "corpus")


@pytest.fixture
def hash_index(tmp_path, corpus_dir) -> Env:
    """A private corpus copy with a freshly built hash index (mutate freely)."""
    from bot.engine.embed import HashEmbedder
    from bot.engine.index import build_index

    emb = HashEmbedder()
    report = build_index(corpus_dir, tmp_path / "index", emb)
    return Env(corpus_dir, tmp_path / "index", emb, report)


@pytest.fixture(params=["hash", pytest.param("real", marks=pytest.mark.slow)])
def any_bot(request):
    """The hash bot, and (slow) the real-model bot: for behaviour both must share."""
    if request.param == "hash":
        return request.getfixturevalue("hash_bot"), request.getfixturevalue("hash_env")
    return request.getfixturevalue("real_bot"), request.getfixturevalue("real_env")
