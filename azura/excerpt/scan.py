"""One streaming pass over a log: find anchors at C speed, materialise only the lines near them and the tail.

Segments are visited with their neighbours (previous, current, next), so an anchor near a segment edge
still gets its context. Memory stays bounded whatever the log size: a few segments of bytes, a fixed
number of anchors per rule (the first few distinct ones and the last few), and the tail.
"""
from __future__ import annotations

import functools
import re
from collections import deque
from dataclasses import dataclass
from typing import Callable, Deque, Dict, Iterable, Iterator, List, Optional, Pattern, Sequence, Set, Tuple

from azura.excerpt.anchors import COMMAND, COMMAND_SCAN, ISSUE, PREFILTER, Rule, classify, is_verdict, issue_key
from azura.excerpt.reading import LINE_CAP, Segment, clean_line, count_breaks, numbered_lines, segments
from azura.models import Line, StepLog

FIRST_PER_RULE = 10  # distinct anchors kept from the start of the log, per rule: the first error of a cascade
LAST_PER_RULE = 6  # and the latest ones, for logs that fail late
REPEAT_PREFIX = 40  # anchors whose shapes start alike are one error reported again, for another file or test
WINDOW_BEFORE = 30  # raw lines of context kept around every anchor; the rule's reach decides their scores
WINDOW_AFTER = 60
TAIL_LINES = 400
TAIL_BYTES = 256 << 10
_CONTEXT_BYTES = 64 << 10  # bytes borrowed from a neighbouring segment for context
RE2_MEMORY = 64 << 20  # a budget RE2 may use, not memory it takes up front
_MAX_SHAPES = 10_000
# Where RE2 is not installed, the most of a line `re` searches for a signature: the excerpt keeps no
# more of a line (LINE_CAP characters after a timestamp), and it bounds the backtracking per line.
FALLBACK_LINE_BYTES = LINE_CAP + 64
_BREAK = re.compile(rb"[\r\n]")
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")

_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")
_RUNS = re.compile(r"([^\w\s])\1+")
_HEX = re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{6,}\b", re.IGNORECASE)
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][\w.@+-]+){2,}[\\/]?")


def normalise_for_diff(text: str) -> str:
    """Return the shape of a clean line, so repeats compare equal: paths, hex ids and numbers replaced, spaces
    (table columns) and repeated punctuation (progress bars, rulers) collapsed."""
    return _RUNS.sub(r"\1", _SPACES.sub(" ", _DIGITS.sub("0", _HEX.sub("#", _PATH.sub("/…", text))))).strip()


@dataclass(frozen=True)
class Anchor:
    line: int
    rule: Rule
    shape: str
    repeat: bool  # an anchor whose shape starts the same came earlier: likely an echo
    window: Tuple[Line, ...]


@dataclass(frozen=True)
class Scan:
    """What one pass over a log kept: anchors with their context, the tail, and the log's length."""

    anchors: Tuple[Anchor, ...]
    tail: Tuple[Line, ...]
    total_lines: int
    # The first failing exit code: a build stops, or starts cleaning up, at its first failing command, and
    # the cause comes before it in 765 of the 793 labelled LogChunks logs.
    verdict: Optional[int] = None
    failing_command: Optional[int] = None  # line of the last command started before the verdict


