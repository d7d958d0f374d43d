"""Scenario builders: each fills an ``AdoEmulator`` with one realistic situation and says what to expect.

Every builder takes the emulator first and returns a frozen record (``Scenario`` or ``History``)
holding the ids a test needs and the failures a correct analysis must find::

    scenario = multi_stage_two_failed_jobs(emu)
    scenario.build_id, scenario.project, scenario.failed[0].log_id, scenario.failed[0].cause_line

Log lines look like real Azure Pipelines task logs (``##[section]Starting: …``, task banner,
``##[command]…``, tool output, ``##[error]…``); the cause of each failure sits where real tools
put it, often well before the last line. Line numbers are 1-based, in the log as served.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from tests.emulators.ado import (LOG_TIMESTAMP, AdoEmulator, Build, Repository, case_result, commit, issue,
                                 timeline_record)

PROJECT = "Widgets"
DEFINITION = ("widgets-ci", 12)


@dataclass(frozen=True)
class FailedStep:
    """A timeline record a correct analysis must report, and where its cause is."""

    record_id: str
    type: str                   # Task, or Job/Stage when no task failed (timeout, cancel)
    name: str
    stage: str
    job: str
    result: str                 # failed or canceled
    log_id: Optional[int]
    cause_line: Optional[int]   # 1-based line of the cause in the log; None when only an issue says it
    cause_text: str             # a substring of that line (or of the record's issue message)
    attempt: int = 1            # the job's attempt (task records themselves keep attempt 1)


@dataclass(frozen=True)
class Scenario:
    """One build prepared in the emulator."""

    name: str
    project: str
    project_id: str
    build_id: int
    definition_id: int
    result: str
    failed: Tuple[FailedStep, ...]
    attempt: int = 1
    previous_timeline_ids: Tuple[str, ...] = ()
    pr_id: Optional[int] = None             # Azure Repos PR id, or the GitHub PR number
    repository_id: Optional[str] = None     # Azure Repos GUID, or "owner/name" on GitHub
    repository_provider: str = "TfsGit"     # TfsGit or GitHub (BUILD_REPOSITORY_PROVIDER)
    log_bytes: int = 0                      # bytes of the failed steps' logs as served (about, when generated)
    failed_tests: Tuple[Tuple[str, str], ...] = ()  # (automatedTestName, errorMessage) the Test Results API holds
    source: Optional[Tuple[str, int, str]] = None   # (repository path, line, its text) at the build's commit


@dataclass(frozen=True)
class HistoryBuild:
    """One build of a history: its result, its commits, and whether attempt 1 failed first."""

    id: int
    result: str
    commits: Tuple[dict, ...]
    retried: bool


@dataclass(frozen=True)
class History:
    """Builds of one definition and branch, oldest first."""

    project: str
    project_id: str
    definition_id: int
    branch: str
    builds: Tuple[HistoryBuild, ...]
    latest_build_id: int
    last_success_build_id: Optional[int]    # the last green build before the current red streak
    first_failure_build_id: Optional[int]   # the first build of the current red streak
    failure_cause: str                      # text of the failing test line in every red build


# ---------------------------------------------------------------------------------------------
# Task log shapes


BANNERS = {
    "Bash": ("Bash", "Run a Bash script on macOS, Linux, or Windows", "3.231.5",
             "https://docs.microsoft.com/azure/devops/pipelines/tasks/utility/bash"),
    "CmdLine": ("Command line", "Run a command line script using Bash on Linux and macOS and cmd.exe on Windows",
                "2.231.1", "https://docs.microsoft.com/azure/devops/pipelines/tasks/utility/command-line"),
    "DotNetCoreCLI": (".NET Core", "Build, test, package, or publish a dotnet application, or run a custom dotnet "
                      "command", "2.231.0",
                      "https://docs.microsoft.com/azure/devops/pipelines/tasks/build/dotnet-core-cli"),
    "Npm": ("npm", "Install and publish npm packages, or run an npm command. Supports npmjs.com and authenticated "
            "registries like Azure Artifacts.", "1.231.0",
            "https://docs.microsoft.com/azure/devops/pipelines/tasks/package/npm"),
}


def task_log(display_name: str, task: str, body: Sequence[str], *, command: Optional[str] = None,
             errors: Sequence[str] = ()) -> List[str]:
    """Return the lines of one task's log: header, banner, command, body, errors, finishing line."""
    title, description, version, help_url = BANNERS.get(task, BANNERS["Bash"])
    script = command or "/usr/bin/bash /home/vsts/work/_temp/6d1a8e4c-2f0b-4b8e-9a41-1f4c2b7d9e10.sh"
    lines = [
        f"##[section]Starting: {display_name}",
        "==============================================================================",
        f"Task         : {title}",
        f"Description  : {description}",
        f"Version      : {version}",
        "Author       : Microsoft Corporation",
        f"Help         : {help_url}",
        "==============================================================================",
    ]
    if task in ("Bash", "CmdLine"):
        lines += ["Generating script.",
                  "========================== Starting Command Output ==========================="]
    lines.append(f"##[command]{script}")
    return lines + list(body) + [f"##[error]{error}" for error in errors] + [f"##[section]Finishing: {display_name}"]


