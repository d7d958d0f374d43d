"""The Test Results API: the failed tests of a build's test runs, summarised into facts the analysis names.

A run that published test results (PublishTestResults, VSTest, Maven/Gradle with publishJUnitResults, a
runner's own publishing) holds the exact failing tests, their messages and stack traces; the log only echoes
them. Everything read here is redacted before it is kept, and long messages are cut.

Requests, not counting retries: 1 list of the build's test runs; for each run with failures (MAX_RUNS at most)
1 for its statistics (unless the list carried them) and pages of PAGE_SIZE failed results, MAX_PAGES pages for
all runs together, one at least for each. At most 1 + MAX_RUNS + MAX_PAGES = 11, plus the SDK's resource-area
lookup for this lookup's own client.
"""
from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

from azura.context import Settings
from azura.errors import AzuraError
from azura.models import Build, Deadline, FailedTestRun, FailingTest

if TYPE_CHECKING:
    from azura.devops import AzureDevOps

Clock = Callable[[], float]

FAILED_OUTCOMES = ("Failed", "Error", "Timeout", "Aborted")  # TestOutcome values that mean the test failed
_FAILED = frozenset(outcome.lower() for outcome in FAILED_OUTCOMES)
MAX_LISTED_RUNS = 200
MAX_RUNS = 5  # runs with failures whose results are read; the others are counted
# Failed results per request (the API allows 1000). The SDK turns each result into its models at about 2 ms a
# result (msrest), so results are read for the first failures and a sample of messages, never all of them:
# the counts come from the run's statistics.
PAGE_SIZE = 100
MAX_PAGES = 5  # pages of failed results for all runs together (at least MAX_RUNS: one for each)
TESTS_PER_RUN = 5  # failed tests kept per run
MAX_MESSAGE_GROUPS = 5
MAX_MESSAGE_CHARS = 2_000
MAX_STACK_LINES = 30
MAX_STACK_CHARS = 4_000
MAX_GROUP_CHARS = 200
MIN_SECONDS_LEFT = 10.0  # below this the lookup is skipped: the analysis itself needs the time
TESTS_SHARE = 0.2  # of the time left, what this lookup may use


@dataclass(frozen=True)
class FailedTests:
    """What the Test Results API said about a build: its runs with failures (None when not asked), and warnings."""

    runs: Optional[Tuple[FailedTestRun, ...]] = None
    warnings: Tuple[str, ...] = ()


def read_failed_tests(settings: Settings, build: Build, deadline: Deadline, clock: Clock = time.monotonic,
                      ado: Optional["AzureDevOps"] = None) -> FailedTests:
    """Return the build's test runs with failed tests; a lookup that fails leaves a warning and no runs.

    Skipped when turned off (--no-test-results), or when less than MIN_SECONDS_LEFT of the deadline is left;
    otherwise it stops asking once it has used TESTS_SHARE of the time left, keeping the runs it has read.
    """
    if not settings.test_results:
        return FailedTests()
    left = deadline.remaining(clock())
    if left < MIN_SECONDS_LEFT:
        return FailedTests(warnings=(f"failed tests not read from the Test Results API: only {left:.0f} s of the "
                                     "--timeout were left",))
    from azura.devops import AzureDevOps

    stop_at = clock() + left * TESTS_SHARE
    reader = _Reader(ado or AzureDevOps(settings, Deadline(stop_at), clock), build, settings.secrets, clock, stop_at)
    try:
        return reader.summaries(reader.runs())
    except AzuraError as exc:
        return FailedTests(warnings=(f"failed tests not read from the Test Results API: {exc}",))
    except Exception as exc:  # noqa: BLE001 - an answer shaped unlike the API's must cost this lookup only
        return FailedTests(warnings=(f"failed tests not read from the Test Results API: unexpected "
                                     f"{type(exc).__name__} ({str(exc)[:120]})",))


def with_failure_streaks(runs: Optional[Tuple[FailedTestRun, ...]],
                         failing_runs: Callable[[int], Optional[int]]) -> Optional[Tuple[FailedTestRun, ...]]:
    """Return the runs with each test's `failing_runs` filled from its failing-since build, where history knows it."""
    if not runs:
        return runs

    def streak(test: FailingTest) -> FailingTest:
        if test.failing_since_build is None:
            return test
        return replace(test, failing_runs=failing_runs(test.failing_since_build))

    return tuple(replace(run, tests=tuple(streak(test) for test in run.tests)) for run in runs)


