"""An Azure DevOps emulator: a real HTTP server on 127.0.0.1 that the ``azure-devops`` SDK talks to.

It answers the SDK's own requests (the ``OPTIONS _apis`` location list, resource areas, builds,
timelines, logs, tags, changes, definitions, projects, pull requests and their threads, task
attachments) with JSON shaped like the real service's (corpus ``ado-api-examples``), checks what
the real service checks (auth, api-version, JSON bodies, permissions), injects faults and records
every request. Standard library only.

Usage::

    with AdoEmulator(token="t0ken") as emu:              # binds 127.0.0.1:0 and serves on a thread
        emu.org_url                                       # http://127.0.0.1:PORT/contoso
        emu.server_url                                    # http://127.0.0.1:PORT/tfs/DefaultCollection
        project = emu.add_project("Widgets")
        build = emu.add_build(project="Widgets", definition=("widgets-ci", 12), result="failed")
        emu.set_timeline(build.id, [timeline_record("Task", "Run tests", result="failed", log_id=7)])
        emu.add_log(build.id, 7, lines=["##[section]Starting: Run tests", "##[error]boom"])
        emu.add_log(build.id, 8, line_count=3_000_000, line_at=lambda n: f"line {n}")  # streamed
        emu.fault("POST", "pr_threads", status=429, retry_after=1, times=2)
        emu.requests(route="build_log"); emu.bytes_sent(route="build_log")

State (all thread-safe, changeable while serving):
    add_project(name, project_id=None) -> Project
    add_repository(project, name, repository_id=None) -> Repository      (Azure Repos, "TfsGit")
    add_build(project, definition=(name, id), result=..., status=..., branch=..., ...) -> Build
    add_timeline(build_id, records, timeline_id=None, latest=True) -> timeline id
    set_timeline(build_id, records) -> timeline id                        (the latest attempt)
    add_log(build_id, log_id, lines=None, *, line_count=None, line_at=None, newline="\\n")
    add_tags(build_id, *tags); tags(build_id) -> list
    set_changes(build_id, changes)                  changes: dicts from ``commit(...)``
    add_pull_request(repository, source_ref=..., ...) -> PullRequest
    add_thread(pull_request_id, content, ...) -> thread dict; threads(pull_request_id) -> [dict]
    attachments() -> {(plan_id, timeline_id, record_id, type, name): bytes}
    pr_contribute: bool    False -> thread/comment writes answer 403 TF401027
    tag_permission: bool   False -> tag writes answer 403 "needs Edit build quality permissions"
    add_test_run(build_id, name, results, *, job=None, ...) -> run id   results: dicts from ``case_result(...)``
    test_read: bool        False -> the test routes answer 403 (an identity without "View test runs")
    code_read: bool        False -> the Git items and commit routes answer 403 (an identity without Code: Read)
    add_file(repository, commit, path, content); set_commit_changes(repository, commit, [(path, changeType)])

HTTPS: ``AdoEmulator(tls=ssl_context)`` serves TLS with the context's certificate (``host_url`` is then
``https://``). Links in answers name the host the client asked for (its ``Host`` header), so a server reached
through a proxy under another name answers with that name.

Azure DevOps Server: ``AdoEmulator(api_version=SERVER_2022)`` (or ``SERVER_2020``) serves REST API versions up to
that one only, as the on-premises servers do: the ``OPTIONS _apis`` locations say so, and a request for a later
version gets the server's 400 ``VssVersionOutOfRangeException``. Use ``server_url`` as the collection URL.

Faults (first matching fault with times left applies; ``times=None`` means forever)::

    emu.fault(method, route, *, status=None, retry_after=None, delay=0.0, cut=False,
              sign_in=False, not_authorized=False, times=1) -> Fault
    emu.clear_faults()

``method`` is an HTTP method or ``"*"``; ``route`` a route name, ``"*"``, or otherwise a regular
expression searched in the request path. Route names (``ROUTE_NAMES``): options, resource_areas, connection_data,
projects, builds, build, latest_build, definitions, timeline, build_logs, build_log, build_tags,
build_changes, changes_between_builds, repository, pull_request, pull_requests, pr_threads,
pr_comments, task_attachments, test_runs, test_results, test_run_statistics, git_items, git_commit_changes.
``status`` answers with that status
(429 and 503 carry ``Retry-After`` when ``retry_after`` is given; 401 is the real "access denied"
answer); ``sign_in`` answers 203 with an HTML sign-in page; ``not_authorized`` answers 401 with the service's JSON
``TF400813`` error (a token it knows but will not accept here); ``delay`` waits before answering
normally; ``cut`` sends the real headers and only part of the body, then closes the connection.

Request log: ``requests(route=None, method=None) -> [RecordedRequest]``, ``bytes_sent(route=None,
method=None) -> int`` (response body bytes written), ``clear_requests()``.

Control endpoints for a hand-run emulator (no auth, not recorded): ``GET|POST|DELETE /_emulator/faults``
(POST a JSON object with ``fault()``'s arguments, e.g. ``{"method": "GET", "route": "build_log",
"status": 503, "times": 2}``) and ``GET /_emulator/requests``.

Helpers that build the real service's JSON shapes: ``timeline_record``, ``issue``, ``commit``, ``case_result``.
Log lines are stored without the agent's timestamp; every served line gets ``LOG_TIMESTAMP``.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import itertools
import json
import re
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union
from urllib.parse import parse_qs, unquote, urlsplit

from tests.emulators.loopback import LoopbackServer

LOG_TIMESTAMP = "2024-01-01T12:34:56.1234567Z"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ado"
SERVER_COLLECTION = "tfs/DefaultCollection"
SERVICES_API = "7.1"  # the newest REST API version Azure DevOps Services serves here
SERVER_2022_API = "7.0"  # Azure DevOps Server 2022
SERVER_2020_API = "6.0"  # Azure DevOps Server 2020
BUILD_SERVICE_ID = "8f4c1b2e-3f5a-4a52-9a1e-6c1f0d9b7a11"
BLOCK_SIZE = 64 * 1024
_BASE_TIME = dt.datetime(2024, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)

AREA_IDS = {
    "build": "965220d5-5bb9-42cf-8d67-9b146df2a5a4",
    "git": "4e080c62-fa21-4fbc-8fef-2a10a2b38049",
    "core": "79134c72-4a58-4b42-976c-04e7115f32bf",
    "test": "c2aa639c-3ccc-4740-b3b6-ce2a1e1d984e",
}

TASKS = {  # task name -> (id, version) as agents report them in timeline records
    "Bash": ("6c731c3c-3c68-459a-a5c9-bde6e6595b5b", "3.231.5"),
    "CmdLine": ("d9bafed4-0b18-4f58-968d-86655b4d2ce9", "2.231.1"),
    "PowerShell": ("e213ff0f-5d5c-4791-802d-52ea3e7be1f1", "2.231.0"),
    "DotNetCoreCLI": ("5541a522-603c-47ad-91fc-a4b1d163081b", "2.231.0"),
    "Npm": ("fe47e961-9fa8-4106-8639-368c022d43ad", "1.231.0"),
    "UsePythonVersion": ("33c63b11-352b-45a2-ba1b-54cb568a29ca", "0.231.1"),
    "PublishTestResults": ("0b0f01ed-7dde-43ff-9cbb-e48954daf9b1", "2.231.1"),
    "Checkout": ("6d15af64-176c-496d-b583-fd2ae21d4df4", "1.0.0"),
}

THREAD_STATUSES = ["unknown", "active", "fixed", "wontFix", "closed", "byDesign", "pending"]
COMMENT_TYPES = ["unknown", "text", "codeChange", "system"]


# ---------------------------------------------------------------------------------------------
# Public records


@dataclass(frozen=True)
class Project:
    """A team project; addressed in URLs by name (any case) or id."""

    id: str
    name: str


@dataclass(frozen=True)
class Repository:
    """A repository a build checks out; only ``TfsGit`` ones are served by the git routes."""

    id: str
    name: str
    type: str = "TfsGit"
    project: Optional[Project] = None


@dataclass
class Build:
    """A build (pipeline run) held by the emulator; edit it freely between requests."""

    id: int
    number: str
    project: Project
    definition_id: int
    definition_name: str
    status: str
    result: Optional[str]
    reason: str
    source_branch: str
    source_version: str
    repository: Repository
    requested_for: str
    queue_time: dt.datetime
    start_time: Optional[dt.datetime]
    finish_time: Optional[dt.datetime]
    trigger_info: Dict[str, str] = field(default_factory=dict)
    tags: List[str] = field(default_factory=list)
    changes: List[dict] = field(default_factory=list)
    plan_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class PullRequest:
    """An Azure Repos pull request; its threads live in ``threads``."""

    id: int
    repository: Repository
    title: str
    source_ref: str
    target_ref: str
    status: str
    created_by: str
    source_commit: str
    target_commit: str
    description: str = ""
    is_draft: bool = False
    threads: List[dict] = field(default_factory=list)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the emulator saw and answered it."""

    method: str
    path: str
    query: Dict[str, str]
    route: Optional[str]
    status: int
    bytes_sent: int
    auth_scheme: Optional[str]
    api_version: Optional[str]
    body: bytes

    def json(self):
        """Return the request body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class Fault:
    """A fault answer for matching requests; ``times`` counts down, ``None`` never runs out."""

    method: str
    route: str
    status: Optional[int] = None
    retry_after: Optional[float] = None
    delay: float = 0.0
    cut: bool = False
    sign_in: bool = False
    times: Optional[int] = 1
    not_authorized: bool = False

    def matches(self, method: str, route: Optional[str], path: str) -> bool:
        """Return whether this fault applies to the request."""
        if self.times is not None and self.times <= 0:
            return False
        if self.method != "*" and self.method.upper() != method:
            return False
        if self.route == "*" or self.route == route:
            return True
        return self.route not in ROUTE_NAMES and re.search(self.route, path) is not None


@dataclass
class _Log:
    line_count: int
    line_at: Callable[[int], str]
    newline: str
    created_on: dt.datetime


# ---------------------------------------------------------------------------------------------
# Builders of the real service's JSON shapes


def issue(message: str, *, type: str = "error", category: str = "General", line: Optional[int] = None,
          **data: str) -> dict:
    """Return a timeline issue; ``line`` becomes ``data.logFileLineNumber`` (1-based, a string)."""
    issue_data = {"type": type, **{key: str(value) for key, value in data.items()}}
    if line is not None:
        issue_data["logFileLineNumber"] = str(line)
    return {"type": type, "category": category, "message": message, "data": issue_data}


def timeline_record(type: str, name: str, *, id: Optional[str] = None, parent_id: Optional[str] = None,
                    result: Optional[str] = "succeeded", state: str = "completed", order: int = 1,
                    attempt: int = 1, previous_attempts: Sequence[dict] = (), log_id: Optional[int] = None,
                    task: Optional[str] = None, issues: Sequence[dict] = (), identifier: Optional[str] = None,
                    worker_name: Optional[str] = None, start_time: Optional[dt.datetime] = None,
                    finish_time: Optional[dt.datetime] = None) -> dict:
    """Return a timeline record (Stage, Phase, Job, Task, Checkpoint) shaped like the service's."""
    start = start_time or _BASE_TIME + dt.timedelta(minutes=order)
    finish = finish_time or (start + dt.timedelta(seconds=37) if state == "completed" else None)
    ran = state != "pending" and result != "skipped"
    task_ref = None
    if task is not None:
        task_id, version = TASKS.get(task, (str(uuid.uuid5(uuid.NAMESPACE_URL, task)), "1.0.0"))
        task_ref = {"id": task_id, "name": task, "version": version}
    return {
        "previousAttempts": list(previous_attempts),
        "id": id or str(uuid.uuid4()),
        "parentId": parent_id,
        "type": type,
        "name": name,
        "startTime": _iso(start) if ran else None,
        "finishTime": _iso(finish) if finish and ran else None,
        "currentOperation": None,
        "percentComplete": 100 if state == "completed" else None,
        "state": state,
        "result": result if state == "completed" else None,
        "resultCode": None,
        "changeId": 10 + order,
        "lastModified": "0001-01-01T00:00:00",
        "workerName": worker_name or ("Azure Pipelines 2" if type in ("Job", "Task") else None),
        "queueId": 9 if type == "Job" else None,
        "order": order,
        "details": None,
        "errorCount": sum(1 for item in issues if item["type"] == "error"),
        "warningCount": sum(1 for item in issues if item["type"] == "warning"),
        "url": None,
        "log": {"id": log_id, "type": "Container", "url": None} if log_id is not None else None,
        "task": task_ref,
        "attempt": attempt,
        "identifier": identifier,
        "issues": list(issues) if issues else None,
    }


