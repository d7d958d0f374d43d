"""One streaming pass over a log: find anchors at C speed, materialise only the lines near them and the tail.

Segments are visited with their neighbours (previous, current, next), so an anchor near a segment edge
still gets its context. Memory stays bounded whatever the log size: a few segments of bytes, a fixed
number of anchors per rule (the first few distinct ones and the last few), and the tail.
"""
from __future__ import annotations

import functools
import re
from collections import deque
from collections.abc import Sequence as Sequence_
from dataclasses import dataclass, field
from typing import Callable, Deque, Dict, Iterable, Iterator, List, Optional, Pattern, Sequence, Set, Tuple, Union

from azura.excerpt.anchors import COMMAND, COMMAND_SCAN, ISSUE, PREFILTER, Classifier, Rule, is_verdict, issue_key
from azura.excerpt.reading import (LINE_CAP, Segment, clean_line, clean_lines, count_breaks, ends_with_break,
                                   numbered_lines, segments)
from azura.analyze.patterns import RE2_MEMORY, LazyPattern, possible_patterns, unanchored
from azura.errors import ConfigError
from azura.models import Line, StepLog

FIRST_PER_RULE = 10  # distinct anchors kept from the start of the log, per rule: the first error of a cascade
LAST_PER_RULE = 6  # and the latest ones, for logs that fail late
REPEAT_PREFIX = 40  # anchors whose shapes start alike are one error reported again, for another file or test
WINDOW_BEFORE = 30  # raw lines of context kept around every anchor; the rule's reach decides their scores
WINDOW_AFTER = 60
TAIL_LINES = 400
TAIL_BYTES = 256 << 10
_CONTEXT_BYTES = 64 << 10  # bytes borrowed from a neighbouring segment for context
_MAX_SHAPES = 10_000
APART_BYTES = 64 << 10  # a log of one segment up to this size is searched for rules and signatures apart
STEADY_SEGMENTS = 3  # segments in a row with the same possible signatures, after which all of them are searched for
# Where RE2 is not installed, the most of a line `re` searches for a signature: the excerpt keeps no
# more of a line (LINE_CAP characters after a timestamp), and it bounds the backtracking per line.
FALLBACK_LINE_BYTES = LINE_CAP + 64
_BREAK = LazyPattern(rb"[\r\n]")  # compiled when first needed: only for signatures RE2 cannot take, or without it

_DIGITS = re.compile(r"\d+")
_RUNS = re.compile(r"([^\w\s])\1+")
# compiled when a line first holds six hex digits in a row (`_HEX_RUN`), as the address pattern below
_HEX = LazyPattern(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{6,}\b", re.IGNORECASE)
_HEX_RUN = re.compile(r"[0-9a-fA-F]{6}")
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][\w.@+-]+){2,}[\\/]?")


def normalise_for_diff(text: str) -> str:
    """Return the shape of a clean line, so repeats compare equal: paths, hex ids and numbers replaced, spaces
    (table columns) and repeated punctuation (progress bars, rulers) collapsed."""
    # Each pattern runs only where it can match (a path has two separators, a hex id six hex digits in a row):
    # shapes are taken of every line near an anchor, and most lines have neither.
    if text.count("/") + text.count("\\") >= 2:
        text = _PATH.sub("/…", text)
    if _HEX_RUN.search(text):
        text = _HEX.sub("#", text)
    # split() cuts at exactly the characters \s matches, so this collapses spaces as \s+ would, edges trimmed
    return _RUNS.sub(r"\1", " ".join(_DIGITS.sub("0", text).split()))


def cause_shape(text: str) -> str:
    """Return a clean line with what differs between runs of the same failure replaced: paths, hex ids, and numbers
    that stand alone (durations, counts, line numbers, ports), spaces collapsed. A number in a name stays: test_1
    and test_2 are two tests."""
    if text.count("/") + text.count("\\") >= 2:
        text = _PATH.sub("/…", text)
    if _HEX_RUN.search(text):
        text = _HEX.sub("#", _ADDRESS.sub("0x#", text))
    return " ".join(_FREE_NUMBER.sub("0", text).split())


_FREE_NUMBER = re.compile(r"(?<![A-Za-z_])\d+")
_ADDRESS = LazyPattern(r"\b0x[0-9a-fA-F]+\b")


