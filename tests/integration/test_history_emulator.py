"""The history step against the Azure DevOps emulator: real SDK, real HTTP, build histories, request counts."""
from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from types import SimpleNamespace

import pytest

from azura import collect
from azura.context import Settings
from azura.devops import AzureDevOps
from azura.history import HISTORY_SHARE, WINDOW_BUILDS, read_history
from azura.models import Deadline
from tests.emulators import ado_scenarios as scenarios
from tests.emulators.ado import timeline_record
from tests.integration.conftest import TOKEN


@pytest.fixture
def history_of(emulator, tmp_path, monkeypatch):
    """Return run(build_id, clock=..., timeout=..., share_client=...) -> Findings: collect the build as analyze
    does, then read its history (through collect's client, or its own when share_client is False).

    The emulator's request log is cleared in between, so it holds the history step's requests only.
    """
    monkeypatch.setenv("AZURE_DEVOPS_CACHE_DIR", str(tmp_path / "sdk-cache"))

    def run(build_id: int, clock=time.monotonic, timeout: float = 60.0, share_client: bool = True):
        settings = Settings(mode="remote", org_url=emulator.org_url, project=scenarios.PROJECT, build_id=build_id,
                            token=TOKEN, token_variable="AZURE_DEVOPS_PAT", temp_dir=str(tmp_path), timeout=timeout)
        deadline = Deadline.after(timeout, clock())
        ado = AzureDevOps(settings, deadline, clock)
        collected = collect.collect_run(settings, deadline, clock, ado=ado)
        collect.unread_logs(collected)  # waits for the logs still downloading: their requests are not history's
        emulator.clear_requests()
        return read_history(settings, collected, deadline, clock, ado=ado if share_client else None)

    return run


def requests_by_route(emulator) -> Counter:
    return Counter(request.route for request in emulator.requests())


def ids_of(commits) -> list:
    return [c["id"] for c in commits]


# -- green -> red streak

def test_red_streak_names_the_last_green_and_the_first_failed_build(emulator, history_of):
    built = scenarios.build_history(emulator, ("green", "green", "red", "red"))

    history = history_of(built.latest_build_id).history

    assert history.last_success_build_id == built.last_success_build_id
    assert history.first_failure_build_id == built.first_failure_build_id
    assert str(built.first_failure_build_id) in history.first_failure_url


def test_red_streak_lists_every_commit_since_the_last_green_build_the_first_failures_as_suspects(emulator,
                                                                                                    history_of):
    built = scenarios.build_history(emulator, ("green", "red", "red", "red"))

    history = history_of(built.latest_build_id).history

    suspects = [c.id for c in history.changes if c.suspect]
    later = [c.id for c in history.changes if not c.suspect]
    assert suspects == ids_of(built.builds[1].commits)
    assert later == ids_of(built.builds[3].commits) + ids_of(built.builds[2].commits)  # newest first
    assert history.changes[0].author and history.changes[0].message
    assert not history.changes_truncated


def test_a_first_failure_lists_only_its_own_commits_all_suspects(emulator, history_of):
    built = scenarios.build_history(emulator, ("green", "red"), commits_per_build=2)

    history = history_of(built.latest_build_id).history

    assert [c.id for c in history.changes] == ids_of(built.builds[1].commits)
    assert all(c.suspect for c in history.changes)
    assert requests_by_route(emulator)["changes_between_builds"] == 1


def test_changes_past_the_cap_are_cut_and_marked_truncated(emulator, history_of):
    built = scenarios.build_history(emulator, ("green", "red"), commits_per_build=25)

    history = history_of(built.latest_build_id).history

    assert len(history.changes) == 20
    assert history.changes_truncated


def test_red_streak_costs_one_list_of_builds_and_two_lists_of_changes(emulator, history_of):
    built = scenarios.build_history(emulator, ("green", "green", "red", "red"))

    history_of(built.latest_build_id)

    counts = requests_by_route(emulator)
    # the changes: those that came with the first failed build, then those since
    assert counts["builds"] == 1 and counts["changes_between_builds"] == 2
    # flaky checks: the timelines of the two green builds; log diff: the green build's timeline and one log
    assert counts["timeline"] == 3 and counts["build_log"] == 1
    assert sum(counts.values()) == 7


