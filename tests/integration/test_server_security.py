"""Security of the REST API: API key, exposure, body size, validation without echo, secrets kept server-side."""
from __future__ import annotations

from dataclasses import replace

import pytest

from azura.errors import ConfigError
from azura.server import create_app
from tests.emulators import ado_scenarios
from tests.emulators.openai_server import OpenAIEmulator
from tests.integration.conftest import TOKEN
from tests.integration.server_support import ServerThread, devops_env, settings_for

API_KEY = "azura-api-key-7c1f2e9a44b0"
LLM_KEY = "sk-llm-secret-5e8d0c6b2a91f3"
GOOD = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def keyed_server(tmp_path):
    """Return a running server that requires API_KEY."""
    with ServerThread(settings_for(tmp_path, {"AZURA_API_KEY": API_KEY})) as running:
        yield running


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-key"}, {"Authorization": API_KEY}],
                         ids=["no-header", "wrong-key", "not-bearer"])
def test_api_refuses_requests_without_the_right_bearer_key(keyed_server, headers):
    answer = keyed_server.post("/api/analyze", body=b"error: boom", headers={"Content-Type": "text/plain", **headers})

    assert answer.status == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert API_KEY not in answer.text


def test_api_accepts_requests_with_the_right_bearer_key(keyed_server):
    answer = keyed_server.post("/api/analyze", body=b"error: boom", headers={"Content-Type": "text/plain", **GOOD})

    assert answer.status == 200


def test_web_page_loads_without_the_key_so_it_can_ask_for_it(keyed_server):
    assert keyed_server.get("/").status == 200
    assert keyed_server.get("/health").status == 401


def test_server_refuses_to_listen_beyond_loopback_without_an_api_key(tmp_path):
    settings = settings_for(tmp_path, {"AZURA_HOST": "0.0.0.0"})

    with pytest.raises(ConfigError, match="AZURA_API_KEY"):
        create_app(settings)


def test_server_listens_beyond_loopback_with_an_api_key(tmp_path):
    settings = settings_for(tmp_path, {"AZURA_HOST": "0.0.0.0", "AZURA_API_KEY": API_KEY})

    assert create_app(settings, start_jobs=False) is not None


def test_requests_from_other_machines_need_an_api_key_even_on_a_keyless_server(tmp_path):
    client = create_app(settings_for(tmp_path), start_jobs=False).test_client()

    remote = client.get("/health", environ_base={"REMOTE_ADDR": "192.0.2.10"})
    local = client.get("/health", environ_base={"REMOTE_ADDR": "127.0.0.1"})

    assert remote.status_code == 403 and "AZURA_API_KEY" in remote.get_json()["error"]
    assert local.status_code == 200


def test_body_over_the_size_limit_is_refused_with_413(tmp_path):
    settings = replace(settings_for(tmp_path), max_body_bytes=10_000)
    with ServerThread(settings) as running:
        too_big = running.post("/api/analyze", body=b"x" * 10_001, headers={"Content-Type": "text/plain"})
        fits = running.post("/api/analyze", body=b"error: boom\n" * 800, headers={"Content-Type": "text/plain"})

    assert too_big.status == 413 and "10000 bytes" in too_big.json["error"]
    assert fits.status == 200


@pytest.mark.parametrize("path, body, field", [
    ("/api/analyze", {"log": 4242424242}, "'log'"),
    ("/api/analyze", {"log": "x", "sekrit-field-name": "hunter2-value"}, "'sekrit-field-name'"),
    ("/api/analyze", {"build_id": "4242424242"}, "'build_id'"),
    ("/api/analyze", [{"context": "ok"}, {"context": 4242424242}], "item 1"),
    ("/api/chat", {"message": ""}, "'message'"),
    ("/api/chat", {"message": "hi", "conversation_id": "../../etc/passwd-4242424242"}, "'conversation_id'"),
], ids=["log-not-string", "unknown-field", "build-id-not-int", "error-item", "empty-message", "bad-conversation"])
def test_validation_errors_name_the_field_and_never_echo_its_value(keyed_server, path, body, field):
    answer = keyed_server.post(path, json_body=body, headers=GOOD)

    assert answer.status == 400
    assert field in answer.json["error"]
    assert "4242424242" not in answer.text and "hunter2" not in answer.text


def test_invalid_json_is_a_400_that_says_so(keyed_server):
    answer = keyed_server.post("/api/analyze", body=b"{not json", headers={"Content-Type": "application/json", **GOOD})

    assert answer.status == 400 and "not valid JSON" in answer.json["error"]


def test_unknown_route_is_a_json_404(keyed_server):
    answer = keyed_server.get("/api/nothing-here", headers=GOOD)

    assert answer.status == 404 and answer.json == {"error": "Not Found"}


def test_no_response_ever_contains_the_azure_devops_token_or_the_llm_key(tmp_path, emulator):
    scenario = ado_scenarios.multi_stage_two_failed_jobs(emulator)
    with OpenAIEmulator(api_key=LLM_KEY) as llm:
        environ = devops_env(emulator, TOKEN, LLM_PROVIDER="openai", OPENAI_API_KEY=LLM_KEY,
                             OPENAI_BASE_URL=llm.base_url, AZURA_API_KEY=API_KEY)
        with ServerThread(settings_for(tmp_path, environ)) as running:
            pasted = f"token={TOKEN}\nOPENAI_API_KEY={LLM_KEY}\n##[error]Bash exited with code '1'."
            answers = [
                running.get("/health", headers=GOOD),
                running.get("/openapi.json"),
                running.post("/api/analyze", body=pasted.encode(), headers={"Content-Type": "text/plain", **GOOD}),
                running.post("/api/analyze", json_body={"project": scenario.project, "build_id": scenario.build_id},
                             headers=GOOD),
                running.post("/api/analyze", json_body={"project": "Widgets", "build_id": 999999}, headers=GOOD),
                running.post("/api/chat", json_body={"message": f"why did build {scenario.build_id} fail?"},
                             headers=GOOD),
            ]
        sent_to_llm = [request.raw for request in llm.requests]

    assert [a.status for a in answers] == [200, 200, 200, 200, 502, 200]
    for answer in answers:
        assert TOKEN not in answer.text and LLM_KEY not in answer.text
    assert sent_to_llm and all(TOKEN.encode() not in body and LLM_KEY.encode() not in body for body in sent_to_llm)
