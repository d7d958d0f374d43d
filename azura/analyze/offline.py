"""The offline analyzer: the knowledge base's answer for each failed step, with no network at all."""
from __future__ import annotations

import re
from typing import Dict, List, Sequence, Tuple

from azura.analyze.signatures import match_signature
from azura.models import Excerpt, Failure, Line, Signature

MAX_EVIDENCE = 6
MAX_QUOTE = 160
UNKNOWN_CONFIDENCE_WITH_ERROR = 0.2
UNKNOWN_CONFIDENCE_BLIND = 0.05
# A line that looks like an error even though no signature knows it: the unknown answer quotes it.
ERROR_WORDS = re.compile(r"##\[error\]|\b(?:error|failed|failure|fatal|exception|panic)\b", re.IGNORECASE)
AGENT_MARKER = re.compile(r"^(?:##)?\[(?:error|warning)\]\s*")
NOT_ALLOWED_IN_TAG = re.compile(r"[^A-Za-z0-9._-]")


def analyze_offline(excerpts: Sequence[Excerpt], signatures: Sequence[Signature]) -> Tuple[Failure, ...]:
    """Return one Failure per excerpt: the best signature's answer, or an honest `unknown`."""
    return tuple(_failure(excerpt, signatures) for excerpt in excerpts)


def headline(failures: Sequence[Failure]) -> str:
    """Return one sentence naming the first failure, and how many other steps failed."""
    if not failures:
        return "No failed step was found."
    first = failures[0]
    text = f"{first.summary.rstrip('.')} ({first.step.path})"
    others = len(failures) - 1
    if others:
        text += f" (+{others} more failed step{'s' if others > 1 else ''})"
    return text


def build_tag(failures: Sequence[Failure], prefix: str) -> str:
    """Return the build tag `<prefix>-<category of the first failure>`, limited to [A-Za-z0-9._-]."""
    category = failures[0].category if failures else "unknown"
    return NOT_ALLOWED_IN_TAG.sub("-", f"{prefix}-{category}")


def _failure(excerpt: Excerpt, signatures: Sequence[Signature]) -> Failure:
    lines = _lines_to_read(excerpt)
    hits = _hits(lines, signatures)
    if not hits:
        return _unknown(excerpt, lines)
    rank = {signature.id: index for index, signature in enumerate(signatures)}
    # the most specific signature wins; among its lines the earliest (hits are in log order) is the
    # first error of the cascade
    best_line, best = min(hits, key=lambda hit: rank[hit[1].id])
    return Failure(
        step=excerpt.step, excerpt=excerpt, category=best.category, summary=best.summary,
        root_cause=f"{best.summary} {_cited(best_line)}",
        suggested_fix=best.hint, confidence=best.confidence,
        evidence=_evidence(best_line, best, hits), signature_id=best.id,
    )


def _lines_to_read(excerpt: Excerpt) -> List[Line]:
    """Return the excerpt's lines; for a record without a log (timeout, lost agent), its timeline issues."""
    if excerpt.lines:
        return list(excerpt.lines)
    # errors first; a job taken away from its agent may carry nothing but a warning
    issues = sorted(excerpt.step.issues, key=lambda issue: issue.type != "error")
    return [Line(0, issue.message) for issue in issues]


def _hits(lines: Sequence[Line], signatures: Sequence[Signature]) -> List[Tuple[Line, Signature]]:
    found = ((line, match_signature(line.text, signatures)) for line in lines)
    return [(line, signature) for line, signature in found if signature is not None]


def _evidence(first: Line, signature: Signature, hits: Sequence[Tuple[Line, Signature]]) -> Tuple[Line, ...]:
    """Return the winning line first, then (in log order) more of its signature's lines and other known errors."""
    order = {id(line): index for index, (line, _) in enumerate(hits)}
    same = [line for line, hit in hits if hit.id == signature.id]
    others = [line for line, hit in hits if hit.id != signature.id]
    chosen: Dict[str, Line] = {first.text: first}
    for line in same + others:
        if len(chosen) >= MAX_EVIDENCE:
            break
        chosen.setdefault(line.text, line)
    rest = sorted((line for line in chosen.values() if line is not first), key=lambda line: order[id(line)])
    return (first, *rest)


def _unknown(excerpt: Excerpt, lines: Sequence[Line]) -> Failure:
    error_lines = _error_lines(excerpt, lines)
    canceled = " The step ended canceled." if excerpt.step.result == "canceled" else ""
    if error_lines:
        root_cause = (f"No known failure signature matched.{canceled} The first error-like line is quoted. "
                      f"{_cited(error_lines[0])}")
        confidence = UNKNOWN_CONFIDENCE_WITH_ERROR
    else:
        root_cause = (f"No known failure signature matched and the excerpt holds no error line.{canceled} "
                      "Read the end of the step's log.")
        confidence = UNKNOWN_CONFIDENCE_BLIND
    return Failure(
        step=excerpt.step, excerpt=excerpt, category="unknown",
        summary="No known failure signature matched.", root_cause=root_cause,
        suggested_fix=("Read the evidence and the lines above it in the log; if this failure recurs, "
                       "add a signature for it to azura.yml."),
        confidence=confidence, evidence=tuple(error_lines[:MAX_EVIDENCE]),
    )


def _error_lines(excerpt: Excerpt, lines: Sequence[Line]) -> List[Line]:
    """Return the excerpt's anchor lines, or else the lines that look like errors, in log order."""
    anchors = set(excerpt.anchors)
    # line 0 is a message the agent recorded as an issue: an error by definition
    anchored = [line for line in lines if line.number in anchors or line.number == 0]
    return anchored or [line for line in lines if ERROR_WORDS.search(line.text)]


def _cited(line: Line) -> str:
    """Return 'Line N: text' (or the agent's message for a record without a log), shortened."""
    text = AGENT_MARKER.sub("", line.text.strip())
    if len(text) > MAX_QUOTE:
        text = text[:MAX_QUOTE - 1] + "…"
    return f"Line {line.number}: {text}" if line.number > 0 else f"The agent reported: {text}"



