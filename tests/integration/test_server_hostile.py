"""Hostile requests to `azura serve`, over real HTTP: each gets the API's JSON error and its status, and the
server stays up. Oversized and chunked bodies, foreign Host names (DNS rebinding), cross-site form posts,
deeply nested JSON, work past the request's time limit, and a job store that must stay private and small."""
from __future__ import annotations

import os
import sqlite3
import stat
import time
from dataclasses import replace

import pytest

from azura.context import Settings
from azura.errors import ConfigError
from azura.server import create_app
from tests.emulators import ado_scenarios
from tests.integration.conftest import TOKEN
from tests.integration.server_support import ServerThread, devops_env, post_chunked, settings_for, wait_for_job

PLANTED = "hunter2-planted-8f3a"
PASTED = f"export DB_PASSWORD={PLANTED}\nerror: boom\n##[error]Bash exited with code '1'."


@pytest.fixture
def server(tmp_path):
    """Return a running keyless server on loopback with a 10 kB body limit."""
    with ServerThread(replace(settings_for(tmp_path), max_body_bytes=10_000)) as running:
        yield running


def assert_json_error(answer, status: int) -> str:
    assert answer.status == status, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    return answer.json["error"]


def assert_still_up(server) -> None:
    assert server.get("/health").status == 200


# ---------------------------------------------------------------------------------------------- body size

def test_chunked_upload_over_the_limit_is_refused_with_413(server):
    answer = post_chunked(server.url, "/api/analyze", [b"error: boom\n" * 500] * 4)  # 24 kB, no Content-Length

    assert "10000 bytes" in assert_json_error(answer, 413)
    assert_still_up(server)


def test_chunked_upload_within_the_limit_is_read_whole(server):
    chunks = [b"step output line\n" * 100, b"error: the cause is on the last line\n"]

    answer = post_chunked(server.url, "/api/analyze", chunks)

    assert answer.status == 200
    excerpt = [line["text"] for line in answer.json["analysis"]["failures"][0]["excerpt"]]
    assert "error: the cause is on the last line" in excerpt


def test_sized_upload_over_the_limit_is_refused_with_413(server):
    answer = server.post("/api/analyze", body=b"x" * 10_001, headers={"Content-Type": "text/plain"})

    assert_json_error(answer, 413)


# ---------------------------------------------------------------------------------------------- Host

@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8080", "127.0.0.1.nip.io", "["])
def test_a_host_name_the_server_does_not_answer_to_is_refused(server, host):
    answer = server.post("/api/analyze", body=b"error: boom", headers={"Content-Type": "text/plain", "Host": host})

    assert "AZURA_ALLOWED_HOSTS" in assert_json_error(answer, 400)
    assert_still_up(server)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]:8080", "LOCALHOST:1"])
def test_loopback_names_are_allowed_by_default(server, host):
    assert server.get("/health", headers={"Host": host}).status == 200


def test_allowed_hosts_are_configurable(tmp_path):
    settings = settings_for(tmp_path, {"AZURA_ALLOWED_HOSTS": "azura.example.com, .contoso.net"})
    with ServerThread(settings) as running:
        statuses = [running.get("/health", headers={"Host": host}).status
                    for host in ("azura.example.com", "ci.contoso.net:443", "localhost", "example.com")]

    assert statuses == [200, 200, 400, 400]


# ---------------------------------------------------------------------------------------------- cross-site

