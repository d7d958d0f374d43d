"""The LLM's answer: its JSON schema, parsing, validation against the excerpts, and merging into the Analysis.

Everything here treats the answer as untrusted: it must match the schema, cite lines that exist in the excerpts,
and its text can neither issue a logging command nor render HTML or mention anyone.
"""
from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any, Dict, Optional, Tuple

from azura.context import Settings
from azura.errors import LLMError
from azura.models import CATEGORIES, Analysis, Failure, Usage

MAX_EVIDENCE = 5
TEXT_LIMITS = {"headline": 300, "summary": 300, "root_cause": 1500, "suggested_fix": 1500}


def answer_schema(failure_count: int, max_evidence: Optional[int] = MAX_EVIDENCE) -> Dict[str, Any]:
    """Return the JSON schema of an answer for `failure_count` failures, strict enough to constrain small models.

    The schema sent caps evidence_lines, so a server that decodes by grammar stops a model that counts on
    forever; answers are validated without the cap, and extra lines are dropped rather than the answer.
    """
    indexes = list(range(1, failure_count + 1))
    evidence: Dict[str, Any] = {"type": "array", "items": {"type": "integer"}}
    if max_evidence is not None:
        evidence["maxItems"] = max_evidence
    entry = {
        "type": "object",
        "additionalProperties": False,
        "required": ["index", "category", "summary", "root_cause", "suggested_fix", "confidence", "evidence_lines"],
        "properties": {
            "index": {"type": "integer", "enum": indexes},
            "category": {"type": "string", "enum": list(CATEGORIES)},
            "summary": {"type": "string"},
            "root_cause": {"type": "string"},
            "suggested_fix": {"type": "string"},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "evidence_lines": evidence,
        },
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["headline", "failures"],
        "properties": {
            "headline": {"type": "string"},
            "failures": {"type": "array", "items": entry, "minItems": failure_count, "maxItems": failure_count},
        },
    }


_FENCED = re.compile(r"```(?:json)?\s*(\{.*\})\s*```", re.DOTALL)


def parsed(text: str) -> Any:
    """Return the JSON object in an answer's text, or raise LLMError without quoting the text."""
    # Servers that ignore response_format often wrap the JSON in prose or a ```json fence.
    candidates = [text.strip()]
    fenced = _FENCED.search(text)
    if fenced:
        candidates.append(fenced.group(1))
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start:end + 1])
    problem = ""
    for candidate in candidates:
        try:
            # strict=False: grammar-constrained local models put raw tabs and newlines inside strings.
            return json.loads(candidate, parse_constant=_not_a_number, strict=False)
        except ValueError as exc:
            problem = problem or str(exc)  # the whole answer's problem says most; no answer text is quoted
    raise LLMError(f"the answer is not valid JSON ({problem[:80]}, {len(text)} characters)")


def _not_a_number(name: str) -> None:
    raise ValueError(f"{name} is not JSON")  # NaN and Infinity would pass a range check and break analysis.json


_WORD = re.compile(r"[^\W\d_]{3,}")