def job_log(job: str, *, agent: str = "Azure Pipelines 2", tail: Sequence[str] = ()) -> List[str]:
    """Return the lines of a job's own log (agent setup, then ``tail``)."""
    return [
        f"##[section]Starting: {job}",
        "##[section]Starting: Initialize job",
        "Agent name: '" + agent + "'",
        "Agent machine name: 'fv-az512-817'",
        "Current agent version: '3.236.1'",
        "Operating System",
        "Ubuntu",
        "22.04.4",
        "LTS",
        "Runner Image",
        "Image: ubuntu-22.04",
        "Version: 20240310.1.0",
        "##[section]Finishing: Initialize job",
    ] + list(tail) + [f"##[section]Finishing: {job}"]


def _line_of(lines: Sequence[str], text: str) -> int:
    for number, line in enumerate(lines, start=1):
        if text in line:
            return number
    raise ValueError(f"{text!r} is not in the log")


def _sha(seed: str) -> str:
    return hashlib.sha1(seed.encode("utf-8")).hexdigest()


def _served_bytes(lines: Sequence[str]) -> int:
    return sum(len(f"{LOG_TIMESTAMP} {line}\n".encode("utf-8")) for line in lines)


PYTEST_FAILURE_FILE = "tests/test_orders.py"
PYTEST_FAILURE_SOURCE = [f"# line {n}" for n in range(1, 86)] + [
    "def test_order_total_includes_tax():",
    "    order = Order(items=[Item('widget', price=Decimal('9.99'), quantity=3)], region='WA')",
    "    assert order.total() == Decimal('32.54')"]
PYTEST_FAILURE = [
    "============================= test session starts ==============================",
    "platform linux -- Python 3.11.8, pytest-8.1.1, pluggy-1.4.0",
    "rootdir: /home/vsts/work/1/s",
    "configfile: pyproject.toml",
    "plugins: cov-5.0.0, xdist-3.5.0",
    "collected 213 items",
    "",
    "tests/test_inventory.py ........................................        [ 18%]",
    "tests/test_orders.py ..............F.....................               [ 36%]",
    "tests/test_pricing.py ..................................................  [ 59%]",
    "tests/test_shipping.py .................................................. [ 83%]",
    "tests/test_users.py ....................................                 [100%]",
    "",
    "=================================== FAILURES ===================================",
    "__________________________ test_order_total_includes_tax __________________________",
    "",
    "    def test_order_total_includes_tax():",
    "        order = Order(items=[Item('widget', price=Decimal('9.99'), quantity=3)], region='WA')",
    ">       assert order.total() == Decimal('32.54')",
    "E       AssertionError: assert Decimal('29.97') == Decimal('32.54')",
    "E        +  where Decimal('29.97') = <bound method Order.total of Order(id=None, region='WA')>()",
    "",
    "tests/test_orders.py:88: AssertionError",
    "---------- coverage: platform linux, python 3.11.8-final-0 -----------",
    "Name                     Stmts   Miss  Cover",
    "--------------------------------------------",
    "widgets/__init__.py          4      0   100%",
    "widgets/inventory.py       212     11    95%",
    "widgets/orders.py          187     23    88%",
    "widgets/pricing.py          96      4    96%",
    "--------------------------------------------",
    "TOTAL                      499     38    92%",
    "Coverage XML written to file coverage.xml",
    "=========================== short test summary info ============================",
    "FAILED tests/test_orders.py::test_order_total_includes_tax - AssertionError: assert Decimal('29.97') == Decimal('32.54')",
    "======================== 1 failed, 212 passed in 14.82s ========================",
]

NUGET_401 = [
    "/usr/bin/dotnet restore /home/vsts/work/1/s/src/Widgets.Api/Widgets.Api.csproj --configfile /home/vsts/work/1/Nuget/tempNuGet_4821.config --verbosity Minimal",
    "  Determining projects to restore...",
    "/usr/share/dotnet/sdk/8.0.203/NuGet.targets(156,5): error NU1301: Unable to load the service index for source https://pkgs.dev.azure.com/contoso/_packaging/widgets-feed/nuget/v3/index.json. [/home/vsts/work/1/s/src/Widgets.Api/Widgets.Api.csproj]",
    "/usr/share/dotnet/sdk/8.0.203/NuGet.targets(156,5): error NU1301:   Response status code does not indicate success: 401 (Unauthorized). [/home/vsts/work/1/s/src/Widgets.Api/Widgets.Api.csproj]",
    "  Failed to restore /home/vsts/work/1/s/src/Widgets.Api/Widgets.Api.csproj (in 2.31 sec).",
    "##[warning]Info: Azure Pipelines hosted agents have been updated and now contain .Net 5.x SDK/Runtime along with the older .Net Core version which are currently lts.",
    "##[error]Error: The process '/usr/bin/dotnet' failed with exit code 1",
    "Info: Azure Pipelines hosted agents have been updated to contain .Net Core 3.x (3.1) SDK/Runtime along with 2.1. Unless you have locked down a SDK version for your project(s), 3.x SDK might be picked up which might have breaking behavior as compared to previous versions.",
    "Some commonly encountered changes are:",
    "If you're using `Publish` command with -o or --Output argument, you will see that the output folder is now being created at root directory rather than Project File's directory. To learn about more such changes and troubleshoot, refer here: https://docs.microsoft.com/en-us/azure/devops/pipelines/tasks/build/dotnet-core-cli?view=azure-devops#troubleshooting",
]


