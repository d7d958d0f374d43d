"""Failed tests named by the Test Results API, joined to the failures the logs gave.

The API's failing tests outrank the ones read from a log: they replace them in a failure's facts, and a failure
the logs could only call a failed script, an unknown error or a test failure is said again from them.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Dict, List, Optional, Sequence, Tuple

from azura.analyze.patterns import LazyPattern
from azura.models import FailedTestRun, Failure, FailingTest

FACT_TESTS = 5  # failing tests a failure's facts name
RESTATED = ("test", "script", "unknown")  # categories the API's failed tests say better
API_CONFIDENCE = 0.8
MAX_QUOTE = 300
# A step that runs or publishes tests, by its name: "Run tests", "VSTest", "PublishTestResults", "pytest" (compiled
# when first needed: only a run with Azure DevOps' test results asks).
TEST_STEP = LazyPattern(r"test|spec|junit|xunit|nunit|pytest|jest|mocha|surefire|karma|cypress", re.IGNORECASE)


def name_api_tests(failures: Sequence[Failure], runs: Optional[Sequence[FailedTestRun]]) -> Tuple[Failure, ...]:
    """Return the failures, each naming the failed tests of the test runs published by its job."""
    if not runs:
        return tuple(failures)
    owned = owners(failures, runs)
    return tuple(with_api_tests(failure, owned.get(index, [])) for index, failure in enumerate(failures))


def owners(failures: Sequence[Failure], runs: Sequence[FailedTestRun]) -> Dict[int, List[FailedTestRun]]:
    """Return, by failure index, the runs each failure gets.

    A run whose pipelineReference names a job goes to that job's failed step (the one that ran or published
    tests, when several failed), and to none when that job did not fail. A run without one goes to the first
    failure that looks like a test step, or to the only failure. A run no failure takes is still reported with
    the build.
    """
    owned: Dict[int, List[FailedTestRun]] = {}
    for run in runs:
        index = _owner(failures, run)
        if index is not None:
            owned.setdefault(index, []).append(run)
    return owned


def with_api_tests(failure: Failure, runs: Sequence[FailedTestRun]) -> Failure:
    """Return the failure with the runs' failed tests as its facts, said again from them when they say more."""
    tests = tuple(test for run in runs for test in run.tests)[:FACT_TESTS]
    if not tests:
        return failure
    count = sum(run.failed for run in runs)
    failure = replace(failure, facts=replace(failure.facts, failing_tests=tests, failed_test_count=count))
    if failure.category not in RESTATED:
        return failure  # a network, auth or resource cause explains the failed tests better than they do
    first = tests[0]
    return replace(
        failure, category="test", summary=_summary(first, count), root_cause=_root_cause(first, count, runs),
        suggested_fix=failure.suggested_fix if failure.category == "test" and failure.signature_id else (
            f"Run {first.name} locally and fix the code or the test; its full message and stack trace are in the "
            "run's Tests tab."),
        confidence=max(failure.confidence, API_CONFIDENCE))


def _owner(failures: Sequence[Failure], run: FailedTestRun) -> Optional[int]:
    if run.job_identifier and any(failure.step.job_identifier for failure in failures):
        # The run says which job published it: a job that did not fail (continueOnError) owns no failure.
        in_job = [index for index, failure in enumerate(failures)
                  if (failure.step.job_identifier or "").lower() == run.job_identifier.lower()
                  and (run.attempt is None or failure.step.attempt == run.attempt)]
        return next((index for index in in_job if _runs_tests(failures[index])), in_job[0] if in_job else None)
    testing = [index for index, failure in enumerate(failures) if _runs_tests(failure)]
    if testing:
        return testing[0]
    return 0 if len(failures) == 1 else None


def _runs_tests(failure: Failure) -> bool:
    return failure.category == "test" or bool(failure.facts.failing_tests) or bool(TEST_STEP.search(failure.step.name))


def _summary(first: FailingTest, count: int) -> str:
    if count <= 1:
        return f"Test {first.name} failed."
    return f"{count} tests failed, first {first.name}."


def _root_cause(first: FailingTest, count: int, runs: Sequence[FailedTestRun]) -> str:
    message = _first_line(first.message) or f"outcome {first.outcome}, no message"
    where = f" at {first.location}" if first.location else ""
    cause = f"The Test Results API reports {first.name} {first.outcome}{where}: {_quoted(message)}"
    if count > 1:
        names = ", ".join(run.name for run in runs)
        cause += f" ({count - 1} more failed in {names})"
    return cause


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _quoted(text: str) -> str:
    return text if len(text) <= MAX_QUOTE else text[:MAX_QUOTE - 1] + "…"