def compile_finder(patterns: Sequence[str], line_patterns: Sequence[str] = ()) -> Callable[[bytes], Iterator[int]]:
    """Return a function yielding the start offsets of matches of any pattern in a byte string.

    google-re2 scans an alternation of literals in linear time, about 45 times faster than `re`;
    patterns it cannot compile (look-arounds, back-references), and all of them where it is not
    installed, are scanned with `re` instead. `line_patterns` (the knowledge base's signatures, users'
    among them) then meet one line at a time, cut at `FALLBACK_LINE_BYTES`: `re` backtracks, and a
    pattern of the allowed shapes (azura.analyze.patterns) does bounded work on a bounded line.
    """
    try:
        import re2  # optional: the re2 extra
    except ImportError:
        re2 = None
    fast = [p for p in (*patterns, *line_patterns) if re2 is not None and _re2_compiles(p)]
    compiled = []
    if fast:
        compiled.append(_re2_alternation(tuple(fast)).finditer)
    # Each on its own: `re` refuses a global flag such as "(?i)" anywhere but at the start of a pattern.
    compiled.extend(re.compile(p.encode()).finditer for p in patterns if p not in fast)
    by_line = [re.compile(p.encode()) for p in line_patterns if p not in fast]
    if by_line:
        compiled.append(lambda data: _search_lines(by_line, data))

    def finder(data: bytes) -> Iterator[int]:
        if len(compiled) == 1:
            return (match.start() for match in compiled[0](data))
        return iter(sorted({match.start() for finditer in compiled for match in finditer(data)}))

    return finder


def _search_lines(regexes: Sequence[Pattern[bytes]], data: bytes) -> Iterator[re.Match]:
    """Yield the first match of each regex in each line of data, searching at most FALLBACK_LINE_BYTES of a line."""
    start = 0
    for line_break in (*_BREAK.finditer(data), None):
        end = line_break.start() if line_break else len(data)
        if end > start:
            stop = min(end, start + FALLBACK_LINE_BYTES)
            for regex in regexes:
                match = regex.search(data, start, stop)
                if match:
                    yield match
        start = end + 1


@functools.lru_cache(maxsize=16)
def _re2_alternation(patterns: Tuple[str, ...]):
    """Return the RE2 alternation of `patterns`, compiled once per pattern set: the steps of a run share the
    knowledge base, and RE2's matcher gets faster as it warms up."""
    import re2

    # A hundred-odd knowledge-base patterns need more than RE2's default 8 MB for the DFA; below that RE2 falls
    # back to a matcher about six times slower.
    options = re2.Options()
    options.max_mem = RE2_MEMORY
    return re2.compile("|".join(f"(?:{p})" for p in patterns).encode(), options)


@functools.lru_cache(maxsize=1024)
def _re2_compiles(pattern: str) -> bool:
    import re2

    options = re2.Options()
    options.log_errors = False  # refusing a look-around is expected; RE2 would print it to stderr
    try:
        re2.compile(pattern.encode(), options)
        return True
    except Exception:  # noqa: BLE001 - re2 raises its own error type; any failure means "use re"
        return False


def scan_log(log: StepLog, signatures: Sequence[Pattern[str]] = ()) -> Scan:
    """Return the anchors, their context and the tail of one step's log, reading it once."""
    issue_texts = tuple(key for key in (issue_key(i.message) for i in log.step.issues if i.line is None) if key)
    issue_lines = frozenset(i.line for i in log.step.issues if i.line is not None)
    finder = compile_finder((_non_capturing(PREFILTER), COMMAND_SCAN) + tuple(re.escape(t) for t in issue_texts),
                            tuple(_unanchored(p.pattern) for p in signatures))
    scanner = _Scanner(finder, signatures, issue_texts, issue_lines)
    return scanner.run(segments(log.chunks, log.first_line, source=f"the log of {log.step.name!r}"),
                       log.first_line)


def _unanchored(pattern: str) -> str:
    """Return a line pattern fit for raw bytes, where a timestamp or colour code may precede the text."""
    return pattern[1:] if pattern.startswith("^") else pattern


def _non_capturing(pattern: str) -> str:
    """Return `pattern` with its plain groups made non-capturing: RE2 then never has to track submatches."""
    return re.sub(r"(?<!\\)\((?!\?)", "(?:", pattern)


