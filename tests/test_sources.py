"""Source windows: which places a failure names, which paths are the repository's own, and how a window is cut."""
import os

import pytest

from azura.context import Settings
from azura.models import (Build, CompileError, Excerpt, FailedStep, Facts, FailingTest, Failure, Line,
                          SourceLocation, SourceWindow)
from azura.sources import (CONTEXT_LINES, MAX_LINE_CHARS, Place, _from_checkout, _window, fitted, frame_locations,
                           named_places, read_source_windows, repository_path)


def failure_with(**facts) -> Failure:
    step = FailedStep(name="Run tests")
    return Failure(step=step, excerpt=Excerpt(step=step, lines=(), tokens=0), category="test", summary="s",
                   root_cause="r", suggested_fix="f", confidence=0.5, facts=Facts(**facts))


@pytest.mark.parametrize("trace, expected", [
    ("   at A.B() in /home/vsts/work/1/s/src/A.cs:line 20", SourceLocation("/home/vsts/work/1/s/src/A.cs", 20)),
    ("    at Object.<anonymous> (src/cart/Cart.test.tsx:42:31)", SourceLocation("src/cart/Cart.test.tsx", 42, 31)),
    ("\tparse_test.go:17: got 3, want 4", SourceLocation("parse_test.go", 17)),
    ("java.lang.AssertionError: x\n\tat com.acme.OrdersTest.total(OrdersTest.java:42)",
     SourceLocation("OrdersTest.java", 42)),
])
def test_frames_of_each_runtime_name_their_file_and_line(trace, expected):
    assert frame_locations(trace)[0] == expected


def test_python_traceback_puts_the_innermost_frame_first():
    trace = ('Traceback (most recent call last):\n  File "/home/vsts/work/1/s/app/main.py", line 9, in <module>\n'
             '  File "/home/vsts/work/1/s/app/orders.py", line 41, in total\nValueError: bad')
    assert [loc.file for loc in frame_locations(trace)] == ["/home/vsts/work/1/s/app/orders.py",
                                                             "/home/vsts/work/1/s/app/main.py"]


def test_text_without_frames_names_no_place():
    assert frame_locations("Assert.Equal() Failure: Values differ\nExpected: 32.54") == []


@pytest.mark.parametrize("path, expected", [
    ("/home/vsts/work/1/s/src/Orders.cs", "src/Orders.cs"),
    ("D:\\a\\1\\s\\UnitTestProject1\\UnitTest1.cs", "UnitTestProject1/UnitTest1.cs"),
    ("/agent/_work/3/s/lib/parse.go", "lib/parse.go"),
    ("/Users/runner/work/1/s/Sources/App.swift", "Sources/App.swift"),
    ("src/cart/Cart.test.tsx", "src/cart/Cart.test.tsx"),
    ("./tests/test_orders.py", "tests/test_orders.py"),
])
def test_paths_inside_the_checkout_become_repository_paths(path, expected):
    assert repository_path(path) == expected


@pytest.mark.parametrize("path", [
    "../../etc/passwd", "/home/vsts/work/1/s/../../../../etc/shadow", "src/../../outside.cs", "/etc/passwd",
    "/usr/lib/python3.11/unittest/case.py", "C:\\Windows\\System32\\x.dll",
    "/home/vsts/work/1/s/node_modules/jest-circus/build/run.js", "venv/lib/site-packages/_pytest/runner.py",
    "https://example.com/a.js", "src/a\x00.cs", "",
])
def test_paths_outside_the_repository_or_its_own_code_are_refused(path):
    assert repository_path(path) is None


def test_the_agents_sources_folder_counts_whatever_it_is_called():
    assert repository_path("/build/src-root/app/x.py", sources_dir="/build/src-root") == "app/x.py"


def test_places_are_compile_errors_first_then_each_tests_first_repository_frame():
    error = CompileError("The type 'OrderDto' could not be found", SourceLocation("src/A.cs", 3, 5), "CS0246")
    test = FailingTest("T.Total", stack_trace="   at Xunit.Assert.Equal()\n"
                                              "   at T.Total() in /home/vsts/work/1/s/tests/T.cs:line 88\n"
                                              "   at T.Helper() in /home/vsts/work/1/s/tests/H.cs:line 4")
    places = named_places([failure_with(compile_errors=(error,), failing_tests=(test,))])
    assert places == [Place("src/A.cs", 3, "compile error CS0246"), Place("tests/T.cs", 88, "failing test T.Total")]


def test_a_bare_file_name_from_a_java_frame_is_not_asked_for():
    test = FailingTest("com.acme.OrdersTest.total", stack_trace="\tat com.acme.OrdersTest.total(OrdersTest.java:42)")
    assert named_places([failure_with(failing_tests=(test,))]) == []


def test_the_same_place_named_twice_is_one_place():
    test = FailingTest("T.a", location=SourceLocation("tests/T.cs", 88))
    again = FailingTest("T.b", location=SourceLocation("tests/T.cs", 88))
    assert len(named_places([failure_with(failing_tests=(test, again))])) == 1


def chunks(text: bytes, size: int = 7):
    return (text[i:i + size] for i in range(0, len(text), size))


def test_window_holds_the_named_line_and_its_context_numbered_as_in_the_file():
    text = "".join(f"line {n}\r\n" for n in range(1, 51)).encode()
    window = _window(chunks(text), 20)
    assert [line.number for line in window] == list(range(20 - CONTEXT_LINES, 21 + CONTEXT_LINES))
    assert window[CONTEXT_LINES] == Line(20, "line 20")


def test_window_at_the_top_of_a_file_starts_at_line_one():
    assert _window(chunks(b"a\nb\nc\n"), 1) == (Line(1, "a"), Line(2, "b"), Line(3, "c"))


def test_a_line_past_the_end_of_the_file_gives_no_window():
    assert _window(chunks(b"a\nb\n"), 40) == ()


def test_a_binary_file_gives_no_window():
    assert _window(chunks(b"MZ\x90\x00\x03\nline\n"), 2) == ()


def test_long_lines_are_cut_after_their_secrets_are_redacted(tmp_path):
    token = "ghp_" + "A1b2" * 10
    (tmp_path / "a.js").write_text("x" * (MAX_LINE_CHARS - 20) + f" {token}\n")
    settings = Settings(mode="pipeline", sources_dir=str(tmp_path))
    build = Build(id=1, number="1", url=None, definition="ci", result="failed", repository_type="GitHub")

    ((window,), warnings) = read_source_windows(settings, build, [Place("a.js", 1, "r")])

    (line,) = window.lines
    assert len(line.text) == MAX_LINE_CHARS and line.text.endswith("…") and "ghp_A1b2" not in line.text
    assert warnings == ()


def test_checkout_reads_a_file_of_the_repository(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("one\ntwo\nthree\n")
    assert [line.text for line in _from_checkout(str(tmp_path), Place("src/a.py", 2, "r"))] == ["one", "two", "three"]


def test_checkout_never_follows_a_link_out_of_the_repository(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret\n")
    checkout = tmp_path / "s"
    checkout.mkdir()
    os.symlink(outside, checkout / "link.py")
    assert _from_checkout(str(checkout), Place("link.py", 1, "r")) == ()


def test_windows_shrink_around_their_line_to_fit_the_budget():
    lines = tuple(Line(n, "word " * 10) for n in range(16, 25))
    (window,) = fitted([SourceWindow(SourceLocation("a.py", 20), lines)], budget=60)
    assert 20 in [line.number for line in window.lines] and len(window.lines) < len(lines)
    assert fitted([SourceWindow(SourceLocation("a.py", 20), lines)], budget=5) == ()
