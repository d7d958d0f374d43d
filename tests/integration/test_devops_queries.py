"""The read-only queries other features build on (history, ask): real SDK, emulator, models.py answers."""
from __future__ import annotations

import pytest

from azura import collect
from azura.context import Settings
from azura.devops import AzureDevOps
from azura.models import Build, Change, Definition, FailedStep, StepLog
from tests.emulators import ado_scenarios as scenarios
from tests.integration.conftest import TOKEN


@pytest.fixture
def history(emulator):
    return scenarios.build_history(emulator, ("green", "green", "red", "red"))


@pytest.fixture
def ado(emulator, tmp_path, monkeypatch):
    monkeypatch.setenv("AZURE_DEVOPS_CACHE_DIR", str(tmp_path / "sdk-cache"))
    return AzureDevOps(Settings(mode="remote", org_url=emulator.org_url, project="Widgets", token=TOKEN,
                                token_variable="AZURE_DEVOPS_PAT", temp_dir=str(tmp_path)))


def test_list_projects_accepts_settings_as_well_as_a_client(emulator, history, ado):
    assert collect.list_projects(ado.settings) == collect.list_projects(ado) == ("Widgets",)


def test_list_definitions_filters_by_name(history, ado):
    (definition,) = collect.list_definitions(ado, history.project, "widgets-ci")

    assert isinstance(definition, Definition) and definition.id == history.definition_id


def test_list_builds_finds_the_last_green_build_of_a_branch(history, ado):
    builds = collect.list_builds(ado, history.project, definition_ids=[history.definition_id],
                                 branch=history.branch, result="succeeded", status="completed", top=1,
                                 query_order="finishTimeDescending")

    assert [b.id for b in builds] == [history.last_success_build_id]
    assert isinstance(builds[0], Build) and builds[0].url and builds[0].finish_time


def test_changes_between_builds_are_the_commits_of_the_red_streak(history, ado):
    changes = collect.changes_between_builds(ado, history.project, history.last_success_build_id,
                                             history.latest_build_id)

    red = [c["id"] for b in history.builds if b.result == "failed" for c in b.commits]
    assert sorted(c.id for c in changes) == sorted(red)
    assert all(isinstance(c, Change) and c.author for c in changes)


def test_build_changes_are_the_commits_of_one_build(history, ado):
    changes = collect.build_changes(ado, history.project, history.latest_build_id)

    assert [c.id for c in changes] == [c["id"] for c in history.builds[-1].commits]


def test_failed_steps_match_what_collect_would_analyse_without_reading_logs(emulator, history, ado):
    emulator.clear_requests()

    (step,) = collect.failed_steps(ado, history.project, history.latest_build_id)

    assert isinstance(step, FailedStep) and (step.name, step.job, step.stage) == ("Run unit tests",
                                                                                 "Unit tests Linux", "Test")
    assert step.line_count and step.issues
    assert emulator.requests(route="build_log") == []


def test_read_step_log_returns_the_tail_of_the_named_step(history, ado):
    log = collect.read_step_log(ado, history.project, history.last_success_build_id, step_name="Run unit tests",
                                tail_lines=2)

    assert isinstance(log, StepLog)
    lines = b"".join(log.chunks).decode().splitlines()
    assert len(lines) == 2 and log.first_line == log.step.line_count - 1
    assert "passed" in lines[0]
