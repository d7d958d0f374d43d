"""Background jobs live in SQLite: a server killed in the middle of a job loses nothing, a job whose process died
is taken up by a live one once and then fails saying why, and jobs expire."""
from __future__ import annotations

import os
import signal
import sys
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
        os.killpg(first.pid, signal.SIGKILL)  # the server and its worker processes, as when the machine kills it
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


def _exited_process_pid() -> int:
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _owned_by(store: JobStore, job_id: str, owner: str) -> None:
    import sqlite3

    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE jobs SET owner=? WHERE id=?", (owner, job_id))


def test_a_job_whose_process_died_is_queued_again_once_then_fails_with_the_reason(tmp_path):
    store = JobStore(str(tmp_path / "jobs.sqlite3"), ttl=3600, stale_after=30)
    job_id = store.add({"log": "error: boom"})
    store.claim(job_id)
    _owned_by(store, job_id, str(_exited_process_pid()))

    first = store.orphans()
    store.claim(job_id)
    _owned_by(store, job_id, str(_exited_process_pid()))
    second = store.orphans()

    job = store.get(job_id)
    assert first == [job_id] and second == []
    assert job.status == "failed" and "stopped 2 times" in job.error


def test_a_running_job_unheard_of_past_the_stale_time_is_taken_up(tmp_path):
    clock = FakeClock()
    store = JobStore(str(tmp_path / "jobs.sqlite3"), ttl=3600, stale_after=30, clock=clock)
    job_id = store.add({"log": "error: boom"})
    store.claim(job_id)  # this process is alive, but hangs: no heartbeat

    clock.now += 31

    assert store.orphans() == [job_id]
    assert store.get(job_id).status == "queued"


def test_heartbeats_keep_a_running_job_its_own(tmp_path):
    clock = FakeClock()
    store = JobStore(str(tmp_path / "jobs.sqlite3"), ttl=3600, stale_after=30, clock=clock)
    job_id = store.add({"log": "error: boom"})
    store.claim(job_id)

    for _ in range(5):
        clock.now += 20
        store.beat({job_id})

    assert store.orphans() == [] and store.get(job_id).status == "running"


def test_a_job_past_its_longest_run_gets_no_heartbeat_and_fails_saying_so(tmp_path):
    clock = FakeClock()
    store = JobStore(str(tmp_path / "jobs.sqlite3"), ttl=3600, stale_after=30, clock=clock, max_runtime=100)
    job_id = store.add({"log": "error: boom"})
    store.claim(job_id)

    for _ in range(8):  # 160 s: the beats stop at 100, and 30 s of silence later the job is nobody's
        clock.now += 20
        store.beat({job_id})
    store.orphans()

    job = store.get(job_id)
    assert job.status == "failed" and "did not finish within 100 s" in job.error


def test_a_finished_job_keeps_its_result_and_loses_its_request(tmp_path):
    import sqlite3

    store = JobStore(str(tmp_path / "jobs.sqlite3"), ttl=3600, stale_after=30)
    job_id = store.add({"log": "error: boom " * 1000})
    store.claim(job_id)
    store.finish(job_id, {"analysis": {"headline": "boom"}}, None)

    with sqlite3.connect(store.path) as db:
        request = db.execute("SELECT request FROM jobs WHERE id=?", (job_id,)).fetchone()[0]
    assert request == "" and store.get(job_id).result == {"analysis": {"headline": "boom"}}


def test_a_job_crashing_two_server_processes_ends_failed_while_a_third_runs(tmp_path, emulator):
    import sqlite3

    scenario = ado_scenarios.multi_stage_two_failed_jobs(emulator)
    emulator.fault("GET", "timeline", delay=40, times=2)  # holds whichever process runs the job
    environ = devops_env(emulator, TOKEN, AZURA_JOBS_DB=str(tmp_path / "jobs.sqlite3"), AZURA_NO_CACHE="1")
    ports = [free_port() for _ in range(3)]

    def one_process(port):  # the job's owner is then the server itself
        return start_server_process(environ, port, tmp_path,
                                    [sys.executable, "-m", "azura", "serve", "--port", str(port), "--workers", "1"])

    servers = {port: one_process(port) for port in ports[:1]}
    try:
        job_id = request(f"http://127.0.0.1:{ports[0]}/api/analyze/async", method="POST",
                         json_body={"project": scenario.project, "build_id": scenario.build_id}).json["job_id"]
        _wait_until(lambda: emulator.requests(route="timeline"), "the first server to run the job")
        servers.update({port: one_process(port) for port in ports[1:]})
        by_pid = {str(process.pid): process for process in servers.values()}

        def owner() -> str:
            with sqlite3.connect(tmp_path / "jobs.sqlite3") as db:
                return db.execute("SELECT owner FROM jobs WHERE id=?", (job_id,)).fetchone()[0] or ""

        first = by_pid[owner()]
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=DEADLINE)
        _wait_until(lambda: owner() in by_pid and by_pid[owner()] is not first, "another server to take the job up")
        second = by_pid[owner()]
        second.send_signal(signal.SIGKILL)
        second.wait(timeout=DEADLINE)
        survivor = next(port for port, process in servers.items() if process not in (first, second))
        job = wait_for_job(f"http://127.0.0.1:{survivor}", job_id)
    finally:
        for process in servers.values():
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=DEADLINE)

    assert job["status"] == "failed" and "stopped 2 times" in job["error"], job
