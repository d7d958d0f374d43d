"""The collect step: the failed steps of a run and their logs, as StepLogs.

Local files (`--log`) are read here too, so every later step sees the same StepLog whatever the source.
"""
from __future__ import annotations

import os
import re
import stat
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import (TYPE_CHECKING, Any, BinaryIO, Callable, Dict, Iterator, List, Mapping, Optional, Sequence,
                    Tuple, Union)

from azura.context import Settings
from azura.errors import AzuraError, CollectError, InputError
from azura.models import Build, Change, Deadline, Definition, FailedStep, Issue, Run, StepLog
from azura.redact import well_formed

if TYPE_CHECKING:
    from concurrent.futures import Future
    from datetime import datetime

    from azura.devops import AzureDevOps

Clock = Callable[[], float]
DevOpsSource = Union["AzureDevOps", Settings]  # the query functions take a client, or Settings to make one

CHUNK_BYTES = 1 << 20


def local_logs(paths: Sequence[str], stdin: BinaryIO = None) -> Tuple[StepLog, ...]:
    """Return one StepLog per path ('-' is standard input, gzip is read through gzip).

    Missing, unreadable, empty and corrupt inputs raise InputError saying why. Pipes are streams: a FIFO, a
    shell's `<(command)` and /dev/stdin are read as they come, never sized up front.
    """
    logs = []
    for path in paths:
        if path == "-":
            stream = stdin if stdin is not None else sys.stdin.buffer
            logs.append(StepLog(step=FailedStep(name="stdin", record_type="File"),
                                chunks=_read_stream(stream, "standard input")))
            continue
        logs.append(StepLog(step=FailedStep(name=well_formed(os.path.basename(path)), record_type="File"),
                            chunks=_read_file(_checked_path(path), _shown(path))))
    return tuple(logs)


def _shown(path: str) -> str:
    """Return the path as messages show it: a name of thousands of characters is cut."""
    return path if len(path) <= 200 else f"{path[:100]}…{path[-60:]} ({len(path):,} characters)"


def _checked_path(path: str) -> Path:
    target = Path(path)
    try:
        status = target.stat()
    except FileNotFoundError:
        raise InputError(f"log file not found: {_shown(path)}") from None
    except OSError as exc:  # a name too long, a loop of links, a folder that may not be entered
        raise InputError(f"log file {_shown(path)} cannot be read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(status.st_mode):
        raise InputError(f"{_shown(path)} is a directory; pass log files")
    if not os.access(target, os.R_OK):
        raise InputError(f"log file is not readable: {_shown(path)}")
    if stat.S_ISREG(status.st_mode) and status.st_size == 0:
        raise InputError(f"log file is empty: {_shown(path)}")
    return target


def _read_file(path: Path, shown: str) -> Iterator[bytes]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"log file {shown} cannot be read: {exc.strerror or exc}") from None
    with handle:
        # peek, not read and seek back: a pipe cannot seek
        if handle.peek(2)[:2] == b"\x1f\x8b":  # downloaded logs are often kept as .log.gz
            import gzip

            with gzip.GzipFile(fileobj=handle) as unzipped:
                yield from _read_stream(unzipped, shown, gzipped=True)
        else:
            yield from _read_stream(handle, shown)


def _read_stream(stream: BinaryIO, shown: str, gzipped: bool = False) -> Iterator[bytes]:
    """Yield the stream's bytes in chunks; raise InputError when it holds nothing or cannot be read to its end."""
    import zlib

    first = True
    while True:
        try:
            chunk = stream.read(CHUNK_BYTES)
        except (EOFError, zlib.error) as exc:  # a gzip file cut short, or corrupt
            raise InputError(f"{shown} is not a complete gzip file ({exc}); download it again") from None
        except OSError as exc:  # gzip's BadGzipFile too
            raise InputError(f"{shown} cannot be read: {exc.strerror or exc}") from None
        if not chunk:
            if first:
                raise InputError(f"{shown} is empty" + (" once unzipped" if gzipped else ""))
            return
        first = False
        yield chunk
# ---------------------------------------------------------------------------------------------------------------
# Azure DevOps runs, through the SDK only (azura.devops sends every request).

