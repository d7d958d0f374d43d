"""Reading logs: line numbering, decoding, cleaning, caps and bad input."""
import random
import tracemalloc

import pytest

from azura.errors import InputError
from azura.excerpt import build_excerpts, read_lines
from azura.excerpt import reading
from azura.models import FailedStep, StepLog


def split_every(data: bytes, size: int):
    return [data[i:i + size] for i in range(0, len(data), size)]


def texts(chunks, first_line=1):
    return [(line.number, line.text) for line in read_lines(chunks, first_line)]


def reference_lines(data: bytes):
    """The corpus labels' rule: decode, CRLF -> LF, then bare CR -> LF."""
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    parts = text.split("\n")
    if parts[-1] == "":
        parts.pop()
    return [(number, part) for number, part in enumerate(parts, start=1)]


def test_crlf_is_one_break_and_bare_cr_is_another():
    assert texts([b"a\r\nb\rc\r\r\nd\n"]) == [(1, "a"), (2, "b"), (3, "c"), (4, ""), (5, "d")]


def test_last_line_without_break_is_kept():
    assert texts([b"a\nb"]) == [(1, "a"), (2, "b")]


def test_numbering_starts_at_first_line():
    assert texts([b"x\ny\n"], first_line=500) == [(500, "x"), (501, "y")]


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 64])
def test_numbers_do_not_depend_on_chunk_or_segment_boundaries(monkeypatch, chunk_size):
    monkeypatch.setattr(reading, "SEGMENT_BYTES", 16)
    rng = random.Random(chunk_size)
    data = bytes(rng.choice(b"ab \r\n\xc3\xa9") for _ in range(3000))
    assert texts(split_every(data, chunk_size)) == [(n, t.rstrip()) for n, t in reference_lines(data)]


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 16 << 10])
def test_a_crlf_is_one_break_wherever_the_count_cuts_the_bytes(monkeypatch, piece):
    monkeypatch.setattr(reading, "_COUNT_PIECE", piece)
    rng = random.Random(piece)
    data = bytes(rng.choice(b"ab\r\n") for _ in range(3000))
    assert reading.count_breaks(data) == data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
    assert reading.count_breaks(data, 10, 2000) == len(reference_lines(b"x" + data[10:2000] + b"x")) - 1


def test_multibyte_character_split_across_chunks_is_kept_whole():
    data = "naïve → ✓\n".encode()
    assert texts(split_every(data, 1)) == [(1, "naïve → ✓")]


def test_invalid_utf8_is_replaced_never_raised():
    assert texts([b"bad \xff\xfe byte\n"]) == [(1, "bad \ufffd\ufffd byte")]


def test_timestamp_prefix_and_colour_codes_are_stripped():
    line = b"2024-01-01T12:34:56.1234567Z \x1b[31mfailed\x1b[0m here\n"
    assert texts([line]) == [(1, "failed here")]


def test_github_download_columns_before_timestamp_are_stripped():
    assert texts([b"build\tRun tests\t2021-12-01T13:00:40.1077661Z go test ./...\n"]) == [(1, "go test ./...")]


def test_timestamp_inside_a_line_is_kept():
    assert texts([b"built at 2024-01-01T12:34:56Z ok\n"]) == [(1, "built at 2024-01-01T12:34:56Z ok")]


@pytest.mark.parametrize("raw, clean", [
    ("##[error]Process completed with exit code 1.", "[error] Process completed with exit code 1."),
    ("##[warning]Deprecated input", "[warning] Deprecated input"),
    ("##[group]Run npm ci", "[group] Run npm ci"),
    ("##[section]Starting: Build", "[section] Starting: Build"),
    ("##[command]/usr/bin/bash build.sh", "[command] /usr/bin/bash build.sh"),
    ("##[endgroup]", ""),
])
def test_markers_read_plainly(raw, clean):
    assert texts([raw.encode() + b"\n"]) == [(1, clean)]


@pytest.mark.parametrize("raw", ["##vso[task.setvariable variable=x]1", "echo ##vso[build.addbuildtag]x",
                                 "text ##[error]not at start"])
def test_no_line_can_form_a_logging_command(raw):
    [(_, text)] = texts([raw.encode() + b"\n"])
    assert "##vso[" not in text and "##[" not in text


def test_long_line_is_capped_with_the_count_of_chars_cut():
    [(_, text)] = texts([b"y" * 5000 + b"\n"])
    assert text == "y" * reading.LINE_CAP + " … (3,000 chars cut)"


def test_50mb_single_line_is_capped_in_bounded_memory():
    def fifty_mb():
        for _ in range(800):
            yield b"z" * (64 << 10)
        yield b"\nafter\n"

    tracemalloc.start()
    lines = texts(fifty_mb())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert lines[0][1].endswith(f"({50 * 2**20 - reading.LINE_CAP:,} chars cut)")
    assert lines[1] == (2, "after")
    assert peak < 24 * 2**20


def test_empty_log_has_no_lines():
    assert texts([]) == [] and texts([b""]) == []


def test_binary_log_raises_input_error():
    with pytest.raises(InputError, match="binary"):
        list(read_lines([b"\x7fELF\x02\x01\x01\x00" + bytes(4096)]))


def test_text_with_a_stray_nul_is_not_binary():
    assert texts([b"ok\x00 line\n" + b"text line\n" * 50])[0] == (1, "ok line")


def test_binary_error_names_the_step():
    step = FailedStep(name="Publish artifact")
    with pytest.raises(InputError, match="Publish artifact"):
        build_excerpts([StepLog(step, [bytes(2048)])], 512)


def test_utf16_log_is_refused_with_a_hint():
    with pytest.raises(InputError, match="UTF-16"):
        list(read_lines(["hello\n".encode("utf-16")]))


def test_reading_streams_lazily():
    def endless():
        while True:
            yield b"line\n" * 1000

    first = next(iter(read_lines(endless())))
    assert (first.number, first.text) == (1, "line")


@pytest.mark.parametrize("raw", ["travis_fold:start:install", "\x1b[0Ktravis_time:end:0a1b:start=1,finish=2"])
def test_travis_fold_and_time_markers_leave_nothing(raw):
    assert reading.clean_line(raw) == ""


def test_lines_cleaned_together_read_as_each_cleaned_alone():
    # every pattern that could run on into the next line: an unended OSC title, markers, timestamps, controls
    pieces = ["2024-05-01T12:03:17.1234567Z ", "job\tstep\t", "\ufeff", "\x1b]0;title", "\x1b[31m", "\x1b(B", "\x07",
              "\x0b", "^[[1m", "\\033[0m", "##[error]", "##[endgroup]", "##[section]", "##vso[task.complete]",
              "travis_fold:start:x", "  ", "\u00a0", "error: x", "é", "x" * 1200]
    rng = random.Random(3)
    raws = ["".join(rng.choice(pieces) for _ in range(rng.randrange(6))) for _ in range(3000)]
    assert reading.clean_lines(raws) == [reading.clean_line(raw) for raw in raws]