def commit(sha: str, message: str, author: str, *, email: Optional[str] = None,
           timestamp: Optional[dt.datetime] = None) -> dict:
    """Return a build change (a commit) shaped like ``GET …/builds/{id}/changes`` items."""
    return {
        "id": sha,
        "message": message,
        "type": "TfsGit",
        "author": {"id": None, "displayName": author,
                   "uniqueName": email or author.lower().replace(" ", ".") + "@contoso.com"},
        "timestamp": _iso(timestamp or _BASE_TIME),
        "location": None,
        "messageTruncated": False,
        "pusher": email or author.lower().replace(" ", ".") + "@contoso.com",
    }


def case_result(name: str, outcome: str = "Failed", *, message: Optional[str] = None,
                stack_trace: Optional[str] = None, duration_ms: float = 38.0, failing_since: Optional[int] = None,
                title: Optional[str] = None, storage: str = "widgets.tests.dll") -> dict:
    """Return a test result (``TestCaseResult``) as ``GET …/test/Runs/{id}/Results`` items have it.

    ``name`` is the automatedTestName; ``failing_since`` the id of the build it has failed since.
    """
    item = {
        "durationInMs": duration_ms, "outcome": outcome, "revision": 1, "state": "Completed",
        "testCase": {"name": title or name.rsplit(".", 1)[-1]}, "priority": 0, "computerName": "fv-az512-817",
        "failureType": "None", "automatedTestStorage": storage, "automatedTestType": "UnitTest",
        "automatedTestTypeId": "13cdc9d9-ddb5-4fa4-a97d-d965ccfc6d4b",
        "automatedTestId": str(uuid.uuid5(uuid.NAMESPACE_URL, name)), "testCaseTitle": title or name.rsplit(".", 1)[-1],
        "customFields": [], "automatedTestName": name,
        "startedDate": _iso(_BASE_TIME), "completedDate": _iso(_BASE_TIME + dt.timedelta(milliseconds=duration_ms)),
    }
    if message is not None:
        item["errorMessage"] = message
    if stack_trace is not None:
        item["stackTrace"] = stack_trace
    if failing_since is not None:
        item["failingSince"] = {"date": _iso(_BASE_TIME), "build": {
            "id": failing_since, "definitionId": 0, "number": str(failing_since),
            "buildSystem": "Azure DevOps Services"}}
    return item


@dataclass
class _TestRun:
    id: int
    build: "Build"
    name: str
    results: List[dict]
    statistics: List[Tuple[str, int]]
    job: Optional[Tuple[str, str, str, int]]
    state: str


def _count_outcomes(results: Sequence[dict]) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for result in results:
        counts[result["outcome"]] = counts.get(result["outcome"], 0) + 1
    return counts


def _repository_id(repository: Union["Repository", str]) -> str:
    return (repository.id if isinstance(repository, Repository) else repository).lower()


# ---------------------------------------------------------------------------------------------
# The emulator


