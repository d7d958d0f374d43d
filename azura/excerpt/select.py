"""Choosing lines: fold repeats, score every kept line by its nearest anchor and the tail, fill the budget.

A line's score is the best of: its anchor's weight, fading with distance inside that anchor's context
window; and the tail's weight, fading with distance from the end of the log. Lines go in by score until
the budget is spent, then are shown in log order. Only `select_lines` knows about tokens.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from azura.excerpt.scan import Anchor, Scan, normalise_for_diff
from azura.models import Line
from azura.redact import redact
from azura.tokens import count_tokens

MIN_FOLD = 3  # a run this long of same-shape lines becomes its first line plus one fold entry
FOLD_TEXT = "… {count:,} similar lines"
_FOLD = re.compile(r"^… ([\d,]+) similar lines$")
TAIL_WEIGHT = 6.0
TAIL_REACH = 40  # entries from the end over which the tail's weight fades
TAIL_FLOOR = 1.0  # the rest of the tail still beats nothing when budget is left
REPEAT_PENALTY = 2.0  # an anchor shaped like an earlier one is usually an echo of it
NOVEL_BONUS = 2.0
WINDOW_FLOOR = 2.0  # context past an anchor's reach still beats the far tail
_FADE = 0.6  # share of an anchor's weight lost at the edge of its window


@dataclass(frozen=True)
class Entry:
    line: Line  # a log line, or a fold standing for `span` lines from line.number
    span: int = 1


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
    blank = {number for number, text in lines.items() if not text.strip()}
    ordered = [Line(number, redact(lines[number], secrets)) for number in sorted(lines) if number not in blank]
    return fold_runs(ordered, blank)


def fold_runs(lines: Sequence[Line], blank: frozenset = frozenset()) -> List[Entry]:
    """Return entries for `lines`, each run of MIN_FOLD or more adjacent same-shape lines folded."""
    entries: List[Entry] = []
    run: List[Line] = []
    for line in lines:
        if run and _adjacent(run[-1].number, line.number, blank) and _shape(run[-1]) == _shape(line):
            run.append(line)
            continue
        entries.extend(_fold(run))
        run = [line]
    entries.extend(_fold(run))
    return entries


def _shape(line: Line) -> str:
    return normalise_for_diff(line.text)


def _adjacent(before: int, after: int, blank) -> bool:
    return all(n in blank for n in range(before + 1, after))


def _fold(run: List[Line]) -> List[Entry]:
    if len(run) < MIN_FOLD:
        return [Entry(line) for line in run]
    span = run[-1].number - run[1].number + 1
    return [Entry(run[0]), Entry(Line(run[1].number, FOLD_TEXT.format(count=span)), span)]


def score_entries(entries: Sequence[Entry], anchors: Sequence[Anchor],
                  novel: Optional[Callable[[str], bool]] = None) -> List[float]:
    """Return a score per entry: the best of its anchors' fading weights and the tail's."""
    scores = [0.0] * len(entries)
    last = len(entries) - 1
    for index in range(len(entries)):
        distance = last - index
        scores[index] = TAIL_WEIGHT * (1 - _FADE * distance / TAIL_REACH) if distance < TAIL_REACH else TAIL_FLOOR
    index_of = {entry.line.number: i for i, entry in enumerate(entries)}
    for anchor in anchors:
        at = _entry_index(anchor.line, entries, index_of)
        if at is None:
            continue
        weight = anchor.rule.weight - (REPEAT_PENALTY if anchor.repeat else 0.0)
        low, high = anchor.window[0].number, anchor.window[-1].number
        for step, reach in ((-1, anchor.rule.before), (1, anchor.rule.after)):
            index, distance = at, 0
            while 0 <= index < len(entries) and low <= entries[index].line.number <= high:
                fade = _FADE * distance / (reach + 1)
                scores[index] = max(scores[index], weight * (1 - fade) if fade < _FADE else WINDOW_FLOOR)
                index, distance = index + step, distance + 1
    if novel is not None:
        for index, entry in enumerate(entries):
            if entry.span == 1 and novel(normalise_for_diff(entry.line.text)):
                scores[index] += NOVEL_BONUS
    return scores


def _entry_index(number: int, entries: Sequence[Entry], index_of: Dict[int, int]) -> Optional[int]:
    if number in index_of:
        return index_of[number]
    for i, entry in enumerate(entries):  # the anchor was folded into an entry that starts before it
        if entry.line.number <= number < entry.line.number + entry.span:
            return i
    return None


def entry_cost(entry: Entry) -> int:
    """Return the tokens an entry costs as the LLM sees it: "<number>: <text>" and a newline."""
    return count_tokens(f"{entry.line.number}: {entry.line.text}\n")


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