TAIL_LINES = 5_000  # read large logs from the end: the cause is usually in the last few thousand lines
ISSUE_CONTEXT = 100  # lines kept before a timeline issue that lies before the tail
MAX_READ_LINES = 50_000  # the tail may grow back to an earlier timeline issue, up to this many lines
MAX_PARALLEL_LOGS = 6
SPOOL_BYTES = 4 << 20  # a downloaded window stays in memory up to this size, then moves to a temp file
CONTAINER_TYPES = ("Job", "Phase", "Stage")
CONTAINER_FAILURES = ("failed", "canceled", "abandoned")
DEFAULT_STAGE = "__default"  # the implicit stage of a pipeline without stages


def collect_run(settings: Settings, deadline: Deadline, clock: Clock = time.monotonic,
                ado: Optional["AzureDevOps"] = None) -> Run:
    """Return the build in settings, the failed steps of its latest attempt and their logs (tail-first)."""
    from azura.devops import AzureDevOps

    ado = ado or AzureDevOps(settings, deadline, clock)
    project, build_id = settings.project, settings.build_id
    build = get_build(ado, project, build_id)
    if build.pr_target_branch is None and settings.pr_target_branch:
        build = replace(build, pr_target_branch=settings.pr_target_branch)  # GitHub PRs carry it only here
    steps = failed_steps(ado, project, build_id, exclude_record=settings.task_instance_id)
    if not steps:
        return Run(build=build, logs=(), attempt=settings.job_attempt)
    attempt = max(step.attempt for step in steps)
    return Run(build=build, logs=_read_logs(ado, project, build_id, steps, settings.temp_dir), attempt=attempt)


def get_build(ado: "DevOpsSource", project: str, build_id: int) -> Build:
    """Return one build of a project."""
    ado = _devops(ado)
    found = ado.call("build", f"read build {build_id} of project {project}",
                     lambda client: client.get_build(project, build_id))
    return _build(found)


def failed_steps(ado: "DevOpsSource", project: str, build_id: int,
                 exclude_record: Optional[str] = None) -> Tuple[FailedStep, ...]:
    """Return the failed steps of a build's latest attempt, in timeline order, with their log line counts.

    Failed tasks, and the deepest Job/Phase/Stage that failed or was canceled with no failed task below it
    (job timeouts, lost agents, canceled runs). Tasks that only "succeeded with issues" (continueOnError)
    are not causes. `exclude_record` is the analysing step's own timeline record (SYSTEM_TASKINSTANCEID).
    """
    ado = _devops(ado)
    timeline = ado.call("build", f"read the timeline of build {build_id} of project {project}",
                        lambda client: client.get_build_timeline(project, build_id))
    records = _latest_attempt(timeline.records or [] if timeline else [])
    by_id = {record.id: record for record in records}
    steps = [_failed_step(record, by_id) for record in _failed_records(records, exclude_record)]
    if any(step.log_id is not None for step in steps):
        counts = _line_counts(ado, project, build_id)
        steps = [replace(step, line_count=counts.get(step.log_id)) for step in steps]
    return tuple(steps)


def read_step_log(ado: "DevOpsSource", project: str, build_id: int, step_name: Optional[str] = None,
                  log_id: Optional[int] = None, tail_lines: int = TAIL_LINES) -> StepLog:
    """Return the last `tail_lines` of one step's log, found by timeline record name or by log id.

    For comparing a failed step with the same step of another build (the last green one).
    """
    ado = _devops(ado)
    if log_id is None:
        log_id = _log_id_of(ado, project, build_id, step_name)
    counts = _line_counts(ado, project, build_id)
    line_count = counts.get(log_id)
    step = FailedStep(name=step_name or f"log {log_id}", log_id=log_id, line_count=line_count)
    first = max(1, line_count - tail_lines + 1) if line_count else 1
    spool = _spooled(ado, project, build_id, log_id, first, None)
    return StepLog(step=step, chunks=_drain(spool), first_line=first)


def list_projects(ado: "DevOpsSource") -> Tuple[str, ...]:
    """Return the names of the projects the token can see."""
    ado = _devops(ado)
    projects = ado.call("core", "list the projects of the organisation", lambda client: client.get_projects())
    return tuple(project.name for project in projects or ())


