"""The flow in one place: collect -> excerpt -> analyze, for local logs, pasted text and Azure DevOps runs.

The CLI, `azura ask` and the server all call these, so every answer about a failure is the same answer.
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import BinaryIO, Callable, Iterable, Optional, Tuple

from azura.context import Settings
from azura.models import Analysis, Build, Deadline, FailedStep, FailedTestRun, History, StepLog

Clock = Callable[[], float]
# Publishing to Azure DevOps (tag, PR thread: a few REST calls) keeps this share of --timeout for itself, at least
# MIN_PUBLISH_SECONDS; a run that only writes files keeps a second for rendering them.
PUBLISH_SHARE = 0.25
MIN_PUBLISH_SECONDS = 10.0
RENDER_SECONDS = 1.0
GROUND_SHARE = 0.15  # of the time left after the offline analysis: source lines and the files commits touched
GROUND_MIN_SECONDS = 5.0
Phase = Callable[[str], None]  # told what runs now, for a progress line; the server and tests pass nothing


def _quiet(phase: str) -> None:
    pass


def analysis_deadline(run: Optional[Deadline], settings: Settings, now: float) -> Deadline:
    """Return when the analysis (reading the logs, the LLM) must be done: the run's deadline less the time
    rendering and publishing the report need, so that a run out of time still publishes what it has."""
    run = run or Deadline.after(settings.timeout, now)
    if settings.publish:
        reserve = min(max(MIN_PUBLISH_SECONDS, PUBLISH_SHARE * settings.timeout), settings.timeout / 2)
    else:
        reserve = min(RENDER_SECONDS, settings.timeout / 10)
    return Deadline(run.expires_at - reserve)


def analyze_local(settings: Settings, stdin: Optional[BinaryIO] = None, clock: Clock = time.monotonic,
                  deadline: Optional[Deadline] = None, progress: Phase = _quiet) -> Analysis:
    """Return the analysis of the log files in settings.log_paths ('-' reads stdin)."""
    from azura import collect

    deadline = deadline or Deadline.after(settings.timeout, clock())
    progress(f"reading {', '.join('standard input' if p == '-' else p for p in settings.log_paths)}")
    return analyze_logs(collect.local_logs(settings.log_paths, stdin), settings, deadline=deadline,
                        progress=progress, clock=clock)


def analyze_text(text: str, settings: Settings, name: str = "pasted log", clock: Clock = time.monotonic) -> Analysis:
    """Return the analysis of log text given in a request (the server's pasted logs)."""
    step = StepLog(step=FailedStep(name=name, record_type="File"), chunks=(text.encode("utf-8", "replace"),))
    return analyze_logs((step,), settings, deadline=Deadline.after(settings.timeout, clock()), clock=clock)


def analyze_logs(logs: Iterable[StepLog], settings: Settings, build: Optional[Build] = None,
                 history: Optional[History] = None, deadline: Optional[Deadline] = None,
                 novel: Optional[Callable[[FailedStep, str], bool]] = None,
                 test_runs: Optional[Tuple[FailedTestRun, ...]] = None,
                 ground: Optional[Callable[[Analysis], Analysis]] = None, progress: Phase = _quiet,
                 clock: Clock = time.monotonic) -> Analysis:
    """Return the analysis of already collected step logs: excerpt, then analyze.

    `novel` tells which lines of a step did not occur in the last green run, so the excerpt prefers them;
    `test_runs` and `ground` bring in Azure DevOps' own facts (see `analyze`). Reading the logs stops at the
    analysis deadline (`analysis_deadline`): the answer then rests on what was read, and says so.
    """
    from azura.analyze import analyze
    from azura.analyze.signatures import load_signatures
    from azura.excerpt import build_excerpts

    signatures = load_signatures(settings.user_signatures, settings.config_path or "azura.yml")
    excerpts = build_excerpts(logs, settings.budget, anchor_patterns=[s.pattern for s in signatures],
                              secrets=settings.secrets, novel=novel, tokenizer=settings.tokenizer,
                              deadline=analysis_deadline(deadline, settings, clock()) if deadline else None,
                              clock=clock)
    if settings.llm_provider != "none":
        progress(f"asking the LLM ({settings.llm_provider}{' ' + settings.model if settings.model else ''})")
    analysis = analyze(excerpts, signatures, settings, build=build, history=history, deadline=deadline,
                       test_runs=test_runs, ground=ground, clock=clock)
    unread = sum(1 for excerpt in excerpts if not excerpt.complete)
    if unread:
        analysis = analysis.with_warning(
            f"the --timeout of {settings.timeout:g} s ran out while the logs were read: the analysis rests on what "
            f"was read by then ({unread} of {len(excerpts)} failed step{'s' if len(excerpts) > 1 else ''}' logs "
            "read in part or not at all)")
    return redacted(analysis, settings)


def analyze_run(settings: Settings, clock: Clock = time.monotonic, deadline: Optional[Deadline] = None,
                progress: Phase = _quiet) -> Analysis:
    """Return the analysis of the Azure DevOps run in settings (pipeline or remote mode), within `deadline`."""
    from concurrent.futures import ThreadPoolExecutor

    from azura import collect
    from azura.context import require_build
    from azura.history import read_history
    from azura.testresults import read_failed_tests, with_failure_streaks

    require_build(settings)
    deadline = deadline or Deadline.after(settings.timeout, clock())
    progress(f"reading build {settings.build_id} from {settings.org_url}")
    run = collect.collect_run(settings, deadline, clock)
    progress("looking at earlier builds and the failed tests")
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="azura-tests") as pool:
        # The failed tests are read while the history is: both mostly wait on Azure DevOps.
        asked = pool.submit(read_failed_tests, settings, run.build, deadline, clock) if run.logs else None
        findings = read_history(settings, run, deadline, clock)
        tests = asked.result() if asked is not None else None
    progress("cutting the failed steps' logs down")
    analysis = analyze_logs(run.logs, settings, build=run.build, history=findings.history, deadline=deadline,
                            novel=findings.novel,
                            test_runs=with_failure_streaks(tests.runs, findings.failing_runs) if tests else None,
                            ground=_grounding(settings, run.build, deadline, clock), progress=progress,
                            clock=clock)
    for warning in run.warnings + (tests.warnings if tests else ()) + findings.warnings:
        analysis = analysis.with_warning(warning)
    return redacted(analysis, settings)


