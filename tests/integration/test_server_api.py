"""The REST API over real HTTP: the Flask app in a werkzeug server thread, Azure DevOps from the emulator."""
from __future__ import annotations

import datetime as dt

import pytest

from tests.emulators import ado_scenarios
from tests.integration.conftest import TOKEN
from tests.integration.server_support import ServerThread, devops_env, settings_for, wait_for_job

ANALYSIS_KEYS = {"schema_version", "headline", "provider", "model", "degraded", "warnings", "build", "tag",
                 "failures", "history", "test_runs", "sources", "usage", "llm"}
PYTEST_LOG = "\n".join([
    "##[section]Starting: Run unit tests",
    "============================= test session starts ==============================",
    "tests/test_orders.py::test_total_with_tax FAILED",
    "E       AssertionError: assert Decimal('29.97') == Decimal('32.54')",
    "=========================== short test summary info ============================",
    "FAILED tests/test_orders.py::test_total_with_tax - AssertionError: assert Decimal('29.97') == Decimal('32.54')",
    "========================= 1 failed, 41 passed in 3.20s =========================",
    "##[error]Bash exited with code '1'.",
])


@pytest.fixture
def server(tmp_path, emulator):
    """Return a running server that reads the emulator's organisation."""
    with ServerThread(settings_for(tmp_path, devops_env(emulator, TOKEN))) as running:
        yield running


@pytest.fixture
def offline_server(tmp_path):
    """Return a running server with no Azure DevOps settings."""
    with ServerThread(settings_for(tmp_path)) as running:
        yield running


def test_health_reports_version_provider_and_reachable_azure_devops(server, emulator):
    ado_scenarios.multi_stage_two_failed_jobs(emulator)

    health = server.get("/health").json

    assert health["status"] == "ok" and health["version"] and health["provider"] == "none"
    assert health["azure_devops"]["configured"] is True
    assert health["azure_devops"]["reachable"] is True


def test_health_says_azure_devops_is_not_configured_without_org_and_token(offline_server):
    devops = offline_server.get("/health").json["azure_devops"]

    assert devops["configured"] is False and devops["reachable"] is None
    assert "AZURE_DEVOPS_PAT" in devops["detail"]


def test_health_reports_unreachable_azure_devops_when_the_token_is_refused(tmp_path, emulator):
    ado_scenarios.multi_stage_two_failed_jobs(emulator)
    with ServerThread(settings_for(tmp_path, devops_env(emulator, "wrong-token-123456"))) as running:
        devops = running.get("/health").json["azure_devops"]

    assert devops["reachable"] is False
    assert "AZURE_DEVOPS_PAT" in devops["detail"]


@pytest.mark.parametrize("body", [
    {"body": PYTEST_LOG.encode(), "headers": {"Content-Type": "text/plain; charset=utf-8"}},
    {"json_body": {"log": PYTEST_LOG}},
    {"json_body": [{"context": line} for line in PYTEST_LOG.splitlines()]},
], ids=["text/plain", "json-log", "list-of-context-errors"])
def test_analyze_returns_the_analysis_contract_and_the_pr_comment_markdown(offline_server, body):
    answer = offline_server.post("/api/analyze", **body)

    assert answer.status == 200, answer.text
    analysis = answer.json["analysis"]
    assert set(analysis) == ANALYSIS_KEYS and analysis["schema_version"] == 1
    assert [f["category"] for f in analysis["failures"]] == ["test"]
    assert "Decimal('29.97')" in answer.json["markdown"]


def test_analyze_reads_a_build_reference_from_azure_devops(server, emulator):
    scenario = ado_scenarios.multi_stage_two_failed_jobs(emulator)

    answer = server.post("/api/analyze", json_body={"project": scenario.project, "build_id": scenario.build_id})

    assert answer.status == 200, answer.text
    analysis = answer.json["analysis"]
    assert analysis["build"]["id"] == scenario.build_id
    assert sorted(f["category"] for f in analysis["failures"]) == ["auth", "test"]


