"""`azura analyze` with an LLM, as users run it: a subprocess, the real `openai` client, the emulator on 127.0.0.1."""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Dict

import pytest

from tests.emulators import ado_scenarios as scenarios
from tests.emulators.openai_server import OpenAIEmulator
from tests.integration.llm_support import API_KEY, REPO, azura_command, provider_environ

RUN_TIMEOUT = 90  # seconds a run may take before the test fails instead of hanging
PAT = "q" * 52 + "JQQJ" + "r" * 20 + "AZDO" + "stuv"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJhZ2VudCJ9.c2lnbmF0dXJlLXBhcnQ"
BUILD_LOG = [
    "Starting: dotnet build",
    "  Restored /src/App/App.csproj (in 412 ms).",
    "/src/App/Program.cs(12,31): error CS1002: ; expected [/src/App/App.csproj]",
    "Build FAILED.",
    "##[error]Process completed with exit code 1.",
]


@dataclass
class AnalyzeRun:
    returncode: int
    stdout: str
    stderr: str
    output_dir: Path

    @property
    def analysis(self) -> dict:
        return json.loads((self.output_dir / "analysis.json").read_text(encoding="utf-8"))

    @property
    def summary(self) -> str:
        return (self.output_dir / "summary.md").read_text(encoding="utf-8")


@pytest.fixture
def openai_emulator():
    """Return a running OpenAI-compatible emulator that accepts API_KEY (and "ollama"); stopped after the test."""
    with OpenAIEmulator(api_key=API_KEY) as emu:
        yield emu


@pytest.fixture
def analyze_log(tmp_path, make_log):
    """Return run(environ, *flags, lines=BUILD_LOG) -> AnalyzeRun of `azura analyze --log build.log` in tmp_path."""
    runs = iter(range(1000))

    def run(environ: Dict[str, str], *flags: str, lines=BUILD_LOG) -> AnalyzeRun:
        number = next(runs)
        log = make_log(list(lines), name="build.log")
        output_dir = tmp_path / f"report-{number}"
        completed = subprocess.run(
            azura_command("analyze", "--log", str(log), "--format", "json", "--output-dir", str(output_dir), *flags),
            env=environ, cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT)
        return AnalyzeRun(completed.returncode, completed.stdout, completed.stderr, output_dir)

    return run


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.mark.parametrize("provider, model, path", [
    ("openai", "gpt-4o-mini", "/v1/chat/completions"),
    ("azure_openai", "azura-gpt", "/openai/deployments/azura-gpt/chat/completions"),
    ("ollama", "llama3.1", "/v1/chat/completions"),
])
def test_each_provider_style_answers_in_one_request(openai_emulator, analyze_log, home, provider, model, path):
    if provider == "ollama":
        openai_emulator.api_key = "ollama"

    run = analyze_log(provider_environ(provider, openai_emulator, home))

    assert run.returncode == 0, run.stderr
    analysis = run.analysis
    assert (analysis["provider"], analysis["model"], analysis["degraded"]) == (provider, model, False)
    assert analysis["failures"][0]["category"] == "compile"
    assert [r.path for r in openai_emulator.chat_requests()] == [path]
    usage = openai_emulator.responses[0]["usage"]
    assert analysis["usage"]["prompt_tokens"] == usage["prompt_tokens"]
    assert analysis["usage"]["completion_tokens"] == usage["completion_tokens"]
    assert analysis["usage"]["excerpt_tokens"] > 0


def test_llm_evidence_is_lines_of_the_excerpt(openai_emulator, analyze_log, home):
    run = analyze_log(provider_environ("openai", openai_emulator, home))

    failure = run.analysis["failures"][0]
    assert failure["evidence"] and all(item in failure["excerpt"] for item in failure["evidence"])
    assert "error CS1002" in failure["evidence"][0]["text"]


def test_summary_names_the_model_after_an_llm_run(openai_emulator, analyze_log, home):
    run = analyze_log(provider_environ("openai", openai_emulator, home))

    assert "Analysed by gpt-4o-mini" in run.summary
    assert "Offline analysis" not in run.summary


def test_summary_says_offline_analysis_when_the_llm_answer_is_dropped(openai_emulator, analyze_log, home):
    openai_emulator.set_mode("malformed")

    run = analyze_log(provider_environ("openai", openai_emulator, home))

    assert "Offline analysis" in run.summary and "Analysed by" not in run.summary