class AdoEmulator(LoopbackServer):
    """An Azure DevOps service for one organisation, served on 127.0.0.1 from a background thread.

    Tests own one per test (``with AdoEmulator() as emu``); scripts may run one until interrupted.
    """

    def __init__(self, token: str = "t0ken", *, org: str = "contoso", port: int = 0,
                 api_version: str = SERVICES_API, tls: Optional[ssl.SSLContext] = None) -> None:
        self.token = token
        self.org = org
        self.api_version = api_version
        self.tls = tls
        self.pr_contribute = True
        self.tag_permission = True
        self._port = port
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self._projects: Dict[str, Project] = {}
        self._repositories: Dict[str, Repository] = {}
        self._builds: Dict[int, Build] = {}
        self._timelines: Dict[int, Dict[str, List[dict]]] = {}
        self._latest_timeline: Dict[int, str] = {}
        self._logs: Dict[Tuple[int, int], _Log] = {}
        self._pull_requests: Dict[int, PullRequest] = {}
        self._attachments: Dict[tuple, bytes] = {}
        self._faults: List[Fault] = []
        self._requests: List[RecordedRequest] = []
        self._next_build_id = 1000
        self._next_thread_id = 100
        self.test_read = True
        self.code_read = True
        self._test_runs: Dict[int, "_TestRun"] = {}
        self._files: Dict[Tuple[str, str], Dict[str, bytes]] = {}  # (repository id, commit) -> path -> content
        self._commit_changes: Dict[Tuple[str, str], List[Tuple[str, str]]] = {}

    # -- lifecycle ------------------------------------------------------------------------------

    def make_server(self) -> ThreadingHTTPServer:
        server = _Server(("127.0.0.1", self._port), _Handler)
        server.emulator = self
        return server

    @property
    def host_url(self) -> str:
        """Return ``http://127.0.0.1:PORT`` (``https://`` when serving TLS)."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    @property
    def org_url(self) -> str:
        """Return the dev.azure.com-like collection URL, ``http://127.0.0.1:PORT/{org}``."""
        return f"{self.host_url}/{self.org}"

    @property
    def server_url(self) -> str:
        """Return the Azure DevOps Server-like collection URL, ``…/tfs/DefaultCollection``."""
        return f"{self.host_url}/{SERVER_COLLECTION}"

    # -- state ----------------------------------------------------------------------------------

    def add_project(self, name: str, project_id: Optional[str] = None) -> Project:
        """Create a project and its default Azure Repos repository of the same name."""
        project = Project(project_id or str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{self.org}.{name}")), name)
        with self._lock:
            self._projects[project.id] = project
        self.add_repository(project.name, name)
        return project

    def project(self, name_or_id: str) -> Optional[Project]:
        """Return the project with this name (any case) or id, or None."""
        with self._lock:
            for project in self._projects.values():
                if name_or_id.lower() in (project.id.lower(), project.name.lower()):
                    return project
        return None

    def add_repository(self, project: str, name: str, repository_id: Optional[str] = None) -> Repository:
        """Create an Azure Repos (TfsGit) repository in a project."""
        owner = self._require_project(project)
        repo_id = repository_id or str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{owner.id}.{name}"))
        repository = Repository(repo_id, name, "TfsGit", owner)
        with self._lock:
            self._repositories[repo_id] = repository
        return repository

    def add_build(self, project: str, definition: Tuple[str, int] = ("ci", 1), *, result: Optional[str] = "failed",
                  status: str = "completed", branch: str = "refs/heads/main", source_version: Optional[str] = None,
                  reason: str = "individualCI", requested_for: str = "Ana Lopez",
                  repository: Optional[Repository] = None, build_id: Optional[int] = None,
                  number: Optional[str] = None, queue_time: Optional[dt.datetime] = None,
                  duration: dt.timedelta = dt.timedelta(minutes=9), trigger_info: Optional[dict] = None,
                  tags: Iterable[str] = (), changes: Iterable[dict] = ()) -> Build:
        """Create a build of a definition ``(name, id)``; times follow the id unless given."""
        owner = self._require_project(project)
        with self._lock:
            new_id = build_id if build_id is not None else self._next_build_id
            self._next_build_id = max(self._next_build_id, new_id) + 1
            queued = queue_time or _BASE_TIME + dt.timedelta(hours=new_id - 1000)
            finished = status == "completed"
            build = Build(
                id=new_id, number=number or f"{queued:%Y%m%d}.{new_id % 100 + 1}", project=owner,
                definition_id=definition[1], definition_name=definition[0], status=status,
                result=result if finished else None, reason=reason, source_branch=branch,
                source_version=source_version or uuid.uuid5(uuid.NAMESPACE_OID, str(new_id)).hex + "0" * 8,
                repository=repository or self._default_repository(owner), requested_for=requested_for,
                queue_time=queued, start_time=queued + dt.timedelta(seconds=4) if status != "notStarted" else None,
                finish_time=queued + duration if finished else None, trigger_info=dict(trigger_info or {}),
                tags=list(tags), changes=list(changes))
            self._builds[new_id] = build
        return build

    def build(self, build_id: int) -> Build:
        """Return the build with this id (KeyError if none)."""
        with self._lock:
            return self._builds[build_id]

    def add_timeline(self, build_id: int, records: Sequence[dict], timeline_id: Optional[str] = None,
                     latest: bool = True) -> str:
        """Store a timeline of a build; ``latest=False`` keeps it only for ``Timeline/{id}``."""
        timeline_id = (timeline_id or str(uuid.uuid4())).lower()
        with self._lock:
            self._timelines.setdefault(build_id, {})[timeline_id] = [dict(record) for record in records]
            if latest:
                self._latest_timeline[build_id] = timeline_id
        return timeline_id

    def set_timeline(self, build_id: int, records: Sequence[dict]) -> str:
        """Store the build's latest timeline and return its id."""
        return self.add_timeline(build_id, records, latest=True)

    def add_log(self, build_id: int, log_id: int, lines: Optional[Sequence[str]] = None, *,
                line_count: Optional[int] = None, line_at: Optional[Callable[[int], str]] = None,
                newline: str = "\n") -> None:
        """Store a log: ``lines``, or ``line_count`` lines where ``line_at(n)`` makes line n (1-based)."""
        if lines is not None:
            stored = list(lines)
            line_count, line_at = len(stored), lambda number: stored[number - 1]
        if line_count is None or line_at is None:
            raise ValueError("add_log needs lines, or line_count with line_at")
        build = self.build(build_id)
        with self._lock:
            self._logs[(build_id, log_id)] = _Log(line_count, line_at, newline, build.start_time or build.queue_time)

    def add_tags(self, build_id: int, *tags: str) -> None:
        """Add tags to a build."""
        with self._lock:
            build = self._builds[build_id]
            build.tags.extend(tag for tag in tags if tag not in build.tags)

    def tags(self, build_id: int) -> List[str]:
        """Return a build's tags, sorted as the service returns them."""
        with self._lock:
            return sorted(self._builds[build_id].tags, key=str.lower)

    def add_test_run(self, build_id: int, name: str, results: Sequence[dict], *,
                     job: Optional[Tuple[str, str, str, int]] = None, run_id: Optional[int] = None,
                     statistics: Optional[Sequence[Tuple[str, int]]] = None, state: str = "Completed") -> int:
        """Add a test run published by a build and return its id.

        ``results`` are ``case_result(...)`` dicts; ``job`` is the pipelineReference (stage, phase, job, attempt)
        as timeline identifiers name them; ``statistics`` overrides the outcome counts the results give (a run
        whose results are not there).
        """
        with self._lock:
            build = self._builds[build_id]
            new_id = run_id or max(self._test_runs, default=300) + 1
            counts = list(statistics) if statistics is not None else sorted(
                _count_outcomes(results).items(), key=lambda item: -item[1])
            self._test_runs[new_id] = _TestRun(new_id, build, name, [dict(result, id=100000 + index)
                                                                   for index, result in enumerate(results)],
                                               counts, job, state)
        return new_id

    def add_file(self, repository: Union[Repository, str], commit: str, path: str, content: Union[str, bytes]) -> None:
        """Store a file of a repository as it is at a commit (served by the Git items route)."""
        data = content.encode("utf-8") if isinstance(content, str) else content
        with self._lock:
            self._files.setdefault((_repository_id(repository), commit), {})["/" + path.lstrip("/")] = data

    def set_commit_changes(self, repository: Union[Repository, str], commit: str,
                           changes: Iterable[Tuple[str, str]]) -> None:
        """Set the files a commit touched, as (path, changeType) pairs: ("src/a.py", "edit")."""
        with self._lock:
            self._commit_changes[(_repository_id(repository), commit)] = [
                ("/" + path.lstrip("/"), change_type) for path, change_type in changes]

    def set_changes(self, build_id: int, changes: Iterable[dict]) -> None:
        """Replace a build's changes (``commit(...)`` dicts, newest first)."""
        with self._lock:
            self._builds[build_id].changes = list(changes)

    def add_pull_request(self, repository: Repository, *, source_ref: str = "refs/heads/feature/widgets",
                         target_ref: str = "refs/heads/main", title: str = "Add widget sorting",
                         pull_request_id: Optional[int] = None, status: str = "active",
                         created_by: str = "Ana Lopez", source_commit: Optional[str] = None,
                         description: str = "") -> PullRequest:
        """Create a pull request on an Azure Repos repository."""
        with self._lock:
            pr_id = pull_request_id or max(self._pull_requests, default=41) + 1
            pull_request = PullRequest(
                id=pr_id, repository=repository, title=title, source_ref=source_ref, target_ref=target_ref,
                status=status, created_by=created_by, description=description,
                source_commit=source_commit or uuid.uuid5(uuid.NAMESPACE_URL, f"pr{pr_id}").hex + "0" * 8,
                target_commit=uuid.uuid5(uuid.NAMESPACE_URL, target_ref).hex + "0" * 8)
            self._pull_requests[pr_id] = pull_request
        return pull_request

    def add_thread(self, pull_request_id: int, content: str, *, author: Optional[str] = None,
                   status: str = "active", properties: Optional[dict] = None,
                   comment_type: str = "text") -> dict:
        """Add a thread with one comment to a pull request, as if someone had posted it."""
        with self._lock:
            thread = self._new_thread(
                {"status": status, "properties": properties or {},
                 "comments": [{"content": content, "commentType": comment_type, "parentCommentId": 0}]},
                author)
            self._pull_requests[pull_request_id].threads.append(thread)
            return copy.deepcopy(thread)

    def threads(self, pull_request_id: int) -> List[dict]:
        """Return a copy of a pull request's threads in their stored (response) shape."""
        with self._lock:
            return copy.deepcopy(self._pull_requests[pull_request_id].threads)

    def attachments(self) -> Dict[tuple, bytes]:
        """Return uploaded task attachments keyed by (plan, timeline, record, type, name)."""
        with self._lock:
            return dict(self._attachments)

    # -- faults and the request log --------------------------------------------------------------

    def fault(self, method: str, route: str, *, status: Optional[int] = None, retry_after: Optional[float] = None,
              delay: float = 0.0, cut: bool = False, sign_in: bool = False, not_authorized: bool = False,
              times: Optional[int] = 1) -> Fault:
        """Inject a fault for matching requests and return it (see the module docstring)."""
        if status is None and not (delay or cut or sign_in or not_authorized):
            raise ValueError("a fault needs status, delay, cut, sign_in or not_authorized")
        injected = Fault(method, route, status, retry_after, delay, cut, sign_in, times, not_authorized)
        with self._lock:
            self._faults.append(injected)
        return injected

    def clear_faults(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    def requests(self, route: Optional[str] = None, method: Optional[str] = None) -> List[RecordedRequest]:
        """Return recorded requests, optionally only one route and/or method.

        Waits (up to 5 s) for requests still being answered: a client may have read the last byte
        before the server thread has recorded the request.
        """
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=5)
            return [request for request in self._requests
                    if (route is None or request.route == route)
                    and (method is None or request.method == method.upper())]

    def bytes_sent(self, route: Optional[str] = None, method: Optional[str] = None) -> int:
        """Return the response body bytes written for matching requests."""
        return sum(request.bytes_sent for request in self.requests(route, method))

    def clear_requests(self) -> None:
        """Forget recorded requests, those still being answered too: a client may have read the last byte before
        the server thread has recorded the request, which would then count as the next one's."""
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=5)
            self._requests.clear()

    # -- internals used by the handler ------------------------------------------------------------

    @property
    def _build_service(self) -> str:
        return f"Project Collection Build Service ({self.org})"

    def _require_project(self, name_or_id: str) -> Project:
        found = self.project(name_or_id)
        if found is None:
            raise KeyError(f"no project {name_or_id!r}; call add_project first")
        return found

    def _default_repository(self, project: Project) -> Repository:
        with self._lock:
            for repository in self._repositories.values():
                if repository.project == project and repository.name == project.name:
                    return repository
        return self.add_repository(project.name, project.name)

    def _take_fault(self, method: str, route: Optional[str], path: str) -> Optional[Fault]:
        with self._lock:
            for candidate in self._faults:
                if candidate.matches(method, route, path):
                    if candidate.times is not None:
                        candidate.times -= 1
                    return candidate
        return None

    def _begin(self) -> None:
        with self._idle:
            self._in_flight += 1

    def _end(self, request: Optional[RecordedRequest]) -> None:
        with self._idle:
            if request is not None:
                self._requests.append(request)
            self._in_flight -= 1
            self._idle.notify_all()

    def _new_thread(self, body: dict, author: Optional[str]) -> dict:
        self._next_thread_id += 1
        now = _iso(_now())
        comments = [_new_comment(comment, index + 1, author or self._build_service)
                     for index, comment in enumerate(body.get("comments") or [])]
        return {
            "pullRequestThreadContext": body.get("pullRequestThreadContext"),
            "id": self._next_thread_id,
            "publishedDate": now,
            "lastUpdatedDate": now,
            "comments": comments,
            "status": _enum_name(body.get("status", "active"), THREAD_STATUSES),
            "threadContext": body.get("threadContext"),
            "properties": _typed_properties(body.get("properties") or {}),
            "identities": None,
            "isDeleted": False,
            "_links": {},
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: AdoEmulator


# ---------------------------------------------------------------------------------------------
# Routes: name, methods, path pattern and the location the SDK needs for it


@dataclass(frozen=True)
class _Location:
    id: str
    area: str
    resource: str
    template: str
    resource_version: int


_LOCATIONS = {
    "resource_areas": _Location("e81700f7-3be2-46de-8624-2eb35882fcaa", "Location", "ResourceAreas",
                                "_apis/{resource}/{areaId}", 1),
    "connection_data": _Location("00d9565f-ed9c-4a06-9a50-00e7896ccab4", "Location", "ConnectionData",
                                 "_apis/connectionData", 1),
    "projects": _Location("603fe2ac-9723-48b9-88ad-09305aa6c6e1", "core", "projects", "_apis/projects/{*projectId}", 4),
    "builds": _Location("0cd358e1-9217-4d94-8269-1c1ee6f93dcf", "build", "builds",
                        "{project}/_apis/build/builds/{buildId}", 7),
    "timeline": _Location("8baac422-4c6e-4de5-8532-db96d92acffa", "build", "Timeline",
                          "{project}/_apis/build/builds/{buildId}/Timeline/{timelineId}", 2),
    "logs": _Location("35a80daf-7f30-45fc-86e8-6b813d9c90df", "build", "logs",
                      "{project}/_apis/build/builds/{buildId}/logs/{logId}", 2),
    "tags": _Location("6e6114b2-8161-44c8-8f6c-c5505782427f", "build", "tags",
                      "{project}/_apis/build/builds/{buildId}/tags/{*tag}", 3),
    "build_changes": _Location("54572c7b-bbd3-45d4-80dc-28be08941620", "build", "changes",
                               "{project}/_apis/build/builds/{buildId}/changes", 2),
    "changes_between": _Location("f10f0ea5-18a1-43ec-a8fb-2042c7be9b43", "build", "changes",
                                 "{project}/_apis/build/changes", 2),
    "definitions": _Location("dbeaf647-6167-421a-bda9-c9327b25e2e6", "build", "definitions",
                             "{project}/_apis/build/definitions/{definitionId}", 7),
    "latest": _Location("54481611-01f4-47f3-998f-160da0f0c229", "build", "latest",
                        "{project}/_apis/build/latest/{definition}", 1),
    "pull_request_by_id": _Location("01a46dea-7d46-4d40-bc84-319e7c260d99", "git", "pullRequests",
                                    "{project}/_apis/git/pullRequests/{pullRequestId}", 1),
    "pull_requests": _Location("9946fd70-0d40-406e-b686-b4744cbbcc37", "git", "pullRequests",
                               "{project}/_apis/git/repositories/{repositoryId}/pullRequests/{pullRequestId}", 1),
    "repositories": _Location("225f7195-f9c7-4d14-ab28-a83f7ff77e1f", "git", "repositories",
                              "{project}/_apis/git/repositories/{repositoryId}", 1),
    "threads": _Location("ab6e2e5d-a0b7-4153-b64a-a4efe0d49449", "git", "pullRequestThreads",
                         "{project}/_apis/git/repositories/{repositoryId}/pullRequests/{pullRequestId}"
                         "/threads/{threadId}", 1),
    "comments": _Location("965a3ec7-5ed8-455a-bdcb-835a5ea7fe7b", "git", "pullRequestThreadComments",
                          "{project}/_apis/git/repositories/{repositoryId}/pullRequests/{pullRequestId}"
                          "/threads/{threadId}/comments/{commentId}", 1),
    "test_runs": _Location("cadb3810-d47d-4a3c-a234-fe5f3be50138", "Test", "Runs", "{project}/_apis/test/Runs/{runId}",
                           3),
    "test_results": _Location("4637d869-3a76-4468-8057-0bb02aa385cf", "Test", "Results",
                              "{project}/_apis/test/Runs/{runId}/Results/{testCaseResultId}", 6),
    "test_run_statistics": _Location("0a42c424-d764-4a16-a2d5-5c85f87d0ae8", "Test", "Statistics",
                                     "{project}/_apis/test/Runs/{runId}/Statistics", 3),
    "git_items": _Location("fb93c0db-47ed-4a31-8c20-47552878fb44", "git", "items",
                           "{project}/_apis/git/repositories/{repositoryId}/Items/{*path}", 1),
    "git_commit_changes": _Location("5bf884f5-3e07-42e9-afb8-1b872267bf16", "git", "changes",
                                    "{project}/_apis/git/repositories/{repositoryId}/commits/{commitId}/Changes", 1),
    "attachments": _Location("7898f959-9cdf-4096-b29e-7f293031629e", "distributedtask", "attachments",
                             "{scopeIdentifier}/_apis/distributedtask/hubs/{hubName}/plans/{planId}/timelines"
                             "/{timelineId}/records/{recordId}/attachments/{type}/{name}", 1),
}

_PROJECT = r"(?P<project>[^/_][^/]*)"
_OPTIONAL_PROJECT = r"(?:(?P<project>[^/_][^/]*)/)?"
_BUILD = _PROJECT + r"/_apis/build/builds/(?P<build_id>\d+)"
_PR = _OPTIONAL_PROJECT + r"_apis/git/repositories/(?P<repository>[^/]+)/pullRequests/(?P<pr_id>\d+)"


@dataclass(frozen=True)
class _Route:
    name: str
    methods: Tuple[str, ...]
    pattern: "re.Pattern[str]"
    location: Optional[_Location]
    handler: Callable


_ROUTES: List[_Route] = []


def _route(name: str, methods: str, pattern: str, location: Optional[str]):
    """Register a handler for a path pattern (matched on the raw path after the collection)."""
    def register(handler):
        _ROUTES.append(_Route(name, tuple(methods.split()), re.compile(pattern + r"/?", re.IGNORECASE),
                              _LOCATIONS[location] if location else None, handler))
        return handler
    return register


# ---------------------------------------------------------------------------------------------
# Replies and errors


@dataclass
class _Reply:
    status: int = 200
    body: Union[bytes, Iterable[bytes]] = b""
    content_type: str = "application/json; charset=utf-8"
    headers: Dict[str, str] = field(default_factory=dict)


class _ServiceError(Exception):
    """An error answer in the service's JSON shape."""

    def __init__(self, status: int, message: str, type_key: str, type_name: str = "", event_id: int = 3000):
        super().__init__(message)
        self.status = status
        self.body = {"$id": "1", "innerException": None, "message": message,
                     "typeName": type_name or f"Microsoft.VisualStudio.Services.WebApi.{type_key}, "
                                              "Microsoft.VisualStudio.Services.WebApi",
                     "typeKey": type_key, "errorCode": 0, "eventId": event_id}


def _json_reply(value, status: int = 200, headers: Optional[dict] = None) -> _Reply:
    return _Reply(status, json.dumps(value).encode("utf-8"), headers=headers or {})


def _collection(values: list) -> _Reply:
    return _json_reply({"count": len(values), "value": values})


def _build_not_found(build_id) -> _ServiceError:
    return _ServiceError(404, f"TF400714: The requested build {build_id} could not be found.",
                         "BuildNotFoundException",
                         "Microsoft.TeamFoundation.Build.WebApi.BuildNotFoundException, "
                         "Microsoft.TeamFoundation.Build2.WebApi")


def _needs_permission() -> _ServiceError:
    return _ServiceError(403, "TF401027: You need the Git 'PullRequestContribute' permission to perform this "
                              f"action. Details: identity 'Build\\{BUILD_SERVICE_ID}', scope 'repository'.",
                         "GitNeedsPermissionException",
                         "Microsoft.TeamFoundation.Git.Server.GitNeedsPermissionException, "
                         "Microsoft.TeamFoundation.Git.Server")


_SIGN_IN_PAGE = (FIXTURES / "sign-in.html").read_bytes()

_ACCESS_DENIED = (b"<!DOCTYPE html><html><head><title>Access Denied</title></head><body>"
                  b"<h1>Access Denied: The Personal Access Token used has expired or is invalid.</h1></body></html>")


def _fault_reply(fault: Fault) -> _Reply:
    if fault.sign_in:
        return _Reply(203, _SIGN_IN_PAGE, "text/html; charset=utf-8")
    if fault.not_authorized:
        return _json_reply(_ServiceError(401, f"TF400813: The user '{BUILD_SERVICE_ID}' is not authorized to access "
                                              "this resource.", "UnauthorizedRequestException").body, 401)
    if fault.status == 401:
        return _Reply(401, _ACCESS_DENIED, "text/html; charset=utf-8",
                      {"WWW-Authenticate": 'Basic realm="https://dev.azure.com/"'})
    headers = {"Retry-After": _seconds(fault.retry_after)} if fault.retry_after is not None else {}
    if fault.status == 429:
        headers.update({"X-RateLimit-Resource": "Build", "X-RateLimit-Delay": "2.5", "X-RateLimit-Limit": "200",
                        "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 60)})
        error = _ServiceError(429, "TF400733: The request has been canceled: Request was blocked due to "
                                   "exceeding usage of resource 'Build' in namespace 'User'.",
                              "RequestBlockedException")
    else:
        error = _ServiceError(fault.status, f"The service answered {fault.status} (injected fault).",
                              "VssServiceException")
    return _json_reply(error.body, fault.status, headers)


# ---------------------------------------------------------------------------------------------
# The request handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format, *args):  # the request log replaces stderr chatter
        pass

    def do_GET(self):
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def _serve(self) -> None:
        emulator = self.server.emulator
        if self.path.startswith("/_emulator/"):
            self._send(_control(emulator, self.command, urlsplit(self.path).path, self._read_body()), cut=False)
            return
        emulator._begin()
        recorded = None
        try:
            recorded = self._answer_and_describe(emulator)
        finally:
            emulator._end(recorded)

    def _answer_and_describe(self, emulator: AdoEmulator) -> RecordedRequest:
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query, keep_blank_values=True).items()}
        body = self._read_body()
        base, rest = _split_collection(url.path, emulator.org)
        route, params = _match(self.command, rest) if base is not None else (None, {})
        scheme = self._auth_scheme()
        version = _requested_version(self.headers.get("Accept", ""), query)
        fault = emulator._take_fault(self.command, route.name if route else None, url.path)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and (fault.status or fault.sign_in or fault.not_authorized):
            reply = _fault_reply(fault)
        else:
            request = _Request(emulator, self.command, base or "", query, body, params, self.headers.get("Accept", ""),
                               self.headers.get("Host") or f"127.0.0.1:{emulator.port}")
            reply = self._answer(emulator, route, request, version)
        sent = self._send(reply, cut=fault is not None and fault.cut)
        return RecordedRequest(self.command, url.path, query, route.name if route else None, reply.status, sent,
                               scheme, version, body)

    def _answer(self, emulator: AdoEmulator, route: Optional[_Route], request: "_Request",
                version: Optional[str]) -> _Reply:
        if not self._authorised(emulator.token):
            return _fault_reply(Fault("*", "*", status=401))
        if route is None:
            return _json_reply(_ServiceError(404, f"The resource {urlsplit(self.path).path} cannot be found.",
                                             "NotFoundException").body, 404)
        try:
            _check_version(route, self.command, version, emulator.api_version)
            reply = route.handler(request, **request.params)
        except _ServiceError as error:
            return _json_reply(error.body, error.status)
        except Exception as error:  # an emulator bug must fail the test with its reason, not a dropped socket
            return _json_reply(_ServiceError(500, f"emulator error: {error!r}", "EmulatorException").body, 500)
        if route.location and "api-version" not in reply.content_type:
            reply.content_type += f"; api-version={version}"
        return reply

    def _authorised(self, token: str) -> bool:
        scheme, _, credentials = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            return credentials == token
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials).decode("utf-8")
            except ValueError:
                return False
            return decoded.partition(":")[2] == token
        return False

    def _auth_scheme(self) -> Optional[str]:
        return self.headers.get("Authorization", "").partition(" ")[0] or None

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return b"".join(_read_chunks(self.rfile))
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, reply: _Reply, cut: bool) -> int:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("ActivityId", str(uuid.uuid4()))
        session = self.headers.get("X-TFS-Session")
        if session:
            self.send_header("X-TFS-Session", session)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if isinstance(reply.body, bytes):
            return self._send_whole(reply.body, cut)
        return self._send_chunked(reply.body, cut)

    def _send_whole(self, body: bytes, cut: bool) -> int:
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return 0
        payload = body[: len(body) // 2] if cut else body
        try:
            self.wfile.write(payload)
            if cut:
                self._hang_up()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        return len(payload)

    def _send_chunked(self, blocks: Iterable[bytes], cut: bool) -> int:
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        try:
            for block in blocks:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
                sent += len(block)
                if cut:
                    self._hang_up()
                    return sent
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client stopped reading; a real server just drops it
        return sent

    def _hang_up(self) -> None:
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


def _read_chunks(stream) -> Iterator[bytes]:
    while True:
        size = int(stream.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            stream.readline()
            return
        yield stream.read(size)
        stream.readline()


def _split_collection(path: str, org: str) -> Tuple[Optional[str], str]:
    """Return (collection path, rest) for ``/{org}/…`` or ``/tfs/DefaultCollection/…``."""
    for collection in (SERVER_COLLECTION, org):
        prefix = "/" + collection
        if path.lower() == prefix.lower() or path.lower().startswith(prefix.lower() + "/"):
            return prefix, path[len(prefix):].lstrip("/")
    return None, path


def _match(method: str, rest: str):
    for candidate in _ROUTES:
        found = candidate.pattern.fullmatch(rest)
        if found and method in candidate.methods:
            return candidate, {key: unquote(value) for key, value in found.groupdict().items() if value is not None}
    return None, {}


_VERSION = re.compile(r"^(\d+)\.(\d+)(-preview(\.(\d+))?)?$")


def _requested_version(accept: str, query: Dict[str, str]) -> Optional[str]:
    if "api-version" in query:
        return query["api-version"]
    found = re.search(r"api-version=([^;,\s]+)", accept)
    return found.group(1) if found else None


def _version_number(version: str) -> Tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)


def _released_version(served: str) -> str:
    """Return the newest released (non-preview) version of a server that serves up to `served`."""
    return min(served, "7.0", key=_version_number)


def _check_version(route: _Route, method: str, version: Optional[str], served: str) -> None:
    if route.location is None:
        return
    if version is None:
        raise _ServiceError(400, f'No api-version was supplied for the "{method}" request. The version must be '
                                 'supplied either as part of the Accept header (e.g. "application/json; '
                                 'api-version=1.0") or as a query parameter (e.g. "?api-version=1.0").',
                            "VssVersionNotSpecifiedException")
    found = _VERSION.match(version)
    number = (int(found.group(1)), int(found.group(2))) if found else None
    if number is None or not (1, 0) <= number <= _version_number(served):
        raise _ServiceError(400, f'The requested REST API version of {version} is outside the supported range '
                                 f'for this resource. The supported versions are 1.0 through {served}.',
                            "VssVersionOutOfRangeException")
    if number > _version_number(_released_version(served)) and not found.group(3):
        raise _ServiceError(400, f"The requested version \"{version}\" of the resource is under preview. The "
                                 "-preview flag must be supplied in the api-version for such requests.",
                            "VssInvalidPreviewVersionException")


@dataclass
class _Request:
    emulator: AdoEmulator
    method: str
    base: str  # the collection path used by the client, e.g. /contoso
    query: Dict[str, str]
    body: bytes
    params: Dict[str, str]
    accept: str
    host: str  # as the client named it (Host header): through a proxy, a name only the proxy resolves

    def url(self, rest: str) -> str:
        """Return an absolute URL under the collection the client used."""
        return f"{self.emulator.scheme}://{self.host}{self.base}/{rest}"

    def json_body(self, parameter: str):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise _ServiceError(400, f"Value cannot be null.\r\nParameter name: {parameter}",
                                "ArgumentNullException", "System.ArgumentNullException, mscorlib") from None


# ---------------------------------------------------------------------------------------------
# Control endpoints for a hand-run emulator (no auth, not recorded, loopback only)


def _control(emulator: AdoEmulator, method: str, path: str, body: bytes) -> _Reply:
    """Answer ``/_emulator/faults`` (GET, POST a Fault as JSON, DELETE all) and ``/_emulator/requests``."""
    if path.rstrip("/") == "/_emulator/faults":
        if method == "POST":
            try:
                spec = json.loads(body)
                emulator.fault(spec.pop("method", "*"), spec.pop("route", "*"), **spec)
            except (ValueError, TypeError) as error:
                return _json_reply({"message": f"bad fault: {error}"}, 400)
        elif method == "DELETE":
            emulator.clear_faults()
        with emulator._lock:
            return _collection([vars(item) for item in emulator._faults])
    if path.rstrip("/") == "/_emulator/requests" and method == "GET":
        return _collection([{key: value for key, value in vars(item).items() if key != "body"}
                            for item in emulator.requests()])
    return _json_reply({"message": "unknown control endpoint"}, 404)


# ---------------------------------------------------------------------------------------------
# Location service


@_route("options", "OPTIONS", r"_apis", None)
def _options(request: _Request) -> _Reply:
    return _collection([{
        "id": location.id, "area": location.area, "resourceName": location.resource,
        "routeTemplate": location.template, "resourceVersion": location.resource_version,
        "minVersion": "1.0", "maxVersion": request.emulator.api_version,
        "releasedVersion": _released_version(request.emulator.api_version),
    } for location in _LOCATIONS.values()])


@_route("resource_areas", "GET", r"_apis/ResourceAreas(?:/(?P<area_id>[^/]+))?", "resource_areas")
def _resource_areas(request: _Request, area_id: Optional[str] = None) -> _Reply:
    if request.base.lower() == "/" + SERVER_COLLECTION.lower():
        return _collection([])  # Azure DevOps Server lists no areas; clients use the collection URL
    areas = [{"id": guid, "name": name, "locationUrl": request.url("")} for name, guid in AREA_IDS.items()]
    return _collection([area for area in areas if area_id is None or area["id"] == area_id.lower()])


@_route("connection_data", "GET", r"_apis/connectionData", "connection_data")
def _connection_data(request: _Request) -> _Reply:
    # Who the token belongs to: the emulator accepts one token, the build service's (the identity that
    # authors the comments a pipeline posts, BUILD_SERVICE_ID).
    identity = {"id": BUILD_SERVICE_ID, "descriptor": f"Microsoft.TeamFoundation.ServiceIdentity;{BUILD_SERVICE_ID}",
                "subjectDescriptor": f"svc.{BUILD_SERVICE_ID}", "providerDisplayName": request.emulator._build_service,
                "isActive": True, "properties": {}, "resourceVersion": 2, "metaTypeId": 0}
    return _json_reply({"authenticatedUser": identity, "authorizedUser": identity,
                        "instanceId": str(uuid.uuid5(uuid.NAMESPACE_URL, request.emulator.org)),
                        "deploymentId": str(uuid.uuid5(uuid.NAMESPACE_URL, "emulator")), "deploymentType": "hosted",
                        "locationServiceData": {"serviceOwner": "00025394-6065-48ca-87d9-7f5672854ef7",
                                                "defaultAccessMappingMoniker": "PublicAccessMapping",
                                                "lastChangeId": 1, "lastChangeId64": 1}})


# ---------------------------------------------------------------------------------------------
# Core


def _project_json(request: _Request, project: Project) -> dict:
    return {"id": project.id, "name": project.name, "description": "",
            "url": request.url(f"_apis/projects/{project.id}"),
            "state": "wellFormed", "revision": 11, "visibility": "private",
            "lastUpdateTime": _iso(_BASE_TIME)}


def _find_project(request: _Request, name_or_id: str) -> Project:
    found = request.emulator.project(name_or_id)
    if found is None:
        raise _ServiceError(404, f"TF200016: The following project does not exist: {name_or_id}. Verify that the "
                                 "name of the project is correct and that the project exists on the specified "
                                 "Azure DevOps Server.", "ProjectDoesNotExistWithNameException")
    return found


@_route("projects", "GET", r"_apis/projects(?:/(?P<project_id>[^/]+))?", "projects")
def _projects(request: _Request, project_id: Optional[str] = None) -> _Reply:
    if project_id is not None:
        return _json_reply(_project_json(request, _find_project(request, project_id)))
    with request.emulator._lock:
        projects = list(request.emulator._projects.values())
    return _collection([_project_json(request, project) for project in projects])


# ---------------------------------------------------------------------------------------------
# Builds


def _identity(request: _Request, name: str) -> dict:
    identity_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, name))
    return {"displayName": name, "url": request.url(f"_apis/Identities/{identity_id}"),
            "_links": {"avatar": {"href": request.url(f"_apis/GraphProfile/MemberAvatars/aad.{identity_id}")}},
            "id": identity_id, "uniqueName": name.lower().replace(" ", ".") + "@contoso.com",
            "imageUrl": request.url(f"_api/_common/identityImage?id={identity_id}"), "descriptor": f"aad.{identity_id}"}