def test_analyze_reads_a_build_url_of_the_configured_organisation(server, emulator):
    scenario = ado_scenarios.multi_stage_two_failed_jobs(emulator)
    url = f"{emulator.org_url}/{scenario.project}/_build/results?buildId={scenario.build_id}"

    answer = server.post("/api/analyze", json_body={"build_url": url})

    assert answer.status == 200, answer.text
    assert answer.json["analysis"]["build"]["id"] == scenario.build_id


def test_analyze_refuses_a_build_url_of_another_organisation_so_the_token_stays_home(server, emulator):
    ado_scenarios.multi_stage_two_failed_jobs(emulator)
    emulator.clear_requests()

    answer = server.post("/api/analyze", json_body={
        "build_url": "https://dev.azure.com/elsewhere/Widgets/_build/results?buildId=1000"})

    assert answer.status == 400
    assert "build_url" in answer.json["error"]
    assert emulator.requests() == []


def test_analyze_of_a_missing_build_names_the_problem_without_a_traceback(server, emulator):
    ado_scenarios.multi_stage_two_failed_jobs(emulator)

    answer = server.post("/api/analyze", json_body={"project": "Widgets", "build_id": 999999})

    assert answer.status == 502
    assert "not found" in answer.json["error"] and "Traceback" not in answer.text


def test_a_build_url_of_a_missing_build_is_answered_without_command_line_flags(server, emulator):
    ado_scenarios.multi_stage_two_failed_jobs(emulator)

    answer = server.post("/api/analyze", json_body={
        "build_url": f"{emulator.org_url}/Widgets/_build/results?buildId=999999"})

    assert answer.status == 502 and "not found" in answer.json["error"]
    assert "--" not in answer.json["error"]


def test_async_analysis_reports_progress_then_the_same_result_as_the_sync_one(offline_server):
    queued = offline_server.post("/api/analyze/async", body=PYTEST_LOG.encode(),
                                 headers={"Content-Type": "text/plain"})

    assert queued.status == 202
    assert queued.headers["Location"] == f"/api/jobs/{queued.json['job_id']}"
    job = wait_for_job(offline_server.url, queued.json["job_id"])
    sync = offline_server.post("/api/analyze", body=PYTEST_LOG.encode(), headers={"Content-Type": "text/plain"})
    assert (job["status"], job["progress"], job["error"]) == ("done", 1, None)
    assert job["result"] == sync.json


def test_async_analysis_of_a_missing_build_fails_with_the_reason(server, emulator):
    ado_scenarios.multi_stage_two_failed_jobs(emulator)

    queued = server.post("/api/analyze/async", json_body={"project": "Widgets", "build_id": 999999})
    job = wait_for_job(server.url, queued.json["job_id"])

    assert job["status"] == "failed" and "not found" in job["error"] and job["result"] is None


def test_unknown_job_is_not_found(offline_server):
    assert offline_server.get("/api/jobs/0123456789abcdef").status == 404


def test_examples_lists_the_bundled_failure_logs(offline_server):
    from azura.examples import example_paths

    examples = offline_server.get("/api/examples").json["examples"]

    assert examples and [e["name"] for e in examples] == [p.stem for p in example_paths()]
    assert all(e["log"].strip() for e in examples)


def test_chat_answers_offline_and_keeps_the_conversation(server, emulator):
    ado_scenarios.multi_stage_two_failed_jobs(emulator)

    first = server.post("/api/chat", json_body={"message": "list pipelines"}).json
    second = server.post("/api/chat", json_body={"message": "list projects",
                                                 "conversation_id": first["conversation_id"]}).json

    assert "widgets-ci" in first["answer"]
    assert second["conversation_id"] == first["conversation_id"] and "Widgets" in second["answer"]


