"""The data that passes between the steps of the flow: small frozen dataclasses, nothing else.

context -> collect -> excerpt -> analyze -> report -> publish. Steps take and return these, never SDK models
or loose dicts; `Analysis.to_dict()` is the `analysis.json` contract (schema_version 1).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Dict, Iterable, List, Optional, Tuple

SCHEMA_VERSION = 1

# A stack frame names a place: "at X in f.cs:line 20", 'File "x.py", line 3', "at f (src/a.ts:4:7)", "x.go:12".
_FRAME = re.compile(r'^(?:at\s|File\s")|\bline\s\d+|[\w.\\/-]+\.\w+[:(]\d+')

CATEGORIES = (
    "compile", "test", "dependency", "network", "auth", "timeout", "resource",
    "configuration", "infrastructure", "lint", "deploy", "script", "unknown",
)


@dataclass(frozen=True)
class Line:
    number: int  # 1-based, in the original log
    text: str

    def to_dict(self) -> dict:
        return {"line": self.number, "text": self.text}


@dataclass(frozen=True)
class Issue:
    """An error or warning the agent recorded on a timeline record (`issues[]`)."""

    message: str
    type: str = "error"
    line: Optional[int] = None  # data.logFileLineNumber, when the agent gave one


@dataclass(frozen=True)
class FailedStep:
    """A failed timeline record of a run, or one local log file given with --log."""

    name: str  # the task's display name, or the file name
    stage: Optional[str] = None
    job: Optional[str] = None
    log_id: Optional[int] = None
    record_id: Optional[str] = None
    record_type: str = "Task"  # Task, Job, Phase, Stage; File for a local log
    result: str = "failed"  # failed, canceled, abandoned
    attempt: int = 1
    issues: Tuple[Issue, ...] = ()
    line_count: Optional[int] = None
    job_identifier: Optional[str] = None  # the job's timeline identifier, Stage.Phase.Job: test runs name it

    @property
    def path(self) -> str:
        """Return where the step ran: stage › job › task, skipping what is unknown."""
        return " › ".join(part for part in (self.stage, self.job, self.name) if part)


@dataclass(frozen=True)
class StepLog:
    """A failed step and its log bytes, streamed once, starting at `first_line` of the original log.

    `chunks` is consumed exactly once; collect may start past line 1 when it reads a large log tail-first.
    `chunks` is empty for records without a log (a job that timed out, an agent that was lost).
    """

    step: FailedStep
    chunks: Iterable[bytes] = ()
    first_line: int = 1


@dataclass(frozen=True)
class Excerpt:
    """What the LLM sees of one failed step: a folded run of similar lines is one Line."""

    step: FailedStep
    lines: Tuple[Line, ...]
    tokens: int
    anchors: Tuple[int, ...] = ()  # line numbers of the anchor lines, in log order
    total_lines: int = 0  # lines in the log as far as it was read (first_line - 1 + lines seen)
    complete: bool = True  # False when --timeout ran out before the whole log was read
    # Where the build failed, as the excerpt's scan of the whole log found it (line numbers, None when not found):
    # the first line reporting a failing exit code, and the last command started before it. The cause
    # usually sits between the two: the failing command's own output.
    verdict: Optional[int] = None
    failing_command: Optional[int] = None
    # The excerpt lines that did not occur in the last green run's log; None when no green run was compared.
    novel_lines: Optional[Tuple[int, ...]] = None
    # The index (among the run's failed steps) of the earlier step that failed for the same cause; this one then
    # has no lines of its own: the cause is read once, from that step's excerpt.
    same_as: Optional[int] = None


@dataclass(frozen=True)
class Signature:
    """One entry of the failure knowledge base (bundled YAML or the user's azura.yml)."""

    id: str
    category: str
    pattern: str  # a Python regular expression, matched against one line with `search`
    summary: str  # one short sentence: what went wrong
    hint: str  # what to do about it
    examples: Tuple[str, ...] = ()
    confidence: float = 0.8
    source: str = "bundled"  # "bundled" or the path of the user's file
    # "cause": the line says what broke (a compiler error, a failing test, a missing package); "wrapper": it only
    # says that something failed (make's "*** Error 2", an exit code, a runner's "3 failed"); "incidental": tools
    # also print it for problems they recover from (a network retry), so it is the cause only among the last
    # errors before the step failed. A wrapper decides only when nothing more specific sits in the same section.
    role: str = "cause"


@dataclass(frozen=True)
class SourceLocation:
    """A place in the source code: a compile error's file:line:column, where a test failed, a stack frame."""

    file: str
    line: Optional[int] = None
    column: Optional[int] = None

    def __str__(self) -> str:
        return ":".join(str(part) for part in (self.file, self.line, self.column) if part is not None)

    def to_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "column": self.column}