@pytest.mark.parametrize("headers", [
    {"Origin": "https://attacker.example"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors"},
], ids=["foreign-origin", "null-origin", "cross-site", "same-site"])
def test_a_form_post_from_another_web_site_creates_no_job(server, headers):
    answer = server.post("/api/analyze/async", body=b"error: boom", headers={"Content-Type": "text/plain", **headers})

    assert "AZURA_CORS_ORIGINS" in assert_json_error(answer, 403)
    store = server.app.extensions["azura"]["store"]
    assert store.stored_bytes() == 0


def test_curl_and_this_servers_own_page_may_post(server):
    host = server.url.split("//")[1]
    from_curl = server.post("/api/analyze", body=b"error: boom", headers={"Content-Type": "text/plain"})
    from_page = server.post("/api/analyze", body=b"error: boom", headers={
        "Content-Type": "text/plain", "Origin": server.url, "Sec-Fetch-Site": "same-origin", "Host": host})

    assert (from_curl.status, from_page.status) == (200, 200)


def test_an_origin_listed_in_cors_origins_may_post(tmp_path):
    settings = settings_for(tmp_path, {"AZURA_CORS_ORIGINS": "https://portal.contoso.com"})
    with ServerThread(settings) as running:
        answer = running.post("/api/analyze", body=b"error: boom", headers={
            "Content-Type": "text/plain", "Origin": "https://portal.contoso.com", "Sec-Fetch-Site": "cross-site"})

    assert answer.status == 200


# ---------------------------------------------------------------------------------------------- JSON

@pytest.mark.parametrize("depth", [4_000, 40])  # 4,000: past the parser's recursion limit
def test_deeply_nested_json_is_a_400(server, depth):
    body = b'{"log": ' + b"[" * depth + b"]" * depth + b"}"

    answer = server.post("/api/analyze", body=body, headers={"Content-Type": "application/json"})

    assert "nested" in assert_json_error(answer, 400)
    assert_still_up(server)


def test_chat_with_deeply_nested_json_is_a_400(server):
    body = b"[" * 4_000 + b"]" * 4_000

    answer = server.post("/api/chat", body=body, headers={"Content-Type": "application/json"})

    assert_json_error(answer, 400)


# ---------------------------------------------------------------------------------------------- time limit

def test_work_past_the_request_time_limit_is_a_json_504_and_the_server_stays_up(tmp_path, emulator):
    scenario = ado_scenarios.multi_stage_two_failed_jobs(emulator)
    emulator.fault("GET", "timeline", delay=6, times=None)
    settings = replace(settings_for(tmp_path, devops_env(emulator, TOKEN)), request_timeout=1.5)
    with ServerThread(settings) as running:
        started = time.monotonic()
        answer = running.post("/api/analyze", json_body={"project": scenario.project, "build_id": scenario.build_id})
        elapsed = time.monotonic() - started

        assert "AZURA_REQUEST_TIMEOUT" in assert_json_error(answer, 504)
        assert elapsed < 5
        assert_still_up(running)


# ---------------------------------------------------------------------------------------------- the job store

def test_default_job_store_is_in_the_users_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    app = create_app(Settings(), start_jobs=False)

    assert app.extensions["azura"]["store"].path == str(tmp_path / "cache" / "azura" / "azura-jobs.sqlite3")


def test_job_store_is_private_to_its_user(tmp_path):
    create_app(settings_for(tmp_path / "fresh"), start_jobs=False)

    store = tmp_path / "fresh" / "jobs.sqlite3"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.parent.stat().st_mode) == 0o700


def test_a_store_others_could_read_is_made_private(tmp_path):
    existing = tmp_path / "jobs.sqlite3"
    existing.touch(mode=0o644)
    os.chmod(existing, 0o644)

    create_app(settings_for(tmp_path), start_jobs=False)

    assert stat.S_IMODE(existing.stat().st_mode) == 0o600


def test_pasted_log_is_stored_redacted_and_its_body_deleted_when_the_job_ends(tmp_path):
    with ServerThread(settings_for(tmp_path)) as running:
        job_id = running.post("/api/analyze/async", body=PASTED.encode(), headers={"Content-Type": "text/plain"}).json[
            "job_id"]
        job = wait_for_job(running.url, job_id)

    assert job["status"] == "done" and job["result"]["analysis"]["failures"]
    with sqlite3.connect(tmp_path / "jobs.sqlite3") as db:
        assert db.execute("SELECT request FROM jobs WHERE id=?", (job_id,)).fetchone() == ("",)
    for path in tmp_path.glob("jobs.sqlite3*"):
        assert PLANTED.encode() not in path.read_bytes(), path


def test_a_paste_that_would_overfill_the_job_store_is_refused_with_503(tmp_path):
    settings = replace(settings_for(tmp_path), jobs_max_bytes=2_000)
    with ServerThread(settings) as running:
        fits = running.post("/api/analyze/async", body=b"error: boom\n" * 10, headers={"Content-Type": "text/plain"})
        too_much = running.post("/api/analyze/async", body=b"error: boom\n" * 300,
                                headers={"Content-Type": "text/plain"})

        assert fits.status == 202
        assert "AZURA_JOBS_MAX_BYTES" in assert_json_error(too_much, 503)
        assert_still_up(running)


# ---------------------------------------------------------------------------------------------- API key

@pytest.mark.parametrize("key", ["abcd", "fifteen-chars15"])
def test_an_api_key_shorter_than_16_characters_is_refused(tmp_path, key):
    with pytest.raises(ConfigError, match="at least 16") as refused:
        create_app(settings_for(tmp_path, {"AZURA_API_KEY": key}), start_jobs=False)

    assert key not in str(refused.value)


def test_server_log_records_are_redacted(tmp_path, caplog):
    import logging

    create_app(settings_for(tmp_path, {"AZURA_API_KEY": "azura-api-key-7c1f2e9a44b0"}), start_jobs=False)
    try:
        raise ValueError(f"could not parse line: export DB_PASSWORD={PLANTED}")
    except ValueError:
        logging.getLogger("azura.server").exception("internal error with azura-api-key-7c1f2e9a44b0")

    assert caplog.records
    assert PLANTED not in caplog.text and "azura-api-key-7c1f2e9a44b0" not in caplog.text
    assert "Traceback" in caplog.text and "«redacted:" in caplog.text