def test_chat_explains_the_last_failed_build_with_links_and_the_pr_comment(server, emulator):
    scenario = ado_scenarios.multi_stage_two_failed_jobs(emulator)

    answer = server.post("/api/chat", json_body={"message": "why did the last build of widgets-ci fail?"}).json

    assert [b["id"] for b in answer["builds"]] == [scenario.build_id]
    assert answer["builds"][0]["url"].endswith(f"buildId={scenario.build_id}")
    assert answer["analysis"]["build"]["id"] == scenario.build_id
    assert "NU1301" in answer["analysis_markdown"]


def test_chat_lists_the_pipelines_that_failed_today_and_not_older_failures(server, emulator):
    ado_scenarios.multi_stage_two_failed_jobs(emulator)  # failed in 2024
    now = dt.datetime.now(dt.timezone.utc)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    earlier_today = midnight + (now - midnight) / 2  # still today just after midnight, when CI may run
    today = emulator.add_build("Widgets", ("web-app", 7), result="failed", queue_time=earlier_today)

    answer = server.post("/api/chat", json_body={"message": "Which pipelines failed today?"}).json

    assert "web-app" in answer["answer"] and "widgets-ci" not in answer["answer"]
    assert [b["id"] for b in answer["builds"]] == [today.id]


def test_chat_without_an_llm_says_which_questions_need_one(server, emulator):
    ado_scenarios.multi_stage_two_failed_jobs(emulator)

    answer = server.post("/api/chat", json_body={"message": "How do I make my pipeline faster?"}).json

    assert answer["understood"] is False
    assert "LLM_PROVIDER" in answer["answer"]


def test_chat_with_an_unknown_conversation_is_not_found(offline_server):
    answer = offline_server.post("/api/chat", json_body={"message": "list projects", "conversation_id": "abc123"})

    assert answer.status == 404


def test_web_chat_page_and_its_assets_are_served(offline_server):
    page = offline_server.get("/")

    assert page.status == 200 and "<title>Azura</title>" in page.text
    assert offline_server.get("/static/app.js").status == 200
    assert offline_server.get("/static/style.css").status == 200


def test_openapi_document_lists_every_endpoint(offline_server):
    document = offline_server.get("/openapi.json").json

    assert set(document["paths"]) == {"/health", "/api/analyze", "/api/analyze/async", "/api/jobs/{job_id}",
                                      "/api/examples", "/api/chat", "/process_errors", "/process_errors_async",
                                      "/example_errors"}


def test_cors_headers_are_absent_unless_origins_are_configured(offline_server):
    answer = offline_server.get("/health", headers={"Origin": "https://example.test"})

    assert "Access-Control-Allow-Origin" not in answer.headers


def test_cors_allows_only_the_configured_origins(tmp_path):
    settings = settings_for(tmp_path, {"AZURA_CORS_ORIGINS": "https://ok.test"})
    with ServerThread(settings) as running:
        allowed = running.get("/health", headers={"Origin": "https://ok.test"})
        refused = running.get("/health", headers={"Origin": "https://evil.test"})
        preflight = running.get("/api/chat", method="OPTIONS", headers={
            "Origin": "https://ok.test", "Access-Control-Request-Method": "POST"})

    assert allowed.headers["Access-Control-Allow-Origin"] == "https://ok.test"
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert preflight.status == 200 and "Authorization" in preflight.headers["Access-Control-Allow-Headers"]


# ---------------------------------------------------------------- the original API's routes and body

ORIGINAL_BODY = {"errors": [{"context": line} for line in PYTEST_LOG.splitlines()]}


def test_process_errors_answers_what_api_analyze_answers(offline_server):
    original = offline_server.post("/process_errors", json_body=ORIGINAL_BODY)
    current = offline_server.post("/api/analyze", json_body={"log": PYTEST_LOG})

    assert original.status == 200, original.text
    assert original.json == current.json


