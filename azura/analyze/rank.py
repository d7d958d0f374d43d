"""Rank: which candidate line the diagnosis rests on.

1. A job-level verdict recorded by the agent (the job ran past its time limit, the agent was lost) wins: the
   log then ends wherever the job happened to be.
2. Where: the failing section (the failed command's output) if it holds any candidate; else what came after
   the first failing exit code; else what came before the failing command.
3. What: a cause beats an error line, which beats a wrapper; a wrapper decides only when nothing more specific
   sits in the same section.
4. New: when the last green run's log is known, lines it did not have beat lines it had.
5. Last cascade, first line: a failing command stops soon after its fatal error, so the errors nearest the end
   of the section are the ones that failed it, and the first of that cascade is the one the others follow
   from. Lines of the same signature earlier in the section belong to the same report (a runner listing its
   failing tests one by one), so the cascade reaches back over them to the first.
"""
from __future__ import annotations

from typing import Optional, Sequence

from azura.analyze.candidates import AFTER, BEFORE, CAUSE, ERROR, FAILING, Candidate, is_noise, is_progress
from azura.models import Line

# Categories of a job-level verdict: the job was stopped from outside, so the log's own lines are not the cause.
JOB_LEVEL = ("timeout", "infrastructure")
CASCADE_GAP = 30  # log lines between two errors of one cascade: an error with its context, code and notes
LAST_OUTPUT_LINES = 4
INCIDENTAL = (CAUSE + ERROR) / 2  # an incidental cause among the last errors: above error lines, below causes


def choose_cause(in_log: Sequence[Candidate], from_issues: Sequence[Candidate] = ()) -> Optional[Candidate]:
    """Return the candidate the diagnosis rests on, or None when there is none.

    `from_issues` are the step's timeline issues: they decide when they are a job-level verdict, or when the
    log holds no candidate at all (a record without a log).
    """
    job_level = [c for c in from_issues if c.signature is not None and c.kind == CAUSE
                 and c.signature.category in JOB_LEVEL]
    if job_level:
        return job_level[0]
    pool = section(in_log) or from_issues
    if not pool:
        return None
    kinds = _kinds(pool)
    best = max(kinds)
    top = [candidate for candidate, kind in zip(pool, kinds) if kind == best]
    top = [candidate for candidate in top if candidate.novel] or top
    return first_of_last_cascade(top)


def _kinds(pool: Sequence[Candidate]) -> Sequence[float]:
    """Return each candidate's kind as it counts here: an incidental cause (a network error, a missing file) is
    below every other cause, and far from the last errors of the section it is only an error line: tools print
    those and carry on."""
    errors = [candidate for candidate in pool if candidate.kind >= ERROR]
    last = _last_cascade_start(errors)
    return [(INCIDENTAL if candidate.line.number >= last else ERROR)
            if candidate.kind == CAUSE and candidate.signature is not None and candidate.signature.role == "incidental"
            else candidate.kind for candidate in pool]


def _last_cascade_start(candidates: Sequence[Candidate]) -> int:
    """Return the line number where the last cascade of `candidates` (in log order) starts; 0 if there is none."""
    if not candidates:
        return 0
    start = len(candidates) - 1
    while start > 0 and candidates[start].line.number - candidates[start - 1].line.number <= CASCADE_GAP:
        start -= 1
    return candidates[start].line.number


def last_output(cause: Candidate, lines: Sequence[Line]) -> Optional[Line]:
    """Return where the output just before a wrapper starts, when that is all there is to quote.

    A command that fails without printing an error line still says why in the last lines it printed ("M
    shiny.js", "Please rebuild ..."): up to LAST_OUTPUT_LINES of them, next to the wrapper and after the command.
    """
    at = next((i for i, line in enumerate(lines) if line.number == cause.line.number), None)
    start = None
    if at is None or cause.line.number == 0:
        return None
    index = at
    while index > 0 and at - index < LAST_OUTPUT_LINES and 0 < lines[index].number - lines[index - 1].number <= 2:
        if is_noise(lines[index - 1].text) or is_progress(lines[index - 1].text) or not lines[index - 1].text.strip():
            break
        index -= 1
        start = lines[index]
    return start


def first_of_last_cascade(candidates: Sequence[Candidate]) -> Candidate:
    """Return the first line of the last cascade of `candidates` (in log order), reaching back over its signature."""
    start = len(candidates) - 1
    while start > 0 and candidates[start].line.number - candidates[start - 1].line.number <= CASCADE_GAP:
        start -= 1
    signature = candidates[start].signature
    if signature is not None:
        same = [candidate for candidate in candidates[:start] if candidate.signature == signature]
        if same:
            return same[0]
    return candidates[start]


def section(candidates: Sequence[Candidate]) -> Sequence[Candidate]:
    """Return the candidates of the section the cause is looked for in."""
    for place in (FAILING, AFTER, BEFORE):
        inside = [candidate for candidate in candidates if candidate.place == place]
        if inside:
            return inside
    return ()
