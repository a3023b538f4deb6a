"""``bot.integrations.langchain``: the retriever's Documents carry citations, and a real
LangChain agent loop (``langchain.agents.create_agent``) driven by LangChain's fake chat model
calls ``support_policy_verdict``, whose answer is the engine's own. The README's example runs
as written."""

from __future__ import annotations

import json
import re

import pytest
from langchain.agents import create_agent
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.retrievers import BaseRetriever

from bot.engine.errors import InputError
from bot.integrations.langchain import TOOL_NAME, SupportPolicyRetriever, support_policy_tool
from conftest import REPO, source_text

ISTIO = "Is Istio supported?"
THIRD_PARTY = "Third-party open-source projects"


class ToolCallingFakeModel(GenericFakeChatModel):
    """LangChain's fake chat model with what an agent loop needs of a real one: ``bind_tools``
    (accepted; the calls are scripted) and, after a tool has answered, a reply that reports
    the tool's verdicts, as a model summarising the tool message would."""

    def bind_tools(self, tools, **kwargs):
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        if isinstance(messages[-1], ToolMessage):
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=report(messages[-1])))])
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


def report(tool_message: ToolMessage) -> str:
    """What the fake model says after the tool: its error, or every vendor's verdict."""
    if tool_message.status == "error":
        return f"The tool refused: {tool_message.content}"
    data = json.loads(tool_message.content)
    return "Verdicts: " + ", ".join(f"{f['provider']}={f['verdict']}" for f in data["findings"]) + f" (escalate={data['escalate']})"


def calls(*args: dict) -> ToolCallingFakeModel:
    """A fake model whose first turn calls the tool with ``args`` (one call each)."""
    tool_calls = [{"name": TOOL_NAME, "args": a, "id": f"call_{i}", "type": "tool_call"} for i, a in enumerate(args)]
    return ToolCallingFakeModel(messages=iter([AIMessage(content="", tool_calls=tool_calls)]))


def run_agent(bot, args: dict, user: str = ISTIO) -> dict:
    agent = create_agent(calls(args), tools=[support_policy_tool(bot)])
    return agent.invoke({"messages": [("user", user)]}, config={"recursion_limit": 8})


def verdicts(answer_dict: dict) -> dict[str, str]:
    return {f["provider"]: f["verdict"] for f in answer_dict["findings"]}


# ------------------------------------------------------------------------------ the retriever


def test_retriever_documents_carry_verbatim_citations(hash_bot, hash_env):
    r = SupportPolicyRetriever(bot=hash_bot)
    assert isinstance(r, BaseRetriever)
    docs = r.invoke(ISTIO)
    assert docs and all(isinstance(d, Document) for d in docs)
    assert {d.metadata["provider"] for d in docs} == {"aks", "oke"}
    for d in docs:
        m = d.metadata
        meta = hash_bot.index.docs[m["doc"]]
        assert (m["url"], m["title"]) == (meta["url"], meta["title"]) and m["url"].startswith("https://")
        assert m["vendor"] == hash_bot.providers[m["provider"]].vendor and m["product"]
        assert isinstance(m["section"], str) and m["section"]
        src = source_text(hash_env.corpus_dir, meta["path"])
        pieces = [src[a:b] for a, b in m["spans"]]
        assert d.page_content == "\n".join(pieces)  # every piece quoted verbatim at its offsets
        assert 0 <= m["start"] < m["end"] <= len(src) and any(a >= m["start"] and b <= m["end"] for a, b in m["spans"])
    assert any(THIRD_PARTY in d.page_content and "Istio" in d.page_content for d in docs if d.metadata["provider"] == "aks")


def test_retriever_scopes_by_provider_name_and_caps_per_vendor(hash_bot):
    scoped = SupportPolicyRetriever(bot=hash_bot, provider="AKS", k=2).invoke(ISTIO)
    assert len(scoped) == 2 and {d.metadata["provider"] for d in scoped} == {"aks"}
    assert [d.metadata["rank"] for d in scoped] == [0, 1]