# ---------------------------------------------------------------------------------------------
# Building blocks shared by the builders


class _Run:
    """Collects timeline records and logs for one build, then stores them in the emulator."""

    def __init__(self, emu: AdoEmulator, build: Build, attempt: int = 1, first_log_id: int = 1):
        self.emu, self.build, self.attempt = emu, build, attempt
        self.records: List[dict] = []
        self.failed: List[FailedStep] = []
        self.next_log = first_log_id
        self.log_bytes = 0
        self._order = 0

    def _log(self, lines: Sequence[str]) -> int:
        log_id = self.next_log
        self.next_log += 1
        self.emu.add_log(self.build.id, log_id, lines=lines)
        return log_id

    def stage(self, name: str, result: str = "succeeded", **extra) -> dict:
        self._order += 1
        record = timeline_record("Stage", name, result=result, order=self._order, attempt=self.attempt,
                                 identifier=name.replace(" ", "_"), **extra)
        self.records.append(record)
        return record

    def job(self, stage: dict, name: str, result: str = "succeeded", *, issues: Sequence[dict] = (),
            log: Optional[Sequence[str]] = None, **extra) -> dict:
        self._order += 1
        # The implicit stage of a pipeline without stages is left out of its phases' identifiers.
        within = "" if stage["identifier"] == "__default" else f"{stage['identifier']}."
        phase = timeline_record("Phase", name, parent_id=stage["id"], result=result, order=self._order,
                                attempt=self.attempt, identifier=f"{within}{name.replace(' ', '_')}")
        job = timeline_record("Job", name, parent_id=phase["id"], result=result, order=1, attempt=self.attempt,
                              issues=issues, log_id=self._log(log or job_log(name)),
                              identifier=f"{phase['identifier']}.__default", **extra)
        self.records += [phase, job]
        return job

    def task(self, job: dict, name: str, task: str, lines: Sequence[str], result: str = "succeeded", *,
             cause: Optional[str] = None, issues: Sequence[dict] = (), stage: str = "") -> dict:
        self._order += 1
        log_id = self._log(lines)
        # Tasks keep attempt 1 under a re-run job (real dnceng timelines); only Stage/Phase/Job count up.
        record = timeline_record("Task", name, parent_id=job["id"], result=result, order=self._order,
                                 attempt=1, log_id=log_id, task=task, issues=issues)
        self.records.append(record)
        if result == "failed":
            self.log_bytes += _served_bytes(lines)
            self.failed.append(FailedStep(record["id"], "Task", name, stage, job["name"], result, log_id,
                                          _line_of(lines, cause) if cause else None, cause or "", self.attempt))
        return record

    def succeeded_tasks(self, job: dict) -> None:
        self.task(job, "Checkout widgets@main to s", "Checkout",
                  ["##[section]Starting: Checkout widgets@main to s", "Syncing repository: widgets (Git)",
                   "##[command]git version", "git version 2.43.2",
                   "##[command]git fetch --force --tags --prune --prune-tags --progress --no-recurse-submodules origin --depth=1",
                   "##[section]Finishing: Checkout widgets@main to s"])

    def store(self, latest: bool = True) -> str:
        """Store the records; an earlier attempt's timeline id is its Stage record's id, as the service does."""
        timeline_id = None if latest else self.records[0]["id"]
        return self.emu.add_timeline(self.build.id, self.records, timeline_id=timeline_id, latest=latest)


def _failing_task(run: _Run, job: dict, stage: str, name: str, task: str, body: Sequence[str], cause: str,
                  errors: Sequence[str], command: Optional[str] = None) -> List[str]:
    lines = task_log(name, task, body, command=command, errors=errors)
    issues = [issue(text, line=_line_of(lines, f"##[error]{text}")) for text in errors]
    run.task(job, name, task, lines, "failed", cause=cause, issues=issues, stage=stage)
    if body is PYTEST_FAILURE:  # the repository holds the test the log names, at the commit built
        run.emu.add_file(run.build.repository, run.build.source_version, PYTEST_FAILURE_FILE,
                         "\n".join(PYTEST_FAILURE_SOURCE) + "\n")
    return lines


def _scenario(name: str, run: _Run, **extra) -> Scenario:
    build = run.build
    return Scenario(name=name, project=build.project.name, project_id=build.project.id, build_id=build.id,
                    definition_id=build.definition_id, result=build.result or build.status,
                    failed=tuple(run.failed), attempt=run.attempt, log_bytes=run.log_bytes, **extra)


def _ensure_project(emu: AdoEmulator, name: str = PROJECT):
    return emu.project(name) or emu.add_project(name)


# ---------------------------------------------------------------------------------------------
# Builders