def _build_json(request: _Request, build: Build) -> dict:
    project_ref = _project_json(request, build.project)
    api = f"{build.project.id}/_apis/build/Builds/{build.id}"
    definition_url = request.url(f"{build.project.id}/_apis/build/Definitions/{build.definition_id}?revision=4")
    repository = {"id": build.repository.id, "type": build.repository.type, "name": build.repository.name,
                  "url": (request.url(f"_git/{build.repository.name}") if build.repository.type == "TfsGit"
                          else f"https://github.com/{build.repository.name}.git"),
                  "clean": None, "checkoutSubmodules": False}
    return {
        "_links": {"self": {"href": request.url(api)},
                   "web": {"href": request.url(f"{build.project.id}/_build/results?buildId={build.id}")},
                   "sourceVersionDisplayUri": {"href": request.url(f"{api}/sources")},
                   "timeline": {"href": request.url(f"{api}/Timeline")},
                   "badge": {"href": request.url(f"{build.project.id}/_apis/build/status/{build.definition_id}")}},
        "properties": {}, "tags": sorted(build.tags, key=str.lower), "validationResults": [],
        "plans": [{"planId": build.plan_id}], "triggerInfo": dict(build.trigger_info),
        "id": build.id, "buildNumber": build.number, "status": build.status, "result": build.result,
        "queueTime": _iso(build.queue_time), "startTime": _iso(build.start_time), "finishTime": _iso(build.finish_time),
        "url": request.url(api),
        "definition": {"drafts": [], "id": build.definition_id, "name": build.definition_name,
                       "url": definition_url,
                       "uri": f"vstfs:///Build/Definition/{build.definition_id}", "path": "\\", "type": "build",
                       "queueStatus": "enabled", "revision": 4, "project": project_ref},
        "buildNumberRevision": 1, "project": project_ref, "uri": f"vstfs:///Build/Build/{build.id}",
        "sourceBranch": build.source_branch, "sourceVersion": build.source_version,
        "queue": {"id": 9, "name": "Azure Pipelines", "pool": {"id": 9, "name": "Azure Pipelines", "isHosted": True}},
        "priority": "normal", "reason": build.reason,
        "requestedFor": _identity(request, build.requested_for), "requestedBy": _identity(request, build.requested_for),
        "lastChangedDate": _iso(build.finish_time or build.queue_time),
        "lastChangedBy": _identity(request, "Microsoft.VisualStudio.Services.TFS"),
        "orchestrationPlan": {"planId": build.plan_id},
        "logs": {"id": 0, "type": "Container", "url": request.url(f"{api}/logs")},
        "repository": repository, "retainedByRelease": False, "triggeredByBuild": None,
        "appendCommitMessageToRunName": True, "keepForever": False,
    }


