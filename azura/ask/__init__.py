"""Ask Azura: questions about pipelines in plain words, answered from Azure DevOps and the engine.

With an LLM configured, the model calls a few read-only tools (projects, pipelines, builds, failed steps,
the engine's analysis) for at most `Settings.ask_max_rounds` rounds and writes the answer. Without one, a
deterministic parser understands the common question shapes, so the same questions work offline.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Callable, Dict, Optional, Sequence, Tuple

from azura.ask.parser import Query, parse_question, utc_now
from azura.commands import neutralize
from azura.context import Settings
from azura.errors import LLMError

_MARKDOWN_ESCAPE = re.compile(r"\\([\\`*_\[\]<>|])")  # a terminal shows the character, not its escape

__all__ = ["AskAnswer", "BuildLink", "Query", "ask", "parse_question"]

NEEDS_LLM = ("I can answer only a few question shapes without an LLM: \"why did the last build of X fail?\", "
             "\"last failed (or successful) build of X\", \"builds of X in the last 7 days\", "
             "\"why did build 123 fail?\", \"which pipelines failed today?\", \"list pipelines\", "
             "\"list projects\". For anything else set LLM_PROVIDER (openai, azure_openai or ollama) "
             "and its key or endpoint.")


@dataclass(frozen=True)
class BuildLink:
    """A build an answer refers to, with its web link."""

    id: int
    number: str
    definition: Optional[str]
    result: Optional[str]
    url: Optional[str]
    finish_time: Optional[str] = None

    def to_dict(self) -> dict:
        return {"id": self.id, "number": self.number, "definition": self.definition, "result": self.result,
                "url": self.url, "finish_time": self.finish_time}


@dataclass(frozen=True)
class AskAnswer:
    """The answer to one question: markdown text, the builds it refers to, and any analysis it made."""

    question: str
    text: str  # markdown
    understood: bool = True  # False when the question needs an LLM and none is configured
    provider: str = "none"
    model: Optional[str] = None
    builds: Tuple[BuildLink, ...] = ()
    analysis: Optional[dict] = None  # Analysis.to_dict() when the answer analysed a build
    analysis_markdown: Optional[str] = None  # the PR-comment markdown of that analysis
    tool_calls: Tuple[str, ...] = ()  # the tools the LLM used, in order
    warnings: Tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "question": self.question, "answer": self.text, "understood": self.understood,
            "provider": self.provider, "model": self.model,
            "builds": [build.to_dict() for build in self.builds], "analysis": self.analysis,
            "analysis_markdown": self.analysis_markdown, "tool_calls": list(self.tool_calls),
            "warnings": list(self.warnings),
        }

    def to_json(self) -> str:
        """Return the answer as one JSON document (`azura ask --format json`)."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def to_text(self) -> str:
        """Return the answer for a terminal; nothing in it can form a logging command."""
        parts = [self.text.rstrip()]
        linked = [b for b in self.builds if b.url and b.url not in self.text]
        if linked:
            parts.append("\n".join(f"- {b.definition or 'build'} {b.number}: {b.url}" for b in linked))
        parts.extend(f"warning: {w}" for w in self.warnings)
        return neutralize(_MARKDOWN_ESCAPE.sub(r"\1", "\n\n".join(p for p in parts if p)))




def ask(question: str, settings: Settings, history: Sequence[Dict[str, str]] = (),
        now: Callable[[], datetime] = utc_now) -> AskAnswer:
    """Return the answer to a question: through the LLM's tools when one is configured, else the offline parser.

    `history` holds the earlier {role, content} messages of a chat conversation (the LLM sees them).
    """
    from azura.redact import redact

    # A question may quote a log line, secrets and all; it is stored, shown and sent to the LLM.
    question = redact(" ".join(question.split()), settings.secrets)
    if settings.llm_provider != "none":
        from azura.ask.llm import ask_with_tools

        try:
            return ask_with_tools(question, settings, history, now())
        except LLMError as exc:
            offline = _offline(question, settings, now())
            if not offline.understood:
                raise
            return replace(offline, warnings=offline.warnings + (f"LLM not used ({exc}); answered offline",))
    return _offline(question, settings, now())


def _offline(question: str, settings: Settings, now: datetime) -> AskAnswer:
    query = parse_question(question, now)
    if query is None:
        return AskAnswer(question=question, text=NEEDS_LLM, understood=False)
    from azura.ask.answers import answer_query

    return answer_query(query, question, settings, now)
