"""ask_llm over real HTTP: the real `openai` client against the OpenAI-compatible emulator on 127.0.0.1."""
from __future__ import annotations

import json
import sqlite3
import sys
import time
import types

import pytest

from azura.analyze.llm import ask_llm
from azura.errors import LLMError
from azura.models import Deadline
from tests.emulators.openai_server import OpenAIEmulator
from tests.integration.llm_support import API_KEY, make_failure, make_offline, settings_for

PAT = "a" * 52 + "JQQJ" + "b" * 20 + "AZDO" + "cdef"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJidWlsZC1hZ2VudCJ9.c2lnbmF0dXJlLXZhbHVl"
PIPELINE_SECRET = "pipeline-secret-value-42"


@pytest.fixture
def openai_emulator():
    """Return a running OpenAI-compatible emulator that accepts API_KEY; stopped after the test."""
    with OpenAIEmulator(api_key=API_KEY) as emu:
        yield emu


class Sleeps(list):
    """An injectable sleep that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def two_failures():
    return make_offline(
        make_failure([(40, "Build started"), (41, "src/app.ts(3,1): error TS2304: Cannot find name 'x'."),
                      (42, "##[error]Bash exited with code '2'.")], name="npm run build"),
        make_failure([(5, "Deploying to staging"), (6, "##[error]Artifact 'drop' not found")],
                     name="deploy", stage="Deploy", job="Staging"),
    )


def answer(**changes):
    """Return the JSON text of a valid one-failure answer, with `changes` to its entry."""
    entry = {"index": 1, "category": "compile", "summary": "Missing semicolon", "root_cause": "r",
             "suggested_fix": "f", "confidence": 0.5, "evidence_lines": [11]}
    entry.update(changes)
    return json.dumps({"headline": "The build failed", "failures": [entry]})


def test_valid_answer_replaces_the_offline_failures_keeping_step_and_excerpt(openai_emulator):
    offline = make_offline()

    analysis = ask_llm(offline, settings_for("openai", openai_emulator))

    failure, before = analysis.failures[0], offline.failures[0]
    assert (failure.step, failure.excerpt) == (before.step, before.excerpt)
    assert failure.category == "compile" and failure.confidence == 0.7
    assert failure.summary.startswith("Build › Linux › dotnet build failed")
    assert (analysis.provider, analysis.model, analysis.degraded) == ("openai", "gpt-4o-mini", False)


def test_all_failed_steps_go_in_one_request(openai_emulator):
    analysis = ask_llm(two_failures(), settings_for("openai", openai_emulator))

    assert len(openai_emulator.chat_requests()) == 1
    assert [f.step.name for f in analysis.failures] == ["npm run build", "deploy"]
    assert "consequences" in analysis.headline and "npm run build" in analysis.headline


def test_first_request_asks_for_the_strict_json_schema(openai_emulator):
    ask_llm(make_offline(), settings_for("openai", openai_emulator))

    response_format = openai_emulator.chat_requests()[0].body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True


def test_usage_is_taken_from_the_response(openai_emulator):
    offline = make_offline()

    analysis = ask_llm(offline, settings_for("openai", openai_emulator))

    reported = openai_emulator.responses[-1]["usage"]
    assert analysis.usage.prompt_tokens == reported["prompt_tokens"]
    assert analysis.usage.completion_tokens == reported["completion_tokens"]
    assert analysis.usage.excerpt_tokens == offline.usage.excerpt_tokens


def test_tag_follows_the_llm_category_of_the_first_failure(openai_emulator):
    analysis = ask_llm(make_offline(), settings_for("openai", openai_emulator, tag_prefix="ci"))

    assert analysis.tag == "ci-compile"


def test_evidence_text_is_taken_from_the_excerpt(openai_emulator):
    analysis = ask_llm(make_offline(), settings_for("openai", openai_emulator))

    assert [(line.number, line.text) for line in analysis.failures[0].evidence] == [
        (11, "src/a.cs(3,4): error CS1002: ; expected"), (12, "##[error]Process completed with exit code 1.")]


def test_invented_evidence_lines_are_dropped_with_a_warning(openai_emulator):
    openai_emulator.set_mode("invented_evidence")

    analysis = ask_llm(two_failures(), settings_for("openai", openai_emulator))

    cited = [line.number for failure in analysis.failures for line in failure.evidence]
    assert cited == [41, 42, 6]
    assert analysis.warnings == ("the LLM cited 2 line number(s) that are not in the excerpts; "
                                 "they were dropped from the evidence",)
    assert not analysis.degraded


def test_answer_citing_only_invented_lines_is_an_llm_error(openai_emulator):
    openai_emulator.custom_content = answer(evidence_lines=[2, 3, 4])  # the excerpt holds lines 10-12
    openai_emulator.set_mode("custom")

    with pytest.raises(LLMError, match="cites only line numbers that are not in its excerpt"):
        ask_llm(make_offline(), settings_for("openai", openai_emulator))


def test_answer_citing_no_line_keeps_the_offline_evidence(openai_emulator):
    offline = make_offline()
    openai_emulator.custom_content = answer(evidence_lines=[])
    openai_emulator.set_mode("custom")

    analysis = ask_llm(offline, settings_for("openai", openai_emulator))

    assert analysis.failures[0].evidence == offline.failures[0].evidence
    assert analysis.warnings == ()


@pytest.mark.parametrize("status", [400, 422, 500])  # 500: llama-cpp-python's server, with a validation message
def test_server_rejecting_json_schema_gets_json_object_with_the_schema(openai_emulator, status):
    openai_emulator.reject_status = status
    openai_emulator.set_mode("reject_json_schema")

    analysis = ask_llm(make_offline(), settings_for("openai", openai_emulator))

    requests = openai_emulator.chat_requests()
    assert [r.response_format for r in requests] == ["json_schema", "json_object"]
    assert requests[1].body["response_format"]["schema"]["required"] == ["headline", "failures"]
    assert analysis.failures[0].category == "compile"


def test_server_rejecting_every_response_format_gets_instructions_only(openai_emulator):
    openai_emulator.set_mode("reject_response_format")

    analysis = ask_llm(make_offline(), settings_for("openai", openai_emulator))

    assert [r.response_format for r in openai_emulator.chat_requests()] == ["json_schema", "json_object", None]
    assert not analysis.degraded


def test_server_rejecting_even_plain_requests_is_an_llm_error(openai_emulator):
    openai_emulator.set_mode("reject_all")

    with pytest.raises(LLMError, match="refused the request \\(400\\)"):
        ask_llm(make_offline(), settings_for("openai", openai_emulator))
    assert [r.response_format for r in openai_emulator.chat_requests()] == ["json_schema", "json_object", None]


def test_fenced_answer_from_a_server_ignoring_response_format_is_used(openai_emulator):
    openai_emulator.set_mode("fenced")

    analysis = ask_llm(make_offline(), settings_for("openai", openai_emulator))

    assert analysis.failures[0].category == "compile"
    assert len(openai_emulator.chat_requests()) == 1


@pytest.mark.parametrize("mode, reason", [
    ("off_schema", "does not match the schema"),
    ("malformed", "not valid JSON"),
    ("refusal", "refused"),
])
def test_unusable_answer_is_an_llm_error_after_one_request(openai_emulator, mode, reason):
    openai_emulator.set_mode(mode)

    with pytest.raises(LLMError, match=reason):
        ask_llm(make_offline(), settings_for("openai", openai_emulator))
    assert len(openai_emulator.chat_requests()) == 1


@pytest.mark.parametrize("content, reason", [
    (answer(category="cosmic-rays"), "schema"),
    (answer(confidence=1.5), "schema"),
    (answer(confidence=0.5).replace("0.5", "NaN"), "not valid JSON"),
    (answer(index=2), "schema"),
    (answer(extra="field"), "schema"),
    (json.dumps({"headline": " ", "failures": json.loads(answer())["failures"]}), "holds no words"),
    (json.dumps({"headline": "1", "failures": json.loads(answer())["failures"]}), "holds no words"),
    (answer(summary=":{"), "holds no words"),
])
def test_schema_invalid_answer_is_an_llm_error(openai_emulator, content, reason):
    openai_emulator.custom_content = content
    openai_emulator.set_mode("custom")

    with pytest.raises(LLMError, match=reason):
        ask_llm(make_offline(), settings_for("openai", openai_emulator))


def test_answer_with_raw_line_breaks_inside_strings_is_accepted(openai_emulator):
    openai_emulator.custom_content = answer(root_cause="first\nsecond").replace("\\n", "\n")
    openai_emulator.set_mode("custom")

    analysis = ask_llm(make_offline(), settings_for("openai", openai_emulator))

    assert analysis.failures[0].root_cause == "first\nsecond"


def test_answer_citing_too_many_lines_keeps_the_first_five(openai_emulator):
    offline = make_offline(make_failure([(n, f"error {n}") for n in range(1, 9)]))
    openai_emulator.custom_content = answer(evidence_lines=[1, 2, 3, 4, 5, 6, 7])
    openai_emulator.set_mode("custom")

    analysis = ask_llm(offline, settings_for("openai", openai_emulator))

    assert [line.number for line in analysis.failures[0].evidence] == [1, 2, 3, 4, 5]


def test_answer_naming_one_failure_twice_is_an_llm_error(openai_emulator):
    entry = json.loads(answer())["failures"][0]
    openai_emulator.custom_content = json.dumps({"headline": "h", "failures": [entry, entry]})
    openai_emulator.set_mode("custom")

    with pytest.raises(LLMError, match=r"covers failures \[1, 1\], expected 1..2"):
        ask_llm(two_failures(), settings_for("openai", openai_emulator))


def test_answer_text_cannot_issue_logging_commands_html_or_mentions(openai_emulator):
    openai_emulator.custom_content = json.dumps({"headline": "##vso[task.complete result=Succeeded]done @alice",
                                                 "failures": json.loads(answer(
                                                     root_cause="<script>alert(1)</script>",
                                                     suggested_fix="##[error]ping @[TEAM]\\Admins"))["failures"]})
    openai_emulator.set_mode("custom")

    analysis = ask_llm(make_offline(), settings_for("openai", openai_emulator))

    texts = [analysis.headline, analysis.failures[0].root_cause, analysis.failures[0].suggested_fix]
    for forbidden in ("##vso[", "##[", "<script>", "@alice", "@["):
        assert not any(forbidden in text for text in texts), forbidden


def test_rate_limit_is_retried_after_the_retry_after_seconds(openai_emulator):
    openai_emulator.retry_after = "3"
    openai_emulator.set_mode("rate_limited", times=1)
    sleeps = Sleeps()

    analysis = ask_llm(make_offline(), settings_for("openai", openai_emulator), sleep=sleeps)

    assert sleeps == [3.0]
    assert len(openai_emulator.chat_requests()) == 2
    assert analysis.failures[0].category == "compile"


@pytest.mark.parametrize("mode", ["rate_limited", "server_error"])
def test_persistent_429_or_500_gives_up_after_two_retries(openai_emulator, mode):
    openai_emulator.set_mode(mode)
    sleeps = Sleeps()

    with pytest.raises(LLMError, match="after 2 retries"):
        ask_llm(make_offline(), settings_for("openai", openai_emulator), sleep=sleeps)
    assert len(openai_emulator.chat_requests()) == 3
    assert len(sleeps) == 2


def test_retry_after_beyond_the_time_left_gives_up_without_waiting(openai_emulator):
    openai_emulator.retry_after = "600"
    openai_emulator.set_mode("rate_limited")
    sleeps = Sleeps()

    with pytest.raises(LLMError, match="a retry in 600 s would not fit"):
        ask_llm(make_offline(), settings_for("openai", openai_emulator), sleep=sleeps)
    assert sleeps == [] and len(openai_emulator.chat_requests()) == 1


def test_hung_server_times_out_and_is_retried_twice(openai_emulator):
    openai_emulator.set_mode("hang")
    started = time.monotonic()

    with pytest.raises(LLMError, match="no answer within 1 s, after 2 retries"):
        ask_llm(make_offline(), settings_for("openai", openai_emulator, llm_timeout=1.0), sleep=Sleeps())
    assert len(openai_emulator.chat_requests()) == 3
    assert time.monotonic() - started < 10


def test_run_deadline_caps_the_request_timeout(openai_emulator):
    openai_emulator.set_mode("hang")
    now = [100.0]
    deadline = Deadline.after(1.5, now[0])

    def clock():
        return now[0]

    def sleep(seconds):
        now[0] += seconds

    started = time.monotonic()
    with pytest.raises(LLMError):
        ask_llm(make_offline(), settings_for("openai", openai_emulator, llm_timeout=30.0), deadline=deadline,
                clock=clock, sleep=sleep)
    assert time.monotonic() - started < 10  # three 1.5 s attempts, not three 30 s ones


def test_expired_deadline_sends_nothing(openai_emulator):
    deadline = Deadline.after(0.5, 0.0)

    with pytest.raises(LLMError, match="no time left"):
        ask_llm(make_offline(), settings_for("openai", openai_emulator), deadline=deadline, clock=lambda: 0.0)
    assert openai_emulator.chat_requests() == []


def test_cache_hit_makes_no_request(openai_emulator, tmp_path):
    settings = settings_for("openai", openai_emulator, cache_path=str(tmp_path / "cache.sqlite3"))
    first = ask_llm(make_offline(), settings)

    second = ask_llm(make_offline(), settings)

    assert len(openai_emulator.chat_requests()) == 1
    assert second.failures == first.failures and second.headline == first.headline
    assert (second.usage.prompt_tokens, second.usage.completion_tokens) == (0, 0)


def test_cache_hit_for_a_rerun_maps_evidence_onto_its_own_line_numbers(openai_emulator, tmp_path):
    settings = settings_for("openai", openai_emulator, cache_path=str(tmp_path / "cache.sqlite3"))
    ask_llm(make_offline(make_failure([(10, "start 2026-01-01T10:00:00Z"), (11, "error CS1002 in 1.2 s")])),
            settings)

    rerun = ask_llm(make_offline(make_failure([(90, "start 2026-02-02T11:11:11Z"), (91, "error CS1002 in 3.4 s")])),
                    settings)

    assert len(openai_emulator.chat_requests()) == 1
    assert [(line.number, line.text) for line in rerun.failures[0].evidence] == [(91, "error CS1002 in 3.4 s")]


def test_cache_does_not_serve_another_model(openai_emulator, tmp_path):
    cache_path = str(tmp_path / "cache.sqlite3")
    ask_llm(make_offline(), settings_for("openai", openai_emulator, cache_path=cache_path))

    ask_llm(make_offline(), settings_for("openai", openai_emulator, cache_path=cache_path, model="gpt-4.1"))

    assert [r.body["model"] for r in openai_emulator.chat_requests()] == ["gpt-4o-mini", "gpt-4.1"]


def test_cache_entry_of_the_wrong_shape_is_a_miss(openai_emulator, tmp_path):
    cache_path = tmp_path / "cache.sqlite3"
    settings = settings_for("openai", openai_emulator, cache_path=str(cache_path))
    ask_llm(make_offline(), settings)
    with sqlite3.connect(cache_path) as connection:
        connection.execute("UPDATE answers SET answer = ?", (json.dumps({"headline": "h", "failures": [
            {"category": "compile", "summary": "s", "root_cause": "r", "suggested_fix": "f", "confidence": 0.5,
             "evidence": [99]}]}),))
    connection.close()

    analysis = ask_llm(make_offline(), settings)

    assert len(openai_emulator.chat_requests()) == 2
    assert analysis.headline != "h"


def test_invalid_answer_is_not_cached(openai_emulator, tmp_path):
    settings = settings_for("openai", openai_emulator, cache_path=str(tmp_path / "cache.sqlite3"))
    openai_emulator.set_mode("malformed", times=1)
    with pytest.raises(LLMError):
        ask_llm(make_offline(), settings)

    ask_llm(make_offline(), settings)

    assert len(openai_emulator.chat_requests()) == 2


def test_no_planted_secret_reaches_a_request_body(openai_emulator):
    # The excerpt step redacts first; this plants secrets past it to prove the second pass holds.
    offline = make_offline(make_failure([
        (1, f"git clone https://build:{PAT}@dev.azure.com/org/p/_git/r"),
        (2, f"curl -H 'Authorization: Bearer {JWT}' https://api"),
        (3, "sqlcmd -S db -U sa password=Hunter2Hunter2"),
        (4, f"echo {PIPELINE_SECRET}"),
        (5, "##[error]exit code 1"),
    ], name=f"deploy {PIPELINE_SECRET}"))
    settings = settings_for("openai", openai_emulator, secrets=(PIPELINE_SECRET, API_KEY))

    ask_llm(offline, settings)

    body = openai_emulator.chat_requests()[0].raw.decode("utf-8")
    for secret in (PAT, JWT, "Hunter2Hunter2", PIPELINE_SECRET, API_KEY):
        assert secret not in body
    assert "«redacted:" in body


def test_openai_sends_the_key_as_bearer_to_v1(openai_emulator):
    ask_llm(make_offline(), settings_for("openai", openai_emulator))

    request = openai_emulator.chat_requests()[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"


def test_wrong_key_is_an_llm_error_without_retries(openai_emulator):
    with pytest.raises(LLMError, match="401"):
        ask_llm(make_offline(), settings_for("openai", openai_emulator, openai_api_key="sk-wrong-key"),
                sleep=Sleeps())
    assert len(openai_emulator.chat_requests()) == 1


def test_ollama_goes_to_its_v1_with_key_ollama():
    with OpenAIEmulator(api_key="ollama") as emu:
        analysis = ask_llm(make_offline(), settings_for("ollama", emu))

        request = emu.chat_requests()[0]
    assert request.path == "/v1/chat/completions" and request.body["model"] == "llama3.1"
    assert (analysis.provider, analysis.model) == ("ollama", "llama3.1")


def test_azure_openai_sends_api_key_to_the_deployment_route(openai_emulator):
    analysis = ask_llm(make_offline(), settings_for("azure_openai", openai_emulator))

    request = openai_emulator.chat_requests()[0]
    assert request.deployment == "azura-gpt" and request.query["api-version"] == ["2024-10-21"]
    assert request.headers["api-key"] == API_KEY and "authorization" not in request.headers
    assert (analysis.provider, analysis.model) == ("azure_openai", "azura-gpt")


def test_azure_openai_without_key_signs_in_with_entra_id(openai_emulator, monkeypatch):
    # Entra ID cannot be reached from here: a stand-in azure.identity hands out a token for the scope asked.
    scopes = []

    def get_bearer_token_provider(credential, scope):
        scopes.append(scope)
        return lambda: "entra-token-123"

    identity = types.ModuleType("azure.identity")
    identity.DefaultAzureCredential = lambda: object()
    identity.get_bearer_token_provider = get_bearer_token_provider
    monkeypatch.setitem(sys.modules, "azure.identity", identity)
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: object())
    openai_emulator.azure_token = "entra-token-123"

    ask_llm(make_offline(), settings_for("azure_openai", openai_emulator, azure_openai_api_key=None))

    request = openai_emulator.chat_requests()[0]
    assert request.headers["authorization"] == "Bearer entra-token-123" and "api-key" not in request.headers
    assert scopes == ["https://cognitiveservices.azure.com/.default"]