def multi_stage_two_failed_jobs(emu: AdoEmulator) -> Scenario:
    """Build, Test and Deploy stages; two Test jobs fail (a pytest assertion, a NuGet 401), Deploy is skipped."""
    _ensure_project(emu)
    build = emu.add_build(PROJECT, DEFINITION, result="failed",
                          changes=[commit(_sha("m1"), "Apply regional tax in Order.total", "Ana Lopez")])
    emu.set_commit_changes(build.repository, _sha("m1"), [("widgets/orders.py", "edit")])
    run = _Run(emu, build)
    stage = run.stage("Build")
    job = run.job(stage, "Build wheel")
    run.succeeded_tasks(job)
    run.task(job, "Build wheel", "Bash", task_log("Build wheel", "Bash", [
        "Successfully built widgets-1.4.0-py3-none-any.whl"]))
    stage = run.stage("Test", "failed")
    job = run.job(stage, "Unit tests Linux", "failed")
    run.succeeded_tasks(job)
    _failing_task(run, job, "Test", "Run unit tests", "Bash", PYTEST_FAILURE,
                  "AssertionError: assert Decimal('29.97') == Decimal('32.54')", ["Bash exited with code '1'."],
                  command="/usr/bin/bash --noprofile --norc /home/vsts/work/_temp/3f2c9a1e-unit.sh")
    job = run.job(stage, "Integration tests", "failed")
    _failing_task(run, job, "Test", "Restore packages", "DotNetCoreCLI", NUGET_401,
                  "error NU1301:   Response status code does not indicate success: 401 (Unauthorized)",
                  ["Dotnet command failed with non-zero exit code on the following projects : "
                   "/home/vsts/work/1/s/src/Widgets.Api/Widgets.Api.csproj"])
    run.records.append(timeline_record("Stage", "Deploy", result="skipped", order=99, identifier="Deploy"))
    run.store()
    return _scenario("multi_stage_two_failed_jobs", run)


def retried_run_attempt_2(emu: AdoEmulator) -> Scenario:
    """A run whose failed Test job was re-run: attempt 1 could not reach Redis, attempt 2 fails a test."""
    _ensure_project(emu)
    build = emu.add_build(PROJECT, DEFINITION, result="failed")
    first = _Run(emu, build, attempt=1, first_log_id=1)
    stage = first.stage("Test", "failed")
    job = first.job(stage, "Integration tests", "failed")
    _failing_task(first, job, "Test", "Run integration tests", "Bash", [
        "tests/integration/test_cache.py::test_reserve_is_cached FAILED",
        "E   redis.exceptions.ConnectionError: Error 111 connecting to localhost:6379. Connection refused.",
        "===================== 1 failed, 48 passed in 31.02s ======================"],
        "Error 111 connecting to localhost:6379", ["Bash exited with code '1'."])
    previous_timeline = first.store(latest=False)
    second = _Run(emu, build, attempt=2, first_log_id=first.next_log)
    stage_again = second.stage("Test", "failed", previous_attempts=[
        {"attempt": 1, "timelineId": previous_timeline, "recordId": previous_timeline}])
    job_again = second.job(stage_again, "Integration tests", "failed", previous_attempts=[
        {"attempt": 1, "timelineId": previous_timeline, "recordId": job["id"]}])
    _failing_task(second, job_again, "Test", "Run integration tests", "Bash", PYTEST_FAILURE,
                  "AssertionError: assert Decimal('29.97') == Decimal('32.54')", ["Bash exited with code '1'."])
    second.store(latest=True)
    return _scenario("retried_run_attempt_2", second, previous_timeline_ids=(previous_timeline,))


def job_timeout_no_failed_task(emu: AdoEmulator) -> Scenario:
    """A job cancelled by its 60-minute timeout: the running task is ``canceled``, only the Job failed."""
    _ensure_project(emu)
    build = emu.add_build(PROJECT, DEFINITION, result="failed", duration=dt.timedelta(minutes=61))
    run = _Run(emu, build)
    stage = run.stage("Test", "failed")
    message = ("The job running on agent Azure Pipelines 4 ran longer than the maximum time of 60 minutes. "
               "For more information, see https://go.microsoft.com/fwlink/?linkid=2077134")
    job = run.job(stage, "End-to-end tests", "failed", issues=[issue(message)],
                  log=job_log("End-to-end tests", agent="Azure Pipelines 4", tail=[
                      "##[error]" + message, "##[section]Finishing: Run end-to-end tests"]))
    run.succeeded_tasks(job)
    run.task(job, "Run end-to-end tests", "Bash", task_log("Run end-to-end tests", "Bash", [
        "Starting browser: chromium 122.0.6261.57",
        "Waiting for http://localhost:8080/health to answer (attempt 1/∞)",
        "Waiting for http://localhost:8080/health to answer (attempt 2/∞)",
        "Waiting for http://localhost:8080/health to answer (attempt 3/∞)",
        "##[error]The operation was canceled."]), "canceled")
    run.store()
    run.failed.append(FailedStep(job["id"], "Job", job["name"], "Test", job["name"], "failed", job["log"]["id"],
                                 None, "ran longer than the maximum time of 60 minutes"))
    return _scenario("job_timeout_no_failed_task", run)


def canceled_run(emu: AdoEmulator) -> Scenario:
    """A run someone cancelled while its build job was compiling."""
    _ensure_project(emu)
    build = emu.add_build(PROJECT, DEFINITION, result="canceled", duration=dt.timedelta(minutes=3))
    run = _Run(emu, build)
    stage = run.stage("Build", "canceled")
    message = "The operation was canceled."
    job = run.job(stage, "Build wheel", "canceled", issues=[issue(message)])
    run.succeeded_tasks(job)
    run.task(job, "Build wheel", "Bash", task_log("Build wheel", "Bash", [
        "Processing /home/vsts/work/1/s", "  Installing build dependencies: started",
        "##[error]The operation was canceled."]), "canceled")
    run.store()
    run.failed.append(FailedStep(job["id"], "Job", job["name"], "Build", job["name"], "canceled",
                                 job["log"]["id"], None, message))
    return _scenario("canceled_run", run)