def list_definitions(ado: "DevOpsSource", project: str, name_filter: Optional[str] = None) -> Tuple[Definition, ...]:
    """Return the pipelines of a project; `name_filter` may use `*` wildcards."""
    ado = _devops(ado)
    found = ado.call("build", f"list the pipelines of project {project}",
                     lambda client: client.get_definitions(project, name=name_filter))
    return tuple(Definition(id=d.id, name=d.name, path=d.path or "\\", url=_web_url(d)) for d in found or ())


def list_builds(ado: "DevOpsSource", project: str, definition_ids: Optional[Sequence[int]] = None,
                branch: Optional[str] = None, result: Optional[str] = None, status: Optional[str] = None,
                min_time: Optional[datetime] = None, max_time: Optional[datetime] = None,
                requested_for: Optional[str] = None, reason: Optional[str] = None, top: int = 50,
                query_order: Optional[str] = None) -> Tuple[Build, ...]:
    """Return builds of a project, newest first unless `query_order` says otherwise.

    `result` is succeeded, partiallySucceeded, failed or canceled; `status` completed, inProgress, ...;
    `query_order` finishTimeDescending, queueTimeDescending, ...; `branch` a full ref (refs/heads/main).
    The SDK cannot page (it drops the continuation token), so narrow with `top` and `min_time`/`max_time`.
    """
    ado = _devops(ado)
    found = ado.call("build", f"list the builds of project {project}", lambda client: client.get_builds(
        project, definitions=list(definition_ids) if definition_ids else None, branch_name=branch,
        result_filter=result, status_filter=status, min_time=min_time, max_time=max_time,
        requested_for=requested_for, reason_filter=reason, top=top, query_order=query_order))
    return tuple(_build(build) for build in found or ())


def changes_between_builds(ado: "DevOpsSource", project: str, from_id: int, to_id: int,
                           top: int = 50) -> Tuple[Change, ...]:
    """Return the commits that went into the builds after `from_id` up to and including `to_id`."""
    ado = _devops(ado)
    found = ado.call("build", f"list the changes between builds {from_id} and {to_id} of project {project}",
                     lambda client: client.get_changes_between_builds(project, from_id, to_id, top=top))
    return tuple(_change(change) for change in found or ())


def build_changes(ado: "DevOpsSource", project: str, build_id: int, top: int = 50) -> Tuple[Change, ...]:
    """Return the commits associated with one build."""
    ado = _devops(ado)
    found = ado.call("build", f"list the changes of build {build_id} of project {project}",
                     lambda client: client.get_build_changes(project, build_id, top=top))
    return tuple(_change(change) for change in found or ())


def _devops(source: DevOpsSource) -> "AzureDevOps":
    from azura.devops import AzureDevOps

    return AzureDevOps(source) if isinstance(source, Settings) else source


def _latest_attempt(records: Sequence[Any]) -> List[Any]:
    """Return the records in timeline order, without any that a later attempt replaced but is still listed."""
    replaced = {(attempt.record_id or "").lower()
                for record in records for attempt in (record.previous_attempts or ())
                if (attempt.record_id or "").lower() != (record.id or "").lower()}
    current = [record for record in records if (record.id or "").lower() not in replaced]
    return sorted(current, key=_timeline_order(current))


def _timeline_order(records: Sequence[Any]) -> Callable[[Any], Tuple[int, ...]]:
    by_id = {record.id: record for record in records}
    return lambda record: tuple(reversed([node.order or 0 for node in _ancestors(record, by_id)]))


def _failed_records(records: Sequence[Any], exclude_record: Optional[str]) -> List[Any]:
    """Return failed tasks, and failed or canceled containers with nothing failing below them.

    The analysing step's own record and the containers above it are still running, never causes.
    """
    by_id = {r.id: r for r in records}
    own = next((r for r in records if (r.id or "").lower() == (exclude_record or "").lower()), None)
    running = {r.id for r in _ancestors(own, by_id)}
    failing = [r for r in records if r.id not in running and _is_failing(r)]
    has_failing_child = set()
    for record in failing:
        has_failing_child.update(r.id for r in _ancestors(by_id.get(record.parent_id), by_id))
    return [r for r in failing if r.type == "Task" or r.id not in has_failing_child]


