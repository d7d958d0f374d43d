"""Reading a log: bytes in chunks -> segments of whole lines -> clean, numbered `Line`s.

Line breaks follow one rule everywhere: `\\r\\n` is one break, a bare `\\r` or `\\n` is one break, so
`x\\r\\r\\n` is the two lines "x" and "". Numbers are 1-based in the original log.

Bytes are cut into segments that end right after a line break. Break bytes are ASCII and never part of
a multi-byte UTF-8 character, so each segment decodes on its own with `errors="replace"`. A line longer
than `MAX_LINE_BYTES` is never held whole: its first bytes are kept and the rest only counted.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, List, Optional, Sequence

from azura.analyze.patterns import LazyPattern
from azura.errors import InputError
from azura.models import Line

SEGMENT_BYTES = 1 << 20  # scan unit: large enough for C-speed scanning, small enough for bounded memory
MAX_LINE_BYTES = 4 << 20  # a line past this is cut while streaming, before it is held in memory
LINE_CAP = 2000  # characters kept of a long line
_HEAD_BYTES = 4 * LINE_CAP + 64  # enough bytes for LINE_CAP characters of any UTF-8 text
_SNIFF_BYTES = 8192
_COUNT_PIECE = 16 << 10  # bytes whose line breaks are counted at a time (count_breaks)
_UTF8_CONTINUATION = bytes(range(0x80, 0xC0))
_BINARY_BYTES = bytes(range(0, 9)) + bytes(range(14, 27)) + bytes(range(28, 32))  # control bytes text never has

# Lines are cleaned joined, each after a "\n" (`clean_lines`): no pattern runs across one, and those that hold to
# a line's start begin with it. Those that only some logs need are compiled when first needed (`_cleaned` runs each
# only on text that may hold what it removes).
# Timestamps prefixed by Azure Pipelines and GitHub Actions, optionally after the "job<TAB>step<TAB>"
# columns of a downloaded GitHub Actions log.
_TIMESTAMP = LazyPattern(r"\n\ufeff?(?:[^\t\n]*\t[^\t\n]*\t)?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?")
# The same without the columns, for a line without a tab: it fails at once instead of looking for a tab to its end.
_TIMESTAMP_ALONE = re.compile(_TIMESTAMP.pattern.replace(r"(?:[^\t\n]*\t[^\t\n]*\t)?", ""))
# Escape sequences: CSI ("ESC[31m"), OSC ("ESC]0;title BEL"), and the short ones ("ESC(B" picks a character set,
# "ESC=" the keypad mode). Then the same written out as text, as some tools and log stores keep them: caret
# notation "^[[31m", and "\e[31m", "\033[31m", "\x1b[31m", "\u001b[31m"; only with a letter at the end, so
# a bracket expression such as grep's "^[[]" is left alone.
_ANSI = LazyPattern(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]")
_ANSI_AS_TEXT = LazyPattern(r"(?:\^\[|\\(?:e|033|x1[bB]|u001[bB]))\[[0-9;?]*[A-Za-z]")
_CONTROL = LazyPattern(r"[\x00-\x08\x0b-\x1f\x7f]")
# Azure Pipelines / GitHub Actions line markers, rewritten so they read plainly and can never act as a
# logging command again: "##[error]x" -> "[error] x"; "##[endgroup]" carries nothing, and leaves nothing of its line.
_MARKER = re.compile(r"\n##\[(?:(error|warning|section|group|command|debug|notice|info)\]|endgroup\][^\n]*)")
# Travis CI fold and timing markers carry nothing for a reader.
_TRAVIS_MARKER = LazyPattern(r"travis_(?:fold|time):[a-z]+:\S*")
_COMMAND_PREFIX = LazyPattern(r"##(?=vso\[|\[)")


@dataclass(frozen=True)
class Segment:
    """Whole lines of a log: `data` ends after a line break (except at the end of the log).

    When `cut` > 0 the segment is one overlong line: `data` is its head and `cut` the characters dropped.
    """

    data: bytes
    first_line: int
    line_count: int
    cut: int = 0


def _segment(data: bytes, first_line: int) -> Segment:
    return Segment(data, first_line, count_breaks(data) + (0 if ends_with_break(data) else 1))


def count_breaks(data: bytes, start: int = 0, end: int = -1) -> int:
    """Return the number of line breaks in data[start:end]; the slice must not split a CRLF pair."""
    if end < 0:
        end = len(data)
    if data.find(b"\r", start, end) < 0:  # the usual log: one fast look, then one count
        return data.count(b"\n", start, end)
    # bytes.splitlines breaks lines as this module does, in one pass: counting CR, LF and CRLF apart takes twice
    # as long. A piece at a time, so that a segment of short lines is never more than a few thousand objects at once.
    breaks = 0
    for at in range(start, end, _COUNT_PIECE):
        piece = data[at:min(at + _COUNT_PIECE, end)]
        breaks += len(piece.splitlines()) - (0 if ends_with_break(piece) else 1)
        if at > start and piece[:1] == b"\n" and data[at - 1:at] == b"\r":
            breaks -= 1  # a CRLF cut between two pieces: counted in each
    return breaks


def ends_with_break(data: bytes) -> bool:
    """Return whether `data` ends right after a line break."""
    return data[-1:] in (b"\n", b"\r")


def segments(chunks: Iterable[bytes], first_line: int = 1, source: str = "the log") -> Iterator[Segment]:
    """Yield the log as segments of whole lines, in order, holding at most a few MB at a time."""
    parts: List[bytes] = []
    size = 0
    line = first_line
    long_head = b""  # head of an overlong line in progress
    long_cut = 0
    sniffed = False
    for chunk in chunks:
        if not chunk:
            continue
        if not sniffed:
            _refuse_binary(chunk[:_SNIFF_BYTES], source)
            sniffed = True
        parts.append(bytes(chunk))
        size += len(chunk)
        if size < SEGMENT_BYTES:
            continue
        data = b"".join(parts)
        if long_head:
            end = _first_break_end(data)
            if end < 0:
                keep = 1 if data.endswith(b"\r") else 0  # a CR here may pair with an LF in the next chunk
                long_cut += _char_count(data[:len(data) - keep])
                parts, size = ([data[-keep:]], keep) if keep else ([], 0)
                continue
            long_cut += _char_count(data[:end].rstrip(b"\r\n"))
            yield Segment(long_head, line, 1, long_cut)
            line += 1
            long_head, long_cut = b"", 0
            data = data[end:]
        cut = _last_break_end(data)
        if cut > 0:
            segment = _segment(data[:cut], line)
            line += segment.line_count
            yield segment
            data = data[cut:]
        if len(data) > MAX_LINE_BYTES:
            long_head, long_cut = data[:_HEAD_BYTES], _char_count(data[_HEAD_BYTES:])
            data = b""
        parts, size = ([data], len(data)) if data else ([], 0)
    data = b"".join(parts)
    if long_head:
        end = _first_break_end(data)
        end = len(data) if end < 0 else end
        yield Segment(long_head, line, 1, long_cut + _char_count(data[:end].rstrip(b"\r\n")))
        line += 1
        data = data[end:]
    if data:
        yield _segment(data, line)


def _refuse_binary(head: bytes, source: str) -> None:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{source} is UTF-16 text; convert it to UTF-8 first")
    controls = len(head) - len(head.translate(None, _BINARY_BYTES))
    if head.count(0) > max(1, len(head) // 100) or controls > len(head) // 10:
        raise InputError(f"{source} looks binary (NUL bytes near its start), not a text log")


def _first_break_end(data: bytes) -> int:
    """Return the index just past the first complete line break, or -1 if it may still be incomplete."""
    lf, cr = data.find(b"\n"), data.find(b"\r")
    if cr < 0 or (0 <= lf < cr):
        return lf + 1 if lf >= 0 else -1
    if cr + 1 < len(data):
        return cr + 2 if data[cr + 1:cr + 2] == b"\n" else cr + 1
    return -1


def _last_break_end(data: bytes) -> int:
    """Return the index just past the last line break that is surely complete, or 0."""
    lf = data.rfind(b"\n")
    cr = data.rfind(b"\r", 0, len(data) - 1)  # a final CR may be the first half of CRLF
    return max(lf, cr) + 1


def _char_count(data: bytes) -> int:
    return len(data.translate(None, _UTF8_CONTINUATION))


def segment_lines(segment: Segment, start: int = 0, end: int = -1) -> List[Line]:
    """Return the clean lines of segment.data[start:end], which must begin at a line start."""
    if segment.cut:
        return [Line(segment.first_line, clean_line(_decode(segment.data), segment.cut))]
    data = segment.data if (start, end) == (0, -1) else segment.data[start:end if end >= 0 else None]
    first = segment.first_line + (count_breaks(segment.data, 0, start) if start else 0)
    return numbered_lines(data, first)


def numbered_lines(data: bytes, first_line: int, last: Optional[int] = None,
                   cleaned: Optional[Dict[bytes, str]] = None) -> List[Line]:
    """Return the clean lines of `data` (whole lines), numbered from `first_line`; only the `last` ones if given.

    Lines are cut as bytes and each is decoded on its own: a break byte is never part of a UTF-8 character,
    so this reads as decoding the whole, and lines that are not kept are never decoded or cleaned. `cleaned`
    remembers each raw line's clean text across calls whose lines overlap (the context windows of one segment).
    """
    pieces = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    if pieces and pieces[-1] == b"":
        pieces.pop()
    skipped = max(0, len(pieces) - last) if last is not None else 0
    pieces = pieces[skipped:]
    if cleaned is None:
        return [Line(number, text) for number, text in enumerate(clean_lines([_decode(raw) for raw in pieces]),
                                                                 first_line + skipped)]
    new = [raw for raw in dict.fromkeys(pieces) if raw not in cleaned]
    cleaned.update(zip(new, clean_lines([_decode(raw) for raw in new])))
    return [Line(number, cleaned[raw]) for number, raw in enumerate(pieces, first_line + skipped)]


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def clean_line(raw: str, cut: int = 0) -> str:
    """Return one raw log line (no line break in it) as a reader should see it: no timestamp, colour, control or
    marker codes; `cut` characters were dropped from its end already."""
    return _capped(_cleaned("\n" + raw)[1:].rstrip(), cut)


def clean_lines(raws: Sequence[str]) -> List[str]:
    """Return each raw log line as `clean_line` does, cleaning them together: each pattern runs once over the lines
    joined, instead of once a line (thousands of lines a segment near the anchors of an error-dense log)."""
    texts = _cleaned("\n" + "\n".join(raws))[1:].split("\n")
    if len(texts) != len(raws):  # a line holding a line break, which no log line does
        return [clean_line(raw) for raw in raws]
    return [_capped(text.rstrip(), 0) for text in texts]


def _cleaned(text: str) -> str:
    """Return lines, each after a "\n", without timestamps, colour, control and marker codes (trailing spaces kept)."""
    # Each pattern runs only where it can match, and those that start a line start with its "\n": SRE looks for a
    # pattern's literal start at C speed.
    text = _without_timestamps(text)
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    if "[" in text and ("^[" in text or "\\" in text):  # most lines hold neither
        text = _ANSI_AS_TEXT.sub("", text)
    if not text.replace("\n", "").isprintable():  # a control character (or a tab, or one Unicode calls unprintable)
        text = _CONTROL.sub("", text)
    text = _without_timestamps(text)  # some agents colour the line before the timestamp
    if "\n##[" in text:
        text = _MARKER.sub(_plain_marker, text)
    if "travis_" in text:
        text = _TRAVIS_MARKER.sub("", text)
    if "##" in text:
        text = _COMMAND_PREFIX.sub("# #", text)
    return text


def _plain_marker(marker: "re.Match[str]") -> str:
    return f"\n[{marker.group(1)}] " if marker.group(1) else "\n"


def _capped(text: str, cut: int) -> str:
    cut += max(0, len(text) - LINE_CAP)
    return f"{text[:LINE_CAP]} … ({cut:,} chars cut)" if cut else text


def _without_timestamps(text: str) -> str:
    """Return lines, each after a "\n", without the timestamp an agent put at their start (after its columns, if it
    has them)."""
    return (_TIMESTAMP if "\t" in text else _TIMESTAMP_ALONE).sub("\n", text)


def read_lines(chunks: Iterable[bytes], first_line: int = 1) -> Iterator[Line]:
    """Yield the clean, numbered lines of a log streamed as byte chunks; raise InputError if it is binary."""
    for segment in segments(chunks, first_line):
        yield from segment_lines(segment)
