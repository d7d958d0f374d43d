"""The history step's own logic: the red streak, the green run's lines, and when history is not read at all."""
from __future__ import annotations

import pytest

from azura.context import Settings
from azura.history import (GREEN_OVERRUN_LINES, GREEN_WINDOW_LINES, MIN_SECONDS_LEFT, Findings, _Wanted,
                           current_streak, green_window, known_lines, read_history)
from azura.models import Build, Deadline, FailedStep, Run, StepLog


def make_build(build_id: int, result="failed", **fields) -> Build:
    return Build(id=build_id, number=f"20240101.{build_id}", url=f"https://dev.azure.com/o/p/_build/results?buildId="
                 f"{build_id}", definition="ci", result=result, definition_id=12, source_branch="refs/heads/main",
                 **fields)


def builds(results: str, first_id: int = 100):
    """Return builds from a picture: G green, R red, C canceled, P partially succeeded; oldest first."""
    names = {"G": "succeeded", "R": "failed", "C": "canceled", "P": "partiallySucceeded"}
    return [make_build(first_id + i, names[letter]) for i, letter in enumerate(results)]


# -- the red streak

def test_streak_starts_after_the_last_green_build():
    earlier = builds("GGRR")
    current = make_build(104)

    streak = current_streak(current, earlier)

    assert (streak.last_success.id, streak.first_failure.id, streak.reached_start) == (101, 102, True)


def test_streak_of_a_first_failure_is_the_failed_build_itself():
    streak = current_streak(make_build(103), builds("RRG"))

    assert streak.last_success.id == 102
    assert streak.first_failure.id == 103


def test_streak_is_not_ended_by_canceled_or_partially_succeeded_builds():
    streak = current_streak(make_build(105), builds("GCPRC"))

    assert (streak.last_success.id, streak.first_failure.id) == (100, 103)


def test_streak_must_not_count_builds_newer_than_the_failed_one():
    streak = current_streak(make_build(102), builds("GRRG"))

    assert (streak.last_success.id, streak.first_failure.id) == (100, 101)


def test_streak_with_no_green_build_says_it_did_not_reach_the_start():
    streak = current_streak(make_build(103), builds("RRR"))

    assert streak.last_success is None
    assert streak.first_failure.id == 100
    assert not streak.reached_start


def test_streak_order_follows_build_ids_not_the_order_listed():
    streak = current_streak(make_build(104), list(reversed(builds("GGRR"))))

    assert (streak.last_success.id, streak.first_failure.id) == (101, 102)


# -- the green run's lines

def test_green_window_ends_a_little_past_the_failed_logs_length():
    assert green_window(12_000) == (12_000 - GREEN_WINDOW_LINES + 1, 12_000 + GREEN_OVERRUN_LINES)


def test_green_window_of_a_short_log_starts_at_line_1():
    assert green_window(300) == (1, 300 + GREEN_OVERRUN_LINES)


def test_green_window_of_a_log_of_unknown_length_is_its_first_lines():
    assert green_window(None) == (1, GREEN_WINDOW_LINES + GREEN_OVERRUN_LINES)


GREEN_LINES = [
    "2024-03-01T10:00:01Z Restored /home/vsts/work/1/s/src/Api.csproj (in 2.31 sec).",
    "Ran 213 tests in 14.11s",
    "Using cache /tmp/pip-cache-8r2k/wheels/ab/cd",
    "Downloaded 1,234 packages from feed 7",
]


@pytest.mark.parametrize("failed_line", [
    "2024-03-02T11:22:33Z Restored /home/vsts/work/1/s/src/Api.csproj (in 9.87 sec).",  # time, duration
    "Ran 214 tests in 31.02s",  # counts and durations
    "Using cache /tmp/pip-cache-x7yq/wheels/ef/01",  # temp path
    "Downloaded 2,001 packages from feed 9",  # numbers
])
def test_line_that_differs_from_the_green_run_only_by_noise_is_not_novel(failed_line):
    step = FailedStep(name="Run unit tests")
    findings = Findings(known_lines={step: green_known_lines()})

    assert not findings.novel(step, _shape(failed_line))


