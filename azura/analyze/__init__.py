"""The analyze step: the offline analyzer always runs; a configured LLM may replace its answer, never break it."""
from __future__ import annotations

from dataclasses import replace
from typing import Optional, Sequence

from azura.context import Settings
from azura.errors import LLMError
from azura.models import Analysis, Build, Deadline, Excerpt, History, Signature, Usage


def analyze(excerpts: Sequence[Excerpt], signatures: Sequence[Signature], settings: Settings,
            build: Optional[Build] = None, history: Optional[History] = None,
            deadline: Optional[Deadline] = None) -> Analysis:
    """Return the offline analysis, replaced by the LLM's validated answer when one is configured and usable."""
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
    from azura.analyze.llm import ask_llm, resolved_model

    try:
        return ask_llm(offline, settings, deadline=deadline)
    except LLMError as exc:
        return replace(offline, provider=settings.llm_provider, model=resolved_model(settings)).with_warning(
            f"LLM answer not used ({exc}); showing the offline analysis", degraded=True)
