"""The history step: what earlier builds of the same pipeline and branch say about this failure.

It runs between collect and analyze and answers three questions: since when (the last green build and
the first failed build of the current red streak), what changed (every commit since the last green build up
to this one, the ones that came with the first failed build marked as prime suspects), and is it real (the
same failure passed without a code change: flaky). It also reads each failed step's log in the last green
build, so the excerpt can prefer the lines the green run never printed. Once the offline analysis knows which
files and tests fail, `with_touched_files` says which commits touched them.

Requests, not counting retries (the SDK cannot page `get_builds`, so the streak is found with `top` and
time windows):
- streak: 1 list of the newest WINDOW_BUILDS completed builds; only when all of them are red, 2 more
  (the last green before the window, the first red after it); a pull-request branch with no green build
  adds 1 for the target branch's last green (and 1 to read the target branch off an Azure Repos PR);
- changes: 1 for the commits that came with the first failed build, 1 more for those since when this build is
  not that one;
- flaky: at most MAX_TIMELINE_READS timelines;
- log diff: 1 timeline of the green build, then 1 log window per failed step, MAX_DIFF_STEPS steps.
At most 3 + 2 + 2 + MAX_TIMELINE_READS + 1 + MAX_DIFF_STEPS = 15 requests, plus the SDK's location lookups
when history makes its own client. After the analysis, `with_touched_files` asks for the files of at most
MAX_COMMIT_READS commits (Azure Repos only).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple, TypeVar

from azura.context import Settings
from azura.errors import AzuraError
from azura.models import Build, Change, Deadline, FailedStep, History, Run

if TYPE_CHECKING:
    from azura.devops import AzureDevOps

Clock = Callable[[], float]
T = TypeVar("T")

GREEN = "succeeded"
RED = "failed"
PARTIAL = "partiallySucceeded"
WINDOW_BUILDS = 50  # builds read in one list request: a streak longer than this costs two more requests
MAX_CHANGES = 20  # suspects listed, and as many later commits
MAX_COMMIT_READS = 5  # commits whose touched files are read, the suspects first
MAX_FILES_PER_COMMIT = 100
MAX_TOUCHED_SHOWN = 5
FLAKY_DAYS = 14
MAX_TIMELINE_READS = 4  # timelines read to decide whether the failure is flaky
MAX_DIFF_STEPS = 3  # failed steps compared with the green run
GREEN_WINDOW_LINES = 5_000  # lines of the green run's log of a step that are read for the diff
GREEN_OVERRUN_LINES = 500  # read this far past the failed log's length: green runs of a step print more
MIN_SECONDS_LEFT = 10.0  # below this, history is skipped: the analysis itself needs the time
HISTORY_SHARE = 0.3  # of the time left, what history may use; analysis and the LLM get the rest


def green_window(failed_line_count: Optional[int]) -> Tuple[int, int]:
    """Return the lines (first, last) of the green run's log to compare with a failed log of this length.

    A failed step stops where it broke, while its green run goes on (a compile error stops the log before
    the tests a green run prints), so the window ends near the failed log's end, not the green log's.
    """
    end = failed_line_count or GREEN_WINDOW_LINES
    return max(1, end - GREEN_WINDOW_LINES + 1), end + GREEN_OVERRUN_LINES


def known_lines(lines: Iterable[str]) -> FrozenSet[str]:
    """Return the shapes of clean log lines (the excerpt's `normalise_for_diff`): what a green run printed."""
    from azura.excerpt import normalise_for_diff

    return frozenset(filter(None, (normalise_for_diff(line) for line in lines)))


@dataclass(frozen=True)
class Findings:
    """What the history step hands on: the History, the green run's lines per failed step, and warnings."""

    history: Optional[History] = None
    known_lines: Mapping[FailedStep, FrozenSet[str]] = field(default_factory=dict)
    warnings: Tuple[str, ...] = ()
    builds: Tuple[Build, ...] = ()  # the completed builds of the branch read for the streak
    build: Optional[Build] = None  # the failed build itself

    def novel(self, step: FailedStep, shape: str) -> bool:
        """Return whether a line shape of a failed step is new: its green run was read and never printed it."""
        known = self.known_lines.get(step)
        return known is not None and bool(shape) and shape not in known

    def failing_runs(self, since_build_id: int) -> Optional[int]:
        """Return the failed runs of the branch from build `since_build_id` up to this build, this one included.

        None when the builds read do not reach back that far.
        """
        current = self.build
        if current is None or not self.builds or since_build_id > current.id \
                or min(b.id for b in self.builds) > since_build_id:
            return None
        earlier = {b.id for b in self.builds if since_build_id <= b.id < current.id and b.result in (RED, PARTIAL)}
        return len(earlier) + 1


@dataclass(frozen=True)
class Streak:
    """The red streak that ends in the failed build, as far as the builds read show it."""

    last_success: Optional[Build]
    first_failure: Build
    reached_start: bool  # False: no green build among those read; the streak may go back further


def current_streak(current: Build, earlier: Sequence[Build]) -> Streak:
    """Return the streak ending in `current`, from completed builds of its definition and branch.

    Canceled and partially succeeded builds neither end a streak nor start one.
    """
    first_failure = current
    for build in sorted((b for b in earlier if b.id < current.id), key=lambda b: b.id, reverse=True):
        if build.result == GREEN:
            return Streak(build, first_failure, True)
        if build.result == RED:
            first_failure = build
    return Streak(None, first_failure, False)


def read_history(settings: Settings, run: Run, deadline: Deadline, clock: Clock = time.monotonic,
                 ado: Optional["AzureDevOps"] = None) -> Findings:
    """Return what the build history says about a failed run; what could not be read becomes a warning.

    Skipped (with a warning) when less than MIN_SECONDS_LEFT of the run's deadline is left; otherwise history
    stops asking once it has used HISTORY_SHARE of the time left, keeping what it established. `ado` is for
    sharing collect's client; without it, history makes its own.
    """
    build = run.build
    if not settings.history or not run.logs or build.result == GREEN or build.definition_id is None \
            or not build.source_branch:
        return Findings()
    left = deadline.remaining(clock())
    if left < MIN_SECONDS_LEFT:
        return Findings(warnings=(f"build history skipped: only {left:.0f} s of the --timeout were left",))
    from azura.devops import AzureDevOps

    stop_at = clock() + left * HISTORY_SHARE
    # Its own client cuts every request at history's share of the time; a shared one is checked between parts.
    reader = _Reader(ado or AzureDevOps(settings, Deadline(stop_at), clock), build, clock, stop_at)
    try:
        streak = reader.streak()
    except AzuraError as exc:
        return Findings(warnings=(f"build history not read: {exc}",))
    steps = [log.step for log in run.logs]
    warnings: List[str] = []
    changes = _gathered("the changes", lambda: reader.changes(streak), ((), False), reader, warnings)
    evidence = _gathered("the flaky checks", lambda: reader.flaky_evidence(steps), (), reader, warnings)
    green = streak.last_success
    baseline = _gathered("the green run's log", lambda: reader.baseline(green, steps), {}, reader, warnings) \
        if green is not None else {}
    listed, truncated = changes
    history = History(
        last_success_build_id=green.id if green else None, last_success_url=green.url if green else None,
        first_failure_build_id=streak.first_failure.id, first_failure_url=streak.first_failure.url,
        changes=listed, changes_truncated=truncated, flaky=bool(evidence), flaky_evidence=tuple(evidence))
    return Findings(history=history, known_lines=baseline, warnings=tuple(warnings), builds=reader.window,
                    build=build)


def _gathered(part: str, gather: Callable[[], T], fallback: T, reader: "_Reader", warnings: List[str]) -> T:
    """Return gather(), or `fallback` with a warning when it fails or history's share of time is used up."""
    if reader.out_of_time():
        warnings.append(f"build history: {part} skipped (history had used its share of the --timeout)")
        return fallback
    try:
        return gather()
    except AzuraError as exc:
        warnings.append(f"build history: {part} not read: {exc}")
        return fallback


class _Reader:
    """The history requests for one failed build, each through collect's queries and the SDK layer."""

    def __init__(self, ado: "AzureDevOps", build: Build, clock: Clock, stop_at: float):
        self.ado, self.build, self.clock, self.stop_at = ado, build, clock, stop_at
        self.project = build.project or ado.settings.project
        self.window: Tuple[Build, ...] = ()  # the newest builds of the branch, read for the streak
        self.timeline_reads = 0

    def out_of_time(self) -> bool:
        return self.clock() >= self.stop_at

    # -- since when

    def streak(self) -> Streak:
        """Return the streak on the build's branch; a PR branch with no green build falls back to its target."""
        streak = self._branch_streak(self.build.source_branch)
        if streak.last_success is None and self.build.pr_id is not None:
            target = self._target_branch()
            if target:
                green = self._builds(branch=target, result=GREEN, top=1, query_order="finishTimeDescending")
                if green:
                    return Streak(green[0], streak.first_failure, streak.reached_start)
        return streak

    def _branch_streak(self, branch: str) -> Streak:
        finished = _moment(self.build.finish_time)
        self.window = self._builds(branch=branch, top=WINDOW_BUILDS, query_order="finishTimeDescending",
                                   max_time=finished)
        earlier = [b for b in self.window if b.id < self.build.id]
        streak = current_streak(self.build, earlier)
        if streak.reached_start or len(self.window) < WINDOW_BUILDS:
            return streak
        # Every build in the window was red: look past it with two narrow requests instead of paging.
        oldest = _moment(min(earlier, key=lambda b: b.id).finish_time) if earlier else None
        greens = self._builds(branch=branch, result=GREEN, top=1, query_order="finishTimeDescending",
                              max_time=oldest)
        green = greens[0] if greens else None
        reds = self._builds(branch=branch, result=RED, top=3, query_order="finishTimeAscending",
                            min_time=_moment(green.finish_time) if green else None)
        reds = [b for b in reds if green is None or b.id > green.id]
        first = min(reds, key=lambda b: b.id) if reds else streak.first_failure
        return Streak(green, first if first.id < streak.first_failure.id else streak.first_failure, True)

    def _builds(self, **filters: Any) -> Tuple[Build, ...]:
        from azura.collect import list_builds

        return list_builds(self.ado, self.project, [self.build.definition_id], status="completed", **filters)

    def _target_branch(self) -> Optional[str]:
        if self.build.pr_target_branch:
            return self.build.pr_target_branch
        if self.build.repository_type != "TfsGit" or not self.build.repository_id:
            return None  # a GitHub PR's target is not in the build; the GitHub API is not ours to call here
        found = self.ado.call("git", f"read pull request {self.build.pr_id} of project {self.project}",
                              lambda client: client.get_pull_request_by_id(self.build.pr_id, self.project))
        return found.target_ref_name if found else None

    # -- what changed

    def changes(self, streak: Streak) -> Tuple[Tuple[Change, ...], bool]:
        """Return the commits since the last green build up to this one, the prime suspects first, and whether
        the list was cut at MAX_CHANGES suspects or MAX_CHANGES later commits.

        The suspects came with the first failed build (since the last green one when known); the later commits
        came with the red builds after it, up to this one.
        """
        from azura.collect import build_changes, changes_between_builds

        green, first = streak.last_success, streak.first_failure
        if green is not None and green.source_branch == first.source_branch:
            suspects = changes_between_builds(self.ado, self.project, green.id, first.id, top=MAX_CHANGES + 1)
        else:
            suspects = build_changes(self.ado, self.project, first.id, top=MAX_CHANGES + 1)
        later: Tuple[Change, ...] = ()
        if first.id != self.build.id and not self.out_of_time():
            later = changes_between_builds(self.ado, self.project, first.id, self.build.id, top=MAX_CHANGES + 1)
        seen = {change.id for change in suspects}
        later = tuple(change for change in later if change.id not in seen)
        listed = tuple(replace(change, suspect=True) for change in suspects[:MAX_CHANGES]) + later[:MAX_CHANGES]
        return listed, len(suspects) > MAX_CHANGES or len(later) > MAX_CHANGES

    # -- is it real

    def flaky_evidence(self, steps: Sequence[FailedStep]) -> Tuple[str, ...]:
        """Return sentences showing the same failure passed without a code change; empty when none was found.

        The same failure is a task of the same name failing. Evidence: a recent green build of the same commit;
        a retry (attempt > 1) of this run or of a recent build where that task changed result; a recent build
        where it failed and a later build of the same commit passed. Recent is within FLAKY_DAYS.
        """
        names = {step.name for step in steps if step.record_type == "Task"}
        if not names:
            return ()
        evidence = list(self._same_commit_passed())
        if any(step.attempt > 1 for step in steps):
            evidence += self._retry_evidence(self.build, names, "this run")
        for other in sorted(self.window, key=lambda b: b.id, reverse=True):
            if self.timeline_reads >= MAX_TIMELINE_READS or self.out_of_time():
                break
            if other.id >= self.build.id or not self._recent(other):
                continue
            if other.result == GREEN:
                evidence += self._retry_evidence(other, names, f"build {other.id}")
            elif other.result == RED and self._passed_later_on_same_commit(other):
                evidence += self._same_commit_evidence(other, names)
        return tuple(evidence)

    def _recent(self, other: Build) -> bool:
        """Return whether `other` finished within FLAKY_DAYS before the failed build (or the newest one read)."""
        newest = _moment(self.build.finish_time) or max(
            (m for m in (_moment(b.finish_time) for b in self.window) if m), default=None)
        finished = _moment(other.finish_time)
        return newest is None or finished is None or finished >= newest - timedelta(days=FLAKY_DAYS)

    def _same_commit_passed(self) -> List[str]:
        """Return one sentence per recent green build of the same commit as the failed build."""
        commit = self.build.source_version
        return [f"build {b.id} passed on the same commit {commit[:8]}"
                for b in self.window if commit and b.source_version == commit and b.result == GREEN
                and b.id != self.build.id and self._recent(b)]

    def _passed_later_on_same_commit(self, failed: Build) -> bool:
        return any(b.source_version == failed.source_version and b.result == GREEN and b.id > failed.id
                   for b in self.window if failed.source_version)

    def _same_commit_evidence(self, failed: Build, names: Iterable[str]) -> List[str]:
        later = min((b for b in self.window if b.source_version == failed.source_version and b.result == GREEN
                     and b.id > failed.id), key=lambda b: b.id)
        failed_names = {r.name for r in self._timeline(failed.id) if r.type == "Task" and r.result == RED}
        return [f"build {failed.id} failed in {name!r} and build {later.id} passed on the same commit "
                f"{(failed.source_version or '')[:8]}" for name in sorted(failed_names & set(names))]

    def _retry_evidence(self, build: Build, names: Iterable[str], label: str) -> List[str]:
        """Return sentences for steps of `names` whose result differs between attempts of one build."""
        records = self._timeline(build.id)
        evidence = []
        for record in records:
            if record.type != "Task" or record.name not in names:
                continue
            job = _job_of(record, records)
            for earlier in (job.previous_attempts if job is not None else None) or ():
                if self.timeline_reads >= MAX_TIMELINE_READS:
                    break
                before = _task_named(self._timeline(build.id, earlier.timeline_id), record.name, job.name)
                if before is not None and before.result in (GREEN, RED) and before.result != record.result:
                    evidence.append(f"{label}: {record.name!r} {_verb(before.result)} in attempt {earlier.attempt} "
                                    f"and {_verb(record.result)} in attempt {job.attempt}")
        return evidence

    def _timeline(self, build_id: int, timeline_id: Optional[str] = None) -> List[Any]:
        self.timeline_reads += 1
        found = self.ado.call("build", f"read the timeline of build {build_id} of project {self.project}",
                              lambda client: client.get_build_timeline(self.project, build_id, timeline_id))
        return list(found.records or []) if found else []

    # -- the green run's lines

    def baseline(self, green: Build, steps: Sequence[FailedStep]) -> Dict[FailedStep, FrozenSet[str]]:
        """Return, per failed step with a log, the line shapes of the same step in `green`, read in a window."""
        wanted = [step for step in steps if step.record_type == "Task" and step.log_id is not None][:MAX_DIFF_STEPS]
        if not wanted:
            return {}
        records = self._timeline(green.id)
        found: Dict[FailedStep, FrozenSet[str]] = {}
        for step in wanted:
            record = _task_named(records, step.name, step.job)
            if record is None or record.log is None or self.out_of_time():
                continue
            found[step] = self._green_lines(green.id, record.log.id, green_window(step.line_count))
        return found

    def _green_lines(self, build_id: int, log_id: int, window: Tuple[int, int]) -> FrozenSet[str]:
        from azura.excerpt import read_lines

        first, last = window

        def read(client: Any) -> FrozenSet[str]:
            chunks = client.get_build_log(self.project, build_id, log_id, start_line=first, end_line=last)
            return known_lines(line.text for line in read_lines(chunks, first))

        # The log is read whole inside the request, so a cut-off stream is retried like any failed request.
        return self.ado.call("build", f"read log {log_id} of build {build_id} from line {first} to {last}", read)


def _job_of(record: Any, records: Sequence[Any]) -> Optional[Any]:
    by_id = {r.id: r for r in records}
    node = by_id.get(record.parent_id)
    while node is not None and node.type != "Job":
        node = by_id.get(node.parent_id)
    return node


def _task_named(records: Sequence[Any], name: str, job_name: Optional[str]) -> Optional[Any]:
    """Return the task record called `name`, preferring the one in the job called `job_name`."""
    tasks = [r for r in records if r.type == "Task" and r.name == name]
    in_job = [r for r in tasks if job_name is not None and getattr(_job_of(r, records), "name", None) == job_name]
    return (in_job or tasks or [None])[0]


def _verb(result: str) -> str:
    return "passed" if result == GREEN else "failed"


def _moment(iso: Optional[str]) -> Optional[datetime]:
    return datetime.fromisoformat(iso) if iso else None


# -- which commits touched what fails

def with_touched_files(history: History, build: Build, paths: Sequence[str], test_names: Sequence[str],
                       ado: "AzureDevOps") -> Tuple[History, Tuple[str, ...]]:
    """Return the history with each listed commit's files that the failure names, and what could not be read.

    `paths` are repository files the failure names (compile errors, failing tests' files, stack frames);
    `test_names` the failing tests, whose class or file a commit may touch. The files of at most
    MAX_COMMIT_READS commits are read (Git commits API, Azure Repos only), the prime suspects first.
    """
    if not history.changes or not (paths or test_names) or build.repository_type != "TfsGit" \
            or not build.repository_id:
        return history, ()
    from azura.devops import CODE_PERMISSION_HINT

    project = build.project or ado.settings.project
    wanted = _Wanted(paths, test_names)
    changes = list(history.changes)
    warnings: List[str] = []
    order = sorted(range(len(changes)), key=lambda index: not changes[index].suspect)
    for index in order[:MAX_COMMIT_READS]:
        change = changes[index]
        try:
            touched = ado.call("git", f"list the files changed by commit {change.id[:8]}",
                               lambda client: client.get_changes(change.id, build.repository_id, project,
                                                                 top=MAX_FILES_PER_COMMIT),
                               needs=CODE_PERMISSION_HINT)
        except AzuraError as exc:
            warnings.append(f"build history: the files of commit {change.id[:8]} not read: {exc}")
            break  # the next commit would most likely be refused the same way
        files = _changed_files(touched.changes if touched is not None else None)
        changes[index] = replace(change, files=tuple(path for path in files if wanted(path))[:MAX_TOUCHED_SHOWN])
    return replace(history, changes=tuple(changes)), tuple(warnings)


def _changed_files(changes: Any) -> List[str]:
    """Return the file paths of a commit's changes; the SDK leaves them as the service's JSON objects."""
    paths = []
    for change in changes or ():
        item = change.get("item") if isinstance(change, dict) else None
        if isinstance(item, dict) and isinstance(item.get("path"), str) and not item.get("isFolder"):
            paths.append(item["path"].lstrip("/"))
    return paths


class _Wanted:
    """Tells whether a touched file is one the failure names: the same path, or the file of a failing test."""

    def __init__(self, paths: Sequence[str], test_names: Sequence[str]):
        self.paths = {path.lower() for path in paths}
        self.stems = {stem.lower() for name in test_names for stem in _test_files(name)}

    def __call__(self, path: str) -> bool:
        lowered = path.lower()
        if lowered in self.paths or any(named.endswith("/" + lowered) for named in self.paths):
            return True
        stem = lowered.rsplit("/", 1)[-1].split(".", 1)[0]
        return stem in self.stems or lowered in self.stems


def _test_files(name: str) -> List[str]:
    """Return what names a failing test's file: the path of a pytest id, the class of a dotted name."""
    if "::" in name:
        return [name.split("::", 1)[0]]
    parts = [part for part in name.split("(")[0].split(".") if part]
    # Namespace.Class.Method: the class is the file's name in C#, Java, Kotlin and most xUnit-style runners.
    return [parts[-2]] if len(parts) >= 2 and len(parts[-2]) >= 4 else []