def _find_build(request: _Request, project: str, build_id) -> Build:
    owner = _find_project(request, project)
    with request.emulator._lock:
        build = request.emulator._builds.get(int(build_id))
    if build is None or build.project != owner:
        raise _build_not_found(build_id)
    return build


@_route("build", "GET", _BUILD, "builds")
def _get_build(request: _Request, project: str, build_id: str) -> _Reply:
    return _json_reply(_build_json(request, _find_build(request, project, build_id)))


_TIME_FIELDS = {"finish": "finish_time", "start": "start_time", "queue": "queue_time"}


@_route("builds", "GET", _PROJECT + r"/_apis/build/builds", "builds")
def _get_builds(request: _Request, project: str) -> _Reply:
    owner = _find_project(request, project)
    query = request.query
    with request.emulator._lock:
        builds = [build for build in request.emulator._builds.values() if build.project == owner]
    order = query.get("queryOrder", "queueTimeDescending")
    time_field = _TIME_FIELDS.get(order.split("Time")[0], "queue_time") if "queryOrder" in query else "finish_time"
    builds = [build for build in builds if _build_matches(build, query, time_field)]
    sort_field = _TIME_FIELDS.get(order.split("Time")[0], "queue_time")
    builds.sort(key=lambda build: (getattr(build, sort_field) or _BASE_TIME.min.replace(tzinfo=dt.timezone.utc),
                                   build.id), reverse=order.endswith("Descending"))
    builds = _limit_per_definition(builds, query.get("maxBuildsPerDefinition"))
    top = int(query.get("$top") or 0) or len(builds)
    headers = {"x-ms-continuationtoken": _iso(getattr(builds[top], sort_field))} if len(builds) > top else {}
    reply = _collection([_build_json(request, build) for build in builds[:top]])
    reply.headers.update(headers)
    return reply


def _csv(query: Dict[str, str], name: str) -> Optional[List[str]]:
    return [item.strip() for item in query[name].split(",") if item.strip()] if query.get(name) else None


def _build_matches(build: Build, query: Dict[str, str], time_field: str) -> bool:
    definitions, ids = _csv(query, "definitions"), _csv(query, "buildIds")
    results, statuses, reasons = _csv(query, "resultFilter"), _csv(query, "statusFilter"), _csv(query, "reasonFilter")
    tags = _csv(query, "tagFilters")
    moment = getattr(build, time_field)
    checks = (
        definitions is None or str(build.definition_id) in definitions,
        ids is None or str(build.id) in ids,
        not query.get("branchName") or build.source_branch.lower() == query["branchName"].lower(),
        results is None or (build.result or "none").lower() in [item.lower() for item in results],
        statuses is None or "all" in statuses or build.status.lower() in [item.lower() for item in statuses],
        reasons is None or "all" in reasons or build.reason.lower() in [item.lower() for item in reasons],
        not query.get("requestedFor") or query["requestedFor"].lower() in (
            build.requested_for.lower(), build.requested_for.lower().replace(" ", ".") + "@contoso.com"),
        not query.get("buildNumber") or build.number == query["buildNumber"],
        not query.get("repositoryId") or build.repository.id == query["repositoryId"],
        not query.get("repositoryType") or build.repository.type.lower() == query["repositoryType"].lower(),
        tags is None or all(tag in build.tags for tag in tags),
        not query.get("minTime") or (moment is not None and moment >= _parse_time(query["minTime"])),
        not query.get("maxTime") or (moment is not None and moment <= _parse_time(query["maxTime"])),
    )
    return all(checks)


