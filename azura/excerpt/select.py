"""Choosing lines: fold repeats, value anchor clusters and the tail, fill the budget by score.

Anchors close together form a cluster; each cluster (and the end of the log) has a value from its
strongest anchor, its variety, how late in the log it sits, and whether it comes after the build's first
failing exit code or before the command that failed. A line scores its cluster's value less its distance
from the cluster's anchors; lines go in by score until the budget is spent, those no cluster reaches last,
latest first. The excerpt shows the chosen lines in log order. Only `select_lines` knows about tokens.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from azura.analyze.patterns import LazyPattern
from azura.excerpt.anchors import REASON_RULE, is_passing, is_routine, is_stack_frame
from azura.excerpt.scan import Anchor, Scan, normalise_for_diff
from azura.models import Line
from azura.redact import redact_lines
from azura.tokens import ESTIMATE, count_tokens

CONTEXT_CAP = 160  # characters kept of a line that is not an anchor: long context lines are mostly data
ANCHOR_CAP = 600  # and of an anchor line
MIN_FOLD = 3  # a run this long of same-shape lines becomes its first line plus one fold entry
FOLD_TEXT = "… {count:,} similar lines"
_FOLD = LazyPattern(r"^… ([\d,]+) similar lines$")  # compiled when first needed: most runs read no fold back
_PASSING_SHAPE = "\0passing"  # no line's normalised text: it starts with a NUL
TAIL_WEIGHT = 3.0  # the value of the log's last TAIL_REACH entries, ranked like a cluster: below most errors
TAIL_REACH = 40
REPEAT_PENALTY = 3.0  # an anchor shaped like an earlier one is usually an echo of it
CLUSTER_GAP = 12  # entries between anchors of one cluster
VARIETY_BONUS = 1.0  # per extra kind of anchor in a cluster: an error with its stack and exit code
POSITION_BONUS = 3.0  # times (position in the log)²: builds stop soon after their cause
REASON_BONUS = 1.5  # for a cluster that words a reason ("cannot", "expected", "not found")
AFTERMATH_PENALTY = 4.0  # for a cluster after the log's first failing exit code: cleanup, not cause
EARLIER_COMMAND_PENALTY = 2.0  # for a cluster before the command that failed started: that command passed
DISTANCE_COST = 2.0  # value lost per anchor reach of distance: a far context line ranks with a weaker cluster
CASCADE_COST = 0.5  # per earlier anchor in its cluster: the first error of a cascade explains the rest
CASCADE_CAP = 5
EXTENSION = 3  # context keeps going this many reaches past an anchor, ever cheaper
FRAME_STEP = 0.25  # the distance a stack frame line adds: a trace is read whole, whatever its depth
REPORT_REACH = 15  # entries back to the last pass or progress line that still bound one failure's report
ROUTINE_PENALTY = 1.0  # for a context line that reports a pass or progress
NOVEL_BONUS = 2.0  # for a line new since the last green run


@dataclass(frozen=True)
class Entry:
    line: Line  # a log line, or a fold standing for `span` lines from line.number
    span: int = 1
    after_gap: bool = False  # lines before this one were not kept: it starts a new stretch


def fold_span(line: Line) -> int:
    """Return how many log lines an excerpt line stands for: 1, or the count of a fold entry."""
    fold = _FOLD.match(line.text)
    return int(fold.group(1).replace(",", "")) if fold else 1


def candidate_entries(scan: Scan, secrets: Sequence[str]) -> List[Entry]:
    """Return the kept lines of a scan in log order, redacted, blank lines dropped and repeats folded."""
    lines: Dict[int, str] = {}
    for anchor in scan.anchors:
        lines.update((line.number, line.text) for line in anchor.window)
    lines.update((line.number, line.text) for line in scan.tail)
    anchored = {anchor.line for anchor in scan.anchors}
    blank = {number for number, text in lines.items() if not text.strip()}
    numbers = [number for number in sorted(lines) if number not in blank]
    # Redact before cutting: a cut must never leave the head of a secret behind.
    texts = redact_lines([lines[number] for number in numbers], secrets)
    ordered = [Line(number, _capped(text, ANCHOR_CAP if number in anchored else CONTEXT_CAP))
               for number, text in zip(numbers, texts)]
    return fold_runs(ordered, blank)


def _capped(text: str, cap: int) -> str:
    """Return `text` cut to `cap` characters, saying how many were cut."""
    return text if len(text) <= cap else f"{text[:cap]} … ({len(text) - cap:,} chars cut)"


def fold_runs(lines: Sequence[Line], blank: frozenset = frozenset()) -> List[Entry]:
    """Return entries for `lines`, each run of MIN_FOLD or more adjacent same-shape lines folded."""
    entries: List[Entry] = []
    run: List[Line] = []
    run_shape = None
    for line in lines:
        shape = _shape(line)  # once per line: it is compared with the line before and the line after
        if run and shape == run_shape and _adjacent(run[-1].number, line.number, blank):
            run.append(line)
            continue
        entries.extend(_fold(run))
        run, run_shape = [line], shape
    entries.extend(_fold(run))
    return [replace(entry, after_gap=True) if i and not _adjacent(
        entries[i - 1].line.number + entries[i - 1].span - 1, entry.line.number, blank) else entry
        for i, entry in enumerate(entries)]


def _shape(line: Line) -> str:
    # Passing tests fold together whatever their names: "--- PASS: TestA (0.00s)", "--- PASS: TestB (0.01s)".
    return _PASSING_SHAPE if is_passing(line.text) else normalise_for_diff(line.text)


def _adjacent(before: int, after: int, blank) -> bool:
    return all(n in blank for n in range(before + 1, after))


def _fold(run: List[Line]) -> List[Entry]:
    if len(run) < MIN_FOLD:
        return [Entry(line) for line in run]
    span = run[-1].number - run[1].number + 1
    return [Entry(run[0]), Entry(Line(run[1].number, FOLD_TEXT.format(count=span)), span)]


def score_entries(entries: Sequence[Entry], scan: Scan, novel: Optional[Callable[[str], bool]] = None) -> List[float]:
    """Return a score per entry: the value of the best cluster it belongs to, less its distance from that cluster.

    Anchors a few entries apart form one cluster (an error with its stack trace and exit code); the end of
    the log counts as one too. A cluster's value says how likely it holds the cause; an entry loses
    DISTANCE_COST for each reach (the anchor rule's lines of context on that side) it lies from the anchor.
    So the best cluster's near context goes in first, and its far context competes with the next cluster's
    near context rather than crowding it out: the excerpt hedges between the likely causes.
    """
    scores = [float("-inf")] * len(entries)
    last = len(entries) - 1
    for index in range(max(0, last - TAIL_REACH), last + 1):
        scores[index] = TAIL_WEIGHT - DISTANCE_COST * (last - index) / TAIL_REACH
    routine = [is_routine(entry.line.text) for entry in entries]
    steps = [FRAME_STEP if is_stack_frame(entry.line.text) else 1.0 for entry in entries]
    for cluster in _clusters(entries, scan.anchors, scan.verdict):
        value = _cluster_value(cluster, scan)
        for order, (at, anchor) in enumerate(cluster):
            own = value - CASCADE_COST * min(order, CASCADE_CAP)
            before = max(1, anchor.rule.before, _report_start(entries, routine, at))
            for direction, reach in ((-1, before), (1, max(1, anchor.rule.after))):
                distance = 0.0
                for index in _stretch(entries, at, direction, int(EXTENSION * reach / FRAME_STEP)):
                    distance += steps[index] if index != at else 0.0
                    if distance > EXTENSION * reach:
                        break
                    scores[index] = max(scores[index], own - DISTANCE_COST * distance / reach)
    anchored = {anchor.line for anchor in scan.anchors}
    for index, entry in enumerate(entries):
        if entry.line.number not in anchored and routine[index]:
            scores[index] -= ROUTINE_PENALTY
        if novel is not None and entry.span == 1 and novel(normalise_for_diff(entry.line.text)):
            scores[index] += NOVEL_BONUS
    return scores


def _report_start(entries: Sequence[Entry], routine: Sequence[bool], at: int) -> int:
    """Return how many entries before `at` its failure's report starts: after the last pass or progress line.

    A test runner prints a failing test's output, then its verdict ("not ok 23", "[-] Adds two"): the output
    since the previous test passed is that test's report. 0 when no such line is within REPORT_REACH.
    """
    for count, index in enumerate(range(at - 1, max(-1, at - 1 - REPORT_REACH), -1)):
        if routine[index] or entries[index + 1].after_gap:
            return count
    return 0


def _clusters(entries: Sequence[Entry], anchors: Sequence[Anchor],
              verdict: Optional[int]) -> List[List[Tuple[int, Anchor]]]:
    """Return the anchors grouped into clusters, as (entry index, anchor); none spans the first verdict."""
    index_of = {entry.line.number: i for i, entry in enumerate(entries)}
    placed = sorted(((i, a) for a in anchors for i in [_entry_index(a.line, entries, index_of)] if i is not None),
                    key=lambda pair: pair[0])
    clusters: List[List[Tuple[int, Anchor]]] = []
    for index, anchor in placed:
        previous = clusters[-1][-1] if clusters else None
        if (previous and index - previous[0] <= CLUSTER_GAP and not _gap_between(entries, previous[0], index)
                and not (verdict is not None and previous[1].line <= verdict < anchor.line)):
            clusters[-1].append((index, anchor))
        else:
            clusters.append([(index, anchor)])
    return clusters


def _cluster_value(cluster: Sequence[Tuple[int, Anchor]], scan: Scan) -> float:
    best = max(a.rule.weight - (REPEAT_PENALTY if a.repeat else 0.0) for _, a in cluster)
    kinds = {a.rule.name for _, a in cluster}
    position = cluster[-1][1].line / max(1, scan.total_lines)
    value = best + VARIETY_BONUS * min(len(kinds) - 1, 3) + POSITION_BONUS * position ** 2
    if REASON_RULE in kinds:
        value += REASON_BONUS
    if scan.verdict is not None and cluster[0][1].line > scan.verdict:
        value -= AFTERMATH_PENALTY
    if scan.failing_command is not None and cluster[-1][1].line < scan.failing_command:
        value -= EARLIER_COMMAND_PENALTY
    return value


def _stretch(entries: Sequence[Entry], start: int, step: int, length: int) -> List[int]:
    """Return the indices from `start` going `step`, at most `length` past it, stopping at a gap."""
    indices = [start]
    while len(indices) <= length:
        following = indices[-1] + step
        if not 0 <= following < len(entries) or _gap_between(entries, indices[-1], following):
            break
        indices.append(following)
    return indices


def _gap_between(entries: Sequence[Entry], a: int, b: int) -> bool:
    low, high = min(a, b), max(a, b)
    return any(entries[i].after_gap for i in range(low + 1, high + 1))


def _entry_index(number: int, entries: Sequence[Entry], index_of: Dict[int, int]) -> Optional[int]:
    if number in index_of:
        return index_of[number]
    for i, entry in enumerate(entries):  # the anchor was folded into an entry that starts before it
        if entry.line.number <= number < entry.line.number + entry.span:
            return i
    return None


def entry_cost(entry: Entry, tokenizer: str = ESTIMATE) -> int:
    """Return the tokens an entry costs as the LLM sees it: "<number>: <text>" and a newline."""
    return count_tokens(f"{entry.line.number}: {entry.line.text}\n", tokenizer)


def select_lines(entries: Sequence[Entry], scores: Sequence[float], costs: Sequence[int],
                 budget: int) -> Tuple[Tuple[Line, ...], int]:
    """Return the best-scoring entries that fit `budget` tokens, in log order, and their token count."""
    order = sorted(range(len(entries)), key=lambda i: (-scores[i], -entries[i].line.number))
    chosen: List[int] = []
    spent = 0
    for index in order:
        if spent + costs[index] <= budget:
            chosen.append(index)
            spent += costs[index]
    chosen.sort()
    return tuple(entries[i].line for i in chosen), spent