def succeeded_run(emu: AdoEmulator) -> Scenario:
    """A green run: nothing to analyse."""
    _ensure_project(emu)
    build = emu.add_build(PROJECT, DEFINITION, result="succeeded")
    run = _Run(emu, build)
    job = run.job(run.stage("Build"), "Build wheel")
    run.succeeded_tasks(job)
    run.store()
    return _scenario("succeeded_run", run)


def pr_build(emu: AdoEmulator) -> Scenario:
    """A pull-request build on Azure Repos (PR 42 on repo ``widgets``) failing a type check."""
    project = _ensure_project(emu)
    repository = emu.add_repository(project.name, "widgets")
    pull_request = emu.add_pull_request(repository, pull_request_id=42, source_ref="refs/heads/feature/tax",
                                        title="Apply regional tax to order totals")
    build = emu.add_build(PROJECT, DEFINITION, result="failed", reason="pullRequest", branch="refs/pull/42/merge",
                          repository=repository, trigger_info={
                              "pr.number": "42", "pr.isFork": "False", "pr.sourceBranch": pull_request.source_ref,
                              "pr.sourceSha": pull_request.source_commit, "pr.triggerRepository": repository.id,
                              "pr.triggerRepository.Type": "TfsGit"})
    run = _Run(emu, build)
    stage = run.stage("Build", "failed")
    job = run.job(stage, "Lint and type check", "failed")
    run.succeeded_tasks(job)
    _failing_task(run, job, "Build", "Type check", "Bash", [
        "Success: no issues found in 3 source files",
        "widgets/orders.py:41: error: Argument 1 to \"apply_tax\" has incompatible type \"float\"; expected \"Decimal\"  [arg-type]",
        "widgets/pricing.py:12: note: \"apply_tax\" defined here",
        "Found 1 error in 1 file (checked 14 source files)"],
        "incompatible type \"float\"; expected \"Decimal\"", ["Bash exited with code '1'."],
        command="/usr/bin/bash -c 'mypy widgets'")
    run.store()
    # the file the type error names, at the commit built: the analysis reads the lines around it
    emu.add_file(repository, build.source_version, "widgets/orders.py",
                 "\n".join([f"# line {n}" for n in range(1, 41)] + ["    total = apply_tax(float(subtotal))"]) + "\n")
    return _scenario("pr_build", run, pr_id=pull_request.id, repository_id=repository.id)


def github_repo_build(emu: AdoEmulator) -> Scenario:
    """A pull-request build of a GitHub repository (``contoso/widgets-web`` PR 17): npm test fails."""
    project = _ensure_project(emu)
    repository = Repository("contoso/widgets-web", "contoso/widgets-web", "GitHub", project)
    build = emu.add_build(PROJECT, ("widgets-web", 31), result="failed", reason="pullRequest",
                          branch="refs/pull/17/merge", repository=repository, trigger_info={
                              "pr.number": "17", "pr.isFork": "False", "pr.sourceBranch": "refs/heads/fix/cart",
                              "pr.triggerRepository": repository.id, "pr.triggerRepository.Type": "GitHub"})
    run = _Run(emu, build)
    stage = run.stage("__default", "failed")
    job = run.job(stage, "Job", "failed")
    _failing_task(run, job, "__default", "npm test", "Npm", [
        "> widgets-web@2.3.0 test",
        "> jest --ci",
        "",
        "PASS src/components/Header.test.tsx",
        "FAIL src/cart/Cart.test.tsx",
        "  ● Cart › shows the total with tax",
        "",
        "    expect(received).toHaveTextContent()",
        "",
        "    Expected element to have text content:",
        "      Total: $32.54",
        "    Received:",
        "      Total: $29.97",
        "",
        "      at Object.<anonymous> (src/cart/Cart.test.tsx:42:31)",
        "",
        "Test Suites: 1 failed, 11 passed, 12 total",
        "Tests:       1 failed, 87 passed, 88 total",
        "npm ERR! Test failed.  See above for more details.",
        "Process completed with exit code 1."],
        "Cart › shows the total with tax", ["Error: Npm failed with return code: 1"],
        command="/opt/hostedtoolcache/node/20.11.1/x64/bin/npm test")
    run.store()
    return _scenario("github_repo_build", run, pr_id=17, repository_id=repository.id,
                     repository_provider="GitHub")


# -- large logs (generated line by line, never held in memory)