def _limit_per_definition(builds: List[Build], limit: Optional[str]) -> List[Build]:
    if not limit:
        return builds
    seen: Dict[int, int] = {}
    kept = []
    for build in builds:
        seen[build.definition_id] = seen.get(build.definition_id, 0) + 1
        if seen[build.definition_id] <= int(limit):
            kept.append(build)
    return kept


@_route("latest_build", "GET", _PROJECT + r"/_apis/build/latest/(?P<definition>[^/]+)", "latest")
def _latest_build(request: _Request, project: str, definition: str) -> _Reply:
    owner = _find_project(request, project)
    branch = request.query.get("branchName")
    with request.emulator._lock:
        candidates = [build for build in request.emulator._builds.values()
                      if build.project == owner and definition in (str(build.definition_id), build.definition_name)
                      and (branch is None or build.source_branch == branch)]
    if not candidates:
        raise _ServiceError(404, f"No build was found for definition {definition}.", "BuildNotFoundException")
    return _json_reply(_build_json(request, max(candidates, key=lambda build: build.id)))


@_route("definitions", "GET", _PROJECT + r"/_apis/build/definitions(?:/(?P<definition_id>\d+))?", "definitions")
def _definitions(request: _Request, project: str, definition_id: Optional[str] = None) -> _Reply:
    owner = _find_project(request, project)
    with request.emulator._lock:
        named = {build.definition_id: build.definition_name
                 for build in request.emulator._builds.values() if build.project == owner}
    wanted = _csv(request.query, "definitionIds")
    items = [{"id": key, "name": name, "path": "\\", "type": "build", "queueStatus": "enabled", "revision": 4,
              "url": request.url(f"{owner.id}/_apis/build/Definitions/{key}?revision=4"),
              "uri": f"vstfs:///Build/Definition/{key}", "project": _project_json(request, owner),
              "_links": {"self": {"href": request.url(f"{owner.id}/_apis/build/Definitions/{key}?revision=4")},
                         "web": {"href": request.url(f"{owner.id}/_build/definition?definitionId={key}")}}}
             for key, name in sorted(named.items())
             if (wanted is None or str(key) in wanted) and request.query.get("name", name) == name]
    if definition_id is not None:
        for item in items:
            if str(item["id"]) == definition_id:
                return _json_reply(item)
        raise _ServiceError(404, f"The pipeline with id {definition_id} does not exist.",
                            "DefinitionNotFoundException")
    return _collection(items[: int(request.query.get("$top") or len(items) or 1)])


# -- timelines

@_route("timeline", "GET", _BUILD + r"/Timeline(?:/(?P<timeline_id>[0-9a-fA-F-]+))?", "timeline")
def _timeline(request: _Request, project: str, build_id: str, timeline_id: Optional[str] = None) -> _Reply:
    build = _find_build(request, project, build_id)
    with request.emulator._lock:
        timeline_id = (timeline_id or request.emulator._latest_timeline.get(build.id, "")).lower()
        records = copy.deepcopy(request.emulator._timelines.get(build.id, {}).get(timeline_id))
    if records is None:
        raise _ServiceError(404, f"Timeline {timeline_id or '(none)'} was not found for build {build.id}.",
                            "TimelineNotFoundException")
    base = f"{build.project.id}/_apis/build/builds/{build.id}"
    for record in records:
        if record.get("log"):
            record["log"]["url"] = request.url(f"{base}/logs/{record['log']['id']}")
    return _json_reply({"records": records, "lastChangedBy": "00000002-0000-8888-8000-000000000000",
                        "lastChangedOn": _iso(build.finish_time or build.queue_time), "id": timeline_id,
                        "changeId": 10 + len(records), "url": request.url(f"{base}/Timeline/{timeline_id}")})


# -- logs

def _log_url(request: _Request, build: Build, log_id: int) -> str:
    return request.url(f"{build.project.id}/_apis/build/builds/{build.id}/logs/{log_id}")


@_route("build_logs", "GET", _BUILD + r"/logs", "logs")
def _build_logs(request: _Request, project: str, build_id: str) -> _Reply:
    build = _find_build(request, project, build_id)
    with request.emulator._lock:
        logs = sorted((key[1], log) for key, log in request.emulator._logs.items() if key[0] == build.id)
    return _collection([{"lineCount": log.line_count, "createdOn": _iso(log.created_on),
                         "lastChangedOn": _iso(log.created_on), "id": log_id, "type": "Container",
                         "url": _log_url(request, build, log_id)} for log_id, log in logs])


@_route("build_log", "GET", _BUILD + r"/logs/(?P<log_id>\d+)", "logs")
def _build_log(request: _Request, project: str, build_id: str, log_id: str) -> _Reply:
    build = _find_build(request, project, build_id)
    with request.emulator._lock:
        log = request.emulator._logs.get((build.id, int(log_id)))
    if log is None:
        raise _ServiceError(404, f"Log {log_id} was not found for build {build.id}.", "BuildLogNotFoundException")
    first, last = _line_range(request.query, log.line_count)
    if "application/json" in request.accept:
        return _Reply(200, _json_lines(log, first, last))
    return _Reply(200, _text_lines(log, first, last), "text/plain; charset=utf-8")


def _line_range(query: Dict[str, str], line_count: int) -> Tuple[int, int]:
    """Return the 1-based inclusive range ``startLine``..``endLine`` clipped to the log."""
    first = max(int(query.get("startLine") or 1), 1)
    last = min(int(query.get("endLine") or line_count), line_count)
    return first, last


def _stamped(log: _Log, number: int) -> str:
    return f"{LOG_TIMESTAMP} {log.line_at(number)}"


def _text_lines(log: _Log, first: int, last: int) -> Iterator[bytes]:
    """Yield the log's lines as text in blocks, never holding more than one block."""
    return _blocks(f"{_stamped(log, number)}{log.newline}" for number in range(first, last + 1))


def _json_lines(log: _Log, first: int, last: int) -> Iterator[bytes]:
    """Yield ``{"count": N, "value": [lines]}`` in blocks, never holding more than one block."""
    count = max(last - first + 1, 0)
    parts = itertools.chain(
        [f'{{"count": {count}, "value": ['],
        ((", " if number > first else "") + json.dumps(_stamped(log, number)) for number in range(first, last + 1)),
        ["]}"])
    return _blocks(parts)


def _blocks(parts: Iterable[str]) -> Iterator[bytes]:
    pending: List[bytes] = []
    size = 0
    for part in parts:
        encoded = part.encode("utf-8")
        pending.append(encoded)
        size += len(encoded)
        if size >= BLOCK_SIZE:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


# -- tags

@_route("build_tags", "GET PUT POST PATCH DELETE", _BUILD + r"/tags(?:/(?P<tag>.+))?", "tags")
def _build_tags(request: _Request, project: str, build_id: str, tag: Optional[str] = None) -> _Reply:
    build = _find_build(request, project, build_id)
    emulator = request.emulator
    if request.method in ("PUT", "DELETE") and tag is None:
        raise _ServiceError(400, "Value cannot be null.\r\nParameter name: tag", "ArgumentNullException",
                            "System.ArgumentNullException, mscorlib")
    if request.method != "GET" and not emulator.tag_permission:
        raise _ServiceError(403, f"Access denied. {emulator._build_service} needs Edit build quality permissions "
                                 f"for vstfs:///Build/Build/{build.id} in team project {build.project.name} to "
                                 "perform the action.", "AccessDeniedException",
                            "Microsoft.TeamFoundation.Build.WebApi.AccessDeniedException, "
                            "Microsoft.TeamFoundation.Build2.WebApi")
    if request.method == "PUT":
        emulator.add_tags(build.id, tag)
    elif request.method == "DELETE":
        with emulator._lock:
            build.tags = [existing for existing in build.tags if existing != tag]
    elif request.method == "POST":
        tags = request.json_body("tags")
        if not isinstance(tags, list):
            raise _ServiceError(400, "Value cannot be null.\r\nParameter name: tags", "ArgumentNullException",
                                "System.ArgumentNullException, mscorlib")
        emulator.add_tags(build.id, *tags)
    elif request.method == "PATCH":
        update = request.json_body("updateParameters")
        emulator.add_tags(build.id, *(update.get("tagsToAdd") or []))
        with emulator._lock:
            build.tags = [existing for existing in build.tags if existing not in (update.get("tagsToRemove") or [])]
    return _collection(emulator.tags(build.id))


# -- changes

def _change_json(request: _Request, build: Build, change: dict) -> dict:
    item = dict(change)
    if item.get("location") is None and build.repository.type == "TfsGit":
        item["location"] = request.url(f"_apis/git/repositories/{build.repository.id}/commits/{change['id']}")
    if build.repository.type == "GitHub":
        item["type"] = "GitHub"
        item["displayUri"] = f"https://github.com/{build.repository.name}/commit/{change['id']}"
    return item


@_route("build_changes", "GET", _BUILD + r"/changes", "build_changes")
def _build_changes(request: _Request, project: str, build_id: str) -> _Reply:
    build = _find_build(request, project, build_id)
    changes = build.changes[: int(request.query.get("$top") or len(build.changes) or 1)]
    return _collection([_change_json(request, build, change) for change in changes])


@_route("changes_between_builds", "GET", _PROJECT + r"/_apis/build/changes", "changes_between")
def _changes_between_builds(request: _Request, project: str) -> _Reply:
    start = _find_build(request, project, request.query.get("fromBuildId", "0"))
    end = _find_build(request, project, request.query.get("toBuildId", "0"))
    if start.definition_id != end.definition_id:
        raise _ServiceError(400, "The builds must belong to the same definition.", "InvalidBuildQueryException")
    with request.emulator._lock:
        between = sorted((build for build in request.emulator._builds.values()
                          if build.project == end.project and build.definition_id == end.definition_id
                          and start.id < build.id <= end.id), key=lambda build: build.id, reverse=True)
    changes = [_change_json(request, build, change) for build in between for change in build.changes]
    return _collection(changes[: int(request.query.get("$top") or len(changes) or 1)])


# ---------------------------------------------------------------------------------------------
# Git


def _find_repository(request: _Request, repository: str, project: Optional[str]) -> Repository:
    owner = _find_project(request, project) if project else None
    with request.emulator._lock:
        for candidate in request.emulator._repositories.values():
            named = repository.lower() in (candidate.id.lower(), candidate.name.lower())
            if named and owner in (None, candidate.project):
                return candidate
    raise _ServiceError(404, f"TF401019: The Git repository with name or identifier {repository} does not exist "
                             "or you do not have permissions for the operation you are attempting.",
                        "GitRepositoryNotFoundException")


