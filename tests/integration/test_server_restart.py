"""Background jobs live in SQLite: a server killed in the middle of a job loses nothing, and jobs expire."""
from __future__ import annotations

import signal
import time

from azura.jobs import JobStore
from tests.emulators import ado_scenarios
from tests.integration.conftest import TOKEN
from tests.integration.server_support import (DEADLINE, devops_env, free_port, request, start_server_process,
                                              wait_for_job)


def test_job_running_when_the_server_is_killed_finishes_after_a_restart(tmp_path, emulator):
    scenario = ado_scenarios.multi_stage_two_failed_jobs(emulator)
    emulator.fault("GET", "timeline", delay=8, times=1)  # holds the first server inside the job
    environ = devops_env(emulator, TOKEN, AZURA_JOBS_DB=str(tmp_path / "jobs.sqlite3"), AZURA_NO_CACHE="1")
    port = free_port()
    first = start_server_process(environ, port, tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        job_id = request(f"{base}/api/analyze/async", method="POST",
                         json_body={"project": scenario.project, "build_id": scenario.build_id}).json["job_id"]
        _wait_until(lambda: emulator.requests(route="timeline"), "the first server to ask for the timeline")
        assert request(f"{base}/api/jobs/{job_id}").json["status"] == "running"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=DEADLINE)

    second = start_server_process(environ, port, tmp_path)
    try:
        job = wait_for_job(f"http://127.0.0.1:{port}", job_id)
    finally:
        second.terminate()
        second.wait(timeout=DEADLINE)

    assert job["status"] == "done", job
    assert job["result"]["analysis"]["build"]["id"] == scenario.build_id
    assert len(emulator.requests(route="timeline")) >= 2  # the second server ran the job again


def _wait_until(condition, what: str) -> None:
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_finished_jobs_expire_after_the_ttl_and_not_before(tmp_path):
    clock = FakeClock()
    store = JobStore(str(tmp_path / "jobs.sqlite3"), ttl=3600, stale_after=300, clock=clock)
    job_id = store.add({"log": "error: boom"})
    store.claim(job_id)
    store.finish(job_id, {"analysis": {}}, None)

    clock.now += 3599
    kept = store.get(job_id)
    clock.now += 2
    gone = store.get(job_id)

    assert kept is not None and kept.status == "done"
    assert gone is None


def test_unfinished_jobs_do_not_expire(tmp_path):
    clock = FakeClock()
    store = JobStore(str(tmp_path / "jobs.sqlite3"), ttl=10, stale_after=300, clock=clock)
    job_id = store.add({"log": "error: boom"})

    clock.now += 1000

    assert store.get(job_id).status == "queued"


def test_a_job_is_claimed_by_one_process_only(tmp_path):
    store = JobStore(str(tmp_path / "jobs.sqlite3"), ttl=10, stale_after=300)
    job_id = store.add({"log": "error: boom"})

    assert store.claim(job_id) == {"log": "error: boom"}
    assert store.claim(job_id) is None


def test_running_job_of_a_live_process_is_not_taken_over(tmp_path):
    store = JobStore(str(tmp_path / "jobs.sqlite3"), ttl=10, stale_after=300)
    job_id = store.add({"log": "error: boom"})
    store.claim(job_id)  # this test's own process is alive

    assert store.orphans() == []
