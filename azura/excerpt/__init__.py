"""The excerpt step: cut each failed step's log down to the lines that explain the failure.

read (`reading`) -> find anchors and keep their context and the tail (`scan`, `anchors`) -> fold, score,
redact and fit the token budget (`select`). Each log is read once, in bounded memory.
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from azura.excerpt.reading import read_lines
from azura.excerpt.scan import Scan, cause_shape, normalise_for_diff, scan_log
from azura.excerpt.select import candidate_entries, entry_cost, fold_span, score_entries, select_lines
from azura.models import Deadline, Excerpt, FailedStep, StepLog
from azura.redact import redact
from azura.tokens import ESTIMATE

__all__ = ["build_excerpts", "covered_lines", "fold_span", "normalise_for_diff", "read_lines"]

DEFAULT_BUDGET = 2048
FIRST_STEP_SHARE = 2  # the first failed step gets this many shares of the budget, the others one each

Novel = Callable[[FailedStep, str], bool]  # (step, normalise_for_diff(line text)) -> new since the last green run?


def build_excerpts(logs: Iterable[StepLog], budget: int = DEFAULT_BUDGET, anchor_patterns: Sequence[str] = (),
                   secrets: Sequence[str] = (), novel: Optional[Novel] = None, tokenizer: str = ESTIMATE,
                   deadline: Optional[Deadline] = None, clock: Callable[[], float] = time.monotonic
                   ) -> Tuple[Excerpt, ...]:
    """Return one redacted excerpt per step log, all together within `budget` tokens.

    Steps whose failures look the same (`cause_fingerprint`) share one excerpt: the first of them gets the lines,
    the others an empty excerpt whose `same_as` names it.

    Args:
        anchor_patterns: extra regular expressions (the knowledge base's signature patterns); a line
            matching one is the strongest kind of anchor.
        secrets: literal values to redact (the access token, secret pipeline variables).
        novel: optional; lines for which it returns True (e.g. lines absent from the last green run's
            log) are preferred. It sees lines near anchors and at the end of the log only.
        tokenizer: what counts the budget's tokens (`azura.tokens.TOKENIZERS`).
        deadline: when reading must stop: a log is read no further, and later logs not at all, once it has
            passed (their excerpts say `complete=False`); what was read is still cut down as usual.
    """
    signatures = tuple(anchor_patterns)

    def expired() -> bool:
        return deadline is not None and deadline.remaining(clock()) <= 0

    # Steps failing for the same cause (the same test on every job of a matrix, the same agent loss) are one
    # group: its first step is cut down and analysed for all of them, and the budget is shared by group.
    scanned: List[Tuple[StepLog, Scan]] = []
    leaders: List[int] = []  # for each step, the index of the first step failing for its cause (its own, or earlier)
    first_with: Dict[Tuple[str, ...], int] = {}
    for index, log in enumerate(logs):
        scan = Scan((), (), log.first_line - 1, complete=not log.chunks) if expired() else \
            scan_log(log, signatures, expired)
        fingerprint = cause_fingerprint(log.step, scan)
        leaders.append(index if fingerprint is None else first_with.setdefault(fingerprint, index))
        if leaders[index] != index:
            scan = replace(scan, tail=())  # an earlier step's lines will say it: the tail is let go, never cleaned
        scanned.append((log, scan))
    prepared = {}
    for index, (log, scan) in enumerate(scanned):
        if leaders[index] != index:
            continue
        entries = candidate_entries(scan, secrets)
        step_novel = (lambda text, step=log.step: novel(step, text)) if novel else None
        scores = score_entries(entries, scan, step_novel)
        prepared[index] = (entries, scores, [entry_cost(entry, tokenizer) for entry in entries])
    shares = dict(zip(prepared, split_budget(budget, [sum(costs) for _, _, costs in prepared.values()])))
    excerpts = []
    for index, (log, scan) in enumerate(scanned):
        step = _redacted_issues(log.step, secrets)
        if index not in prepared:
            excerpts.append(Excerpt(step=step, lines=(), tokens=0, total_lines=scan.total_lines,
                                    complete=scan.complete, verdict=scan.verdict,
                                    failing_command=scan.failing_command, same_as=leaders[index]))
            continue
        entries, scores, costs = prepared[index]
        lines, tokens = select_lines(entries, scores, costs, shares[index])
        kept = {line.number for line in lines}
        anchors = tuple(sorted({a.line for a in scan.anchors if a.line in kept}))
        novel_lines = None if novel is None else tuple(
            line.number for line in lines if novel(log.step, normalise_for_diff(line.text)))
        excerpts.append(Excerpt(step=step, lines=lines, tokens=tokens,
                                anchors=anchors, total_lines=scan.total_lines, complete=scan.complete,
                                verdict=scan.verdict, failing_command=scan.failing_command, novel_lines=novel_lines))
    return tuple(excerpts)


def cause_fingerprint(step: FailedStep, scan: Scan) -> Optional[Tuple[str, ...]]:
    """Return what a step's failure looks like with its numbers, paths and hex ids normalised, or None.

    That is every distinct anchor line of its log (the lines a cause is chosen from: signature hits, errors,
    failing tests, the exit code) and its timeline issues, each as `cause_shape` gives it: two steps with the
    same fingerprint fail for the same cause, whatever their line numbers, durations or agent paths.
    None when the scan found nothing to tell (no anchor, no issue) or ran out of time before the end of the log:
    such a step is never grouped.
    """
    if not scan.complete:
        return None
    seen = {}
    for anchor in scan.anchors:
        seen.setdefault(f"{anchor.rule.name}: {cause_shape(anchor.text)}", None)
    for issue in step.issues:
        seen.setdefault(f"issue {issue.type}: {cause_shape(issue.message)}", None)
    return tuple(seen) if seen else None


def _redacted_issues(step: FailedStep, secrets: Sequence[str]) -> FailedStep:
    """Return the step with its timeline issues redacted: they reach the report when a step has no log."""
    if not step.issues:
        return step
    return replace(step, issues=tuple(replace(issue, message=redact(issue.message, secrets)) for issue in step.issues))


def split_budget(budget: int, demands: Sequence[int]) -> List[int]:
    """Return each step's share of `budget`: the first step weighs double, unused shares flow to the rest."""
    weights = [FIRST_STEP_SHARE if i == 0 else 1 for i in range(len(demands))]
    shares = [0] * len(demands)
    open_steps = [i for i, demand in enumerate(demands) if demand > 0]
    left = budget
    while open_steps and left > 0:
        total = sum(weights[i] for i in open_steps)
        offers = {i: left * weights[i] // total for i in open_steps}
        satisfied = [i for i in open_steps if demands[i] - shares[i] <= offers[i]]
        if not satisfied:
            for i in open_steps:
                shares[i] += offers[i]
            break
        for i in satisfied:
            left -= demands[i] - shares[i]
            shares[i] = demands[i]
        open_steps = [i for i in open_steps if i not in satisfied]
    return shares


def covered_lines(excerpt: Excerpt) -> List[int]:
    """Return the log line numbers an excerpt shows, a fold entry counting for all the lines it stands for."""
    numbers: List[int] = []
    for line in excerpt.lines:
        numbers.extend(range(line.number, line.number + fold_span(line)))
    return numbers