def test_red_streak_longer_than_one_window_is_found_with_three_lists_of_builds(emulator, history_of):
    built = scenarios.build_history(emulator, ("green",) + ("red",) * (WINDOW_BUILDS + 2))

    history = history_of(built.latest_build_id).history

    assert (history.last_success_build_id, history.first_failure_build_id) == (
        built.last_success_build_id, built.first_failure_build_id)
    assert requests_by_route(emulator)["builds"] == 3


def test_red_streak_without_retries_or_same_commit_passes_is_not_flaky(emulator, history_of):
    built = scenarios.build_history(emulator, ("green", "red", "red"))

    history = history_of(built.latest_build_id).history

    assert not history.flaky and history.flaky_evidence == ()


# -- the green run's lines

def test_lines_the_green_run_printed_are_known_and_the_assertion_is_novel(emulator, history_of):
    from azura.excerpt import normalise_for_diff

    built = scenarios.build_history(emulator, ("green", "red"))

    findings = history_of(built.latest_build_id)

    (step,) = findings.known_lines
    assert step.name == "Run unit tests"
    assert not findings.novel(step, normalise_for_diff("[section] Starting: Run unit tests"))
    assert findings.novel(step, normalise_for_diff(
        "E       AssertionError: assert Decimal('29.97') == Decimal('32.54')"))


# -- flaky

def test_failure_that_passed_on_a_retry_of_a_recent_build_is_flaky(emulator, history_of):
    built = scenarios.build_history(emulator, ("green", "red", "green", "red"), retried=(2,))

    history = history_of(built.latest_build_id).history

    assert history.flaky
    retried = built.builds[2].id
    assert history.flaky_evidence == (
        f"build {retried}: 'Run unit tests' failed in attempt 1 and passed in attempt 2",)


def test_failure_whose_commit_passed_in_another_build_is_flaky(emulator, history_of):
    built = scenarios.build_history(emulator, ("green", "red"))
    green, red = (emulator.build(b.id) for b in built.builds)
    red.source_version = green.source_version  # the same commit, built twice

    history = history_of(red.id).history

    assert history.flaky
    assert history.flaky_evidence == (f"build {green.id} passed on the same commit {green.source_version[:8]}",)


def test_same_commit_passing_more_than_two_weeks_earlier_is_not_evidence(emulator, history_of):
    built = scenarios.build_history(emulator, ("green", "red"))
    green, red = (emulator.build(b.id) for b in built.builds)
    red.source_version = green.source_version
    green.finish_time = red.finish_time - dt.timedelta(days=15)

    history = history_of(red.id).history

    assert not history.flaky


def test_step_that_passed_in_an_earlier_attempt_of_this_run_is_flaky(emulator, history_of):
    emulator.add_project(scenarios.PROJECT)
    build = emulator.add_build(scenarios.PROJECT, scenarios.DEFINITION, result="failed")
    first_job = timeline_record("Job", "Unit tests Linux", result="failed", attempt=1)
    first = emulator.add_timeline(build.id, [
        first_job, timeline_record("Task", "Run unit tests", parent_id=first_job["id"], log_id=1, attempt=1),
        timeline_record("Task", "Upload coverage", parent_id=first_job["id"], result="failed", log_id=2, attempt=1),
    ], latest=False)
    job = timeline_record("Job", "Unit tests Linux", result="failed", attempt=2, log_id=3, previous_attempts=[
        {"attempt": 1, "timelineId": first, "recordId": first_job["id"]}])
    emulator.set_timeline(build.id, [job, timeline_record("Task", "Run unit tests", parent_id=job["id"],
                                                          result="failed", log_id=4, attempt=2)])
    emulator.add_log(build.id, 4, lines=["E   AssertionError: boom", "##[error]Bash exited with code '1'."])

    history = history_of(build.id).history

    assert history.flaky_evidence == ("this run: 'Run unit tests' passed in attempt 1 and failed in attempt 2",)


def test_run_that_failed_the_same_step_in_both_attempts_is_not_flaky(emulator, history_of):
    scenario = scenarios.retried_run_attempt_2(emulator)

    history = history_of(scenario.build_id).history

    assert not history.flaky
    assert requests_by_route(emulator)["timeline"] == 2  # this run's attempts 2 and 1


def test_flaky_checks_read_at_most_four_timelines(emulator, history_of):
    built = scenarios.build_history(emulator, ("green",) * 8 + ("red",))

    history_of(built.latest_build_id)

    # four for the flaky checks, one for the green run's log
    assert requests_by_route(emulator)["timeline"] == 5


