"""`azura analyze` as a pipeline step when Azure DevOps misbehaves: it retries what is worth retrying, never
posts a second PR thread, and otherwise ends with a warning that names the cause, exit 0 unless --strict."""
from __future__ import annotations

import time

from tests.emulators import ado_scenarios as scenarios
from tests.integration.conftest import TOKEN, assert_token_never_leaks

WARNING = "##vso[task.logissue type=warning;]Azura: "


def warnings(step) -> list:
    return [line[len(WARNING):] for line in step.stderr.splitlines() if line.startswith(WARNING)]


def test_429_with_retry_after_is_retried_after_the_given_wait(emulator, agent_env, run_step):
    scenario = scenarios.multi_stage_two_failed_jobs(emulator)
    emulator.fault("GET", "build", status=429, retry_after=1, times=2)
    started = time.monotonic()

    step = run_step(agent_env(emulator, scenario))

    assert time.monotonic() - started >= 2
    assert len(emulator.requests(route="build")) == 3
    assert len(step.analysis["failures"]) == 2
    assert warnings(step) == []


def test_500_is_retried(emulator, agent_env, run_step):
    scenario = scenarios.multi_stage_two_failed_jobs(emulator)
    emulator.fault("GET", "timeline", status=500, times=1)

    step = run_step(agent_env(emulator, scenario))

    assert len(emulator.requests(route="timeline")) == 2
    assert len(step.analysis["failures"]) == 2


def test_stalled_answer_times_out_and_is_retried_within_the_deadline(emulator, agent_env, run_step):
    scenario = scenarios.multi_stage_two_failed_jobs(emulator)
    emulator.fault("GET", "timeline", delay=10, times=1)  # longer than the whole run may take
    started = time.monotonic()

    step = run_step(agent_env(emulator, scenario), "--timeout", "6")

    assert time.monotonic() - started < 10
    assert len(step.analysis["failures"]) == 2
    assert warnings(step) == []


def test_service_that_never_answers_ends_at_the_deadline_with_a_warning(emulator, agent_env, run_step):
    scenario = scenarios.multi_stage_two_failed_jobs(emulator)
    emulator.fault("GET", "timeline", delay=30, times=None)
    started = time.monotonic()

    step = run_step(agent_env(emulator, scenario), "--timeout", "4")

    assert time.monotonic() - started < 15
    assert step.returncode == 0
    assert len(warnings(step)) == 1 and "--timeout" in warnings(step)[0]


def test_log_cut_off_mid_stream_is_read_again(emulator, agent_env, run_step):
    scenario = scenarios.multi_stage_two_failed_jobs(emulator)
    emulator.fault("GET", "build_log", cut=True, times=1)

    step = run_step(agent_env(emulator, scenario))

    assert len(emulator.requests(route="build_log")) == 3
    assert step.analysis["warnings"] == []
    assert [f["category"] for f in step.analysis["failures"]] == ["test", "auth"]


def test_logs_the_service_refuses_leave_each_step_its_timeline_issues_and_a_warning(emulator, agent_env, run_step):
    scenario = scenarios.multi_stage_two_failed_jobs(emulator)
    emulator.fault("GET", "build_log", status=404, times=None)

    step = run_step(agent_env(emulator, scenario))

    assert step.returncode == 0
    assert len(step.analysis["failures"]) == 2
    assert sorted(w.split(" was not read")[0] for w in step.analysis["warnings"] if "was not read" in w) == \
        sorted(f"the log of {f['task']!r}" for f in step.analysis["failures"])


def test_thread_creation_cut_off_after_the_service_created_it_leaves_one_thread(emulator, agent_env, run_step):
    scenario = scenarios.pr_build(emulator)
    emulator.fault("POST", "pr_threads", cut=True, times=1)

    step = run_step(agent_env(emulator, scenario))

    assert len(emulator.threads(scenario.pr_id)) == 1
    assert len(emulator.requests(route="pr_threads", method="POST")) == 1
    assert warnings(step) == []


def test_thread_creation_refused_with_429_is_retried_once_allowed(emulator, agent_env, run_step):
    scenario = scenarios.pr_build(emulator)
    emulator.fault("POST", "pr_threads", status=429, retry_after=1, times=2)

    step = run_step(agent_env(emulator, scenario))

    assert len(emulator.threads(scenario.pr_id)) == 1
    assert len(emulator.requests(route="pr_threads", method="POST")) == 3
    assert warnings(step) == []


def test_sign_in_page_is_reported_as_a_refused_token(emulator, agent_env, run_step):
    scenario = scenarios.multi_stage_two_failed_jobs(emulator)
    emulator.fault("*", "*", sign_in=True, times=None)
    env = agent_env(emulator, scenario)

    step = run_step(env)

    assert step.returncode == 0
    assert len(warnings(step)) == 1
    assert "the token from SYSTEM_ACCESSTOKEN was refused" in warnings(step)[0]
    assert step.commands() == []  # nothing was analysed, so no tag and no summary
    assert_token_never_leaks(step, env)


def test_sign_in_page_fails_the_step_with_strict(emulator, agent_env, run_step):
    scenario = scenarios.multi_stage_two_failed_jobs(emulator)
    emulator.fault("*", "*", sign_in=True, times=None)

    step = run_step(agent_env(emulator, scenario), "--strict")

    assert step.returncode == 1


def test_401_names_the_token_variable_and_never_prints_the_token(emulator, agent_env, run_step):
    scenario = scenarios.multi_stage_two_failed_jobs(emulator)
    env = agent_env(emulator, scenario, SYSTEM_ACCESSTOKEN="wrongTokenValue0123456789abcdefghijklmnopq")

    step = run_step(env)

    assert step.returncode == 0
    assert "the token from SYSTEM_ACCESSTOKEN was refused (401)" in warnings(step)[0]
    assert "SYSTEM_ACCESSTOKEN: $(System.AccessToken)" in warnings(step)[0]
    assert_token_never_leaks(step, env)
    assert TOKEN not in step.stderr


def test_403_on_pr_thread_names_the_permission_and_other_sinks_still_run(emulator, agent_env, run_step):
    scenario = scenarios.pr_build(emulator)
    emulator.pr_contribute = False

    step = run_step(agent_env(emulator, scenario))

    assert step.returncode == 0
    assert len(warnings(step)) == 1
    assert warnings(step)[0].startswith("pr-thread: could not create the PR thread on pull request 42")
    assert '"Contribute to pull requests"' in warnings(step)[0]
    assert [line.split("]")[0] for line in step.commands()] == ["##vso[task.uploadsummary"]
    assert emulator.tags(scenario.build_id) == ["azura-lint"]
    assert emulator.threads(scenario.pr_id) == []


def test_403_on_pr_thread_fails_the_step_with_strict(emulator, agent_env, run_step):
    scenario = scenarios.pr_build(emulator)
    emulator.pr_contribute = False

    step = run_step(agent_env(emulator, scenario), "--strict")

    assert step.returncode == 1


def test_404_build_names_the_build_and_project(emulator, agent_env, run_step):
    scenario = scenarios.multi_stage_two_failed_jobs(emulator)

    step = run_step(agent_env(emulator, scenario, BUILD_BUILDID="99999"))

    assert step.returncode == 0
    (warning,) = warnings(step)
    assert "build 99999 of project Widgets" in warning and "not found" in warning
    assert "BUILD_BUILDID" in warning
