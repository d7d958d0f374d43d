"""`azura ask` from the command line: offline answers over the emulator, and a clear refusal it cannot parse."""
from azura.errors import ExitCode
from tests.emulators import ado_scenarios
from tests.helpers import run_azura
from tests.integration.conftest import TOKEN


def _laptop_env(emulator, tmp_path):
    return {"AZURE_DEVOPS_ORG_URL": emulator.org_url, "AZURE_DEVOPS_PAT": TOKEN,
            "AZURE_DEVOPS_PROJECT": ado_scenarios.PROJECT, "XDG_CACHE_HOME": str(tmp_path)}


def test_ask_why_build_failed_answers_with_the_cause_offline(emulator, tmp_path, in_tmp):
    scenario = ado_scenarios.multi_stage_two_failed_jobs(emulator)
    run = run_azura("ask", f"why did build {scenario.build_id} fail?", environ=_laptop_env(emulator, tmp_path))
    assert str(scenario.build_id) in run.stdout
    assert scenario.failed[0].name in run.stdout
    assert TOKEN not in run.stdout + run.stderr


def test_ask_json_holds_the_analysis_of_the_build(emulator, tmp_path, in_tmp):
    scenario = ado_scenarios.multi_stage_two_failed_jobs(emulator)
    document = run_azura("ask", f"why did build {scenario.build_id} fail?", "--format", "json",
                         environ=_laptop_env(emulator, tmp_path)).json
    assert document["understood"] is True
    assert document["analysis"]["failures"][0]["category"] != "unknown"


def test_question_the_parser_cannot_read_needs_an_llm_and_exits_2(emulator, tmp_path, in_tmp):
    run = run_azura("ask", "write me a haiku about flaky tests", environ=_laptop_env(emulator, tmp_path),
                    expect=ExitCode.USAGE)
    assert "LLM_PROVIDER" in run.stderr
    assert run.stdout == ""


def test_ask_says_on_stderr_where_the_answer_came_from(emulator, tmp_path, in_tmp):
    scenario = ado_scenarios.multi_stage_two_failed_jobs(emulator)
    run = run_azura("ask", f"why did build {scenario.build_id} fail?", environ=_laptop_env(emulator, tmp_path))
    assert run.stderr.splitlines()[-1] == f"azura: answered from {emulator.org_url} (offline)"


def test_ask_exits_1_when_azure_devops_refuses_it_an_answer(emulator, tmp_path, in_tmp):
    ado_scenarios.multi_stage_two_failed_jobs(emulator)
    environ = {**_laptop_env(emulator, tmp_path), "AZURE_DEVOPS_PAT": "wrong-token-123456"}
    run = run_azura("ask", "list pipelines", environ=environ, expect=ExitCode.ANALYSIS_IMPOSSIBLE)
    assert "AZURE_DEVOPS_PAT" in run.stderr and run.stdout == ""