def test_api_analyze_accepts_the_original_errors_wrapper(offline_server):
    answer = offline_server.post("/api/analyze", json_body=ORIGINAL_BODY)

    assert answer.status == 200, answer.text
    assert [f["category"] for f in answer.json["analysis"]["failures"]] == ["test"]


@pytest.mark.parametrize("body, field", [
    ({"errors": "not a list"}, "errors"),
    ({"errors": [{"context": "x", "severity": "high"}]}, "unknown field"),
    ({"errors": [{"context": "x"}], "log": "y"}, "unknown field"),
])
def test_a_malformed_errors_wrapper_is_refused_naming_the_problem(offline_server, body, field):
    answer = offline_server.post("/process_errors", json_body=body)

    assert answer.status == 400 and field in answer.json["error"]


def test_process_errors_async_runs_the_same_job_as_api_analyze_async(offline_server):
    queued = offline_server.post("/process_errors_async", json_body=ORIGINAL_BODY)

    assert queued.status == 202 and queued.headers["Location"] == f"/api/jobs/{queued.json['job_id']}"
    job = wait_for_job(offline_server.url, queued.json["job_id"])
    assert job["status"] == "done" and job["result"] == offline_server.post("/api/analyze", json_body=ORIGINAL_BODY).json


def test_example_errors_answers_what_api_examples_answers(offline_server):
    assert offline_server.get("/example_errors").json == offline_server.get("/api/examples").json


@pytest.mark.parametrize("method, path", [("POST", "/process_errors"), ("POST", "/process_errors_async"),
                                          ("GET", "/example_errors")])
def test_original_routes_need_the_api_key_like_the_rest_of_the_api(tmp_path, method, path):
    with ServerThread(settings_for(tmp_path, {"AZURA_API_KEY": "original-routes-key-5d2e"})) as keyed:
        answer = keyed.get(path, method=method, json_body=ORIGINAL_BODY if method == "POST" else None)

    assert answer.status == 401


# ---------------------------------------------------------------- errors worded for an API client

@pytest.mark.parametrize("body", [
    {"build_url": "https://dev.azure.com/contoso/Widgets/_build/results?buildId=7"},
    {"project": "Widgets", "build_id": 7},
])
def test_build_request_to_a_server_without_organisation_says_so_without_command_line_flags(offline_server, body):
    answer = offline_server.post("/api/analyze", json_body=body)

    assert answer.status == 400
    assert "AZURE_DEVOPS_ORG_URL" in answer.json["error"] and "--" not in answer.json["error"]


def test_chat_on_a_server_without_organisation_says_so_without_command_line_flags(offline_server):
    answer = offline_server.post("/api/chat", json_body={"message": "why did build 7 fail?"})

    assert answer.status == 400
    assert "AZURE_DEVOPS_ORG_URL" in answer.json["error"] and "--" not in answer.json["error"]


def test_build_of_another_organisation_names_the_one_the_server_reads(server, emulator):
    answer = server.post("/api/analyze", json_body={
        "build_url": "https://dev.azure.com/elsewhere/Widgets/_build/results?buildId=1000"})

    assert answer.status == 400 and emulator.org_url in answer.json["error"] and "--" not in answer.json["error"]


# ---------------------------------------------------------------- azura serve says where it served

def test_serve_stopped_with_ctrl_c_exits_0_and_says_where_the_jobs_are(tmp_path):
    import signal

    from tests.integration.server_support import DEADLINE, free_port, start_server_process

    jobs_db = tmp_path / "jobs.sqlite3"
    port = free_port()
    process = start_server_process({"AZURA_JOBS_DB": str(jobs_db)}, port, tmp_path)
    process.send_signal(signal.SIGINT)
    stderr = process.communicate(timeout=DEADLINE)[1].decode()

    assert process.returncode == 0
    assert f"stopped serving http://127.0.0.1:{port}" in stderr and str(jobs_db) in stderr