@dataclass(frozen=True)
class FailingTest:
    """A test that failed, as its runner's output names it or as the Azure DevOps Test Results API returns it.

    From the Test Results API: name = automatedTestName (testCaseTitle when absent), outcome, message =
    errorMessage, stack_trace = stackTrace, duration_ms = durationInMs, failing_since_build = failingSince.build.id;
    its `log_line` is None.
    """

    name: str  # as the runner names it: "tests/test_x.py::test_y", "OrdersTests.Total_IsSum", "TestParse"
    message: str = ""  # the assertion message or exception, its first line
    location: Optional[SourceLocation] = None  # where it failed, when the output says
    outcome: str = "failed"  # failed, error (broke outside its assertions), timeout, aborted
    stack_trace: str = ""  # the frames the runner printed, when known (first frame first)
    duration_ms: Optional[float] = None
    log_line: Optional[int] = None  # 1-based line of the log that names the test; None when not from a log
    framework: str = ""  # the runner whose output named it: pytest, jest, junit, xunit, go, cargo, ...; "" if unknown
    failing_since_build: Optional[int] = None  # the build it has failed in since, as the Test Results API says
    failing_runs: Optional[int] = None  # runs of this pipeline and branch it failed in a row, this one included

    @property
    def first_frame(self) -> str:
        """Return the first line of the stack trace that names a place in code, else its first line."""
        lines = [line.strip() for line in self.stack_trace.splitlines() if line.strip()]
        return next((line for line in lines if _FRAME.search(line)), lines[0] if lines else "")

    def to_dict(self) -> dict:
        return {"name": self.name, "message": self.message,
                "location": self.location.to_dict() if self.location else None, "outcome": self.outcome,
                "stack_trace": self.stack_trace, "first_frame": self.first_frame, "duration_ms": self.duration_ms,
                "log_line": self.log_line, "framework": self.framework,
                "failing_since_build": self.failing_since_build, "failing_runs": self.failing_runs}


@dataclass(frozen=True)
class FailedTestRun:
    """A test run of the build with failed tests, summarised from the Test Results API.

    Counts come from the run's runStatistics; `tests` are the first failed results in the order the API returned
    them, `messages` the first line of each distinct error message among the failed results read, with how
    many share it, most frequent first. `read` says how many failed results were read (paging stops at a bound).
    """

    id: int
    name: str
    url: Optional[str] = None
    total: int = 0
    failed: int = 0  # results with a failed outcome: Failed, Error, Timeout, Aborted
    outcomes: Tuple[Tuple[str, int], ...] = ()  # (outcome, count) from runStatistics, most first
    tests: Tuple[FailingTest, ...] = ()
    messages: Tuple[Tuple[str, int], ...] = ()
    read: int = 0
    job_identifier: Optional[str] = None  # Stage.Phase.Job of its pipelineReference, when the run has one
    attempt: Optional[int] = None  # the job attempt that published it

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "url": self.url, "total": self.total, "failed": self.failed,
                "outcomes": dict(self.outcomes), "tests": [test.to_dict() for test in self.tests],
                "messages": [{"message": message, "count": count} for message, count in self.messages],
                "read": self.read}


@dataclass(frozen=True)
class SourceWindow:
    """A few lines of a repository file at the run's commit, around a line the failure names."""

    location: SourceLocation  # path relative to the repository root, and the line named
    lines: Tuple[Line, ...]  # numbered as in the file, redacted
    commit: Optional[str] = None
    reason: str = ""  # what named the line: "compile error CS0246", "failing test X"

    def to_dict(self) -> dict:
        return {"file": self.location.file, "line": self.location.line, "commit": self.commit,
                "reason": self.reason, "lines": [line.to_dict() for line in self.lines]}


@dataclass(frozen=True)
class CompileError:
    """One error a compiler, type checker or interpreter's parser reported."""

    message: str  # without its location and code: "The type or namespace name 'OrderDto' could not be found"
    location: Optional[SourceLocation] = None
    code: str = ""  # the tool's error code when it has one: CS0246, TS2322, E0308
    log_line: Optional[int] = None

    def to_dict(self) -> dict:
        return {"message": self.message, "location": self.location.to_dict() if self.location else None,
                "code": self.code, "log_line": self.log_line}


@dataclass(frozen=True)
class MissingName:
    """Something the build needed and did not find."""

    kind: str  # module, package, command, file, symbol
    name: str  # "requests", "left-pad@^9.9.9", "yarn", "src/app.csproj"
    log_line: Optional[int] = None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, "log_line": self.log_line}


@dataclass(frozen=True)
class VersionMismatch:
    """A version the build wanted against the one it found."""

    subject: str  # what is versioned: "node", "python", "Java class file", a package name
    wanted: str  # as the tool wrote it: ">=18", "55.0", "^2.1.0"
    found: str = ""  # "" when the tool only said what it wanted
    log_line: Optional[int] = None

    def to_dict(self) -> dict:
        return {"subject": self.subject, "wanted": self.wanted, "found": self.found, "log_line": self.log_line}