def validated(answer: Any, failure_count: int) -> Dict[str, Any]:
    """Return the answer when it matches the schema, covers every failure once and says something; else LLMError."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(answer_schema(failure_count, max_evidence=None))
    error = jsonschema.exceptions.best_match(validator.iter_errors(answer))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "the top level"
        raise LLMError(f"the answer does not match the schema (at {where}: {error.validator} check failed)")
    indexes = sorted(entry["index"] for entry in answer["failures"])
    if indexes != list(range(1, failure_count + 1)):
        raise LLMError(f"the answer covers failures {indexes}, expected 1..{failure_count}, each once")
    # Seen from small local models: schema-valid answers whose headline is "1" or whose summary is ":{".
    if not all(_WORD.search(text) for text in [answer["headline"]] + [e["summary"] for e in answer["failures"]]):
        raise LLMError("the answer's headline or a summary holds no words")
    return answer


def positioned(answer: Dict[str, Any], offline: Analysis) -> Tuple[Dict[str, Any], int]:
    """Return the answer with evidence as positions in each excerpt, and how many cited lines were not there.

    An answer that cites lines for a failure but none of them exist is not grounded in the log: LLMError.
    """
    entries, dropped = [], 0
    for entry in sorted(answer["failures"], key=lambda e: e["index"]):
        numbers = [line.number for line in offline.failures[entry["index"] - 1].excerpt.lines]
        cited = list(dict.fromkeys(entry["evidence_lines"]))
        positions = [numbers.index(n) for n in cited if n in numbers][:MAX_EVIDENCE]
        if cited and not positions:
            raise LLMError(f"the answer for failure {entry['index']} cites only line numbers that are not in "
                           "its excerpt")
        dropped += sum(1 for n in cited if n not in numbers)
        entries.append({key: entry[key] for key in ("category", "summary", "root_cause", "suggested_fix",
                                                    "confidence")} | {"evidence": positions})
    return {"headline": answer["headline"], "failures": entries}, dropped


def fits(answer: Any, offline: Analysis) -> bool:
    """Return whether a cached answer has the stored shape and its evidence positions exist in these excerpts."""
    if not isinstance(answer, dict) or not isinstance(answer.get("headline"), str):
        return False
    failures = answer.get("failures")
    if not isinstance(failures, list) or len(failures) != len(offline.failures):
        return False
    return all(_fits_entry(entry, len(failure.excerpt.lines)) for entry, failure in zip(failures, offline.failures))


def _fits_entry(entry: Any, line_count: int) -> bool:
    return (isinstance(entry, dict) and entry.get("category") in CATEGORIES
            and all(isinstance(entry.get(key), str) for key in ("summary", "root_cause", "suggested_fix"))
            and isinstance(entry.get("confidence"), (int, float)) and 0 <= entry["confidence"] <= 1
            and isinstance(entry.get("evidence"), list)
            and all(isinstance(p, int) and 0 <= p < line_count for p in entry["evidence"]))


def merged(offline: Analysis, answer: Dict[str, Any], settings: Settings, model: str, usage: Usage) -> Analysis:
    """Return `offline` with the answer's headline, failures and tag, each text made safe to render."""
    from azura.analyze.offline import build_tag

    failures = tuple(_merged_failure(failure, entry) for failure, entry in zip(offline.failures, answer["failures"]))
    return replace(offline, headline=untrusted(answer["headline"], TEXT_LIMITS["headline"]), failures=failures,
                   tag=build_tag(failures, settings.tag_prefix), provider=settings.llm_provider, model=model,
                   usage=usage)


def _merged_failure(failure: Failure, entry: Dict[str, Any]) -> Failure:
    lines = failure.excerpt.lines
    evidence = tuple(lines[position] for position in entry["evidence"])
    return replace(
        failure, category=entry["category"], confidence=float(entry["confidence"]),
        summary=untrusted(entry["summary"], TEXT_LIMITS["summary"]),
        root_cause=untrusted(entry["root_cause"], TEXT_LIMITS["root_cause"]),
        suggested_fix=untrusted(entry["suggested_fix"], TEXT_LIMITS["suggested_fix"]),
        # With no checkable line of its own, the answer still points at what the offline analysis found.
        evidence=evidence or failure.evidence,
    )


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_TAG = re.compile(r"<(/?[A-Za-z!][^<>]*)>")
_MENTION = re.compile(r"(?<![\w.])@(?=[\w<{\[])")  # not the @ inside an e-mail address


def untrusted(text: str, limit: int) -> str:
    """Return model-written `text` unable to issue logging commands, render HTML or mention anyone."""
    from azura.commands import neutralize

    text = _CONTROL.sub(" ", text).strip()
    text = _TAG.sub(lambda m: f"‹{m.group(1)}›", text)
    text = _MENTION.sub("@\u200b", text)
    text = neutralize(text)
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"