def test_line_the_green_run_never_printed_is_novel():
    step = FailedStep(name="Run unit tests")
    findings = Findings(known_lines={step: green_known_lines()})

    assert findings.novel(step, _shape("E       AssertionError: assert Decimal('29.97') == Decimal('32.54')"))


def test_no_line_is_novel_for_a_step_whose_green_run_was_not_read():
    step, other = FailedStep(name="Run unit tests"), FailedStep(name="Build")
    findings = Findings(known_lines={other: green_known_lines()})

    assert not findings.novel(step, _shape("E       AssertionError: boom"))


def test_blank_line_is_never_novel():
    step = FailedStep(name="Run unit tests")
    findings = Findings(known_lines={step: green_known_lines()})

    assert not findings.novel(step, _shape("   "))


def green_known_lines():
    """Return the known lines of GREEN_LINES read the way history reads a green run's log."""
    from azura.excerpt import read_lines

    return known_lines(line.text for line in read_lines(["\n".join(GREEN_LINES).encode()]))


def _shape(line: str) -> str:
    from azura.excerpt import normalise_for_diff
    from azura.excerpt.reading import clean_line

    return normalise_for_diff(clean_line(line))


# -- when history is not read

def failed_run(result="failed") -> Run:
    return Run(build=make_build(7, result), logs=(StepLog(step=FailedStep(name="Run unit tests", log_id=3)),))


def test_history_is_skipped_with_a_warning_when_the_deadline_is_near():
    clock = lambda: 1000.0  # noqa: E731 - a fixed clock
    deadline = Deadline.after(MIN_SECONDS_LEFT - 1, clock())

    # no organisation or token: any attempt to reach Azure DevOps would raise
    findings = read_history(Settings(mode="remote"), failed_run(), deadline, clock)

    assert findings.history is None
    assert findings.warnings and "build history skipped" in findings.warnings[0]


def test_history_is_not_read_when_turned_off():
    findings = read_history(Settings(mode="remote", history=False), failed_run(), Deadline.after(100, 0.0),
                            lambda: 0.0)

    assert findings == Findings()


def test_history_is_not_read_for_a_green_build():
    findings = read_history(Settings(mode="remote"), failed_run("succeeded"), Deadline.after(100, 0.0), lambda: 0.0)

    assert findings == Findings()



# -- how long a test has failed

def test_failing_runs_count_the_red_runs_since_the_test_started_failing_and_this_one():
    findings = Findings(builds=tuple(builds("GRCPR")), build=make_build(105))

    assert findings.failing_runs(101) == 4  # 101 red, 103 partially succeeded, 104 red, and 105
    assert findings.failing_runs(105) == 1


def test_failing_runs_are_unknown_when_the_builds_read_do_not_reach_back_that_far():
    findings = Findings(builds=tuple(builds("RR", first_id=200)), build=make_build(202))

    assert findings.failing_runs(150) is None
    assert Findings().failing_runs(150) is None


# -- which touched files the failure names

@pytest.mark.parametrize("touched", ["tests/Widgets.Tests/TaxTests.cs", "src/Orders.cs", "tests/test_orders.py"])
def test_a_file_the_failure_names_or_a_failing_tests_file_is_wanted(touched):
    wanted = _Wanted(["src/Orders.cs"], ["Widgets.Tests.TaxTests.Total_includes_tax", "tests/test_orders.py::test_x"])

    assert wanted(touched)


@pytest.mark.parametrize("touched", ["README.md", "src/Widgets.csproj", "tests/Widgets.Tests/Tests.cs", "src/Tax.cs"])
def test_a_file_the_failure_does_not_name_is_not_wanted(touched):
    wanted = _Wanted(["src/Orders.cs"], ["Widgets.Tests.TaxTests.Total_includes_tax", "Cart › shows the total"])

    assert not wanted(touched)