@dataclass(frozen=True)
class ExitStatus:
    """How the failing process ended: its exit code, or the signal that killed it."""

    code: Optional[int] = None
    signal: str = ""  # SIGSEGV, SIGKILL, SIGABRT
    command: str = ""  # the command, when the log names it
    log_line: Optional[int] = None

    def to_dict(self) -> dict:
        return {"code": self.code, "signal": self.signal, "command": self.command, "log_line": self.log_line}


@dataclass(frozen=True)
class Facts:
    """What the cause says, in named parts: read from the log's cause section, or from Azure DevOps' own records.

    The lists hold the first few of each kind, in log order; the counts say how many there were in all when
    the tool printed a total ("3 failed, 120 passed", "Found 4 errors"), and are None when it did not.
    """

    failing_tests: Tuple[FailingTest, ...] = ()
    failed_test_count: Optional[int] = None
    compile_errors: Tuple[CompileError, ...] = ()
    compile_error_count: Optional[int] = None
    missing: Tuple[MissingName, ...] = ()
    versions: Tuple[VersionMismatch, ...] = ()
    exit: Optional[ExitStatus] = None

    def __bool__(self) -> bool:
        return bool(self.failing_tests or self.compile_errors or self.missing or self.versions or self.exit
                    or self.failed_test_count or self.compile_error_count)

    def to_dict(self) -> dict:
        return {
            "failing_tests": [test.to_dict() for test in self.failing_tests],
            "failed_test_count": self.failed_test_count,
            "compile_errors": [error.to_dict() for error in self.compile_errors],
            "compile_error_count": self.compile_error_count,
            "missing": [name.to_dict() for name in self.missing],
            "versions": [version.to_dict() for version in self.versions],
            "exit": self.exit.to_dict() if self.exit else None,
        }


@dataclass(frozen=True)
class Failure:
    """The analysis of one failed step."""

    step: FailedStep
    excerpt: Excerpt
    category: str
    summary: str
    root_cause: str
    suggested_fix: str
    confidence: float  # 0.0 .. 1.0
    evidence: Tuple[Line, ...] = ()
    signature_id: Optional[str] = None
    facts: Facts = field(default_factory=Facts)  # the specifics the diagnosis names
    # The index (in the analysis' failures) of the earlier step that failed for the same cause: this diagnosis is
    # that step's, read from its log; this step's own evidence and excerpt are then empty.
    same_as: Optional[int] = None

    def sharing(self, step: FailedStep, excerpt: Excerpt, index: int) -> "Failure":
        """Return this diagnosis for another step that failed for the same cause (`same_as` = index)."""
        return replace(self, step=step, excerpt=excerpt, evidence=(), same_as=index)

    def to_dict(self) -> dict:
        return {
            "stage": self.step.stage,
            "job": self.step.job,
            "task": self.step.name,
            "log_id": self.step.log_id,
            "category": self.category,
            "summary": self.summary,
            "root_cause": self.root_cause,
            "suggested_fix": self.suggested_fix,
            "confidence": round(self.confidence, 2),
            "evidence": [line.to_dict() for line in self.evidence],
            "excerpt": [line.to_dict() for line in self.excerpt.lines],
            "facts": self.facts.to_dict(),
            "same_as": self.same_as,
        }


@dataclass(frozen=True)
class Build:
    """The run being analysed, as far as Azura needs it."""

    id: int
    number: str
    url: Optional[str]
    definition: Optional[str]
    result: Optional[str]  # succeeded, partiallySucceeded, failed, canceled, or None while running
    status: Optional[str] = None
    project: Optional[str] = None
    definition_id: Optional[int] = None
    source_branch: Optional[str] = None
    source_version: Optional[str] = None
    reason: Optional[str] = None
    repository_id: Optional[str] = None
    repository_type: Optional[str] = None
    pr_id: Optional[int] = None
    pr_target_branch: Optional[str] = None
    finish_time: Optional[str] = None

    def to_dict(self) -> dict:
        return {"id": self.id, "number": self.number, "url": self.url,
                "definition": self.definition, "result": self.result}


@dataclass(frozen=True)
class Definition:
    """A pipeline (build definition)."""

    id: int
    name: str
    path: str = "\\"
    url: Optional[str] = None


