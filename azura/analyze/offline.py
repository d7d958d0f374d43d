"""The offline analyzer: a diagnosis for each failed step from its excerpt alone, with no network at all.

candidates (`candidates`) -> rank (`rank`) -> facts (`facts`) -> say (`say`): the lines that could be the
cause, the one the diagnosis rests on, what its failing section says in named parts, and the words.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple

from azura.models import Excerpt, Facts, Failure, Line, Signature

if TYPE_CHECKING:
    from azura.analyze.candidates import Candidate

NOT_ALLOWED_IN_TAG = re.compile(r"[^A-Za-z0-9._-]")
UNKNOWN_SUMMARY = "No known failure signature matched."


def analyze_offline(excerpts: Sequence[Excerpt], signatures: Sequence[Signature]) -> Tuple[Failure, ...]:
    """Return one Failure per excerpt: the diagnosis its lines support, or an honest `unknown`.

    An excerpt that shares another's cause (`same_as`) gets that step's diagnosis: each cause is read once.
    """
    failures: List[Failure] = []
    for excerpt in excerpts:
        if excerpt.same_as is None:
            failures.append(_failure(excerpt, signatures))
        else:
            failures.append(failures[excerpt.same_as].sharing(excerpt.step, excerpt, excerpt.same_as))
    return tuple(failures)


def shared_by_group(analysed: Sequence[Failure], failures: Sequence[Failure]) -> Tuple[Failure, ...]:
    """Return `failures` with each group's first step replaced by its entry in `analysed` (one per group, in
    order, as the LLM improved them) and the other steps of the group given that diagnosis too."""
    leaders = iter(analysed)
    result: List[Failure] = []
    for failure in failures:
        if failure.same_as is None:
            result.append(next(leaders))
        else:
            result.append(result[failure.same_as].sharing(failure.step, failure.excerpt, failure.same_as))
    return tuple(result)


def headline(failures: Sequence[Failure]) -> str:
    """Return one sentence naming the first failure, and how many other steps failed."""
    if not failures:
        return "No failed step was found."
    first = failures[0]
    text = f"{first.summary.rstrip('.')} ({first.step.path})"
    others = len(failures) - 1
    alike = sum(1 for failure in failures if failure.same_as == 0)
    if others and alike:
        text += f" (+{alike} more failed step{'s' if alike > 1 else ''} alike"
        text += f", {others - alike} other{'s' if others - alike > 1 else ''})" if others > alike else ")"
    elif others:
        text += f" (+{others} more failed step{'s' if others > 1 else ''})"
    return text


def build_tag(failures: Sequence[Failure], prefix: str) -> str:
    """Return the build tag `<prefix>-<category of the first failure>`, limited to [A-Za-z0-9._-]."""
    category = failures[0].category if failures else "unknown"
    return NOT_ALLOWED_IN_TAG.sub("-", f"{prefix}-{category}")


def _failure(excerpt: Excerpt, signatures: Sequence[Signature]) -> Failure:
    from azura.analyze.candidates import (BEFORE, ERROR, FAILING, WRAPPER, anchor_candidates, failing_bounds,
                                          find_candidates, place_of, script_lines)
    from azura.analyze.facts import read_facts
    from azura.analyze.rank import choose_cause, last_output, section
    from azura.analyze.say import say

    issues = _issue_lines(excerpt)
    # When no line reads like an error, the lines the excerpt anchored on are the best there is.
    in_log = find_candidates(excerpt, excerpt.lines, signatures) or anchor_candidates(excerpt)
    from_issues = find_candidates(excerpt, issues, signatures)
    cause = choose_cause(in_log, from_issues)
    if cause is None:
        return _nothing_found(excerpt, issues)
    issue_cause = any(candidate is cause for candidate in from_issues)
    if issue_cause:
        lines: Sequence[Line] = issues
        candidates = from_issues
    else:
        bounds = failing_bounds(excerpt)
        script = script_lines(excerpt.lines)
        output = [line for line in excerpt.lines if line.number not in script]
        lines = [line for line in output if place_of(line.number, bounds) == cause.place]
        candidates = section(in_log)
        earlier = [candidate for candidate in in_log if candidate.place == BEFORE and candidate.kind >= ERROR]
        if cause.kind == WRAPPER and cause.place == FAILING and earlier and _printed_nothing(lines, cause, bounds):
            # A step that failed without printing a line failed on what an earlier step left it (an empty
            # variable, a missing file): the last errors before it are the lead.
            cause = choose_cause(earlier)
            lines = [line for line in output if place_of(line.number, bounds) == BEFORE]
            candidates = earlier
    if cause.kind == WRAPPER:
        before = last_output(cause, lines)
        if before is not None:  # quote what the command printed last rather than the wrapper itself
            cause = replace(cause, line=before, wrapper=cause.line)
    at = next(i for i, line in enumerate(lines) if line.number == cause.line.number and line.text == cause.line.text)
    facts = read_facts(lines, at)
    said = say(cause, lines, candidates, facts, excerpt.verdict)
    signature = cause.signature
    return Failure(step=excerpt.step, excerpt=excerpt, category=said.category, summary=said.summary,
                   root_cause=_with_cancel_note(excerpt, said.root_cause), suggested_fix=said.suggested_fix,
                   confidence=said.confidence, evidence=said.evidence,
                   signature_id=signature.id if signature is not None else None, facts=facts)


def _printed_nothing(lines: Sequence[Line], wrapper: "Candidate", bounds: Tuple[Optional[int], Optional[int]]) -> bool:
    """Return whether the failing step printed no line of its own before its wrapper (its start and script aside)."""
    start = bounds[0]
    return start is not None and not any(start < line.number < wrapper.line.number for line in lines)


def _issue_lines(excerpt: Excerpt) -> List[Line]:
    """Return the step's timeline issues as lines numbered 0, errors first (a lost agent may leave a warning only)."""
    issues = sorted(excerpt.step.issues, key=lambda issue: issue.type != "error")
    return [Line(0, issue.message) for issue in issues if issue.message.strip()]


def _nothing_found(excerpt: Excerpt, issues: Sequence[Line]) -> Failure:
    """Return the honest answer for a step whose excerpt holds no line that reads like a failure."""
    from azura.analyze.say import NOTHING, quote

    if issues:
        root_cause = f"{UNKNOWN_SUMMARY} The agent reported: {quote(issues[0].text)}"
        evidence: Tuple[Line, ...] = (issues[0],)
    else:
        root_cause = f"{UNKNOWN_SUMMARY[:-1]} and the excerpt holds no error line. Read the end of the step's log."
        evidence = ()
    return Failure(step=excerpt.step, excerpt=excerpt, category="unknown", summary=UNKNOWN_SUMMARY,
                   root_cause=_with_cancel_note(excerpt, root_cause),
                   suggested_fix=("Read the evidence and the lines above it in the log; if this failure recurs, "
                                  "add a signature for it to azura.yml."),
                   confidence=0.2 if issues else NOTHING, evidence=evidence, facts=Facts())


def _with_cancel_note(excerpt: Excerpt, root_cause: str) -> str:
    if excerpt.step.result == "canceled" and "cancel" not in root_cause.lower():
        return f"{root_cause} The step ended canceled."
    return root_cause