def shape_starts(texts: Sequence[str], known: Optional[Dict[str, str]] = None) -> List[str]:
    """Return the first REPEAT_PREFIX characters of each clean line's shape (`normalise_for_diff`).

    No pattern of the shape runs across a space, so a line cut after a space far enough in has a shape that
    starts the same: only that head is normalised (the whole line when the head's shape comes out too short).
    Every pattern treats all ASCII digits alike, so a head with its digits made zeros has the same shape: lines
    that differ only in their numbers (line numbers, counts, durations, ids) are normalised once, the shapes
    kept in `known`.
    """
    known = {} if known is None else known
    heads = []
    for text in texts:
        cut = text.find(" ", 2 * REPEAT_PREFIX)
        heads.append(text if cut < 0 else text[:cut + 1])
    starts = _shapes(_zeroed(heads), known)
    short = [i for i, (start, head, text) in enumerate(zip(starts, heads, texts))
             if len(start) < REPEAT_PREFIX and head is not text]
    for i, start in zip(short, _shapes(_zeroed([texts[i] for i in short]), known)):
        starts[i] = start
    return starts


def _zeroed(texts: Sequence[str]) -> List[str]:
    """Return each text with its digits made zeros, translating them joined: one call of `translate` looks each
    character up once, whatever the number of lines."""
    zeroed = _SEPARATOR.join(texts).translate(_ZEROS).split(_SEPARATOR)
    return zeroed if len(zeroed) == len(texts) else [text.translate(_ZEROS) for text in texts]


def _shapes(keys: Sequence[str], known: Dict[str, str]) -> List[str]:
    """Return the start of each line's shape, normalising each new line once and all of them in one pass.

    The lines go through the patterns joined by a NUL, which no clean line holds and no pattern matches or runs
    across.
    """
    new = [key for key in dict.fromkeys(keys) if key not in known]
    if all(key.strip() and _SEPARATOR not in key for key in new):
        pieces = normalise_for_diff(_SEPARATOR.join(new)).split(_SEPARATOR) if new else []
        found = dict(zip(new, (piece.strip()[:REPEAT_PREFIX] for piece in pieces)))
    else:  # a blank line would leave two separators side by side, and those fold into one
        found = {key: normalise_for_diff(key)[:REPEAT_PREFIX] for key in new}
    found.update((key, known[key]) for key in keys if key not in found)
    if len(known) + len(found) > _KNOWN_SHAPES:
        known.clear()
    known.update(found)
    return [found[key] for key in keys]


_SEPARATOR = "\0"
_ZEROS = str.maketrans("123456789", "000000000")
_KNOWN_SHAPES = 4096


@dataclass(frozen=True)
class RawWindow:
    """Whole raw lines around an anchor, cleaned when first read: most anchors of an error-dense log are
    pushed out by later ones before anything reads them."""

    data: bytes
    first_line: int
    cleaned: Dict[bytes, str] = field(compare=False, repr=False)  # shared by the windows of one segment

    def lines(self) -> Tuple[Line, ...]:
        return tuple(numbered_lines(self.data, self.first_line, cleaned=self.cleaned))


@dataclass(frozen=True)
class Anchor:
    line: int
    rule: Rule
    text: str  # its own clean line, read without cutting the window around it
    shape: str  # the start of the line's shape (shape_starts)
    repeat: bool  # an anchor whose shape starts the same came earlier: likely an echo
    context: Union[RawWindow, Tuple[Line, ...]]

    @functools.cached_property
    def window(self) -> Tuple[Line, ...]:
        """Return the clean lines around the anchor, its own among them."""
        return self.context if isinstance(self.context, tuple) else self.context.lines()


@dataclass(frozen=True)
class Scan:
    """What one pass over a log kept: anchors with their context, the tail, and the log's length."""

    anchors: Tuple[Anchor, ...]
    tail: Sequence[Line]
    total_lines: int
    # The first failing exit code: a build stops, or starts cleaning up, at its first failing command, and
    # the cause comes before it in 765 of the 793 labelled LogChunks logs.
    verdict: Optional[int] = None
    failing_command: Optional[int] = None  # line of the last command started before the verdict
    complete: bool = True  # False when the time ran out before the end of the log


Finder = Callable[[bytes], Iterator[Tuple[int, int]]]