@pytest.mark.parametrize("mode, requests", [
    ("reject_json_schema", ["json_schema", "json_object"]),
    ("reject_response_format", ["json_schema", "json_object", None]),
    ("fenced", ["json_schema"]),
])
def test_servers_that_reject_or_ignore_response_format_still_answer(openai_emulator, analyze_log, home, mode,
                                                                     requests):
    openai_emulator.set_mode(mode)

    run = analyze_log(provider_environ("openai", openai_emulator, home))

    assert run.analysis["degraded"] is False and run.analysis["warnings"] == []
    assert [r.response_format for r in openai_emulator.chat_requests()] == requests


@pytest.mark.parametrize("mode, requests, reason", [
    ("off_schema", 1, "does not match the schema"),
    ("malformed", 1, "not valid JSON"),
    ("refusal", 1, "refused"),
    ("rate_limited", 3, "rate limited (429), after 2 retries"),
    ("server_error", 3, "server error (500), after 2 retries"),
    ("hang", 3, "no answer within 1 s, after 2 retries"),
])
def test_llm_fault_degrades_to_the_offline_analysis_with_a_warning(openai_emulator, analyze_log, home, mode,
                                                                    requests, reason):
    openai_emulator.retry_after = "0"
    openai_emulator.set_mode(mode)

    run = analyze_log(provider_environ("openai", openai_emulator, home, AZURA_LLM_TIMEOUT="1"))

    assert run.returncode == 0, run.stderr
    analysis = run.analysis
    assert analysis["degraded"] is True
    assert len(analysis["warnings"]) == 1 and reason in analysis["warnings"][0]
    assert analysis["failures"][0]["category"] == "compile"  # the offline answer stands
    assert len(openai_emulator.chat_requests()) == requests


def test_invented_evidence_is_dropped_and_said(openai_emulator, analyze_log, home):
    openai_emulator.set_mode("invented_evidence")

    run = analyze_log(provider_environ("openai", openai_emulator, home))

    analysis = run.analysis
    assert analysis["degraded"] is False
    assert all(item["line"] <= len(BUILD_LOG) for item in analysis["failures"][0]["evidence"])
    assert "not in the excerpts" in analysis["warnings"][0]


def test_second_run_of_the_same_failure_makes_no_request(openai_emulator, analyze_log, home):
    environ = provider_environ("openai", openai_emulator, home)
    first = analyze_log(environ)

    second = analyze_log(environ)

    assert len(openai_emulator.chat_requests()) == 1
    assert second.analysis["failures"] == first.analysis["failures"]
    assert second.analysis["provider"] == "openai" and second.analysis["degraded"] is False


def test_no_cache_flag_asks_the_llm_again(openai_emulator, analyze_log, home):
    environ = provider_environ("openai", openai_emulator, home)
    analyze_log(environ, "--no-cache")

    analyze_log(environ, "--no-cache")

    assert len(openai_emulator.chat_requests()) == 2


def test_planted_secrets_never_reach_the_llm(openai_emulator, analyze_log, home):
    planted = [
        f"git remote add origin https://ci:{PAT}@dev.azure.com/org/p/_git/r",
        f"curl -H 'Authorization: Bearer {JWT}' https://api.example",
        "sqlcmd -U sa password=Hunter2Hunter2",
        f"echo using {API_KEY}",
    ]

    analyze_log(provider_environ("openai", openai_emulator, home), lines=planted + BUILD_LOG)

    bodies = [r.raw.decode("utf-8") for r in openai_emulator.chat_requests()]
    assert len(bodies) == 1 and "error CS1002" in bodies[0]
    for secret in (PAT, JWT, "Hunter2Hunter2", API_KEY):
        assert secret not in bodies[0]


def test_missing_api_key_exits_2_naming_the_variable(analyze_log, home):
    environ = {"HOME": str(home), "PYTHONPATH": str(REPO), "LLM_PROVIDER": "openai"}

    run = analyze_log(environ)

    assert run.returncode == 2
    assert "OPENAI_API_KEY" in run.stderr


def test_pipeline_run_sends_every_failed_job_in_one_request(openai_emulator, emulator, agent_env, run_step):
    scenario = scenarios.multi_stage_two_failed_jobs(emulator)
    env = agent_env(emulator, scenario, LLM_PROVIDER="openai", OPENAI_API_KEY=API_KEY,
                    OPENAI_BASE_URL=openai_emulator.base_url)

    step = run_step(env)

    assert step.returncode == 0, step.stderr
    requests = openai_emulator.chat_requests()
    assert len(requests) == 1
    assert requests[0].prompt.count("## Failure ") == len(scenario.failed) == len(step.analysis["failures"])
    assert (step.analysis["provider"], step.analysis["degraded"]) == ("openai", False)
    assert "Analysed by gpt-4o-mini" in (step.output_dir / "summary.md").read_text(encoding="utf-8")
    first_category = step.analysis["failures"][0]["category"]
    assert emulator.tags(scenario.build_id) == [f"azura-{first_category}"]
