"""The engine's settings: corpus, index, model and answering limits, each overridable by ``BOT_<NAME>``.

:class:`bot.runtime.config.Settings` extends it with what a server needs; the engine reads only these.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[2]


class EngineSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOT_", extra="ignore")

    corpus_dir: Path = Field(ROOT / "corpus", description="Folder of policy documents (.md/.txt with front matter).")
    index_dir: Path = Field(ROOT / "index", description="Folder holding the built index.")
    embedder: str = Field("minilm", description="'minilm' (the packaged all-MiniLM-L6-v2 through ONNX Runtime), 'minilm-torch' (the same through sentence-transformers) or 'hash' (fast fake for tests).")
    onnx_dir: Path = Field(ROOT / "models" / "onnx", description="Where the ONNX export of the embedding model is kept (made once from the packaged model, at install time or on first use).")
    vector_store: Literal["auto", "chroma", "exact"] = Field(
        "auto", description="Dense search through 'chroma' (the index of record) or 'exact' (cosine over the build's vectors.npz, "
        "no chromadb import: a one-shot process starts ~1.1 s sooner); 'auto': exact for one-shot `triage ask`, Chroma elsewhere.")
    auto_index: bool = Field(True, description="Build a missing index / refresh a stale one on first use.")
    max_question_chars: int = Field(4000, description="Longer questions are rejected (tickets are trimmed instead).")
    max_ticket_chars: int = Field(50000, description="Ticket text beyond this is trimmed with a note.")
    escalate_below: float = Field(0.6, description="A finding below this confidence is escalated to a human.")
    top_k: int = Field(8, description="Chunks per provider kept after hybrid fusion.")
    citations: int = Field(3, description="Citations returned per provider.")
    batch_size: int = Field(64, description="Texts per embedding batch.")
    classify_chunk: int = Field(256, description="Tickets per batched call in `triage classify`; output is fsynced after each.")
    classify_embed_batch: int = Field(32, description="Texts per embedding batch in `triage classify` (sorted by length first).")

    session_ttl_seconds: float = Field(3600.0, description="A conversation's last turn is forgotten after this long without use.")
    max_sessions: int = Field(10_000, description="Conversations remembered at once (least recently used go first).")

    reader: bool = Field(True, description="Decide verdicts with the trained reader when `reader_dir` holds one (false: the rules engine alone).")
    reader_dir: Path = Field(ROOT / "models" / "reader", description="Folder of the trained reader (reader.npz, reader.json; `triage train` writes it).")