def build_finder(patterns: Tuple[str, ...], line_patterns: Tuple[str, ...] = ()) -> Finder:
    """Return a function yielding (start, end) of each line of a byte string in which any pattern matches.

    google-re2 scans an alternation of literals in linear time, about 45 times faster than `re`; each search
    starts at the end of the line found last, so a line with many hits costs one search, and a match that runs
    over a line break (a pattern with \\s or [^...]) cannot hide the next line's own. Patterns RE2 cannot
    compile (look-arounds, back-references), and all of them where it is not installed, are scanned with `re`
    instead; `line_patterns` (the knowledge base's signatures, users' among them) then meet one line at a time,
    cut at `FALLBACK_LINE_BYTES`: `re` backtracks, and a pattern of the allowed shapes (azura.analyze.patterns)
    does bounded work on a bounded line. `compile_finder` builds one once per set of patterns.
    """
    try:
        import re2  # optional: the re2 extra
    except ImportError:
        re2 = None
    every = patterns + line_patterns
    # Usually RE2 takes them all at once; only when it refuses the whole is each pattern tried on its own.
    fast = _re2_alternation(re2, every) if re2 is not None else None
    accepted = every if fast is not None else ()
    if fast is None and re2 is not None:
        accepted = tuple(p for p in every if _re2_compiles(p))
        fast = _re2_alternation(re2, accepted) if accepted else None
    finditers = [fast.finditer] if fast is not None else []
    # Each on its own: `re` refuses a global flag such as "(?i)" anywhere but at the start of a pattern.
    finditers.extend(_compiled_bytes(p).finditer for p in patterns if p not in accepted)
    by_line = [_compiled_bytes(p) for p in line_patterns if p not in accepted]
    if by_line:
        finditers.append(lambda data: _search_lines(by_line, data))

    first_match = _first_match(fast) if fast is not None else None

    def finder(data: bytes) -> Iterator[Tuple[int, int]]:
        if len(finditers) == 1 and first_match is not None:
            return _lines_found(first_match, data)
        return _hit_lines(data, sorted({match.start() for finditer in finditers for match in finditer(data)}))

    return finder


# The steps of a run share the finders of the sets of patterns their logs need; the automata they build as they
# read stay with them.
compile_finder = functools.lru_cache(maxsize=16)(build_finder)


def _first_match(regex) -> Callable[[bytes, int], int]:
    """Return a function giving where an RE2 regex first matches bytes from an offset on, or -1.

    google-re2's `search` wraps each answer in a match object built in Python, which on an error-dense log costs
    more than RE2's search of the line; the RE2 object it wraps gives the span alone. That object is the wrapper's
    own (`_regexp`, as in google-re2 1.1): where it is not there, or answers otherwise, `search` is used.
    """
    def by_search(data: bytes, position: int) -> int:
        match = regex.search(data, position)
        return -1 if match is None else match.start()

    inner = getattr(regex, "_regexp", None)
    anchor = getattr(getattr(type(inner), "Anchor", None), "UNANCHORED", None)
    try:
        usable = inner.Match(anchor, b"", 0, 0)[0] == (-1, -1)
    except Exception:  # noqa: BLE001 - another wrapper than the one this was written for
        usable = False
    if not usable:
        return by_search

    def by_span(data: bytes, position: int) -> int:
        return inner.Match(anchor, data, position, len(data))[0][0]

    return by_span


def _lines_found(first_match: Callable[[bytes, int], int], data: bytes) -> Iterator[Tuple[int, int]]:
    """Yield (start, end) of each line holding a match, searching on from each line's end."""
    has_cr = b"\r" in data
    position = 0
    while True:
        hit = first_match(data, position)
        if hit < 0:
            return
        start, end = _line_around(data, hit, position, has_cr)
        yield start, end
        position = end if end > hit else hit + 1  # a match starting at a line break is that line's: go past it


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


def _re2_alternation(re2, patterns: Sequence[str]):
    """Return one RE2 regex matching where any of `patterns` does, over bytes; None when RE2 refuses it.

    google-re2 keeps the last 128 regexes it compiled alive, each with the automaton it built: a long log whose
    megabytes may match other signatures each would leave one behind for each (about 3 MB apiece on real build
    output). `compile_finder` keeps the finders a run reuses itself, so the module's cache is emptied.
    """
    try:
        return re2.compile("|".join(f"(?:{p})" for p in patterns).encode(), _re2_options(re2))
    except Exception:  # noqa: BLE001 - re2 raises its own error type
        return None
    finally:
        re2.purge()


