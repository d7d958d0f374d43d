"""The data that passes between the steps of the flow: small frozen dataclasses, nothing else.

context -> collect -> excerpt -> analyze -> report -> publish. Steps take and return these, never SDK models
or loose dicts; `Analysis.to_dict()` is the `analysis.json` contract (schema_version 1).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Optional, Tuple

SCHEMA_VERSION = 1

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
    """A commit between the last green build and the failed one."""

    id: str
    author: Optional[str]
    message: str
    url: Optional[str] = None
    timestamp: Optional[str] = None

    def to_dict(self) -> dict:
        return {"id": self.id, "author": self.author, "message": self.message, "url": self.url,
                "timestamp": self.timestamp}


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
            "usage": self.usage.to_dict(),
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
