"""Failing tests, read from what test runners print: the test's name, its message, where it failed, and totals.

Each runner is a `Report`: the line that names a failing test (with named groups), and where its message and
location are printed after it. The formats are the runners' documented console output.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Pattern, Sequence, Tuple

from azura.analyze.candidates import go_parent_lines
from azura.analyze.patterns import KeywordPattern, LazyPattern
from azura.models import FailingTest, Line, SourceLocation

MAX_TESTS = 5
MAX_MESSAGE = 300
NUMBERED = "numbered"  # a report numbered "1) ..." by mocha or RSpec: its lines tell which

# A line that carries an assertion's message or an exception: what the message of a failing test looks like.
_MESSAGE = (r"(?P<message>(?:[\w.$]*(?:Error|Exception|Failure|Failed)\b(?: \[\w+\])?:?.*|assert\b.*|Assert\.\w+\(\).*"
            r"|[Ee]xpected\b.*|Failed asserting\b.*|Assertion (?:with .+ )?failed.*|panicked at .*|thrown: .*"
            r"|expect\(.*\)\..*|Received .*|\S.* (?:but was|but got|to equal|to be|is not equal to) .*))")


# Minitest reports a skipped test as it reports a failing one, under "Skipped:" where a failure has "Failure:".
_SKIPPED = KeywordPattern(r"^\s*(?:\d+\) )?Skipped:\s*$", "Skipped:")


@dataclass(frozen=True)
class Report:
    """How one runner prints a failing test."""

    framework: str
    # the line naming the test: groups name, and optionally suite, file, line, message; tried only on a line that holds
    # one of its keywords, text every header holds (most lines name no test)
    header: KeywordPattern
    message: Optional[Pattern[str]] = None  # searched on the lines after the header
    location: Optional[Pattern[str]] = None  # searched on the lines after the header: groups file, line
    reach: int = 8  # lines after the header that still belong to its report
    name: str = "{name}"  # how the full name is made from the groups


def _re(pattern: str) -> Pattern[str]:
    # compiled when first searched: a log shows one or two runners' reports, and compiling all ~70 costs ~8 ms
    return LazyPattern(pattern)  # type: ignore[return-value] - it reads as the compiled pattern


_INDENTED_MESSAGE = _re(r"^\s*(?:E\s+)?" + _MESSAGE)
_JAVA_FRAME = _re(r"at (?:[\w.$<>]+\()?(?P<file>\w+\.(?:java|kt|scala|groovy)):(?P<line>\d+)\)?")
# frames of the machinery that runs JVM tests (runners, build tools, reflection): never where a test failed
_RUNNER_FRAME = _re(r"\bat (?:org\.junit|junit\.|org\.testng|org\.apache\.maven|org\.gradle|worker\.org\.gradle|sun\.reflect"
                    r"|java\.lang\.reflect|jdk\.internal|java\.base/|org\.scalatest|sbt\.)")
_PY_LOCATION = _re(r'^(?P<file>\S+\.py):(?P<line>\d+): \w+$|File "(?P<file2>[^"]+)", line (?P<line2>\d+)')

REPORTS: Tuple[Report, ...] = (
    # pytest's short summary: "FAILED tests/test_x.py::test_y - assert 1 == 2"
    Report("pytest", KeywordPattern(r"^(?P<outcome>FAILED|ERROR) (?P<name>\S+::\S+?)(?: - (?P<message>.+))?$", "::"),
           reach=0),
    # pytest's report of one test: "_____ test_y _____", then "E   assert ..." and "tests/test_x.py:42: AssertionError"
    # (or of an error in its set-up: "_____ ERROR at setup of test_y[param] _____")
    Report("pytest", KeywordPattern(r"^_{3,} (?:(?P<outcome>ERROR) at (?:setup|teardown) of )?(?P<name>(?!ERROR collecting)\S.*?)"
                                    r" _{3,}$", "___ "),
           _re(r"^E\s+(?P<message>\S.*)$"), _PY_LOCATION, reach=60),  # pytest's first "E" line is the error, whatever its words
    # unittest: "FAIL: test_y (tests.test_x.XTests)" (3.11: "(tests.test_x.XTests.test_y)"), nose: "FAIL: tests.test_x.test_y"
    Report("unittest", KeywordPattern(r"^(?P<outcome>FAIL|ERROR): (?:(?P<name>\w+) \((?P<suite>[\w.]+?)(?:\.(?P=name))?\)"
                                      r"|(?P<name2>[\w.]+))$", "FAIL: ", "ERROR: "),
           _re(r"^" + _MESSAGE), _PY_LOCATION, reach=40, name="{suite}.{name}"),
    # jest: "● Suite › test name", then the expectation
    Report("jest", KeywordPattern(r"^\s*● (?P<name>\S.* › .+)$", "●"), _INDENTED_MESSAGE,
           _re(r"\((?P<file>[^()\s]+\.[cm]?[jt]sx?):(?P<line>\d+):\d+\)"), reach=25),
    # Maven Surefire: "testFoo(com.x.FooTest)  Time elapsed: 0.01 sec  <<< FAILURE!", JUnit 5: "com.x.FooTest.testFoo  Time..."
    Report("junit", KeywordPattern(r"^(?:\[ERROR\] )?(?:(?P<name>\w+)\((?P<suite>[\w.$]+)\)|(?P<suite2>[\w.$]+)\.(?P<name2>\w+)"
                                   r"(?:\(.*\))?|(?P<name3>\w+)\(\))\s+Time elapsed: .*<<< (?P<outcome>FAILURE|ERROR)!", "<<< "),
           _re(r"^\s*" + _MESSAGE), _JAVA_FRAME, reach=8, name="{suite}.{name}"),
    # Surefire's summary: "[ERROR]   FooTest.testBar:42 expected:<1> but was:<2>" (no text that every one holds but
    # "." and ":", so it is tried on every line)
    Report("junit", KeywordPattern(r"^(?:\[ERROR\])?\s+(?P<suite>[A-Z][\w$]*)\.(?P<name>\w+):(?P<line>\d+)(?:->\S+)?"
                                   r" (?P<message>.+)$"),
           reach=0, name="{suite}.{name}"),
    # Gradle: "com.x.FooTest > testBar FAILED", then "    java.lang.AssertionError at FooTest.java:42"
    Report("junit", KeywordPattern(r"^(?P<suite>[\w.$]+) > (?P<name>.+?) FAILED$", " FAILED"), _re(r"^\s+" + _MESSAGE),
           _JAVA_FRAME, reach=12, name="{suite}.{name}"),
    # dotnet test / vstest: "  Failed Ns.Class.Test [38 ms]", then "  Error Message:", "   Assert.Equal() Failure"
    Report("dotnet", KeywordPattern(r"^\s*(?:Failed|X) (?P<name>[\w.`+<>]+(?:\(.*\))?) \[\d+(?:\.\d+)? ?m?s\]$", "s]"),
           _re(r"^\s*(?!Error Message:|Stack Trace:)(?P<message>\S.*)$"), _re(r" in (?P<file>\S+\.(?:cs|fs|vb)):line (?P<line>\d+)"),
           reach=8),
    # xUnit console: "    Ns.Class.Test [FAIL]", then the assertion
    Report("xunit", KeywordPattern(r"^\s*(?P<name>[\w.`+<>]+(?:\(.*\))?) \[FAIL\]$", " [FAIL]"), _re(r"^\s*" + _MESSAGE),
           _re(r" in (?P<file>\S+\.(?:cs|fs|vb)):line (?P<line>\d+)"), reach=8),
    # NUnit 3 console: "1) Failed : Ns.Class.Test"
    Report("nunit", KeywordPattern(r"^\s*\d+\) (?:Failed|Error) : (?P<name>[\w.`+<>]+(?:\(.*\))?)$", "Failed : ", "Error : "),
           _re(r"^\s*(?P<message>\S.*)$"), _re(r" in (?P<file>\S+\.(?:cs|fs|vb)):line (?P<line>\d+)"), reach=6),
    # go test: "--- FAIL: TestX (0.00s)", then "    x_test.go:42: got 1, want 2"
    Report("go", KeywordPattern(r"^\s*--- FAIL: (?P<name>\S+) \([\d.]+s\)$", "--- FAIL: "),
           _re(r"^\s+\S+\.go:\d+: (?P<message>.+)$"), _re(r"^\s+(?P<file>\S+\.go):(?P<line>\d+): "), reach=6),
    # cargo test: "test parser::tests::rejects_empty ... FAILED"; its panic message is under "---- name stdout ----"
    Report("cargo", KeywordPattern(r"^test (?P<name>\S+) \.\.\. FAILED$", " ... FAILED"), reach=0),
    Report("cargo", KeywordPattern(r"^---- (?P<name>\S+) stdout ----$", " stdout ----"),
           _re(r"panicked at (?:'(?P<message>.*)', \S+|\S+:\d+:\d+:$)|^(?P<message2>(?:assertion|called|index|attempt).*)$"),
           _re(r"panicked at (?:'.*', )?(?P<file>[^:'\s]+\.rs):(?P<line>\d+)"), reach=4),
    # PHPUnit: "1) Ns\\ClassTest::testFoo", then "Failed asserting that ..." and "/path/ClassTest.php:42"
    Report("phpunit", KeywordPattern(r"^\d+\) (?P<name>[\w\\]+::\w+)(?: with data set .*)?$", "::"),
           _re(r"^(?P<message>\S.*)$"), _re(r"^(?P<file>/\S+\.php):(?P<line>\d+)$"), reach=12),
    # RSpec: "rspec ./spec/x_spec.rb:12 # Foo does bar" (the failed examples list)
    Report("rspec", KeywordPattern(r"^rspec (?P<file>\./\S+\.rb):(?P<line>\d+) # (?P<name>.+)$", "rspec ./"), reach=0),
    # Minitest: "  1) Failure:", "FooTest#test_bar [test/foo_test.rb:12]:", "Expected: 1"; a test defined by a
    # block (shoulda's `should`, `it`) is named by its words: "TestKramdown#test_: kramdown should x.  [test/y.rb:106]"
    # (the excerpt may have cut its place off a long line)
    Report("minitest", KeywordPattern(r"^(?P<suite>[A-Z][\w:]*)#(?:(?P<name>\w+)|(?P<name2>\w[^\[]*?)\.?(?=\s+\[))"
                                      r"(?:\s+\[(?P<file>[^\]:]+):(?P<line>\d+)\]|\s+\[.* … \([\d,]+ chars cut\))?:?$", "#"),
           _re(r"^(?P<message>\S.*)$"), reach=3, name="{suite}#{name}"),
    # ExUnit: "  1) test does x (MyApp.FooTest)", "     test/foo_test.exs:12", "     Assertion with == failed"
    Report("exunit", KeywordPattern(r"^\s*\d+\) test (?P<name>.+) \((?P<suite>[\w.]+)\)$", ") test "),
           _re(r"^\s*(?P<message>(?:Assertion|\*\*|expected|Expected).*)$"), _re(r"^\s*(?P<file>\S+\.exs):(?P<line>\d+)$"),
           reach=8, name="{suite}: {name}"),
    # ScalaTest: "- rejects an empty order *** FAILED ***", then "  1 did not equal 2 (OrderSpec.scala:42)"
    Report("scalatest", KeywordPattern(r"^(?:\[info\] )?- (?P<name>.+) \*\*\* FAILED \*\*\*$", "*** FAILED ***"),
           _re(r"^(?:\[info\])?\s+(?P<message>\S.*?)(?: \(\w+\.scala:\d+\))?$"),
           _re(r"\((?P<file>\w+\.scala):(?P<line>\d+)\)"), reach=2),
    # tasty (Haskell): "      tables:     FAIL (0.06s)", then its message indented under it
    Report("tasty", KeywordPattern(r"^\s+(?P<name>\S.*?):\s+FAIL(?: \([\d.]+m?s\))?$", "FAIL"),
           _re(r"^\s+(?P<message>(?![-=]{4,})\S.*)$"), reach=3),
    # Erlang's Common Test: "confirms_rejects_SUITE:mixed_dead_alive_queues_reject failed on line 195", "Reason: x"
    # (a case of a suite; the same words with a helper module, "rabbit_ct_broker_helpers:rpc failed ...", name no test)
    Report("commontest", KeywordPattern(r"^\s*(?P<name>\w+_SUITE:\w+) failed on line \d+\s*$", "_SUITE:"),
           _re(r"^Reason: (?P<message>.+)$"), reach=2),
    # PHP's run-tests.php (php-src and its extensions): "FAIL Bug#71412 ArrayIterator parameter info [ext/spl/tests/x.phpt]"
    Report("phpt", KeywordPattern(r"^FAIL (?P<name>.+?) \[(?P<file>\S+\.phpt)\]\s*$", ".phpt]"), reach=0),
    # TAP (prove, tape, node-tap, bats): "not ok 3 - adds two numbers"
    Report("tap", KeywordPattern(r"^not ok \d+(?: -)? (?P<name>.+?)(?: # .*)?$", "not ok "),
           _re(r"^\s+(?:message|operator): (?P<message>.+)$"), _re(r"^\s+at: .*\((?P<file>[^():]+):(?P<line>\d+):\d+\)"),
           reach=8),
    # xcpretty and Pester: "✗ testFoo, XCTAssertEqual failed: ...", "[-] Adds two numbers 12ms" (xcpretty marks
    # xcodebuild's own errors the same way: "❌  error: Build input file cannot be found: '...'" names no test)
    Report("xctest", KeywordPattern(r"^\s*[✗❌]\s+(?P<name>(?!(?:fatal )?error:)\w[^,]*?)(?:, (?P<message>.+))?$", "✗", "❌"),
           reach=0),
    Report("pester", KeywordPattern(r"^\s*\[-\] (?P<name>.+?)(?: \d+m?s)?$", "[-] "),
           _re(r"^\s*(?P<message>(?:Expected|\w+Exception).*)$"), _re(r"at .*, (?P<file>\S+\.ps1):(?P<line>\d+)"), reach=4),
    # mocha (after "N failing") and RSpec (under "Failures:") both number their reports: "  1) Suite test:";
    # RSpec's say "Failure/Error:" under the title, mocha's print the error itself
    Report(NUMBERED, KeywordPattern(r"^\s*\d+\)(?: (?P<name>(?!(?:Failure|Error):$)\S.*?):?)?$", ")"),
           _re(r"^\s*(?:Failure/Error: .*|(?P<message>(?:expected:?|got:|[\w.:]*(?:Error|Exception)\b:?).*))$"),
           _re(r"\((?P<file>[^()\s]+\.[cm]?[jt]sx?):(?P<line>\d+):\d+\)|# (?P<file2>\./\S+\.rb):(?P<line2>\d+)"),
           reach=10),
)

# Totals printed by the runners: each pattern's groups are added up; the last total in the section counts.
COUNTS: Tuple[KeywordPattern, ...] = (
    KeywordPattern(r"^=+ .*?\b(?P<failed>\d+) failed", " failed"),  # pytest
    KeywordPattern(r"^FAILED \((?:failures=(?P<failed>\d+))?(?:, )?(?:errors=(?P<errors>\d+))?", "FAILED ("),  # unittest
    KeywordPattern(r"^Tests:\s+(?P<failed>\d+) failed", "Tests:"),  # jest
    KeywordPattern(r"^\s*(?P<failed>\d+) failing\s*$", " failing"),  # mocha
    KeywordPattern(r"Tests run: \d+, Failures: (?P<failed>\d+), Errors: (?P<errors>\d+)(?!.*Time elapsed)",
                   "Tests run: "),  # surefire total
    KeywordPattern(r"\d+ tests completed, (?P<failed>\d+) failed", " tests completed, "),  # gradle
    KeywordPattern(r"Failed!\s+- Failed:\s+(?P<failed>\d+)|Total tests: \d+\. Passed: \d+\. Failed: (?P<failed2>\d+)",
                   "Failed!", "Total tests: "),  # dotnet
    KeywordPattern(r"test result: FAILED\. \d+ passed; (?P<failed>\d+) failed", "test result: FAILED. "),  # cargo
    KeywordPattern(r"^Tests: \d+, Assertions: \d+, (?:Errors: (?P<errors>\d+), )?(?:Failures: (?P<failed>\d+))?",
                   ", Assertions: "),  # phpunit
    KeywordPattern(r"\d+ examples?, (?P<failed>\d+) failures?", " example"),  # rspec
    KeywordPattern(r"\d+ runs, \d+ assertions, (?P<failed>\d+) failures, (?P<errors>\d+) errors", " runs, "),  # minitest
    KeywordPattern(r"^\d+ (?:tests|doctests?|properties)?,? ?(?:[\d ,a-z]*?)(?P<failed>\d+) failures?", " failure"),  # exunit
    KeywordPattern(r"Failed: Total \d+, Failed (?P<failed>\d+), Errors (?P<errors>\d+)", "Failed: Total "),  # sbt
    KeywordPattern(r"Executed \d+ tests, with (?P<failed>\d+) failures?", "Executed "),  # xctest
    KeywordPattern(r"^Tests failed\s*:\s*(?P<failed>\d+) \(", "Tests failed"),  # php run-tests
)
# One of these words, whatever its case, is in every total above: a total counts what failed (PHPUnit's may count
# only assertions). A line with neither is left alone before any pattern's own keywords are looked for.
_TOTAL_WORDS = ("fail", "assertions")


def failing_tests(lines: Sequence[Line]) -> Tuple[Tuple[FailingTest, ...], Optional[int]]:
    """Return the first failing tests the lines name (in log order, each once) and the total the runner printed."""
    found: Dict[str, FailingTest] = {}
    for index, line in enumerate(lines):
        text = line.text
        if index and _SKIPPED.match(lines[index - 1].text):
            continue
        for report in REPORTS:
            header = report.header.match(text)
            if header:
                test = _test(report, header, lines, index)
                key = _short(test.name)
                found[key] = _merged(found[key], test) if key in found else test
                break
    parents = go_parent_lines(lines)  # failing only because a subtest failed: the subtests are named instead
    tests = [test for test in sorted(found.values(), key=lambda t: t.log_line or 0) if test.log_line not in parents]
    return tuple(tests[:MAX_TESTS]), _total(lines) or (len(tests) if tests else None)


def _test(report: Report, header: "re.Match[str]", lines: Sequence[Line], index: int) -> FailingTest:
    groups = {key: value for key, value in header.groupdict().items() if value is not None}
    for key in ("name", "suite", "line", "file"):
        for other in (f"{key}2", f"{key}3"):
            if other in groups:
                groups.setdefault(key, groups[other])
    following = _report_lines(report, lines, index)
    if "name" not in groups:  # mocha prints the title on the lines under "1)", the last ending with ":"
        groups["name"] = _title_under(following)
    try:
        name = report.name.format(**groups)
    except KeyError:  # a runner's shorter form, without the suite
        name = groups["name"]
    message = groups.get("message", "")
    location = _location(groups.get("file"), groups.get("line"))
    if not message and report.message is not None:
        message = next((m for m in (_first_group(report.message.search(l.text), "message") for l in following) if m), "")
    if location is None and report.location is not None:
        places = [place for place in (_match_location(report.location, l.text) for l in following
                                      if not _RUNNER_FRAME.search(l.text)) if place]
        # the test's own frame, under the frames of the assertion library that raised
        own = groups.get("suite", "").split(".")[-1].split("$")[0]
        location = next((p for p in places if own and p.file.startswith(own + ".")), places[0] if places else None)
    framework = report.framework
    if framework == NUMBERED:
        framework = "rspec" if any("Failure/Error:" in l.text or ".rb:" in l.text for l in following) else "mocha"
    return FailingTest(name=name.strip(), message=_clip(message), location=location,
                       outcome="error" if groups.get("outcome") == "ERROR" else "failed",
                       log_line=lines[index].number or None, framework=framework)


def _title_under(following: Sequence[Line]) -> str:
    title: List[str] = []
    for line in following:
        title.append(line.text.strip())
        if line.text.rstrip().endswith(":"):
            break
    return " ".join(title).rstrip(":")


def _report_lines(report: Report, lines: Sequence[Line], index: int) -> List[Line]:
    """Return the lines after a header that belong to its report: up to `reach`, before the next header."""
    following: List[Line] = []
    for line in lines[index + 1:index + 1 + report.reach]:
        if report.header.match(line.text):
            break
        following.append(line)
    return following


def _first_group(match: Optional["re.Match[str]"], name: str) -> str:
    if not match:
        return ""
    groups = match.groupdict()
    return (groups.get(name) or groups.get(f"{name}2") or "").strip()


def _match_location(pattern: Pattern[str], text: str) -> Optional[SourceLocation]:
    found = pattern.search(text)
    if not found:
        return None
    groups = found.groupdict()
    return _location(groups.get("file") or groups.get("file2"), groups.get("line") or groups.get("line2"))


def _location(file: Optional[str], line: Optional[str]) -> Optional[SourceLocation]:
    return SourceLocation(file, int(line) if line else None) if file else None


def _short(name: str) -> str:
    """Return the last part of a test's name: the same test named by its report and by a summary line."""
    return re.split(r"::|\.|#| › |: ", name.strip())[-1].split("[")[0].strip()


def _merged(first: FailingTest, other: FailingTest) -> FailingTest:
    """Return one test from two reports of it: the longer name, the first message and location found."""
    from dataclasses import replace

    return replace(first, name=max(first.name, other.name, key=len), message=first.message or other.message,
                   location=first.location or other.location,
                   log_line=min(n for n in (first.log_line, other.log_line) if n) if first.log_line or other.log_line
                   else None)


def _total(lines: Sequence[Line]) -> Optional[int]:
    # the last total counts, so the lines are read from the end: a runner prints its totals last
    for line in reversed(lines):
        lowered = line.text.lower()
        if not any(word in lowered for word in _TOTAL_WORDS):
            continue
        for pattern in COUNTS:
            found = pattern.search(line.text)
            if found:
                values = [int(v) for v in found.groupdict().values() if v]
                if values:
                    return sum(values) or None
                break
    return None


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 1].rsplit(" ", 1)[0] + "…"