def _re2_options(re2):
    options = re2.Options()
    options.log_errors = False  # a pattern RE2 refuses is expected, not worth a line on stderr
    options.max_mem = RE2_MEMORY
    return options


def _compiled_bytes(pattern: str) -> "re.Pattern[bytes]":
    try:
        return re.compile(pattern.encode())
    except re.error as exc:
        raise ConfigError(f"anchor pattern {pattern!r} is not a valid regular expression: {exc}") from None


@functools.lru_cache(maxsize=1024)
def _re2_compiles(pattern: str) -> bool:
    import re2

    try:
        re2.compile(pattern.encode(), _re2_options(re2))
        return True
    except Exception:  # noqa: BLE001 - re2 raises its own error type; any failure means "use re"
        return False


def scan_log(log: StepLog, signatures: Sequence[str] = (), expired: Callable[[], bool] = lambda: False) -> Scan:
    """Return the anchors, their context and the tail of one step's log, reading it once.

    Once `expired()` says the time is up, no more of the log is read: the scan keeps what it found so far, and
    the end of what it read stands for the tail.
    """
    issue_texts = tuple(key for key in (issue_key(i.message) for i in log.step.issues if i.line is None) if key)
    issue_lines = frozenset(i.line for i in log.step.issues if i.line is not None)
    patterns = (_non_capturing(PREFILTER), COMMAND_SCAN) + tuple(re.escape(t) for t in issue_texts)
    scanner = _Scanner(patterns, tuple(signatures), issue_texts, issue_lines)
    return scanner.run(segments(log.chunks, log.first_line, source=f"the log of {log.step.name!r}"),
                       log.first_line, expired)


def _finder(patterns: Tuple[str, ...], signatures: Tuple[str, ...]) -> Finder:
    """Return the finder of the lines where a pattern or a signature matches."""
    return compile_finder(patterns, _line_patterns(signatures))


def _line_patterns(signatures: Sequence[str]) -> Tuple[str, ...]:
    """Return the signatures as a finder searches raw bytes for them (`unanchored`)."""
    return tuple(unanchored(pattern) for pattern in signatures)


def _filtered_finder(patterns: Tuple[str, ...], signatures: Tuple[str, ...], size: int) -> Finder:
    """Return what `_finder` does for a segment of `size` bytes in which no signature but `signatures` may match; a
    short log's patterns and signatures are searched apart, each by its own finder.

    RE2 builds an alternation's automaton as it reads, a state for each mix of partial matches it meets: the rules'
    and the signatures' partial matches mixed make more states than both apart (on the 10 KB pytest example, ~40 M
    instructions against ~27 M), and the rules' automaton, the same for every log, is built once per run. Either
    search gives the lines where one of its patterns starts a match, so the two give the lines that the one gives.
    Past `APART_BYTES`, the second reading of the bytes costs more than the states spared where many steps' logs are
    alike (their automaton is built once for them all).
    """
    line_patterns = _line_patterns(signatures)
    if size > APART_BYTES or not line_patterns:
        return compile_finder(patterns, line_patterns)
    rules, found = compile_finder(patterns), compile_finder((), line_patterns)
    return lambda data: iter(sorted(set(rules(data)).union(found(data))))


def _non_capturing(pattern: str) -> str:
    """Return `pattern` with its plain groups made non-capturing: RE2 then never has to track submatches."""
    return re.sub(r"(?<!\\)\((?!\?)", "(?:", pattern)