def test_retriever_bad_input_is_one_clear_error(hash_bot):
    with pytest.raises(InputError, match="unknown provider 'nope'.*known providers"):
        SupportPolicyRetriever(bot=hash_bot, provider="nope").invoke(ISTIO)
    with pytest.raises(InputError, match="the question is empty"):
        SupportPolicyRetriever(bot=hash_bot).invoke("  ")


# ------------------------------------------------------------------------------ the tool in an agent loop


def test_tool_schema_is_structured(hash_bot):
    tool = support_policy_tool(hash_bot)
    assert tool.name == "support_policy_verdict"
    schema = tool.tool_call_schema.model_json_schema()
    assert set(schema["properties"]) == {"question", "provider"} and schema["required"] == ["question"]
    assert "aks" in tool.description and "oke" in tool.description  # the corpus's providers, not code


def test_agent_loop_calls_the_tool_and_reports_its_verdict_fast(hash_bot):
    result = run_agent(hash_bot, {"question": ISTIO, "provider": "aks"})
    tool_msg = next(m for m in result["messages"] if isinstance(m, ToolMessage))
    assert tool_msg.name == TOOL_NAME and tool_msg.status == "success"
    expected = hash_bot.answer(ISTIO, "aks").to_dict()
    assert json.loads(tool_msg.content) == expected == tool_msg.artifact
    final = result["messages"][-1]
    assert isinstance(final, AIMessage) and not final.tool_calls
    assert final.content == f"Verdicts: aks={expected['findings'][0]['verdict']} (escalate={expected['escalate']})"


def test_agent_gets_bad_input_back_as_one_line_not_a_crash(hash_bot):
    result = run_agent(hash_bot, {"question": ISTIO, "provider": "nope"})
    tool_msg = next(m for m in result["messages"] if isinstance(m, ToolMessage))
    assert tool_msg.status == "error" and "\n" not in tool_msg.content
    assert tool_msg.content == "unknown provider 'nope' (known providers: aks, oke)"
    assert result["messages"][-1].content.startswith("The tool refused: unknown provider")


@pytest.mark.slow
def test_agent_loop_with_the_real_engine(real_bot):
    """The real model, the real Chroma index and the trained reader behind the tool."""
    result = run_agent(real_bot, {"question": "Is Istio supported on AKS?"}, user="Is Istio supported on AKS?")
    tool_msg = next(m for m in result["messages"] if isinstance(m, ToolMessage))
    data = tool_msg.artifact
    assert data == real_bot.answer("Is Istio supported on AKS?").to_dict()
    assert verdicts(data) == {"aks": "not-covered"}
    assert any(THIRD_PARTY in c["quote"] or "Istio" in c["quote"] for c in data["findings"][0]["citations"])
    assert result["messages"][-1].content == f"Verdicts: aks=not-covered (escalate={data['escalate']})"


# ------------------------------------------------------------------------------ the README example


def readme_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- langchain-example -->\s*```python\n(.*?)```", text, re.S)
    assert m, "README.md has the LangChain example after <!-- langchain-example -->"
    return m.group(1)


def test_readme_example_runs_as_written(hash_env, monkeypatch, capsys):
    code = readme_example()
    assert len(code.strip().splitlines()) <= 10
    for k, v in {"BOT_CORPUS_DIR": hash_env.corpus_dir, "BOT_INDEX_DIR": hash_env.index_dir, "BOT_EMBEDDER": "hash", "BOT_AUTO_INDEX": "false"}.items():
        monkeypatch.setenv(k, str(v))
    scope: dict = {"model": calls({"question": "Is Istio supported on AKS?"})}
    exec(compile(code, "README.md", "exec"), scope)
    scope["bot"].close()
    out = capsys.readouterr().out
    assert "https://" in out and "Verdicts: aks=" in out