class _Scanner:
    def __init__(self, finder, signatures: Sequence[Pattern[str]], issue_texts: Sequence[str],
                 issue_lines: Iterable[int]):
        self.finder = finder
        self.signatures = signatures
        self.issue_texts = issue_texts
        self.issue_lines = sorted(issue_lines)
        self.first: Dict[str, List[Anchor]] = {}
        self.last: Dict[str, Deque[Anchor]] = {}
        self.shapes: Set[str] = set()
        self.last_command: Optional[int] = None
        self.verdict: Optional[int] = None
        self.failing_command: Optional[int] = None

    def run(self, parts: Iterable[Segment], first_line: int) -> Scan:
        prev: Optional[Segment] = None
        cur: Optional[Segment] = None
        for segment in parts:
            if cur is not None:
                self.visit(prev, cur, segment)
            prev, cur = cur, segment
        if cur is None:
            return Scan((), (), first_line - 1)
        self.visit(prev, cur, None)
        anchors = [a for pool in self.first.values() for a in pool]
        seen = {id(a) for a in anchors}
        anchors += [a for ring in self.last.values() for a in ring if id(a) not in seen]
        anchors.sort(key=lambda a: a.line)
        return Scan(tuple(anchors), tail_lines(prev, cur), cur.first_line + cur.line_count - 1, self.verdict,
                    self.failing_command)

    def visit(self, prev: Optional[Segment], cur: Segment, nxt: Optional[Segment]) -> None:
        hits = list(self.finder(cur.data))
        wanted = [n for n in self.issue_lines if cur.first_line <= n < cur.first_line + cur.line_count] \
            if self.issue_lines else []
        if not hits and not wanted:
            return
        if cur.cut:
            line = overlong_line(cur)
            rule = ISSUE if wanted else classify(line.text, self.signatures, self.issue_texts)
            if rule:
                self._note_verdict(rule, line.text, line.number)
                self._ring(rule).append(Anchor(line.number, rule, normalise_for_diff(line.text), False, (line,)))
            return
        context = _Context(prev, cur, nxt)
        numbers = _LineNumbers(cur)
        # Anchors past the first few of their rule only compete for the last places: cut their windows
        # once per segment, for the latest of each rule, so a log of a million errors stays linear.
        latest: Dict[str, Deque[Tuple[Rule, str, int, int, bool]]] = {}
        found = []
        for start, end in _hit_lines(cur.data, hits):
            text = clean_line(cur.data[start:end].decode("utf-8", errors="replace"))
            if self.verdict is None and COMMAND.match(text):
                self.last_command = numbers.at(start)
                continue
            rule = classify(text, self.signatures, self.issue_texts)
            if rule is not None:  # most hits are false alarms: only anchors need their line counted
                number = numbers.at(start)
                found.append((rule, text, number, start))
                self._note_verdict(rule, text, number)
        for number in wanted:
            start = _line_start(cur.data, number - cur.first_line)
            text = clean_line(cur.data[start:_line_end(cur.data, start)].decode("utf-8", errors="replace"))
            found.append((ISSUE, text, number, start))
        for rule, text, number, start in found:
            shape = normalise_for_diff(text)
            start_of_shape = shape[:REPEAT_PREFIX]
            repeat = start_of_shape in self.shapes
            if len(self.shapes) < _MAX_SHAPES:
                self.shapes.add(start_of_shape)
            first = self.first.setdefault(rule.name, [])
            if repeat or len(first) >= FIRST_PER_RULE:
                latest.setdefault(rule.name, deque(maxlen=LAST_PER_RULE)).append((rule, shape, number, start, repeat))
            else:
                first.append(Anchor(number, rule, shape, repeat, context.window(start, number, rule)))
        for pending in latest.values():
            for rule, shape, number, start, repeat in pending:
                self._ring(rule).append(Anchor(number, rule, shape, repeat, context.window(start, number, rule)))

    def _note_verdict(self, rule: Rule, text: str, number: int) -> None:
        if self.verdict is None and is_verdict(text, rule):
            self.verdict = number
            self.failing_command = self.last_command

    def _ring(self, rule: Rule) -> Deque[Anchor]:
        return self.last.setdefault(rule.name, deque(maxlen=LAST_PER_RULE))


def overlong_line(segment: Segment) -> Line:
    """Return the one (cut) line an overlong segment stands for."""
    return Line(segment.first_line, clean_line(segment.data.decode("utf-8", errors="replace"), segment.cut))