class _Scanner:
    """One log's scan. In each segment, only the signatures that may match somewhere in it (`possible_patterns`) are
    looked for: RE2 builds an alternation's automaton as it reads, a state for each mix of partial matches it meets,
    and over a log's varied lines the automaton of all the signatures costs far more than the search for their texts
    (5 MB of the corpus' build output: ~430 ms against ~10 ms). Once `STEADY_SEGMENTS` segments in a row had the same
    possible signatures the log repeats itself, and the automaton of all of them, built once for lines alike, is
    cheaper than that search in each further megabyte. In a log of one segment, only the signatures that may match
    one of its hit lines are told apart; a longer log's segments share the classifier of all of them."""

    def __init__(self, patterns: Tuple[str, ...], signatures: Tuple[str, ...], issue_texts: Sequence[str],
                 issue_lines: Iterable[int]):
        self.patterns = patterns  # the rules' and the issue texts' patterns, for raw bytes
        self.signatures = signatures
        self.issue_texts = issue_texts
        self.issue_lines = sorted(issue_lines)
        self.first: Dict[str, List[Anchor]] = {}
        self.last: Dict[str, Deque[Anchor]] = {}
        self.shapes: Set[str] = set()
        self.known_shapes: Dict[str, str] = {}  # shapes by line with its digits made zeros (shape_starts)
        self.last_command: Optional[int] = None
        self.verdict: Optional[int] = None
        self.failing_command: Optional[int] = None
        self.possible: Optional[Tuple[str, ...]] = None  # the signatures that may match in the last segments
        self.steady = 0  # segments in a row whose possible signatures were the same
        self.filtered: Optional[Finder] = None  # the finder of those signatures

    def run(self, parts: Iterable[Segment], first_line: int, expired: Callable[[], bool]) -> Scan:
        prev: Optional[Segment] = None
        cur: Optional[Segment] = None
        complete = True
        for segment in parts:
            if cur is not None:
                if expired():  # more of the log is there and no time to read it
                    complete = False
                    break
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
                    self.failing_command, complete)

    @functools.cached_property
    def finder(self) -> Finder:
        return _finder(self.patterns, self.signatures)

    @functools.cached_property
    def classify(self) -> Classifier:
        return Classifier(self.signatures, self.issue_texts)

    def _classifier(self, texts: Sequence[str], alone: bool) -> Classifier:
        """Return the classifier of a segment's hit lines; `alone`: the segment is the whole log."""
        return Classifier(self.signatures, self.issue_texts, texts) if alone else self.classify

    def visit(self, prev: Optional[Segment], cur: Segment, nxt: Optional[Segment]) -> None:
        alone = prev is None and nxt is None
        finder = self._segment_finder(cur, alone) if self.steady < STEADY_SEGMENTS else self.finder
        hits = list(finder(cur.data))  # (start, end) of the lines holding a hit
        wanted = [n for n in self.issue_lines if cur.first_line <= n < cur.first_line + cur.line_count] \
            if self.issue_lines else []
        if not hits and not wanted:
            return
        if cur.cut:
            line = overlong_line(cur)
            rule = ISSUE if wanted else self._classifier((line.text,), alone)(line.text)
            if rule:
                if self._is_first_verdict(rule, line.text):
                    self._note_verdict(line.number)
                shape = shape_starts([line.text])[0]
                self._ring(rule).append(Anchor(line.number, rule, line.text, shape, False, (line,)))
            return
        self._keep(self._anchors_found(cur, hits, wanted, alone), cur, _Context(prev, cur, nxt))

    def _segment_finder(self, cur: Segment, alone: bool) -> Finder:
        """Return the finder of a segment's possible signatures. A log of one segment takes it from those the steps
        of the run share; one of a longer log's is its own, kept while the next segments need the same signatures
        (another segment mostly needs others), unless it would search for them all, as the log's own finder does."""
        possible = possible_patterns(self.signatures, cur.data)
        if possible != self.possible:
            self.steady = 0
            if alone:
                self.filtered = _filtered_finder(self.patterns, possible, len(cur.data))
            else:
                self.filtered = self.finder if possible == self.signatures else \
                    build_finder(self.patterns, _line_patterns(possible))
        self.steady += 1
        self.possible = possible
        return self.filtered

    def _anchors_found(self, cur: Segment, hits: Sequence[Tuple[int, int]], wanted: Sequence[int], alone: bool
                       ) -> List[Tuple[Rule, str, int, Optional[int]]]:
        """Return the anchors among a segment's hit lines and wanted lines: (rule, clean text, start of the line, its
        number when already counted), in order; note the commands started and the verdict on the way."""
        numbers = _LineNumbers(cur)
        found = []
        texts = clean_lines([cur.data[start:end].decode("utf-8", errors="replace") for start, end in hits])
        classify = self._classifier(texts, alone)
        for (start, _), text in zip(hits, texts):
            if self.verdict is None and COMMAND.match(text):
                self.last_command = numbers.at(start)
                continue
            rule = classify(text)
            if rule is not None:  # most hits are false alarms, and most anchors are pushed out: none is counted yet
                found.append((rule, text, start, self._note_verdict(numbers.at(start))
                              if self._is_first_verdict(rule, text) else None))
        for number in wanted:
            start = _line_start(cur, number - cur.first_line)
            text = clean_line(cur.data[start:_line_end(cur.data, start)].decode("utf-8", errors="replace"))
            found.append((ISSUE, text, start, number))
        return found

    def _keep(self, found: Sequence[Tuple[Rule, str, int, Optional[int]]], cur: Segment, context: _Context) -> None:
        """Keep a segment's anchors that stay: the first few distinct ones of each rule, and the latest."""
        # Anchors past the first few of their rule only compete for the last places: cut their windows
        # once per segment, for the latest of each rule, so a log of a million errors stays linear.
        kept = []  # (rule, text, shape, start, number, repeat, whether it is among the first of its rule)
        taken: Dict[str, int] = {}  # places among the first anchors taken in this segment, by rule
        latest: Dict[str, Deque[tuple]] = {}
        for (rule, text, start, number), shape in zip(found, shape_starts([text for _, text, _, _ in found],
                                                                         self.known_shapes)):
            repeat = shape in self.shapes
            if len(self.shapes) < _MAX_SHAPES:
                self.shapes.add(shape)
            places = len(self.first.setdefault(rule.name, [])) + taken.get(rule.name, 0)
            if repeat or places >= FIRST_PER_RULE:
                latest.setdefault(rule.name, deque(maxlen=LAST_PER_RULE)).append((rule, text, shape, start, number,
                                                                                  repeat, False))
            else:
                taken[rule.name] = taken.get(rule.name, 0) + 1
                kept.append((rule, text, shape, start, number, repeat, True))
        for pending in latest.values():
            kept.extend(pending)
        # Only the anchors kept need their line numbers: counted in one pass, in the order of their lines.
        at = _line_numbers(cur, sorted({start for _, _, _, start, number, _, _ in kept if number is None}))
        for rule, text, shape, start, number, repeat, first in kept:
            number = at[start] if number is None else number
            anchor = Anchor(number, rule, text, shape, repeat, context.window(start, number, rule))
            (self.first[rule.name] if first else self._ring(rule)).append(anchor)

    def _is_first_verdict(self, rule: Rule, text: str) -> bool:
        return self.verdict is None and is_verdict(text, rule)

    def _note_verdict(self, number: int) -> int:
        """Note the line of the log's first failing exit code; return its number."""
        self.verdict = number
        self.failing_command = self.last_command
        return number

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
        start, line_end = _line_around(data, hit, line_end, has_cr)
        yield start, line_end


