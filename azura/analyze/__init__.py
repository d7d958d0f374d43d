"""The analyze step: the offline analyzer always runs; a configured LLM may improve its answer, never break it."""
from __future__ import annotations

import time
from typing import Callable, Optional, Sequence

from azura.context import Settings
from azura.models import Analysis, Build, Deadline, Excerpt, History, Signature, Usage


def analyze(excerpts: Sequence[Excerpt], signatures: Sequence[Signature], settings: Settings,
            build: Optional[Build] = None, history: Optional[History] = None,
            deadline: Optional[Deadline] = None, clock: Callable[[], float] = time.monotonic) -> Analysis:
    """Return the offline analysis, improved by the LLM's checked answer when one is configured and usable.

    The LLM gets one request for all failures, and must be done before the part of `deadline` (the run's) that
    publishing the report needs; whatever it answers, the offline answer stands unless the answer passes the check.
    """
    from azura.analyze.offline import analyze_offline, build_tag, headline

    failures = analyze_offline(excerpts, signatures)
    offline = Analysis(
        headline=headline(failures), failures=failures,
        tag=build_tag(failures, settings.tag_prefix) if failures else "",
        provider="none", model=None, build=build, history=history,
        usage=Usage(excerpt_tokens=sum(e.tokens for e in excerpts)),
    )
    if settings.llm_provider == "none" or not failures:
        return offline
    from azura.analyze.llm import ask_llm, llm_deadline

    return ask_llm(offline, settings, deadline=llm_deadline(deadline, settings, clock()), clock=clock)