def _large_test_log(name: str, size_mb: float, cause: Sequence[str]) -> Tuple[int, Callable[[int], str], int]:
    """Return (line_count, line_at, cause_line) of a ``dotnet test`` log of about ``size_mb`` MB."""
    head = task_log(name, "DotNetCoreCLI", [], command="/usr/bin/dotnet test --logger trx --results-directory "
                    "/home/vsts/work/_temp")[:-1]
    tail = list(cause) + [
        "",
        "Failed!  - Failed:     1, Passed: 48213, Skipped: 12, Total: 48226, Duration: 7 m 12 s - Widgets.Tests.dll (net8.0)",
        "Results File: /home/vsts/work/_temp/_fv-az512-817_2024-01-01_12_34_56.trx",
        "Result Attachments will be stored in LocalState directory",
        "##[warning].NET 5 has some compatibility issues with older Nuget versions(<=5.7), so if you are using an "
        "older Nuget version(and not dotnet cli) to restore, then the dotnet cli commands (e.g. dotnet build) which "
        "rely on such restored packages might fail.",
        "##[error]Error: The process '/usr/bin/dotnet' failed with exit code 1",
        "##[error]Dotnet command failed with non-zero exit code on the following projects : "
        "/home/vsts/work/1/s/tests/Widgets.Tests/Widgets.Tests.csproj",
        f"##[section]Finishing: {name}",
    ]

    def filler(number: int) -> str:
        return (f"  Passed Widgets.Tests.Inventory.ReservationTests.Reserve_holds_stock(quantity: {number % 97}, "
                f"warehouse: \"W{number % 13:02d}\") [{number % 90 + 1} ms]")

    average = sum(len(filler(number)) for number in range(1, 1001)) / 1000 + len(LOG_TIMESTAMP) + 2
    line_count = max(int(size_mb * 1024 * 1024 / average), len(head) + len(tail))
    body_end = line_count - len(tail)

    def line_at(number: int) -> str:
        if number <= len(head):
            return head[number - 1]
        if number > body_end:
            return tail[number - body_end - 1]
        return filler(number)

    return line_count, line_at, body_end + 1


def _large_failure(index: int) -> List[str]:
    return [
        f"  Failed Widgets.Tests.Orders.TaxTests.Total_includes_regional_tax_{index} [38 ms]",
        "  Error Message:",
        "   Assert.Equal() Failure: Values differ",
        "Expected: 32.54",
        "Actual:   29.97",
        "  Stack Trace:",
        f"     at Widgets.Tests.Orders.TaxTests.Total_includes_regional_tax_{index}() in "
        "/home/vsts/work/1/s/tests/Widgets.Tests/Orders/TaxTests.cs:line 88",
    ]


def _add_large_failed_tasks(emu: AdoEmulator, count: int, size_mb: float, name: str,
                            causes: Optional[int] = None) -> Scenario:
    """Add a build whose `count` test shards fail, each its own test, or one of `causes` tests shared by shards."""
    _ensure_project(emu)
    build = emu.add_build(PROJECT, DEFINITION, result="failed", duration=dt.timedelta(minutes=48))
    run = _Run(emu, build)
    stage = run.stage("Test", "failed")
    for index in range(1, count + 1):
        job = run.job(stage, f"Unit tests shard {index}", "failed")
        task_name = "Run unit tests"
        test = index if causes is None else (index - 1) % causes + 1
        line_count, line_at, cause_line = _large_test_log(task_name, size_mb, _large_failure(test))
        log_id = run.next_log
        run.next_log += 1
        emu.add_log(build.id, log_id, line_count=line_count, line_at=line_at)
        error = "Error: The process '/usr/bin/dotnet' failed with exit code 1"
        record = timeline_record("Task", task_name, parent_id=job["id"], result="failed", order=100 + index,
                                 log_id=log_id, task="DotNetCoreCLI",
                                 issues=[issue(error, line=line_count - 2)])
        run.records.append(record)
        run.log_bytes += int(size_mb * 1024 * 1024)
        run.failed.append(FailedStep(record["id"], "Task", task_name, "Test", job["name"], "failed", log_id,
                                     cause_line, f"Total_includes_regional_tax_{test}"))
    run.store()
    return _scenario(name, run)


def shards_sharing_failing_tests(emu: AdoEmulator, shards: int, tests: int, size_mb: float = 0.05) -> Scenario:
    """`shards` test shards fail, shard i on test (i - 1) % tests + 1: the same tests failing on a whole matrix."""
    return _add_large_failed_tasks(emu, shards, size_mb, "shards_sharing_failing_tests", causes=tests)


def large_log(emu: AdoEmulator, size_mb: float = 300) -> Scenario:
    """One failed ``dotnet test`` task whose log is about ``size_mb`` MB; the failing test is near the end."""
    return _add_large_failed_tasks(emu, 1, size_mb, "large_log")


def five_failed_tasks_with_large_logs(emu: AdoEmulator, size_mb: float = 100) -> Scenario:
    """Five test shards fail, each with a log of about ``size_mb`` MB (for the collect benchmark)."""
    return _add_large_failed_tasks(emu, 5, size_mb, "five_failed_tasks_with_large_logs")


# -- history


RESULTS = {"green": "succeeded", "red": "failed", "yellow": "partiallySucceeded"}
AUTHORS = ("Ana Lopez", "Bruno Costa", "Chen Wei", "Dana Novak")
MESSAGES = ("Bump pytest to 8.1.1", "Refactor shipping estimates", "Apply regional tax in Order.total",
            "Cache warehouse lookups", "Fix typo in README", "Round prices half-even")