def failing_test(result: Any, secrets: Sequence[str] = ()) -> FailingTest:
    """Return a FailingTest from one TestCaseResult, redacted, its message and stack trace cut to size."""
    from azura.redact import redact
    from azura.sources import frame_locations, repository_path

    name = result.automated_test_name or result.test_case_title or (
        result.test_case.name if result.test_case is not None else "") or f"test result {result.id}"
    # Cut before redacting too, so a huge text costs little: whole lines, or far enough past the limit that a
    # secret split there is cut off again after redaction.
    stack_trace = _cut(redact(_first_lines(result.stack_trace or "", MAX_STACK_LINES), secrets), MAX_STACK_CHARS)
    frames = frame_locations(stack_trace)
    location = frames[0] if frames else None
    if location is not None and repository_path(location.file):
        # where the agent checked the repository out says nothing; its place in the repository does
        location = replace(location, file=repository_path(location.file))
    since = result.failing_since.build if result.failing_since is not None else None
    return FailingTest(
        name=redact(name, secrets),
        message=_cut(redact((result.error_message or "")[:MAX_MESSAGE_CHARS * 2], secrets), MAX_MESSAGE_CHARS),
        location=location, outcome=str(result.outcome or "Failed").lower(),
        stack_trace=stack_trace, duration_ms=result.duration_in_ms,
        failing_since_build=since.id if since is not None and since.id else None)


def message_groups(tests: Sequence[FailingTest]) -> Tuple[Tuple[str, int], ...]:
    """Return the first line of each distinct message and how many tests share it, most frequent first.

    Messages that differ only in their numbers ("expected 3 but was 4", "expected 7 but was 9") are one group,
    shown by the first of them.
    """
    counts: Counter = Counter()
    shown: Dict[str, str] = {}
    for test in tests:
        first = _first_line(test.message)[:MAX_GROUP_CHARS] or "(no message)"
        key = re.sub(r"\d+", "#", first)
        counts[key] += 1
        shown.setdefault(key, first)
    return tuple((shown[key], count) for key, count in counts.most_common(MAX_MESSAGE_GROUPS))