def _line_around(data: bytes, hit: int, after: int, has_cr: bool) -> Tuple[int, int]:
    """Return (start, end) of the line holding offset `hit`; it starts at `after` or later."""
    # conditions rather than max(): this runs for every hit line of an error-dense log
    start = data.rfind(b"\n", after, hit) + 1
    if has_cr:
        after_cr = data.rfind(b"\r", after, hit) + 1
        start = after_cr if after_cr > start else start
    return (start if start > after else after), _line_end(data, hit)


class _LineNumbers:
    """Line numbers of line starts in one segment, asked for in increasing order. Each is counted on from the start
    asked for last, or back from the segment's end when that is nearer (a failure is mostly told near the end of a
    log): no byte is counted more than twice."""

    def __init__(self, segment: Segment):
        self.data = segment.data
        self.counted_at = 0
        self.number = segment.first_line
        self.end_number = segment.first_line + _breaks(segment)  # the number a line starting at the end would have

    def at(self, start: int) -> int:
        if len(self.data) - start < start - self.counted_at:
            self.number = self.end_number - count_breaks(self.data, start, len(self.data))
        else:
            self.number += count_breaks(self.data, self.counted_at, start)
        self.counted_at = start
        return self.number


def _breaks(segment: Segment) -> int:
    """Return the number of line breaks in a segment of whole lines."""
    return segment.line_count - (0 if ends_with_break(segment.data) else 1)


def _line_numbers(segment: Segment, starts: Sequence[int]) -> Dict[int, int]:
    """Return the line number of each line start given, in increasing order, of the segment."""
    numbers = _LineNumbers(segment)
    return {start: numbers.at(start) for start in starts}