@dataclass(frozen=True)
class Run:
    """What collect found for one build: the build, the logs of its failed steps, and what it could not read."""

    build: Build
    logs: Tuple[StepLog, ...]
    attempt: int = 1  # the timeline attempt the failed records belong to
    warnings: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Change:
    """A commit between the last green build and the failed one (this build included)."""

    id: str
    author: Optional[str]
    message: str
    url: Optional[str] = None
    timestamp: Optional[str] = None
    suspect: bool = False  # it arrived with the first failing build of the red streak
    files: Tuple[str, ...] = ()  # files it touched that the failure names (a failing file, a failing test's file)

    def to_dict(self) -> dict:
        return {"id": self.id, "author": self.author, "message": self.message, "url": self.url,
                "timestamp": self.timestamp, "suspect": self.suspect, "files": list(self.files)}


@dataclass(frozen=True)
class History:
    """What the build history established about this failure; None fields were not established."""

    last_success_build_id: Optional[int] = None
    last_success_url: Optional[str] = None
    first_failure_build_id: Optional[int] = None
    first_failure_url: Optional[str] = None
    changes: Tuple[Change, ...] = ()
    changes_truncated: bool = False
    flaky: bool = False
    flaky_evidence: Tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "last_success_build_id": self.last_success_build_id,
            "first_failure_build_id": self.first_failure_build_id,
            "changes": [change.to_dict() for change in self.changes],
            "flaky": self.flaky,
            "flaky_evidence": list(self.flaky_evidence),
        }


@dataclass(frozen=True)
class Usage:
    excerpt_tokens: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_dict(self) -> dict:
        return {"excerpt_tokens": self.excerpt_tokens, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens}


@dataclass(frozen=True)
class FailureGroup:
    """Failed steps with one cause: the step whose log it was read from, and the others that failed alike."""

    leader: Failure
    others: Tuple[Failure, ...] = ()

    @property
    def size(self) -> int:
        return 1 + len(self.others)


@dataclass(frozen=True)
class Analysis:
    """The answer for one run: what `analysis.json`, the summary and the PR comment are made of."""

    headline: str
    failures: Tuple[Failure, ...]
    tag: str
    provider: str = "none"
    model: Optional[str] = None
    degraded: bool = False
    warnings: Tuple[str, ...] = ()
    build: Optional[Build] = None
    history: Optional[History] = None
    usage: Usage = field(default_factory=Usage)
    test_runs: Optional[Tuple[FailedTestRun, ...]] = None  # None: the Test Results API was not asked
    sources: Tuple[SourceWindow, ...] = ()
    # What became of the LLM's answer: "used", "rejected: <reason>" (an answer came and failed the answer
    # check), "failed: <reason>" (no usable answer came), or "skipped" (no LLM configured, or nothing failed).
    llm_status: str = "skipped"

    @property
    def groups(self) -> Tuple["FailureGroup", ...]:
        """Return the failures by cause: each step analysed with the steps that share its diagnosis, in order."""
        members: Dict[int, List[Failure]] = {}
        for failure in self.failures:
            if failure.same_as is not None:
                members.setdefault(failure.same_as, []).append(failure)
        return tuple(FailureGroup(failure, tuple(members.get(index, ())))
                     for index, failure in enumerate(self.failures) if failure.same_as is None)

    def with_warning(self, message: str, degraded: bool = False) -> "Analysis":
        """Return a copy with one more warning (and degraded set when the LLM answer was dropped)."""
        return replace(self, warnings=self.warnings + (message,), degraded=self.degraded or degraded)

    def to_dict(self) -> dict:
        return {
            "schema_version": SCHEMA_VERSION,
            "headline": self.headline,
            "provider": self.provider,
            "model": self.model,
            "degraded": self.degraded,
            "warnings": list(self.warnings),
            "build": self.build.to_dict() if self.build else None,
            "tag": self.tag,
            "failures": [failure.to_dict() for failure in self.failures],
            "history": self.history.to_dict() if self.history else None,
            "test_runs": None if self.test_runs is None else [run.to_dict() for run in self.test_runs],
            "sources": [window.to_dict() for window in self.sources],
            "usage": self.usage.to_dict(),
            "llm": {"status": self.llm_status},
        }


@dataclass(frozen=True)
class Rendered:
    """The report as text, ready for the sinks; publish never renders."""

    summary_md: str
    pr_comment_md: str
    analysis_json: str
    text: str  # what `--format text` prints


@dataclass(frozen=True)
class SinkOutcome:
    """What one publish sink did: `ok`, `skipped`, `withheld` (skipped because this build may not write there, a
    fork's pull request: worth a warning) or `failed`; the detail says what or why."""

    sink: str  # tag, pr-thread, summary, files
    status: str
    detail: str = ""


@dataclass(frozen=True)
class Deadline:
    """The moment the whole run must end by, on the clock the caller passes in (time.monotonic by default)."""

    expires_at: float

    @classmethod
    def after(cls, seconds: float, now: float) -> "Deadline":
        return cls(expires_at=now + seconds)

    def remaining(self, now: float) -> float:
        """Return the seconds left, never below zero."""
        return max(0.0, self.expires_at - now)
