"""The server under gunicorn, as in production. There a worker busy past --timeout is killed and the client
gets gunicorn's HTML page; the request's own time limit must answer first, with the API's JSON, and the worker
must live on. Bodies reach the app through gunicorn's own chunked reader, so the body limit is checked here too."""
from __future__ import annotations

import sys
import time
from types import SimpleNamespace

import pytest

from tests.emulators import ado_scenarios
from tests.integration.conftest import TOKEN
from tests.integration.server_support import (DEADLINE, devops_env, free_port, post_chunked, request,
                                              start_server_process)

WORKER_TIMEOUT = 4  # gunicorn --timeout
REQUEST_TIMEOUT = 1.5  # AZURA_REQUEST_TIMEOUT, below it


@pytest.fixture
def gunicorn(tmp_path, emulator):
    """Return the url and error log of `gunicorn -w 1 'azura.server:app_from_env()'` on 127.0.0.1."""
    pytest.importorskip("gunicorn")
    port = free_port()
    error_log = tmp_path / "gunicorn.log"
    environ = devops_env(emulator, TOKEN, AZURA_JOBS_DB=str(tmp_path / "jobs.sqlite3"), AZURA_NO_CACHE="1",
                         AZURA_REQUEST_TIMEOUT=str(REQUEST_TIMEOUT), AZURA_MAX_BODY_BYTES="10000")
    command = [sys.executable, "-m", "gunicorn", "-w", "1", "--timeout", str(WORKER_TIMEOUT), "-b",
               f"127.0.0.1:{port}", "--error-logfile", str(error_log), "azura.server:app_from_env()"]
    process = start_server_process(environ, port, tmp_path, command)
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{port}", log=error_log)
    finally:
        process.terminate()
        process.wait(timeout=DEADLINE)


def test_analysis_past_the_time_limit_is_a_json_504_and_the_worker_is_not_killed(gunicorn, emulator):
    scenario = ado_scenarios.multi_stage_two_failed_jobs(emulator)
    emulator.fault("GET", "timeline", delay=WORKER_TIMEOUT + 4, times=1)
    started = time.monotonic()

    answer = request(f"{gunicorn.url}/api/analyze", method="POST",
                     json_body={"project": scenario.project, "build_id": scenario.build_id})
    answered = time.monotonic() - started
    time.sleep(max(0.0, WORKER_TIMEOUT + 2 - answered))  # past the moment gunicorn would have killed the worker

    assert answer.status == 504 and "AZURA_REQUEST_TIMEOUT" in answer.json["error"]
    assert answered < WORKER_TIMEOUT
    assert request(f"{gunicorn.url}/health").status == 200
    assert "WORKER TIMEOUT" not in gunicorn.log.read_text()


def test_chunked_upload_over_the_limit_is_a_413_under_gunicorn(gunicorn):
    answer = post_chunked(gunicorn.url, "/api/analyze", [b"error: boom\n" * 500] * 4)

    assert answer.status == 413 and "10000 bytes" in answer.json["error"]
    assert request(f"{gunicorn.url}/health").status == 200


def test_chunked_upload_within_the_limit_is_read_whole_under_gunicorn(gunicorn):
    answer = post_chunked(gunicorn.url, "/api/analyze", [b"step output\n" * 100, b"error: the cause comes last\n"])

    excerpt = [line["text"] for line in answer.json["analysis"]["failures"][0]["excerpt"]]
    assert answer.status == 200 and "error: the cause comes last" in excerpt


def test_deeply_nested_json_is_a_400_under_gunicorn(gunicorn):
    answer = request(f"{gunicorn.url}/api/analyze", method="POST", body=b"[" * 4_000 + b"]" * 4_000,
                     headers={"Content-Type": "application/json"})

    assert answer.status == 400 and "nested" in answer.json["error"]


def test_a_foreign_host_name_is_a_400_under_gunicorn(gunicorn):
    answer = request(f"{gunicorn.url}/api/analyze", method="POST", body=b"error: boom",
                     headers={"Content-Type": "text/plain", "Host": "rebound.attacker.example"})

    assert answer.status == 400 and "AZURA_ALLOWED_HOSTS" in answer.json["error"]