def _line_end(data: bytes, pos: int) -> int:
    """Return the offset of the first line break at or after `pos`, or the length of `data`."""
    end = data.find(b"\n", pos)
    if end < 0:
        end = len(data)
    cr = data.find(b"\r", pos, end)  # a bare CR before it ends the line sooner; looked for in this line only
    return end if cr < 0 else cr


def _line_start(segment: Segment, index: int) -> int:
    """Return the offset of the line `index` lines into a segment (0-based), which holds that line."""
    data = segment.data
    if index <= 0:
        return 0
    if b"\r" not in data:  # the usual case
        later = _breaks(segment) - index  # the breaks after the one that ends the line before
        if later < index:  # nearer the end, as a timeline issue's line mostly is: stepped back to, break by break
            at = len(data)
            for _ in range(later + 1):
                at = data.rfind(b"\n", 0, at)
            return at + 1
        rest = data.split(b"\n", index)  # one split at C speed, whatever the line's depth in the segment
        return len(data) - len(rest[-1]) if len(rest) > index else len(data)
    # One match skips the lines at C speed; `data` holds more than `index` breaks (the line is in the segment),
    # so no repetition ever has to backtrack and a CRLF stays one break.
    skipped = re.match(rb"(?:[^\r\n]*(?:\r\n|\r|\n)){%d}" % index, data)
    return skipped.end() if skipped else len(data)


class _Context:
    """The current segment with some bytes of its neighbours, to cut context windows from."""

    def __init__(self, prev: Optional[Segment], cur: Segment, nxt: Optional[Segment]):
        self.parts = (prev, cur, nxt)
        self.data = b""
        self.offset = 0
        self.cleaned: Dict[bytes, str] = {}  # the windows of an error-dense segment overlap: each line cleaned once

    def _join(self) -> None:
        """Join the neighbours' bytes on first use: most segments have no anchor worth a window."""
        prev, cur, nxt = self.parts
        before = _after_first_break(prev.data[-_CONTEXT_BYTES:]) if prev and not prev.cut else b""
        after = _through_last_break(nxt.data[:_CONTEXT_BYTES]) if nxt and not nxt.cut else b""
        self.data = before + cur.data + after
        self.offset = len(before)

    def window(self, start: int, number: int, rule: Rule) -> RawWindow:
        """Return the lines around the line starting at `start` of the current segment."""
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
        return RawWindow(self.data[begin:end], first, self.cleaned)


def _after_first_break(data: bytes) -> bytes:
    cut = data.find(b"\n")
    return data[cut + 1:] if cut >= 0 else b""


def _through_last_break(data: bytes) -> bytes:
    cut = data.rfind(b"\n")
    return data[:cut + 1] if cut >= 0 else b""


def tail_lines(prev: Optional[Segment], cur: Segment) -> Sequence[Line]:
    """Return the last clean lines of the log, from its last two segments (cleaned when first read)."""
    if cur.cut:
        head = list(tail_lines(None, prev)) if prev else []
        return tuple(head[-(TAIL_LINES - 1):] + [overlong_line(cur)])
    before = prev.data[-TAIL_BYTES:] if prev and not prev.cut and len(cur.data) < TAIL_BYTES else b""
    data = before + cur.data
    if len(data) > TAIL_BYTES:
        data = _after_first_break(data[-TAIL_BYTES:])
    elif before:
        data = _after_first_break(data)
    return _Tail(data, cur.first_line + cur.line_count - _line_total(data))


class _Tail(Sequence_):
    """The last lines of a log, kept as bytes and cleaned when first read: a step that fails for the same cause as
    an earlier one is never cut down (`azura.excerpt.build_excerpts`), so its tail is never cleaned."""

    def __init__(self, data: bytes, first_line: int):
        self._data = data
        self._first_line = first_line

    @functools.cached_property
    def _lines(self) -> Tuple[Line, ...]:
        lines = tuple(numbered_lines(self._data, self._first_line, last=TAIL_LINES))
        self._data = b""
        return lines

    def __getitem__(self, index):
        return self._lines[index]

    def __len__(self) -> int:
        return len(self._lines)


def _line_total(data: bytes) -> int:
    return count_breaks(data) + (0 if not data or data[-1:] in (b"\n", b"\r") else 1)
