"""The flow in one place: collect -> excerpt -> analyze, for local logs, pasted text and Azure DevOps runs.

The CLI, `azura ask` and the server all call these, so every answer about a failure is the same answer.
"""
from __future__ import annotations

import time
from typing import BinaryIO, Callable, Iterable, Optional

from azura.context import Settings
from azura.models import Analysis, Build, Deadline, FailedStep, History, StepLog

Clock = Callable[[], float]
Phase = Callable[[str], None]  # told what runs now, for a progress line; the server and tests pass nothing


def _quiet(phase: str) -> None:
    pass


def analyze_local(settings: Settings, stdin: Optional[BinaryIO] = None, clock: Clock = time.monotonic,
                  deadline: Optional[Deadline] = None, progress: Phase = _quiet) -> Analysis:
    """Return the analysis of the log files in settings.log_paths ('-' reads stdin)."""
    from azura import collect

    deadline = deadline or Deadline.after(settings.timeout, clock())
    progress(f"reading {', '.join('standard input' if p == '-' else p for p in settings.log_paths)}")
    return analyze_logs(collect.local_logs(settings.log_paths, stdin), settings, deadline=deadline,
                        progress=progress)


def analyze_text(text: str, settings: Settings, name: str = "pasted log", clock: Clock = time.monotonic) -> Analysis:
    """Return the analysis of log text given in a request (the server's pasted logs)."""
    step = StepLog(step=FailedStep(name=name, record_type="File"), chunks=(text.encode("utf-8", "replace"),))
    return analyze_logs((step,), settings, deadline=Deadline.after(settings.timeout, clock()))


def analyze_logs(logs: Iterable[StepLog], settings: Settings, build: Optional[Build] = None,
                 history: Optional[History] = None, deadline: Optional[Deadline] = None,
                 novel: Optional[Callable[[FailedStep, str], bool]] = None, progress: Phase = _quiet) -> Analysis:
    """Return the analysis of already collected step logs: excerpt, then analyze.

    `novel` tells which lines of a step did not occur in the last green run, so the excerpt prefers them.
    """
    from azura.analyze import analyze
    from azura.analyze.signatures import load_signatures
    from azura.excerpt import build_excerpts

    signatures = load_signatures(settings.user_signatures, settings.config_path or "azura.yml")
    excerpts = build_excerpts(logs, settings.budget, anchor_patterns=[s.pattern for s in signatures],
                              secrets=settings.secrets, novel=novel)
    if settings.llm_provider != "none":
        progress(f"asking the LLM ({settings.llm_provider}{' ' + settings.model if settings.model else ''})")
    return analyze(excerpts, signatures, settings, build=build, history=history, deadline=deadline)


def analyze_run(settings: Settings, clock: Clock = time.monotonic, deadline: Optional[Deadline] = None,
                progress: Phase = _quiet) -> Analysis:
    """Return the analysis of the Azure DevOps run in settings (pipeline or remote mode), within `deadline`."""
    from azura import collect
    from azura.context import require_build
    from azura.history import read_history

    require_build(settings)
    deadline = deadline or Deadline.after(settings.timeout, clock())
    progress(f"reading build {settings.build_id} from {settings.org_url}")
    run = collect.collect_run(settings, deadline, clock)
    progress("looking at earlier builds")
    findings = read_history(settings, run, deadline, clock)
    progress("cutting the failed steps' logs down")
    analysis = analyze_logs(run.logs, settings, build=run.build, history=findings.history, deadline=deadline,
                            novel=findings.novel, progress=progress)
    for warning in run.warnings + findings.warnings:
        analysis = analysis.with_warning(warning)
    return analysis
