"""LangChain, for people who build on it: the bot's retrieval as a ``BaseRetriever`` and its
answer as a tool an agent calls. Both are thin adapters over the one core facade,
:class:`bot.engine.service.Bot`, so a LangChain app gets the same passages and verdicts as the
CLI, the API and Slack::

    bot = Bot.open(Settings())
    docs = SupportPolicyRetriever(bot=bot).invoke("Is <tool> supported?")  # citations in metadata
    agent = create_agent(model, tools=[support_policy_tool(bot)])        # the Answer JSON

Only ``langchain-core`` is needed here; the agent framework is the caller's choice.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import StructuredTool, ToolException
from pydantic import BaseModel, ConfigDict, Field

from ..engine.errors import InputError
from ..engine.retrieve import Hit
from ..engine.service import Bot

__all__ = ["TOOL_NAME", "SupportPolicyQuestion", "SupportPolicyRetriever", "citation_document", "support_policy_tool"]

TOOL_NAME = "support_policy_verdict"


def citation_document(bot: Bot, provider: str, hit: Hit) -> Document:
    """One retrieved passage as a LangChain ``Document``: its verbatim source pieces as the
    content (one a line: a list's lead-in, then the item) and everything a citation needs in
    the metadata. ``spans`` are the (start, end) offsets of each piece in the document's source
    text; ``start``/``end`` cover the passage itself, without its lead-in."""
    c = hit.chunk
    doc = bot.index.docs[c.doc_id]
    vendor = bot.providers[provider]
    return Document(
        page_content="\n".join(s.text for s in c.spans),
        metadata={
            "provider": provider, "vendor": vendor.vendor, "product": vendor.product,
            "doc": c.doc_id, "title": doc["title"], "url": doc["url"], "section": c.section,
            "start": c.start, "end": c.end, "spans": [[s.start, s.end] for s in c.spans],
            "chunk_id": c.id, "rank": hit.rank, "score": round(hit.score, 6),
        },
        id=c.id,
    )


class SupportPolicyRetriever(BaseRetriever):
    """The bot's hybrid retrieval (dense + keyword, per vendor) as a LangChain retriever.

    ``provider`` (an id or any name the corpus gives it) scopes the search; without it the
    vendors the question names are searched, else all. ``k`` caps the passages per vendor
    (default: the bot's ``top_k``). Bad input (an empty question, an unknown provider) raises
    :class:`bot.InputError` with a hint."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    bot: Bot
    provider: str | None = None
    k: int | None = Field(default=None, ge=1)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        found = self.bot.search(query, self.provider)
        return [citation_document(self.bot, p, h) for p, hits in found.items() for h in hits[: self.k]]


class SupportPolicyQuestion(BaseModel):
    """The tool's input: what the agent asks, and optionally for which vendor."""

    question: str = Field(description="The support question or the customer's ticket text, e.g. 'Is <tool> supported?'")
    provider: str | None = Field(default=None, description="Only this vendor's policy (its id or name); omit to answer for every vendor the question names, else all.")


def support_policy_tool(bot: Bot) -> StructuredTool:
    """The tool ``support_policy_verdict``: a question (and optional provider) in, the Answer
    JSON out (``Answer.to_dict()``, as ``triage ask --json`` prints it; the dict is also the
    tool message's ``artifact``). A question the bot refuses (empty, too long, an unknown
    provider) comes back to the agent as the error's one line, so it can correct itself."""
    known = ", ".join(sorted(bot.providers))

    def verdict(question: str, provider: str | None = None) -> tuple[str, dict[str, Any]]:
        try:
            answer = bot.answer(question, provider)
        except InputError as e:
            raise ToolException(str(e)) from None
        data = answer.to_dict()
        return json.dumps(data, ensure_ascii=False), data

    return StructuredTool.from_function(
        func=verdict,
        name=TOOL_NAME,
        description=(
            "Whether a vendor's support policy covers something, from the vendors' own documents: per vendor a verdict "
            "(covered, best-effort, not-covered, unknown), a reason and verbatim citations with links; escalate=true means "
            f"a human should check. Known providers: {known}."
        ),
        args_schema=SupportPolicyQuestion,
        response_format="content_and_artifact",
        handle_tool_error=True,
    )