def _find_pull_request(request: _Request, pr_id: str, repository: Optional[Repository] = None) -> PullRequest:
    with request.emulator._lock:
        found = request.emulator._pull_requests.get(int(pr_id))
    if found is None or (repository is not None and found.repository != repository):
        raise _ServiceError(404, "TF401180: The requested pull request was not found.",
                            "GitPullRequestNotFoundException")
    return found


def _repository_json(request: _Request, repository: Repository) -> dict:
    return {"id": repository.id, "name": repository.name,
            "url": request.url(f"_apis/git/repositories/{repository.id}"),
            "project": _project_json(request, repository.project), "defaultBranch": "refs/heads/main",
            "size": 48213, "remoteUrl": request.url(f"{repository.project.name}/_git/{repository.name}"),
            "webUrl": request.url(f"{repository.project.name}/_git/{repository.name}"), "isDisabled": False}


def _pull_request_json(request: _Request, pull_request: PullRequest) -> dict:
    repository = pull_request.repository
    commits = f"_apis/git/repositories/{repository.id}/commits"
    url = request.url(f"{repository.project.id}/_apis/git/repositories/{repository.id}/pullRequests/{pull_request.id}")
    return {
        "repository": _repository_json(request, repository), "pullRequestId": pull_request.id,
        "codeReviewId": pull_request.id, "status": pull_request.status,
        "createdBy": _identity(request, pull_request.created_by), "creationDate": _iso(_BASE_TIME),
        "title": pull_request.title, "description": pull_request.description,
        "sourceRefName": pull_request.source_ref, "targetRefName": pull_request.target_ref,
        "mergeStatus": "succeeded", "isDraft": pull_request.is_draft,
        "mergeId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"merge{pull_request.id}")),
        "lastMergeSourceCommit": {"commitId": pull_request.source_commit,
                                  "url": request.url(f"{commits}/{pull_request.source_commit}")},
        "lastMergeTargetCommit": {"commitId": pull_request.target_commit,
                                  "url": request.url(f"{commits}/{pull_request.target_commit}")},
        "lastMergeCommit": {"commitId": uuid.uuid5(uuid.NAMESPACE_URL, f"merge{pull_request.id}").hex + "0" * 8,
                            "author": {"name": pull_request.created_by, "date": _iso(_BASE_TIME)},
                            "comment": f"Merge pull request {pull_request.id} from {pull_request.source_ref} into "
                                       f"{pull_request.target_ref}"},
        "reviewers": [], "labels": [], "url": url, "supportsIterations": True,
        "artifactId": f"vstfs:///Git/PullRequestId/{repository.project.id}%2f{repository.id}%2f{pull_request.id}",
        "_links": {"self": {"href": url},
                   "repository": {"href": request.url(f"_apis/git/repositories/{repository.id}")},
                   "sourceCommit": {"href": request.url(f"{commits}/{pull_request.source_commit}")},
                   "threads": {"href": f"{url}/threads"}},
    }


@_route("pull_request", "GET", _OPTIONAL_PROJECT + r"_apis/git/pullRequests/(?P<pr_id>\d+)", "pull_request_by_id")
def _pull_request_by_id(request: _Request, pr_id: str, project: Optional[str] = None) -> _Reply:
    if project:
        _find_project(request, project)
    return _json_reply(_pull_request_json(request, _find_pull_request(request, pr_id)))


@_route("pull_request", "GET", _PR, "pull_requests")
def _pull_request(request: _Request, repository: str, pr_id: str, project: Optional[str] = None) -> _Reply:
    found = _find_repository(request, repository, project)
    return _json_reply(_pull_request_json(request, _find_pull_request(request, pr_id, found)))


@_route("pull_requests", "GET", _OPTIONAL_PROJECT + r"_apis/git/repositories/(?P<repository>[^/]+)/pullRequests",
        "pull_requests")
def _pull_requests(request: _Request, repository: str, project: Optional[str] = None) -> _Reply:
    found = _find_repository(request, repository, project)
    query = request.query
    status = query.get("searchCriteria.status", "active")
    with request.emulator._lock:
        matches = [pr for pr in request.emulator._pull_requests.values() if pr.repository == found
                   and status in ("all", pr.status)
                   and query.get("searchCriteria.sourceRefName", pr.source_ref) == pr.source_ref
                   and query.get("searchCriteria.targetRefName", pr.target_ref) == pr.target_ref]
    return _collection([_pull_request_json(request, pr) for pr in sorted(matches, key=lambda pr: -pr.id)])


@_route("repository", "GET", _OPTIONAL_PROJECT + r"_apis/git/repositories/(?P<repository>[^/]+)", "repositories")
def _repository(request: _Request, repository: str, project: Optional[str] = None) -> _Reply:
    return _json_reply(_repository_json(request, _find_repository(request, repository, project)))


def _thread_json(request: _Request, pull_request: PullRequest, thread: dict) -> dict:
    item = copy.deepcopy(thread)
    path = f"_apis/git/repositories/{pull_request.repository.id}/pullRequests/{pull_request.id}/threads/{thread['id']}"
    item["_links"] = {"self": {"href": request.url(path)},
                      "repository": {"href": request.url(f"_apis/git/repositories/{pull_request.repository.id}")}}
    for comment in item["comments"]:
        comment["_links"] = {"self": {"href": request.url(f"{path}/comments/{comment['id']}")}}
    return item


def _find_thread(request: _Request, pull_request: PullRequest, thread_id: str) -> dict:
    for thread in pull_request.threads:
        if thread["id"] == int(thread_id):
            return thread
    raise _ServiceError(404, f"TF401181: The pull request thread {thread_id} was not found.",
                        "GitPullRequestCommentThreadNotFoundException")


def _writable_pull_request(request: _Request, repository: str, pr_id: str, project: Optional[str]) -> PullRequest:
    found = _find_repository(request, repository, project)
    pull_request = _find_pull_request(request, pr_id, found)
    if request.method in ("POST", "PATCH") and not request.emulator.pr_contribute:
        raise _needs_permission()
    return pull_request


@_route("pr_threads", "GET POST PATCH", _PR + r"/threads(?:/(?P<thread_id>\d+))?", "threads")
def _threads(request: _Request, repository: str, pr_id: str, project: Optional[str] = None,
             thread_id: Optional[str] = None) -> _Reply:
    pull_request = _writable_pull_request(request, repository, pr_id, project)
    emulator = request.emulator
    with emulator._lock:
        if request.method == "GET" and thread_id is None:
            return _collection([_thread_json(request, pull_request, thread) for thread in pull_request.threads])
        if request.method == "POST":
            body = request.json_body("commentThread")
            thread = emulator._new_thread(body if isinstance(body, dict) else {}, None)
            pull_request.threads.append(thread)
            return _json_reply(_thread_json(request, pull_request, thread))
        thread = _find_thread(request, pull_request, thread_id or "0")
        if request.method == "PATCH":
            _update_thread(thread, request.json_body("commentThread"))
        return _json_reply(_thread_json(request, pull_request, thread))


def _update_thread(thread: dict, body) -> None:
    if not isinstance(body, dict):
        return
    if "status" in body:
        thread["status"] = _enum_name(body["status"], THREAD_STATUSES)
    if body.get("properties"):
        thread["properties"].update(_typed_properties(body["properties"]))
    if "isDeleted" in body:
        thread["isDeleted"] = bool(body["isDeleted"])
    thread["lastUpdatedDate"] = _iso(_now())


@_route("pr_comments", "GET POST PATCH", _PR + r"/threads/(?P<thread_id>\d+)/comments(?:/(?P<comment_id>\d+))?",
        "comments")
def _comments(request: _Request, repository: str, pr_id: str, thread_id: str, project: Optional[str] = None,
              comment_id: Optional[str] = None) -> _Reply:
    pull_request = _writable_pull_request(request, repository, pr_id, project)
    with request.emulator._lock:
        thread = _find_thread(request, pull_request, thread_id)
        if request.method == "GET" and comment_id is None:
            return _collection(copy.deepcopy(thread["comments"]))
        if request.method == "POST":
            comment = _new_comment(request.json_body("comment"), len(thread["comments"]) + 1,
                                   request.emulator._build_service)
            thread["comments"].append(comment)
            thread["lastUpdatedDate"] = comment["lastUpdatedDate"]
            return _json_reply(copy.deepcopy(comment))
        for comment in thread["comments"]:
            if comment["id"] == int(comment_id or 0):
                if request.method == "PATCH":
                    body = request.json_body("comment")
                    if isinstance(body, dict) and "content" in body:
                        comment["content"] = body["content"]
                    comment["lastUpdatedDate"] = thread["lastUpdatedDate"] = _iso(_now())
                return _json_reply(copy.deepcopy(comment))
    raise _ServiceError(404, f"TF401182: The comment {comment_id} was not found.", "GitCommentNotFoundException")


def _new_comment(body, comment_id: int, author: str) -> dict:
    body = body if isinstance(body, dict) else {}
    now = _iso(_now())
    name = author
    identity_id = BUILD_SERVICE_ID if author.startswith("Project Collection Build Service") else str(
        uuid.uuid5(uuid.NAMESPACE_DNS, name))
    return {"id": comment_id, "parentCommentId": body.get("parentCommentId", 0),
            "author": {"displayName": name, "id": identity_id, "uniqueName": f"Build\\{identity_id}",
                       "url": None, "imageUrl": None},
            "content": body.get("content", ""), "publishedDate": now, "lastUpdatedDate": now,
            "lastContentUpdatedDate": now, "commentType": _enum_name(body.get("commentType", "text"), COMMENT_TYPES),
            "usersLiked": []}


# ---------------------------------------------------------------------------------------------
# Test results (what PublishTestResults and the test tasks publish)


_MAX_RESULTS_PAGE = 1000  # the service's cap on $top for results without details


def _access_denied(request: _Request, resource: str, permission: str) -> _ServiceError:
    return _ServiceError(403, f"Access denied: {request.emulator._build_service} needs the following permission(s) "
                              f"on the resource {resource} to perform this action: {permission}",
                         "AccessCheckException", "Microsoft.TeamFoundation.Framework.Server.AccessCheckException, "
                                                 "Microsoft.TeamFoundation.Framework.Server")


def _test_access(request: _Request) -> None:
    if not request.emulator.test_read:
        raise _access_denied(request, "Test runs", "View test runs")


def _find_test_run(request: _Request, project: str, run_id: str) -> _TestRun:
    owner = _find_project(request, project)
    with request.emulator._lock:
        run = request.emulator._test_runs.get(int(run_id))
    if run is None or run.build.project != owner:
        raise _ServiceError(404, f"Test run {run_id} not found.", "TestObjectNotFoundException",
                            "Microsoft.TeamFoundation.TestManagement.WebApi.TestObjectNotFoundException, "
                            "Microsoft.TeamFoundation.TestManagement.WebApi")
    return run


def _test_run_ref(request: _Request, run: _TestRun) -> dict:
    return {"id": str(run.id), "name": run.name,
            "url": request.url(f"{run.build.project.name}/_apis/test/Runs/{run.id}")}