def _ancestors(record: Any, by_id: Mapping[str, Any]) -> List[Any]:
    """Return the record and the records above it, nearest first."""
    chain = []
    while record is not None and len(chain) < 16:  # the bound guards against a parent cycle in bad data
        chain.append(record)
        record = by_id.get(record.parent_id)
    return chain


def _is_failing(record: Any) -> bool:
    if record.type == "Task":
        return record.result == "failed"
    return record.type in CONTAINER_TYPES and record.result in CONTAINER_FAILURES


def _failed_step(record: Any, by_id: Mapping[str, Any]) -> FailedStep:
    ancestors: Dict[str, Any] = {}
    for node in _ancestors(record, by_id):
        ancestors.setdefault(node.type, node)
    stage, job = ancestors.get("Stage"), ancestors.get("Job")
    return FailedStep(
        name=well_formed(record.name or record.type),
        stage=well_formed(stage.name) if stage is not None and stage.name != DEFAULT_STAGE else None,
        job=well_formed(job.name) if job is not None else None,
        log_id=record.log.id if record.log is not None else None,
        record_id=record.id,
        record_type=record.type,
        result=record.result,
        attempt=(job or record).attempt or 1,
        issues=tuple(_issue(i) for i in record.issues or ()),
        job_identifier=job.identifier if job is not None else None,
    )


def _issue(issue: Any) -> Issue:
    data = issue.data or {}
    line = str(data.get("logFileLineNumber") or "").strip()
    return Issue(message=well_formed(issue.message or ""), type=str(issue.type or "error"),
                 line=int(line) if line.isdigit() else None)


def _line_counts(ado: "AzureDevOps", project: str, build_id: int) -> Dict[int, Optional[int]]:
    logs = ado.call("build", f"list the logs of build {build_id} of project {project}",
                    lambda client: client.get_build_logs(project, build_id))
    return {log.id: log.line_count for log in logs or ()}


def _log_id_of(ado: "AzureDevOps", project: str, build_id: int, step_name: Optional[str]) -> int:
    timeline = ado.call("build", f"read the timeline of build {build_id} of project {project}",
                        lambda client: client.get_build_timeline(project, build_id))
    for record in _latest_attempt(timeline.records or [] if timeline else []):
        if record.name == step_name and record.log is not None:
            return record.log.id
    raise CollectError(f"build {build_id} has no step named {step_name!r} with a log")


def _first_line_to_read(step: FailedStep) -> int:
    """Return where reading starts: the tail, grown back to an earlier timeline issue when that stays small.

    One window per step keeps one excerpt per step; an issue further back is still known by its message.
    """
    count = step.line_count
    if not count or count <= TAIL_LINES:
        return 1
    first = count - TAIL_LINES + 1
    early = [issue.line for issue in step.issues if issue.line and issue.line < first]
    if early and count - (min(early) - ISSUE_CONTEXT) < MAX_READ_LINES:
        first = max(1, min(early) - ISSUE_CONTEXT)
    return first


def _read_logs(ado: "AzureDevOps", project: str, build_id: int, steps: Sequence[FailedStep],
               temp_dir: Optional[str]) -> Tuple[StepLog, ...]:
    """Return one StepLog per failed step, its log downloading in the background while earlier ones are read.

    Each StepLog's chunks wait for their own download only: the excerpt reads the first step's log while later
    ones are still on their way. A log that cannot be read leaves its step with no lines and a warning
    (`unread_logs`); the timeline issues still count.
    """
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=MAX_PARALLEL_LOGS, thread_name_prefix="azura-log")
    try:
        logs = tuple(StepLog(step=step, chunks=Download(step, pool.submit(_spooled, ado, project, build_id,
                                                                           step.log_id, first, temp_dir)),
                             first_line=first) if step.log_id is not None else StepLog(step=step)
                     for step, first in ((step, _first_line_to_read(step)) for step in steps))
    finally:
        pool.shutdown(wait=False)  # the downloads go on; the pool takes no more
    return logs