def build_history(emu: AdoEmulator, results: Sequence[str] = ("green", "green", "red", "red"), *,
                  project: str = PROJECT, definition: Tuple[str, int] = DEFINITION,
                  branch: str = "refs/heads/main", retried: Sequence[int] = (),
                  commits_per_build: int = 1) -> History:
    """Add consecutive builds of one definition and branch, oldest first, each with its own commits.

    ``results`` are ``green``/``red``/``yellow`` or API results (``succeeded``, ``failed``, …). Indexes
    in ``retried`` get a failed attempt 1 (the same test failure) before their final result.
    Red builds fail the same pytest assertion, so a history feature can match them.
    """
    owner = _ensure_project(emu, project)
    builds: List[HistoryBuild] = []
    for index, label in enumerate(results):
        result = RESULTS.get(label, label)
        commits = tuple(commit(_sha(f"{definition}{branch}{index}{n}"), MESSAGES[(index + n) % len(MESSAGES)],
                               AUTHORS[(index + n) % len(AUTHORS)],
                               timestamp=dt.datetime(2024, 1, 1, 8, tzinfo=dt.timezone.utc) + dt.timedelta(hours=index))
                        for n in range(commits_per_build))
        build = emu.add_build(owner.name, definition, result=result, branch=branch,
                              source_version=commits[0]["id"] if commits else None, changes=commits)
        _history_timeline(emu, build, result, index in retried)
        builds.append(HistoryBuild(build.id, result, commits, index in retried))
    streak_start = len(builds)
    while streak_start > 0 and builds[streak_start - 1].result == "failed":
        streak_start -= 1
    first_failure = builds[streak_start].id if streak_start < len(builds) else None
    last_success = next((item.id for item in reversed(builds[:streak_start]) if item.result == "succeeded"), None)
    return History(owner.name, owner.id, definition[1], branch, tuple(builds), builds[-1].id, last_success,
                   first_failure, "AssertionError: assert Decimal('29.97') == Decimal('32.54')")


def _history_timeline(emu: AdoEmulator, build: Build, result: str, retried: bool) -> None:
    previous: Dict[str, str] = {}
    first_log = 1
    if retried:
        first = _Run(emu, build, attempt=1)
        job = first.job(first.stage("Test", "failed"), "Unit tests Linux", "failed")
        _failing_task(first, job, "Test", "Run unit tests", "Bash", PYTEST_FAILURE,
                      "AssertionError", ["Bash exited with code '1'."])
        timeline_id = first.store(latest=False)
        previous = {"Stage": timeline_id, "Job": job["id"], "timeline": timeline_id}
        first_log = first.next_log
    run = _Run(emu, build, attempt=2 if retried else 1, first_log_id=first_log)

    def earlier(kind: str) -> List[dict]:
        return [{"attempt": 1, "timelineId": previous["timeline"], "recordId": previous[kind]}] if previous else []

    failed = result == "failed"
    stage = run.stage("Test", "failed" if failed else "succeeded", previous_attempts=earlier("Stage"))
    job = run.job(stage, "Unit tests Linux", "failed" if failed else "succeeded", previous_attempts=earlier("Job"))
    if failed:
        _failing_task(run, job, "Test", "Run unit tests", "Bash", PYTEST_FAILURE, "AssertionError",
                      ["Bash exited with code '1'."])
    else:
        run.task(job, "Run unit tests", "Bash", task_log("Run unit tests", "Bash", [
            "======================== 213 passed in 14.11s ========================"]))
    run.store()


# -- published test results (the Test Results API)


TAX_TESTS = "tests/Widgets.Tests/Orders/TaxTests.cs"
TAX_TEST_LINE = 88
TAX_TESTS_SOURCE = [f"// line {n}" for n in range(1, TAX_TEST_LINE - 5)] + [
    "    [Fact]",
    "    public void Total_includes_regional_tax()",
    "    {",
    "        var order = new Order(region: \"WA\", items: new[] { new Item(\"widget\", 9.99m, 3) });",
    "",
    "        Assert.Equal(32.54m, order.Total());",
    "    }",
    "",
    "    [Fact]",
    "    public void Total_rounds_half_even()",
    "    {",
] + [f"// line {n}" for n in range(TAX_TEST_LINE + 6, 140)]
FAILED_TAX_TESTS = (
    ("Widgets.Tests.Orders.TaxTests.Total_includes_regional_tax",
     "Assert.Equal() Failure: Values differ\nExpected: 32.54\nActual:   29.97",
     f"   at Widgets.Tests.Orders.TaxTests.Total_includes_regional_tax() in /home/vsts/work/1/s/{TAX_TESTS}:line "
     f"{TAX_TEST_LINE}\n   at System.RuntimeMethodHandle.InvokeMethod(Object target, Void** arguments, Signature sig)"),
    ("Widgets.Tests.Orders.TaxTests.Total_rounds_half_even",
     "Assert.Equal() Failure: Values differ\nExpected: 10.00\nActual:   9.99",
     f"   at Widgets.Tests.Orders.TaxTests.Total_rounds_half_even() in /home/vsts/work/1/s/{TAX_TESTS}:line 97"),
)