class _Reader:
    """The Test Results API requests for one build, through the SDK layer."""

    def __init__(self, ado: "AzureDevOps", build: Build, secrets: Sequence[str], clock: Clock, stop_at: float):
        self.ado, self.build, self.secrets, self.clock, self.stop_at = ado, build, secrets, clock, stop_at
        self.project = build.project or ado.settings.project
        self.pages_left = MAX_PAGES

    def out_of_time(self) -> bool:
        return self.clock() >= self.stop_at

    def _call(self, action: str, request: Callable[[Any], Any]) -> Any:
        from azura.devops import TEST_PERMISSION_HINT

        return self.ado.call("test", action, request, needs=TEST_PERMISSION_HINT)

    def runs(self) -> List[Any]:
        """Return the build's test runs that reported failures, oldest first."""
        uri = f"vstfs:///Build/Build/{self.build.id}"
        found = self._call(f"list the test runs of build {self.build.id} of project {self.project}",
                           lambda client: client.get_test_runs(self.project, build_uri=uri, include_run_details=True,
                                                               top=MAX_LISTED_RUNS))
        return sorted((run for run in found or () if _may_have_failures(run)), key=lambda run: run.id)

    def summaries(self, listed: Sequence[Any]) -> FailedTests:
        """Return the summaries of the first MAX_RUNS runs; a run that cannot be read is a warning."""
        runs: List[FailedTestRun] = []
        warnings: List[str] = []
        for index, run in enumerate(listed[:MAX_RUNS]):
            if self.out_of_time():
                warnings.append(f"failed tests: {len(listed) - index} test run(s) not read (the lookup had used its "
                                "share of the --timeout)")
                break
            try:
                summary = self.summary(run, runs_after=min(len(listed), MAX_RUNS) - index - 1)
            except AzuraError as exc:
                warnings.append(f"failed tests of test run {run.id} not read: {exc}")
                continue
            if summary is None:
                continue
            runs.append(summary)
            if not summary.tests:
                warnings.append(f"test run {summary.name!r} counts {summary.failed} failed test(s), but the Test "
                                "Results API returned none of their results")
        if len(listed) > MAX_RUNS:
            warnings.append(f"failed tests: {len(listed) - MAX_RUNS} more test run(s) with failures were not read")
        return FailedTests(runs=tuple(runs), warnings=tuple(warnings))

    def summary(self, run: Any, runs_after: int) -> Optional[FailedTestRun]:
        """Return one run's counts, first failed tests and message groups; None when nothing in it failed."""
        outcomes = self._outcomes(run)
        failed = sum(count for outcome, count in outcomes if outcome.lower() in _FAILED)
        if outcomes and not failed:
            return None  # what did not pass was skipped or not applicable
        results = self._failed_results(run, failed, runs_after)
        if not results and not failed:
            return None
        tests = [failing_test(result, self.secrets) for result in results]
        reference = run.pipeline_reference
        return FailedTestRun(
            id=run.id, name=run.name or f"test run {run.id}", url=run.web_access_url or run.url,
            total=run.total_tests or sum(count for _, count in outcomes), failed=failed or len(tests),
            outcomes=outcomes, tests=tuple(tests[:TESTS_PER_RUN]), messages=message_groups(tests), read=len(tests),
            job_identifier=_job_identifier(reference), attempt=_attempt(reference))

    def _outcomes(self, run: Any) -> Tuple[Tuple[str, int], ...]:
        statistics = run.run_statistics
        if not statistics:
            found = self._call(f"read the statistics of test run {run.id} of project {self.project}",
                               lambda client: client.get_test_run_statistics(self.project, run.id))
            statistics = found.run_statistics if found is not None else None
        counts: Counter = Counter()
        for statistic in statistics or ():
            counts[str(statistic.outcome or "Unspecified")] += statistic.count or 0
        return tuple(counts.most_common())

    def _failed_results(self, run: Any, failed: int, runs_after: int) -> List[Any]:
        """Return the run's failed results, page by page, leaving a page for each run still to read."""
        results: List[Any] = []
        while self.pages_left > 0 and not self.out_of_time():
            if results and self.pages_left <= runs_after:
                break
            skip = len(results)
            page = self._call(f"read the failed results of test run {run.id} of project {self.project} from {skip}",
                              lambda client: client.get_test_results(self.project, run.id, skip=skip, top=PAGE_SIZE,
                                                                     outcomes=list(FAILED_OUTCOMES)))
            self.pages_left -= 1
            results += page or []
            if len(page or ()) < PAGE_SIZE or (failed and len(results) >= failed):
                break
        return results


def _may_have_failures(run: Any) -> bool:
    """Return whether a listed run may hold failed results: some were left unanalysed, or not all passed."""
    if run.unanalyzed_tests:
        return True
    total = run.total_tests or 0
    settled = (run.passed_tests or 0) + (run.not_applicable_tests or 0) + (run.incomplete_tests or 0)
    return total > settled


def _job_identifier(reference: Any) -> Optional[str]:
    """Return Stage.Phase.Job from a run's pipelineReference, the form of a Job record's timeline identifier.

    A pipeline without stages runs in the stage `__default`, which its Job records' identifiers leave out.
    """
    if reference is None:
        return None
    parts = [getattr(getattr(reference, field, None), name, None)
             for field, name in (("stage_reference", "stage_name"), ("phase_reference", "phase_name"),
                                 ("job_reference", "job_name"))]
    if not all(parts):
        return None
    return ".".join(parts[1:] if parts[0] == "__default" else parts)


def _attempt(reference: Any) -> Optional[int]:
    job = getattr(reference, "job_reference", None) if reference is not None else None
    return job.attempt if job is not None and job.attempt else None


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _first_lines(text: str, max_lines: int) -> str:
    lines = text.replace("\r\n", "\n").split("\n")
    kept = "\n".join(lines[:max_lines]).rstrip()
    return kept + (f"\n… {len(lines) - max_lines} more lines" if len(lines) > max_lines else "")
