"""The analyze step: the offline analyzer always runs; a configured LLM may improve its answer, never break it."""
from __future__ import annotations

import time
from typing import Callable, Optional, Sequence, Tuple

from azura.context import Settings
from azura.models import Analysis, Build, Deadline, Excerpt, FailedTestRun, History, Signature, Usage


def analyze(excerpts: Sequence[Excerpt], signatures: Sequence[Signature], settings: Settings,
            build: Optional[Build] = None, history: Optional[History] = None,
            deadline: Optional[Deadline] = None, test_runs: Optional[Tuple[FailedTestRun, ...]] = None,
            ground: Optional[Callable[[Analysis], Analysis]] = None,
            clock: Callable[[], float] = time.monotonic) -> Analysis:
    """Return the offline analysis, improved by the LLM's checked answer when one is configured and usable.

    `test_runs` are the build's failed tests from the Test Results API; they outrank the tests a log names.
    `ground` adds what Azure DevOps holds about the offline answer's facts (source lines, the files commits
    touched) before the LLM sees it. The LLM gets one request for all failures and must be done before the part
    of `deadline` (the run's) that publishing the report needs; whatever it answers, the offline answer stands
    unless the answer passes the check.
    """
    from azura.analyze.offline import analyze_offline, build_tag, headline
    from azura.analyze.testfacts import name_api_tests

    failures = name_api_tests(analyze_offline(excerpts, signatures), test_runs)
    offline = Analysis(
        headline=headline(failures), failures=failures,
        tag=build_tag(failures, settings.tag_prefix) if failures else "",
        provider="none", model=None, build=build, history=history,
        usage=Usage(excerpt_tokens=sum(e.tokens for e in excerpts)), test_runs=test_runs,
    )
    if ground is not None and failures:
        offline = ground(offline)
    if settings.llm_provider == "none" or not failures:
        return offline
    from dataclasses import replace

    from azura.analyze.llm import ask_llm
    from azura.analyze.offline import shared_by_group
    from azura.engine import analysis_deadline

    # The LLM reads each cause once: the first step of each group, whose answer the group's other steps share.
    leaders = tuple(failure for failure in offline.failures if failure.same_as is None)
    asked = ask_llm(replace(offline, failures=leaders), settings,
                    deadline=analysis_deadline(deadline, settings, clock()), clock=clock)
    return replace(asked, failures=shared_by_group(asked.failures, offline.failures))