def _dotnet_test_log(tests: Sequence[Tuple[str, str, str]], passed: int) -> List[str]:
    body = ["  Determining projects to restore...", "  All projects are up-to-date for restore.",
            "  Widgets.Tests -> /home/vsts/work/1/s/tests/Widgets.Tests/bin/Release/net8.0/Widgets.Tests.dll",
            "Test run for /home/vsts/work/1/s/tests/Widgets.Tests/bin/Release/net8.0/Widgets.Tests.dll "
            "(.NETCoreApp,Version=v8.0)",
            "Starting test execution, please wait...",
            "A total of 1 test files matched the specified pattern."]
    for name, message, stack in tests:
        body += [f"  Failed {name} [38 ms]", "  Error Message:"] + ["   " + line for line in message.split("\n")] + [
            "  Stack Trace:"] + ["  " + line for line in stack.split("\n")]
    body += ["", f"Failed!  - Failed:     {len(tests)}, Passed:   {passed}, Skipped:     0, Total:   "
                 f"{len(tests) + passed}, Duration: 2 s - Widgets.Tests.dll (net8.0)",
             "Results File: /home/vsts/work/_temp/_fv-az512-817_2024-01-01_12_34_56.trx"]
    return task_log("Run unit tests", "DotNetCoreCLI", body, errors=[
        "Error: The process '/usr/bin/dotnet' failed with exit code 1",
        "Dotnet command failed with non-zero exit code on the following projects : "
        "/home/vsts/work/1/s/tests/Widgets.Tests/Widgets.Tests.csproj"],
        command="/usr/bin/dotnet test /home/vsts/work/1/s/tests/Widgets.Tests/Widgets.Tests.csproj --logger trx "
                "--results-directory /home/vsts/work/_temp")


def tests_failed(emu: AdoEmulator, *, tests: Sequence[Tuple[str, str, str]] = FAILED_TAX_TESTS, passed: int = 118,
                 job_reference: bool = True, results: bool = True, failing_since: Optional[int] = None,
                 extra_results: Sequence[dict] = (), source_in_repository: bool = True,
                 name: str = "tests_failed") -> Scenario:
    """``dotnet test`` fails two tax tests on Azure Repos; the run published its results to the Test Results API.

    The test run names its job (pipelineReference) unless ``job_reference`` is False; ``results=False`` keeps
    the run's statistics but serves no results (a run whose results are not there). The test file is in the
    repository at the build's commit, so the failing line can be read, unless ``source_in_repository`` is False
    (a generated file).
    """
    _ensure_project(emu)
    build = emu.add_build(PROJECT, DEFINITION, result="failed")
    run = _Run(emu, build)
    stage = run.stage("Test", "failed")
    job = run.job(stage, "Unit tests Linux", "failed")
    run.succeeded_tasks(job)
    lines = _dotnet_test_log(tests, passed)
    run.task(job, "Run unit tests", "DotNetCoreCLI", lines, "failed", cause=f"Failed {tests[0][0]}",
             issues=[issue("Error: The process '/usr/bin/dotnet' failed with exit code 1",
                           line=_line_of(lines, "##[error]Error: The process"))], stage="Test")
    run.store()
    failed = [case_result(test_name, message=message, stack_trace=stack, failing_since=failing_since)
              for test_name, message, stack in tests]
    passing = [case_result(f"Widgets.Tests.Inventory.ReservationTests.Reserve_{n}", "Passed") for n in range(passed)]
    all_results = failed + list(extra_results) + passing
    counts = {}
    for result in all_results:
        counts[result["outcome"]] = counts.get(result["outcome"], 0) + 1
    emu.add_test_run(build.id, "VSTest Test Run release any cpu", all_results if results else [],
                     job=("Test", "Unit_tests_Linux", "__default", 1) if job_reference else None,
                     statistics=sorted(counts.items(), key=lambda item: -item[1]))
    emu.add_file(build.repository, build.source_version, TAX_TESTS if source_in_repository else "README.md",
                 "\n".join(TAX_TESTS_SOURCE) + "\n")
    return _scenario(name, run, failed_tests=tuple((test_name, message) for test_name, message, _ in tests),
                     source=(TAX_TESTS, TAX_TEST_LINE, TAX_TESTS_SOURCE[TAX_TEST_LINE - 1]))


def thousands_of_failed_tests(emu: AdoEmulator, count: int = 2500) -> Scenario:
    """One test run with ``count`` failures, most of them one message: read in pages, summarised."""
    extra = [case_result(f"Widgets.Tests.Pricing.PriceTests.Price_is_positive_{n}",
                         message=f"Assert.True() Failure\nExpected: True\nActual:   False (sku {n})",
                         stack_trace=f"   at Widgets.Tests.Pricing.PriceTests.Price_is_positive_{n}() in "
                                     f"/home/vsts/work/1/s/tests/Widgets.Tests/Pricing/PriceTests.cs:line 12")
             for n in range(count - len(FAILED_TAX_TESTS))]
    return tests_failed(emu, extra_results=extra, name="thousands_of_failed_tests")


SCENARIOS: Dict[str, Callable[[AdoEmulator], object]] = {
    "multi_stage_two_failed_jobs": multi_stage_two_failed_jobs,
    "retried_run_attempt_2": retried_run_attempt_2,
    "job_timeout_no_failed_task": job_timeout_no_failed_task,
    "canceled_run": canceled_run,
    "succeeded_run": succeeded_run,
    "pr_build": pr_build,
    "github_repo_build": github_repo_build,
    "large_log": large_log,
    "five_failed_tasks_with_large_logs": five_failed_tasks_with_large_logs,
    "build_history": build_history,
    "tests_failed": tests_failed,
    "thousands_of_failed_tests": thousands_of_failed_tests,
}
