"""The analyze step: the offline analyzer always runs; a configured LLM may replace its answer, never break it."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Optional, Sequence, Tuple

from azura.context import Settings
from azura.errors import LLMError
from azura.models import Analysis, Build, Deadline, Excerpt, FailedTestRun, History, Signature, Usage


def analyze(excerpts: Sequence[Excerpt], signatures: Sequence[Signature], settings: Settings,
            build: Optional[Build] = None, history: Optional[History] = None,
            deadline: Optional[Deadline] = None, test_runs: Optional[Tuple[FailedTestRun, ...]] = None,
            ground: Optional[Callable[[Analysis], Analysis]] = None) -> Analysis:
    """Return the offline analysis, replaced by the LLM's validated answer when one is configured and usable.

    `test_runs` are the build's failed tests from the Test Results API; they outrank the tests a log names.
    `ground` adds what Azure DevOps holds about the offline answer's facts (source lines, the files commits
    touched) before the LLM sees it.
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
    from azura.analyze.llm import ask_llm, resolved_model

    try:
        return ask_llm(offline, settings, deadline=deadline)
    except LLMError as exc:
        return replace(offline, provider=settings.llm_provider, model=resolved_model(settings)).with_warning(
            f"LLM answer not used ({exc}); showing the offline analysis", degraded=True)
