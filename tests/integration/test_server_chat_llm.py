"""Chat with an LLM: tool calls over the collect layer, bounded rounds, summaries instead of logs, fallback."""
from __future__ import annotations

import json

import pytest

from tests.emulators import ado_scenarios
from tests.integration.conftest import TOKEN
from tests.integration.server_support import ScriptedLLM, ServerThread, devops_env, settings_for

LOG_ONLY_LINE = "widgets/inventory.py       212     11    95%"  # in the failed log, never a conclusion


def llm_env(emulator, llm: ScriptedLLM, **extra: str):
    return devops_env(emulator, TOKEN, LLM_PROVIDER="openai", OPENAI_BASE_URL=llm.base_url,
                      OPENAI_API_KEY="sk-scripted-1234", LLM_MODEL_NAME="scripted", **extra)


def tool_messages(requests):
    return [m for body in requests for m in body["messages"] if m["role"] == "tool"]


@pytest.fixture
def scenario(emulator):
    return ado_scenarios.multi_stage_two_failed_jobs(emulator)


def test_chat_answers_through_tool_calls_and_links_the_builds_it_names(tmp_path, emulator, scenario):
    replies = [{"tool_calls": [("list_builds", {"pipeline": "widgets-ci", "result": "failed", "top": 1})]},
               {"tool_calls": [("analyze_build", {"build_id": scenario.build_id})]},
               {"content": f"Build #{scenario.build_id} failed: a pytest assertion and a NuGet 401."}]
    with ScriptedLLM(replies) as llm, ServerThread(settings_for(tmp_path, llm_env(emulator, llm))) as server:
        answer = server.post("/api/chat", json_body={"message": "Why did widgets-ci fail last time?"}).json
        tools = tool_messages(llm.requests)

    assert (answer["provider"], answer["tool_calls"]) == ("openai", ["list_builds", "analyze_build"])
    assert [b["id"] for b in answer["builds"]] == [scenario.build_id]
    assert answer["analysis"]["build"]["id"] == scenario.build_id and "NU1301" in answer["analysis_markdown"]
    assert json.loads(tools[0]["content"])["builds"][0]["id"] == scenario.build_id
    assert "NuGet" in tools[-1]["content"]


def test_tool_results_sent_to_the_llm_are_summaries_without_log_text(tmp_path, emulator, scenario):
    replies = [{"tool_calls": [("get_failed_steps", {"build_id": scenario.build_id}),
                               ("analyze_build", {"build_id": scenario.build_id})]},
               {"content": "Two steps failed."}]
    with ScriptedLLM(replies) as llm, ServerThread(settings_for(tmp_path, llm_env(emulator, llm))) as server:
        server.post("/api/chat", json_body={"message": f"what happened in build {scenario.build_id}?"})
        tools = tool_messages(llm.requests)

    assert len(tools) == 2
    assert all(LOG_ONLY_LINE not in m["content"] and "excerpt" not in m["content"] for m in tools)
    assert all(len(m["content"]) <= 6000 for m in tools)


def test_chat_stops_calling_tools_after_the_configured_number_of_rounds(tmp_path, emulator, scenario):
    replies = [{"tool_calls": [("list_projects", {})]}, {"tool_calls": [("list_projects", {})]},
               {"content": "The organisation has one project, Widgets."}]
    with ScriptedLLM(replies) as llm:
        settings = settings_for(tmp_path, llm_env(emulator, llm, AZURA_ASK_MAX_ROUNDS="2"))
        with ServerThread(settings) as server:
            answer = server.post("/api/chat", json_body={"message": "Tell me about the projects"}).json
        requests = llm.requests

    assert answer["answer"] == "The organisation has one project, Widgets."
    assert answer["tool_calls"] == ["list_projects", "list_projects"]
    assert len(requests) == 3 and "tools" in requests[1] and "tools" not in requests[2]


def test_chat_falls_back_to_the_offline_parser_when_the_llm_fails(tmp_path, emulator, scenario):
    with ScriptedLLM([{"content": "unused"}], status=500) as llm:
        with ServerThread(settings_for(tmp_path, llm_env(emulator, llm))) as server:
            answer = server.post("/api/chat", json_body={"message": "list pipelines"}).json

    assert "widgets-ci" in answer["answer"]
    assert any("LLM not used" in w for w in answer["warnings"])


def test_chat_question_only_an_llm_could_answer_is_a_502_when_the_llm_fails(tmp_path, emulator, scenario):
    with ScriptedLLM([{"content": "unused"}], status=500) as llm:
        with ServerThread(settings_for(tmp_path, llm_env(emulator, llm))) as server:
            answer = server.post("/api/chat", json_body={"message": "How do I make my pipeline faster?"})

    assert answer.status == 502 and "500" in answer.json["error"]


def test_llm_answer_can_neither_issue_logging_commands_nor_carry_html(tmp_path, emulator, scenario):
    replies = [{"content": "Done. ##vso[task.setvariable variable=x]1 <script>alert(1)</script>"}]
    with ScriptedLLM(replies) as llm, ServerThread(settings_for(tmp_path, llm_env(emulator, llm))) as server:
        answer = server.post("/api/chat", json_body={"message": "Anything new?"}).json

    assert answer["answer"].startswith("Done.")
    assert "##vso[" not in answer["answer"] and "<script>" not in answer["answer"]