# -- first build of a definition, pull requests

def test_first_builds_of_a_definition_with_no_green_build_start_the_streak_at_the_first(emulator, history_of):
    built = scenarios.build_history(emulator, ("red", "red"))

    history = history_of(built.latest_build_id).history

    assert history.last_success_build_id is None
    assert history.first_failure_build_id == built.builds[0].id
    assert [c.id for c in history.changes if c.suspect] == ids_of(built.builds[0].commits)
    assert [c.id for c in history.changes if not c.suspect] == ids_of(built.builds[1].commits)
    assert requests_by_route(emulator) == Counter({"builds": 1, "build_changes": 1, "changes_between_builds": 1})


def test_pr_build_with_no_green_build_of_its_own_falls_back_to_the_target_branch(emulator, history_of):
    main = scenarios.build_history(emulator, ("green", "red"))
    pr = scenarios.pr_build(emulator)

    history = history_of(pr.build_id).history

    assert history.last_success_build_id == main.builds[0].id
    assert history.first_failure_build_id == pr.build_id
    counts = requests_by_route(emulator)
    assert counts["builds"] == 2  # the PR branch, then the target branch's last green
    assert counts["pull_request"] == 1  # the target branch is read off the pull request


def test_github_pr_build_must_not_look_for_a_target_branch_it_cannot_know(emulator, history_of):
    scenario = scenarios.github_repo_build(emulator)

    history = history_of(scenario.build_id).history

    assert history.last_success_build_id is None
    assert requests_by_route(emulator)["pull_request"] == 0
    assert requests_by_route(emulator)["builds"] == 1


def test_pr_build_with_an_earlier_green_build_of_the_pr_uses_that_one(emulator, history_of):
    emulator.add_project(scenarios.PROJECT)
    green = emulator.add_build(scenarios.PROJECT, scenarios.DEFINITION, result="succeeded",
                               branch="refs/pull/42/merge", reason="pullRequest")
    emulator.set_timeline(green.id, [timeline_record("Job", "Lint and type check")])
    pr = scenarios.pr_build(emulator)

    history = history_of(pr.build_id).history

    assert history.last_success_build_id == green.id
    assert requests_by_route(emulator)["pull_request"] == 0


# -- the deadline

def test_history_stops_asking_once_its_share_of_the_deadline_is_used(emulator, history_of):
    built = scenarios.build_history(emulator, ("green", "red"))
    start = time.monotonic()

    def clock() -> float:  # a minute passes as soon as the builds were listed
        return start + 60 * len(emulator.requests(route="builds"))

    findings = history_of(built.latest_build_id, clock=clock, timeout=100)

    assert findings.history.last_success_build_id == built.builds[0].id
    assert findings.history.changes == ()
    assert set(requests_by_route(emulator)) == {"builds"}
    assert any("share of the --timeout" in warning for warning in findings.warnings)


@pytest.mark.slow
def test_history_with_its_own_client_cuts_a_slow_request_at_its_share_of_the_deadline(emulator, history_of):
    built = scenarios.build_history(emulator, ("green", "red"))
    emulator.fault("GET", "changes_between_builds", delay=8, times=None)
    started = time.monotonic()

    findings = history_of(built.latest_build_id, timeout=20, share_client=False)

    assert time.monotonic() - started < 20 * HISTORY_SHARE + 1.5
    assert findings.history.last_success_build_id == built.builds[0].id
    assert findings.history.changes == ()
    assert any("the changes not read" in warning for warning in findings.warnings)


# -- the report

def test_pipeline_step_report_shows_the_history_block(emulator, agent_env, run_step):
    built = scenarios.build_history(emulator, ("green", "red", "red"))
    scenario = SimpleNamespace(project=built.project, project_id=built.project_id, build_id=built.latest_build_id,
                               attempt=1, repository_provider="TfsGit", repository_id=None, pr_id=None)

    step = run_step(agent_env(emulator, scenario))

    assert step.returncode == 0, step.stderr
    assert step.analysis["history"]["last_success_build_id"] == built.last_success_build_id
    assert step.analysis["history"]["first_failure_build_id"] == built.first_failure_build_id
    summary = (step.output_dir / "summary.md").read_text(encoding="utf-8")
    assert "**History**" in summary
    assert f"First failed in [build {built.first_failure_build_id}]" in summary
    assert f"Last green: [build {built.last_success_build_id}]" in summary