def _hit_lines(data: bytes, hits: Sequence[int]) -> Iterator[Tuple[int, int]]:
    """Yield (start, end) of each line holding a hit, once per line, in order."""
    line_end = 0
    has_cr = b"\r" in data
    for hit in hits:
        if hit < line_end:
            continue
        start = data.rfind(b"\n", line_end, hit) + 1
        if has_cr:
            start = max(start, data.rfind(b"\r", line_end, hit) + 1)
        start = max(start, line_end)
        line_end = _line_end(data, hit)
        yield start, line_end


class _LineNumbers:
    """Line numbers of line starts in one segment, asked for in increasing order; counts each byte once."""

    def __init__(self, segment: Segment):
        self.data = segment.data
        self.counted_at = 0
        self.number = segment.first_line

    def at(self, start: int) -> int:
        self.number += count_breaks(self.data, self.counted_at, start)
        self.counted_at = start
        return self.number


def _line_end(data: bytes, pos: int) -> int:
    found = _BREAK.search(data, pos)
    return found.start() if found else len(data)


def _line_start(data: bytes, index: int) -> int:
    """Return the offset of the line `index` lines into `data` (0-based)."""
    if index <= 0:
        return 0
    for count, match in enumerate(_LINE_BREAK.finditer(data), start=1):
        if count == index:
            return match.end()
    return len(data)


class _Context:
    """The current segment with some bytes of its neighbours, to cut context windows from."""

    def __init__(self, prev: Optional[Segment], cur: Segment, nxt: Optional[Segment]):
        self.parts = (prev, cur, nxt)
        self.data = b""
        self.offset = 0

    def _join(self) -> None:
        """Join the neighbours' bytes on first use: most segments have no anchor worth a window."""
        prev, cur, nxt = self.parts
        before = _after_first_break(prev.data[-_CONTEXT_BYTES:]) if prev and not prev.cut else b""
        after = _through_last_break(nxt.data[:_CONTEXT_BYTES]) if nxt and not nxt.cut else b""
        self.data = before + cur.data + after
        self.offset = len(before)

    def window(self, start: int, number: int, rule: Rule) -> Tuple[Line, ...]:
        """Return the clean lines around the line starting at `start` of the current segment."""
        if not self.data:
            self._join()
        at = self.offset + start
        begin = at
        for _ in range(max(rule.before, WINDOW_BEFORE)):
            if begin <= 0:
                break
            begin = self.data.rfind(b"\n", 0, begin - 1) + 1
        end = at
        for _ in range(max(rule.after, WINDOW_AFTER) + 1):
            found = self.data.find(b"\n", end)
            if found < 0:
                end = len(self.data)
                break
            end = found + 1
        first = number - count_breaks(self.data, begin, at)
        return tuple(numbered_lines(self.data[begin:end], first))


def _after_first_break(data: bytes) -> bytes:
    cut = data.find(b"\n")
    return data[cut + 1:] if cut >= 0 else b""


def _through_last_break(data: bytes) -> bytes:
    cut = data.rfind(b"\n")
    return data[:cut + 1] if cut >= 0 else b""


def tail_lines(prev: Optional[Segment], cur: Segment) -> Tuple[Line, ...]:
    """Return the last clean lines of the log, from its last two segments."""
    if cur.cut:
        head = list(tail_lines(None, prev)) if prev else []
        return tuple(head[-(TAIL_LINES - 1):] + [overlong_line(cur)])
    before = prev.data[-TAIL_BYTES:] if prev and not prev.cut and len(cur.data) < TAIL_BYTES else b""
    data = before + cur.data
    if len(data) > TAIL_BYTES:
        data = _after_first_break(data[-TAIL_BYTES:])
    elif before:
        data = _after_first_break(data)
    first = cur.first_line + cur.line_count - _line_total(data)
    return tuple(numbered_lines(data, first)[-TAIL_LINES:])


def _line_total(data: bytes) -> int:
    return count_breaks(data) + (0 if not data or data[-1:] in (b"\n", b"\r") else 1)