def redacted(analysis: Analysis, settings: Settings) -> Analysis:
    """Return the analysis with every string redacted once more, whatever it came from.

    The excerpt is redacted already; this pass also covers what reached the analysis another way (commit
    messages, the LLM's words, warnings quoting a service's answer) before any sink writes it.
    """
    from azura.redact import redact_fields

    return redact_fields(analysis, settings.secrets)


def _grounding(settings: Settings, build: Build, deadline: Deadline, clock: Clock) -> Callable[[Analysis], Analysis]:
    """Return ground(offline): the analysis with the source lines its facts name and the files commits touched."""

    def ground(offline: Analysis) -> Analysis:
        from azura.devops import AzureDevOps
        from azura.history import with_touched_files
        from azura.sources import named_places, read_source_windows

        if not settings.source_lines:
            return offline
        left = deadline.remaining(clock())
        if left < GROUND_MIN_SECONDS:
            return offline.with_warning(f"source lines not read: only {left:.0f} s of the --timeout were left")
        ado = AzureDevOps(settings, Deadline(clock() + left * GROUND_SHARE), clock)
        places = named_places(offline.failures, settings.sources_dir)
        try:
            windows, warnings = read_source_windows(settings, build, places, ado)
            history = offline.history
            if history is not None:
                tests = [test.name for failure in offline.failures for test in failure.facts.failing_tests]
                history, more = with_touched_files(history, build, [place.path for place in places], tests, ado)
                warnings += more
        except Exception as exc:  # noqa: BLE001 - an answer shaped unlike the API's must cost these lookups only
            return offline.with_warning(f"source lines not read: unexpected {type(exc).__name__} ({str(exc)[:120]})")
        grounded = replace(offline, sources=windows, history=history)
        for warning in warnings:
            grounded = grounded.with_warning(warning)
        return grounded

    return ground