def _test_run_json(request: _Request, run: _TestRun, details: bool) -> dict:
    build = run.build
    item = {"id": run.id, "name": run.name, "url": request.url(f"{build.project.name}/_apis/test/Runs/{run.id}"),
            "isAutomated": True, "owner": _identity(request, request.emulator._build_service),
            "startedDate": _iso(build.start_time), "completedDate": _iso(build.finish_time or build.start_time),
            "state": run.state, "plan": {"id": "0"}, "iteration": build.project.name, "revision": 3}
    if not details:
        return item
    counts = dict(run.statistics)
    failed = sum(counts.get(outcome, 0) for outcome in ("Failed", "Error", "Timeout", "Aborted"))
    item.update({
        "project": {"id": build.project.id, "name": build.project.name,
                    "url": request.url(f"_apis/projects/{build.project.name}")},
        "postProcessState": "Complete", "totalTests": sum(counts.values()), "passedTests": counts.get("Passed", 0),
        "unanalyzedTests": failed, "incompleteTests": 0, "notApplicableTests": counts.get("NotApplicable", 0),
        "createdDate": _iso(build.start_time), "lastUpdatedDate": _iso(build.finish_time or build.start_time),
        "lastUpdatedBy": _identity(request, request.emulator._build_service),
        "build": {"id": str(build.id), "name": build.number,
                  "url": request.url(f"_apis/build/Builds/{build.id}")},
        "webAccessUrl": request.url(f"{build.project.name}/_TestManagement/Runs?runId={run.id}&_a=runCharts"),
    })
    if run.job is not None:
        stage, phase, job, attempt = run.job
        item["pipelineReference"] = {"pipelineId": build.id,
                                     "stageReference": {"stageName": stage, "attempt": attempt},
                                     "phaseReference": {"phaseName": phase, "attempt": attempt},
                                     "jobReference": {"jobName": job, "attempt": attempt}}
    return item


@_route("test_runs", "GET", _PROJECT + r"/_apis/test/runs(?:/(?P<run_id>\d+))?", "test_runs")
def _test_runs(request: _Request, project: str, run_id: Optional[str] = None) -> _Reply:
    _test_access(request)
    details = request.query.get("includeRunDetails", "false").lower() == "true"
    if run_id is not None:
        return _json_reply(_test_run_json(request, _find_test_run(request, project, run_id), True))
    owner = _find_project(request, project)
    build_uri = request.query.get("buildUri")
    with request.emulator._lock:
        runs = [run for run in request.emulator._test_runs.values() if run.build.project == owner
                and (build_uri is None or build_uri.lower() == f"vstfs:///build/build/{run.build.id}")]
    runs.sort(key=lambda run: run.id)
    skip = int(request.query.get("$skip") or 0)
    top = int(request.query.get("$top") or len(runs) or 1)
    return _collection([_test_run_json(request, run, details) for run in runs[skip:skip + top]])


@_route("test_run_statistics", "GET", _PROJECT + r"/_apis/test/Runs/(?P<run_id>\d+)/Statistics",
        "test_run_statistics")
def _test_run_statistics(request: _Request, project: str, run_id: str) -> _Reply:
    _test_access(request)
    run = _find_test_run(request, project, run_id)
    return _json_reply({"run": _test_run_ref(request, run), "runStatistics": [
        {"state": "Completed", "outcome": outcome, "count": count} for outcome, count in run.statistics]})


@_route("test_results", "GET", _PROJECT + r"/_apis/test/Runs/(?P<run_id>\d+)/Results(?:/(?P<result_id>\d+))?",
        "test_results")
def _test_results(request: _Request, project: str, run_id: str, result_id: Optional[str] = None) -> _Reply:
    _test_access(request)
    run = _find_test_run(request, project, run_id)
    build = run.build

    def shaped(result: dict) -> dict:
        item = dict(result, project={"id": build.project.id, "name": build.project.name,
                                     "url": request.url(f"_apis/projects/{build.project.name}")},
                    testRun=_test_run_ref(request, run),
                    build={"id": str(build.id), "name": build.number,
                           "url": request.url(f"_apis/build/Builds/{build.id}")},
                    runBy=_identity(request, build.requested_for), createdDate=_iso(build.finish_time),
                    lastUpdatedDate=_iso(build.finish_time),
                    area={"id": "37528", "name": build.project.name,
                          "url": f"vstfs:///Classification/Node/{uuid.uuid5(uuid.NAMESPACE_DNS, build.project.id)}"},
                    lastUpdatedBy=_identity(request, request.emulator._build_service),
                    url=request.url(f"{build.project.name}/_apis/test/Runs/{run.id}/Results/{result['id']}"))
        return item

    if result_id is not None:
        for result in run.results:
            if result["id"] == int(result_id):
                return _json_reply(shaped(result))
        raise _ServiceError(404, f"Test result {result_id} not found.", "TestObjectNotFoundException")
    wanted = {outcome.strip().lower() for outcome in (request.query.get("outcomes") or "").split(",")
              if outcome.strip()}
    results = [result for result in run.results if not wanted or result["outcome"].lower() in wanted]
    skip = int(request.query.get("$skip") or 0)
    top = min(int(request.query.get("$top") or _MAX_RESULTS_PAGE), _MAX_RESULTS_PAGE)
    return _collection([shaped(result) for result in results[skip:skip + top]])


# ---------------------------------------------------------------------------------------------
# Git items and commits


def _git_not_found(message: str, type_key: str) -> _ServiceError:
    return _ServiceError(404, message, type_key, f"Microsoft.TeamFoundation.Git.Server.{type_key}, "
                                                 "Microsoft.TeamFoundation.Git.Server")


@_route("git_items", "GET",
        _OPTIONAL_PROJECT + r"_apis/git/repositories/(?P<repository>[^/]+)/items(?:/(?P<item_path>.+))?", "git_items")
def _git_items(request: _Request, repository: str, project: Optional[str] = None,
               item_path: Optional[str] = None) -> _Reply:
    found = _find_repository(request, repository, project)
    if not request.emulator.code_read:
        raise _access_denied(request, f"repositories/{found.id}", "Read")
    path = "/" + (request.query.get("path") or item_path or "").lstrip("/")
    version = request.query.get("versionDescriptor.version") or "main"
    with request.emulator._lock:
        files = request.emulator._files.get((found.id.lower(), version))
    if files is None:
        raise _git_not_found(f"TF401175: The version descriptor <Commit: {version}> could not be resolved to a "
                             f"version in the repository {found.name}", "GitUnresolvableToCommitException")
    content = files.get(path)
    if content is None:
        raise _git_not_found(f"TF401174: The item '{path}' could not be found in the repository '{found.name}' at "
                             f"the version specified by '<Commit: {version}>' (resolved to commit {version}).",
                             "GitItemNotFoundException")
    if "application/json" in request.accept:
        item = {"objectId": hashlib.sha1(content).hexdigest(), "gitObjectType": "blob", "commitId": version,
                "path": path, "url": request.url(f"_apis/git/repositories/{found.id}/items{path}?versionType=Commit")}
        if request.query.get("includeContent", "").lower() == "true":
            item["content"] = content.decode("utf-8", "replace")
        return _json_reply(item)
    media = "text/plain" if "text/plain" in request.accept else "application/octet-stream"
    if len(content) <= BLOCK_SIZE:
        return _Reply(200, content, media)
    return _Reply(200, (content[start:start + BLOCK_SIZE] for start in range(0, len(content), BLOCK_SIZE)), media)


@_route("git_commit_changes", "GET",
        _OPTIONAL_PROJECT + r"_apis/git/repositories/(?P<repository>[^/]+)/commits/(?P<commit>[0-9a-fA-F]+)/changes",
        "git_commit_changes")
def _git_commit_changes(request: _Request, repository: str, commit: str, project: Optional[str] = None) -> _Reply:
    found = _find_repository(request, repository, project)
    if not request.emulator.code_read:
        raise _access_denied(request, f"repositories/{found.id}", "Read")
    with request.emulator._lock:
        changes = request.emulator._commit_changes.get((found.id.lower(), commit))
    if changes is None:
        raise _git_not_found(f"TF401175: The version descriptor <Commit: {commit}> could not be resolved to a "
                             f"version in the repository {found.name}", "GitUnresolvableToCommitException")
    skip = int(request.query.get("skip") or 0)
    top = int(request.query.get("top") or 100)
    counts: Dict[str, int] = {}
    for _, change_type in changes:
        counts[change_type.capitalize()] = counts.get(change_type.capitalize(), 0) + 1
    return _json_reply({"changeCounts": counts, "changes": [
        {"item": {"objectId": hashlib.sha1(f"{commit}{path}".encode()).hexdigest(), "gitObjectType": "blob",
                  "commitId": commit, "path": path,
                  "url": request.url(f"_apis/git/repositories/{found.id}/items{path}?versionType=Commit")},
         "changeType": change_type} for path, change_type in changes[skip:skip + top]]})


# ---------------------------------------------------------------------------------------------
# Distributed task attachments (what ##vso[task.uploadsummary] ends up calling)


@_route("task_attachments", "PUT GET",
        r"(?P<scope>[^/_][^/]*)/_apis/distributedtask/hubs/(?P<hub>[^/]+)/plans/(?P<plan>[^/]+)/timelines/"
        r"(?P<timeline>[^/]+)/records/(?P<record>[^/]+)/attachments/(?P<type>[^/]+)(?:/(?P<name>[^/]+))?",
        "attachments")
def _task_attachments(request: _Request, scope: str, hub: str, plan: str, timeline: str, record: str, type: str,
                      name: Optional[str] = None) -> _Reply:
    _find_project(request, scope)
    base = f"{scope}/_apis/distributedtask/hubs/{hub}/plans/{plan}/timelines/{timeline}/records/{record}/attachments"
    key_prefix = (plan, timeline, record, type)
    with request.emulator._lock:
        if request.method == "PUT":
            request.emulator._attachments[key_prefix + (name,)] = request.body
        names = sorted(key[4] for key in request.emulator._attachments if key[:4] == key_prefix)

    def attachment(item_name: str) -> dict:
        return {"recordId": record, "timelineId": timeline, "type": type, "name": item_name,
                "createdOn": _iso(_now()), "lastChangedOn": _iso(_now()), "lastChangedBy": BUILD_SERVICE_ID,
                "_links": {"self": {"href": request.url(f"{base}/{type}/{item_name}")}}}

    if name is not None:
        return _json_reply(attachment(name))
    return _collection([attachment(item) for item in names])


# ---------------------------------------------------------------------------------------------
# Small helpers


def _iso(moment: Optional[dt.datetime]) -> Optional[str]:
    if moment is None:
        return None
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _parse_time(text: str) -> dt.datetime:
    # Python 3.9 and 3.10 read only 3 or 6 fraction digits; the service sends up to 7.
    cleaned = re.sub(r"\.(\d+)", lambda found: "." + found.group(1)[:6].ljust(6, "0"),
                     text.strip().replace("Z", "+00:00"))
    moment = dt.datetime.fromisoformat(cleaned)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _enum_name(value, names: List[str]) -> str:
    if isinstance(value, int) and 0 <= value < len(names):
        return names[value]
    return str(value)


def _typed_properties(properties: dict) -> dict:
    """Return properties as the service stores them: ``{"k": {"$type": ..., "$value": ...}}``."""
    typed = {}
    for key, value in properties.items():
        if isinstance(value, dict) and "$value" in value:
            typed[key] = value
        else:
            kind = {bool: "System.Boolean", int: "System.Int32"}.get(type(value), "System.String")
            typed[key] = {"$type": kind, "$value": value}
    return typed


ROUTE_NAMES = frozenset(route.name for route in _ROUTES)