class Download:
    """The chunks of one step's log being downloaded: reading them waits for the download, then streams it.

    False when the log could not be read; `problem` then says why. Its spool is closed once read.
    """

    def __init__(self, step: FailedStep, future: "Future[BinaryIO]"):
        self.step = step
        self.future = future
        self.problem: Optional[str] = None

    def _spool(self) -> Optional[BinaryIO]:
        try:
            return self.future.result()
        except AzuraError as exc:
            self.problem = f"the log of {self.step.name!r} was not read: {exc}"
            return None

    def __bool__(self) -> bool:
        return self._spool() is not None

    def __iter__(self) -> Iterator[bytes]:
        spool = self._spool()
        return _drain(spool) if spool is not None else iter(())


def unread_logs(run: Run) -> Tuple[str, ...]:
    """Return a warning for each of the run's logs that could not be downloaded, waiting for those still on
    their way (the analysis has read them by the time it asks)."""
    downloads = [log.chunks for log in run.logs if isinstance(log.chunks, Download)]
    return tuple(d.problem for d in downloads if not d and d.problem)


def _spooled(ado: "AzureDevOps", project: str, build_id: int, log_id: int, first: int,
             temp_dir: Optional[str]) -> BinaryIO:
    """Return a rewound temp file holding a log from line `first` to its end, streamed there chunk by chunk."""
    action = f"read log {log_id} of build {build_id} from line {first}"

    def download(client: Any) -> BinaryIO:
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, dir=temp_dir)
        try:
            for chunk in client.get_build_log(project, build_id, log_id, start_line=first):
                spool.write(chunk)
                ado.check_deadline(action)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool

    return ado.call("build", action, download)


def _drain(spool: BinaryIO) -> Iterator[bytes]:
    with spool:
        while True:
            chunk = spool.read(CHUNK_BYTES)
            if not chunk:
                return
            yield chunk


def _build(build: Any) -> Build:
    trigger = build.trigger_info or {}
    repository = build.repository
    return Build(
        id=build.id,
        number=build.build_number or str(build.id),
        url=_web_url(build),
        definition=build.definition.name if build.definition else None,
        result=build.result,
        status=build.status,
        project=build.project.name if build.project else None,
        definition_id=build.definition.id if build.definition else None,
        source_branch=build.source_branch,
        source_version=build.source_version,
        reason=build.reason,
        repository_id=repository.id if repository else None,
        repository_type=repository.type if repository else None,
        pr_id=_pr_id(build.source_branch, trigger),
        pr_target_branch=trigger.get("pr.targetBranch"),
        finish_time=build.finish_time.isoformat() if build.finish_time else None,
    )


def _pr_id(source_branch: Optional[str], trigger: Mapping[str, str]) -> Optional[int]:
    number = str(trigger.get("pr.number") or "")
    if number.isdigit():
        return int(number)
    match = re.fullmatch(r"refs/pull/(\d+)/merge", source_branch or "")
    return int(match.group(1)) if match else None


def _web_url(item: Any) -> Optional[str]:
    links = getattr(item, "_links", None)
    web = links.additional_properties.get("web") if hasattr(links, "additional_properties") else (
        links.get("web") if isinstance(links, dict) else None)
    return web.get("href") if isinstance(web, dict) else None


def _change(change: Any) -> Change:
    author = change.author.display_name if change.author else None
    return Change(id=change.id, author=author, message=change.message or "", url=_commit_web_url(change),
                  timestamp=change.timestamp.isoformat() if change.timestamp else None)


_COMMIT_API = re.compile(r"^(?P<base>.+?)/_apis/git/repositories/(?P<repo>[^/]+)/commits/(?P<sha>[0-9a-fA-F]+)")


def _commit_web_url(change: Any) -> Optional[str]:
    """Return the commit's page: displayUri when the service gives one, else derived from its REST location."""
    if change.display_uri:
        return change.display_uri
    match = _COMMIT_API.match(change.location or "")
    return f"{match['base']}/_git/{match['repo']}/commit/{match['sha']}" if match else None
