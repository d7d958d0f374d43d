import gzip
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from azura.analyze.offline import analyze_offline, build_tag, headline
from azura.analyze.say import MAX_EVIDENCE
from azura.analyze.signatures import bundled_signatures
from azura.models import Excerpt, FailedStep, Issue, Line, StepLog

SIGNATURES = bundled_signatures()
EXAMPLES = Path(__file__).resolve().parents[1] / "azura" / "examples"
CORPUS = Path(os.environ.get("AZURA_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus"))
LOGCHUNKS = CORPUS / "logchunks"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
MAX_CHUNK_NEWLINES = 120  # chunks keep blank lines from CRLF normalisation: about 60 log lines


def excerpt(*texts, first=1, anchors=(), **step):
    """Return an excerpt of consecutive lines starting at line `first`."""
    lines = tuple(Line(first + index, text) for index, text in enumerate(texts))
    return Excerpt(step=FailedStep(**{"name": "Build", **step}), lines=lines, tokens=10 * len(lines), anchors=anchors)


def analyse_one(an_excerpt):
    (failure,) = analyze_offline([an_excerpt], SIGNATURES)
    return failure


def test_compile_error_gives_category_fix_and_first_error_as_first_evidence():
    failure = analyse_one(excerpt(
        "  Determining projects to restore...",
        "src/Api/Orders.cs(42,17): error CS0246: The type or namespace name 'OrderDto' could not be found",
        "src/Api/Orders.cs(58,20): error CS0246: The type or namespace name 'OrderDto' could not be found",
        "##[error]Error: The process '/usr/bin/dotnet' failed with exit code 1", first=120))
    assert (failure.category, failure.signature_id) == ("compile", "csharp-compile-error")
    assert [line.number for line in failure.evidence] == [121, 122, 123]
    assert "line 121" in failure.root_cause.lower() and "OrderDto" in failure.root_cause
    assert failure.suggested_fix and failure.confidence >= 0.9


@pytest.mark.parametrize("path, shown", [
    ("/home/vsts/work/1/s/src/Api/Orders.cs", "src/Api/Orders.cs"),  # Microsoft-hosted Linux agent
    ("D:\\a\\1\\s\\src\\Api\\Orders.cs", "src\\Api\\Orders.cs"),  # Microsoft-hosted Windows agent
    ("/agent/_work/3/s/src/Api/Orders.cs", "src/Api/Orders.cs"),  # self-hosted agent
])
def test_a_compile_error_in_the_agents_checkout_is_named_from_the_repository_root(path, shown):
    failure = analyse_one(excerpt(
        f"{path}(42,17): error CS0246: The type or namespace name 'OrderDto' could not be found [{path}proj]",
        "##[error]Error: The process '/usr/bin/dotnet' failed with exit code 1", first=46))
    assert f"at {shown}:42:17" in failure.summary and f"`{shown}:42:17`" in failure.suggested_fix
    assert path not in failure.summary and failure.facts.compile_errors[0].location.file == path  # facts as logged


def test_a_path_outside_the_agents_checkout_is_named_as_the_log_wrote_it():
    failure = analyse_one(excerpt(
        "/usr/include/c++/12/bits/stl_vector.h:1123:7: error: no matching function for call to 'f'",
        "make: *** [Makefile:12: all] Error 1", first=10))
    assert "/usr/include/c++/12/bits/stl_vector.h:1123:7" in failure.summary


def test_specific_signature_wins_over_an_earlier_generic_line():
    failure = analyse_one(excerpt(
        "##[error]Bash exited with code '1'.",
        "FAILED tests/test_orders.py::test_total - assert 107.0 == 108.0"))
    assert failure.category == "test"
    assert failure.evidence[0].number == 2


def test_must_not_call_a_generic_exit_code_line_unknown():
    failure = analyse_one(excerpt("doing things", "##[error]Bash exited with code '1'."))
    assert failure.category == "script"
    assert failure.confidence < 0.5


def test_evidence_is_taken_from_the_excerpt_and_capped():
    texts = [f"src/m{i}.c:{i}:1: error: expected ';' before '}}' token" for i in range(1, 20)]
    failure = analyse_one(excerpt(*texts, first=500))
    assert len(failure.evidence) == MAX_EVIDENCE
    shown = {(line.number, line.text) for line in failure.excerpt.lines}
    assert all((line.number, line.text) in shown for line in failure.evidence)


def test_unknown_quotes_the_first_anchor_with_low_confidence():
    failure = analyse_one(excerpt("starting", "Frobnicator gave up: quux not ready", "cleanup", first=40, anchors=(41,)))
    assert failure.category == "unknown" and failure.signature_id is None
    assert "No known failure signature matched" in failure.root_cause
    assert "Line 41: Frobnicator gave up" in failure.root_cause
    assert failure.evidence == (Line(41, "Frobnicator gave up: quux not ready"),)
    assert failure.confidence <= 0.2


def test_unknown_without_any_error_line_says_so_and_claims_nothing():
    failure = analyse_one(excerpt("Compiling 12 files", "Done."))
    assert failure.category == "unknown"
    assert "holds no error line" in failure.root_cause
    assert failure.evidence == ()
    assert failure.confidence < 0.1


def test_job_record_without_log_is_analysed_from_its_issue_messages():
    step = FailedStep(name="Linux", job="Linux", record_type="Job", result="canceled", issues=(
        Issue("The job running on agent Hosted Agent ran longer than the maximum time of 60 minutes. "
              "For more information, see https://go.microsoft.com/fwlink/?linkid=2077134"),))
    failure = analyse_one(Excerpt(step=step, lines=(), tokens=0))
    assert failure.category == "timeout"
    assert failure.evidence[0].number == 0
    assert failure.root_cause.startswith("The job hit its time limit") and "The agent reported" in failure.root_cause


def test_unknown_issue_message_of_a_record_without_log_is_quoted():
    step = FailedStep(name="Deploy", record_type="Stage", issues=(Issue("Approval of the stage was rejected."),))
    failure = analyse_one(Excerpt(step=step, lines=(), tokens=0))
    assert failure.category == "unknown"
    assert "The agent reported: Approval of the stage was rejected." in failure.root_cause
    assert failure.evidence == (Line(0, "Approval of the stage was rejected."),)


def test_issue_messages_given_as_line_zero_are_analysed():
    failure = analyse_one(excerpt("We stopped hearing from agent Azure Pipelines 3. Verify the agent machine is running.",
                                  first=0, record_type="Job"))
    assert failure.category == "infrastructure"


def test_headline_names_the_first_failure_and_counts_the_others():
    failures = analyze_offline([
        excerpt("npm ERR! code ERESOLVE", stage="CI", job="Web", name="npm install"),
        excerpt("FAILED tests/a.py::test_b - assert 1 == 2", name="pytest"),
        excerpt("FAILED tests/a.py::test_c - assert 1 == 2", name="pytest 2"),
    ], SIGNATURES)
    text = headline(failures)
    assert text.startswith("npm could not resolve the dependency tree")
    assert "CI › Web › npm install" in text and text.endswith("(+2 more failed steps)")


def test_headline_of_a_single_failure_mentions_no_others():
    assert "more failed" not in headline(analyze_offline([excerpt("npm ERR! code ERESOLVE")], SIGNATURES))


def test_build_tag_is_prefix_and_first_category():
    failures = analyze_offline([excerpt("npm ERR! code ERESOLVE"), excerpt("error[E0425]: x")], SIGNATURES)
    assert build_tag(failures, "azura") == "azura-dependency"


@pytest.mark.parametrize("prefix", ["team: web", "ci/ops", "über"])
def test_build_tag_never_holds_characters_outside_the_allowed_set(prefix):
    tag = build_tag(analyze_offline([excerpt("error[E0425]: x")], SIGNATURES), prefix)
    assert re.fullmatch(r"[A-Za-z0-9._-]+", tag) and tag.endswith("-compile")


def test_build_tag_without_failures_is_unknown():
    assert build_tag((), "azura") == "azura-unknown"


@pytest.mark.parametrize("name, category, signature_id", [
    ("dotnet-build-cs-error.log", "compile", "csharp-compile-error"),
    ("pytest-failure.log", "test", "assertion-error"),
    ("npm-eresolve.log", "dependency", "npm-eresolve"),
    ("docker-oom-exit-137.log", "resource", "exit-137-oom-killed"),
    ("terraform-403-authorization.log", "auth", "azure-authorization-failed"),
])
def test_bundled_example_is_recognised_through_the_excerpt_step(name, category, signature_id):
    from azura.excerpt import build_excerpts

    log = StepLog(step=FailedStep(name=name, record_type="File"), chunks=((EXAMPLES / name).read_bytes(),))
    excerpts = build_excerpts([log], 2048, anchor_patterns=[s.pattern for s in SIGNATURES])
    failure = analyse_one(excerpts[0])
    assert (failure.category, failure.signature_id) == (category, signature_id)
    assert failure.evidence[0] in excerpts[0].lines


# What a fresh interpreter prints after the excerpt and offline analysis of one log: each pattern of the two steps'
# modules that waits to be compiled until first searched, and whether it has been.
PATTERN_STATES = """
import sys
from pathlib import Path
from azura.analyze.offline import analyze_offline
from azura.analyze.patterns import KeywordPattern, LazyPattern
from azura.analyze.signatures import bundled_signatures
from azura.excerpt import build_excerpts
from azura.models import FailedStep, StepLog

signatures = bundled_signatures()
log = StepLog(step=FailedStep(name="Run tests", record_type="Task"), chunks=(Path(sys.argv[1]).read_bytes(),))
analyze_offline(build_excerpts([log], 2048, anchor_patterns=[s.pattern for s in signatures]), signatures)
steps = [module for name, module in sorted(sys.modules.items()) if name.startswith(("azura.excerpt", "azura.analyze"))]
for module in steps:
    for name, value in vars(module).items():
        lazy = value._pattern if isinstance(value, KeywordPattern) else value
        if isinstance(lazy, LazyPattern):  # compiling it keeps the compiled pattern's methods on it
            print(f"{module.__name__}.{name}", "compiled" if set(vars(lazy)) - {"pattern", "_flags"} else "waiting")
"""
# Patterns of lines the pytest example does not hold (colour codes, tabs, control characters, Travis CI markers, hex
# ids, Python tracebacks, go test and Lua output, GitHub Actions' scripts, debug records, progress, folds).
NOT_IN_THE_PYTEST_EXAMPLE = (
    "excerpt.reading._TIMESTAMP", "excerpt.reading._ANSI", "excerpt.reading._ANSI_AS_TEXT", "excerpt.reading._CONTROL",
    "excerpt.reading._TRAVIS_MARKER", "excerpt.reading._COMMAND_PREFIX", "excerpt.scan._HEX", "excerpt.scan._ADDRESS",
    "excerpt.select._FOLD", "analyze.candidates._LUA_TRACEBACK", "analyze.candidates._PY_TRACEBACK",
    "analyze.candidates._PY_TRACE_BODY", "analyze.candidates._GO_FAIL", "analyze.candidates._PASSING",
    "analyze.candidates._DEBUG", "analyze.candidates._PROGRESS", "analyze.candidates._GROUP_RUN",
    "analyze.candidates._SHELL_LINE", "analyze.candidates._ENV_LINE", "analyze.candidates._SCRIPT_CONTENTS",
    "analyze.candidates._SCRIPT_END", "analyze.say._POINTS_AT_THE_LINE", "analyze.say._VERDICT_END",
    "analyze.say._COMMAND_LINE", "analyze.signatures._GLOBAL_FLAGS")
# Without google-re2 the classifier searches every hit line with these; with it, its set reads them.
READ_BY_THE_CLASSIFIERS_SET = ("excerpt.anchors._ZERO_COUNTS", "excerpt.anchors._PASSING", "excerpt.anchors._WARNING")


def test_an_analysis_compiles_no_pattern_of_lines_its_log_does_not_hold():
    """Each of these costs a tenth of a millisecond or so to compile, on every run that would compile them at import:
    they wait until a line may need them. The step-start pattern, whose line the example holds, is compiled."""
    completed = subprocess.run([sys.executable, "-c", PATTERN_STATES, str(EXAMPLES / "pytest-failure.log")],
                               capture_output=True, text=True, check=True)
    states = dict(line.removeprefix("azura.").split() for line in completed.stdout.splitlines())
    waiting = NOT_IN_THE_PYTEST_EXAMPLE + (READ_BY_THE_CLASSIFIERS_SET if importlib.util.find_spec("re2") else ())
    assert {name: states.get(name) for name in waiting} == {name: "waiting" for name in waiting}
    assert states["analyze.candidates._STEP_START"] == "compiled"  # "[section] Starting: Run tests"


def test_bundled_examples_are_the_ones_tested():
    assert sorted(path.name for path in EXAMPLES.glob("*.log")) == sorted(
        ["dotnet-build-cs-error.log", "pytest-failure.log", "npm-eresolve.log", "docker-oom-exit-137.log",
         "terraform-403-authorization.log"])


# --- real logs: LogChunks (Travis CI logs with a labelled cause chunk) ----------------------------------

def corpus_rows():
    labels = LOGCHUNKS / "labels.derived.jsonl"
    if not labels.is_file():
        pytest.skip(f"LogChunks corpus not found at {LOGCHUNKS} (set AZURA_CORPUS to the corpus folder)")
    with open(labels, encoding="utf-8") as handle:
        return [json.loads(row) for row in handle]


def corpus_log_lines(row):
    raw = gzip.open(LOGCHUNKS / "logs" / f"{row['log']}.gz").read().decode("utf-8", "replace")
    # the same normalisation the label offsets were computed with; ANSI stripped as the excerpt step does
    return ANSI.sub("", raw).replace("\r\n", "\n").replace("\r", "\n").split("\n")


def analyse_span(lines, start, end):
    """Return the failure for log lines start..end (1-based, inclusive), blank lines left out."""
    kept = tuple(Line(n, lines[n - 1]) for n in range(start, end + 1) if lines[n - 1].strip())
    return analyse_one(Excerpt(step=FailedStep(name="travis"), lines=kept, tokens=0))


def excerpt_sized_rows():
    """Return the labelled logs whose chunk fits in an excerpt (the analyzer only ever sees an excerpt)."""
    return [row for row in corpus_rows() if row["chunk"].count("\n") <= MAX_CHUNK_NEWLINES]


def analyse_chunk(row):
    text = ANSI.sub("", row["chunk"]).replace("\r\n", "\n").replace("\r", "\n")
    kept = tuple(Line(i + 1, t) for i, t in enumerate(text.split("\n")) if t.strip())
    return analyse_one(Excerpt(step=FailedStep(name="chunk"), lines=kept, tokens=0))


# Toolchain-specific signatures: the repositories' main languages they may plausibly fire on.
TOOLCHAIN_LANGUAGES = {
    "rust-compile-error": {"Rust"}, "rust-test-panic": {"Rust"}, "cargo-test-failed": {"Rust"},
    "csharp-compile-error": {"C#", "PowerShell"}, "dotnet-test-failed": {"C#", "PowerShell"},
    "junit-failed": {"Java", "Kotlin", "Scala", "Groovy", "Clojure"}, "scalatest-failed": {"Scala"},
    "go-test-failed": {"Go"}, "go-compile-error": {"Go"}, "pytest-failed": {"Python"},
    "jest-failed": {"JavaScript", "TypeScript", "CoffeeScript", "HTML", "CSS"},
}


@pytest.mark.slow
def test_corpus_toolchain_signatures_fire_only_on_their_languages():
    wrong = []
    for row in excerpt_sized_rows():
        failure = analyse_chunk(row)
        allowed = TOOLCHAIN_LANGUAGES.get(failure.signature_id)
        if allowed and row["language"] not in allowed:
            wrong.append((row["log"], failure.signature_id))
    assert wrong == []


@pytest.mark.slow
def test_corpus_recognised_chunk_keeps_its_category_among_the_real_lines_before_it():
    kept = changed = 0
    for row in excerpt_sized_rows()[::2]:  # every other log keeps the test quick and still ~100 cases
        start = row.get("chunk_start_line_normalised")
        if start is None:
            continue
        alone = analyse_chunk(row)
        if alone.category == "unknown":
            continue
        lines = corpus_log_lines(row)
        around = analyse_span(lines, max(1, start - 60), min(len(lines), row["chunk_end_line_normalised"] + 10))
        kept, changed = (kept + 1, changed) if around.category == alone.category else (kept, changed + 1)
    assert kept >= 40
    assert kept / (kept + changed) >= 0.9


def test_corpus_real_timeline_records_without_log_are_analysed_from_their_issues():
    records = CORPUS / "ado-api-examples" / "real-recorded" / "runfo-dnceng-public" / "derived-failed-records.jsonl"
    if not records.is_file():
        pytest.skip(f"dnceng timeline records not found at {records} (set AZURA_CORPUS to the corpus folder)")
    categories = {}
    for row in map(json.loads, records.read_text(encoding="utf-8").splitlines()):
        issues = tuple(Issue(issue["message"], issue["type"]) for issue in row.get("issues") or ())
        if row["type"] == "Job" and issues:
            step = FailedStep(name=row["name"], record_type="Job", result=row["result"], issues=issues)
            categories[issues[0].message] = analyse_one(Excerpt(step=step, lines=(), tokens=0)).category
    assert categories == {
        "Received request to deprovision: The request was cancelled by the remote provider.": "infrastructure",
        "An error occurred while provisioning resources (Error Type: Disconnect).": "infrastructure",
    }


@pytest.mark.slow
def test_corpus_setup_sections_without_errors_are_unknown():
    """Travis's `system_info` section (tool versions, no failure) of every labelled log must match nothing."""
    matched = []
    for row in corpus_rows()[::8]:
        lines = corpus_log_lines(row)
        starts = [n for n, text in enumerate(lines, 1) if "travis_fold:start:system_info" in text]
        ends = [n for n, text in enumerate(lines, 1) if "travis_fold:end:system_info" in text]
        if starts and ends:
            failure = analyse_span(lines, starts[0], ends[0])
            if failure.category != "unknown":
                matched.append((row["log"], failure.signature_id))
    assert matched == []


# --- what the diagnosis says: specifics, fix, confidence, category ----------------------------------------

def test_failing_test_is_named_with_its_message_and_a_command_to_rerun_it():
    failure = analyse_one(excerpt(
        "________________________ test_total_includes_tax[DE] ________________________",
        "E       AssertionError: assert Decimal('116.00') == Decimal('119.00')",
        "tests/test_orders.py:88: AssertionError",
        "FAILED tests/test_orders.py::test_total_includes_tax[DE] - AssertionError: assert Decimal('116.00') == "
        "Decimal('119.00')",
        "======================== 1 failed, 212 passed in 14.07s ========================",
        "##[error]Bash exited with code '1'.", first=78))
    assert failure.category == "test"
    assert "`tests/test_orders.py::test_total_includes_tax[DE]`" in failure.summary
    assert "assert Decimal('116.00') == Decimal('119.00')" in failure.root_cause
    assert 'pytest "tests/test_orders.py::test_total_includes_tax[DE]"' in failure.suggested_fix
    assert failure.facts.failing_tests[0].location.line == 88


def test_several_failing_tests_are_counted_and_the_first_named():
    failure = analyse_one(excerpt(
        "--- FAIL: TestParseConfig (0.00s)", "    config_test.go:42: got 1, want 2",
        "--- FAIL: TestParseFlags (0.00s)", "    flags_test.go:12: unexpected flag -x",
        "--- FAIL: TestLoad (0.01s)", "    load_test.go:7: open testdata/x.json: no such file or directory",
        "FAIL\tgithub.com/contoso/tool/internal/config\t0.014s", first=300))
    assert failure.summary == "3 tests failed, the first `TestParseConfig` at config_test.go:42."
    assert failure.root_cause.startswith("3 tests failed. The first, `TestParseConfig`, failed at config_test.go:42: got 1")
    assert "Also failing: `TestParseFlags`, `TestLoad`" in failure.root_cause
    assert "go test -run 'TestParseConfig'" in failure.suggested_fix


def test_compile_error_names_file_line_and_code_and_the_fix_starts_there():
    failure = analyse_one(excerpt(
        "error[E0308]: mismatched types", "   --> src/parser.rs:118:24", "    |",
        "118 |     let count: u32 = tokens.len();", "    |                ---   ^^^^^^^^^^^^ expected `u32`, found `usize`",
        "error: aborting due to 1 previous error", "error: could not compile `parser` (lib) due to 1 previous error",
        first=50))
    assert (failure.category, failure.signature_id) == ("compile", "rust-compile-error")
    assert failure.summary == "Compile error E0308 at src/parser.rs:118:24."
    assert failure.root_cause.startswith("Compile error E0308 at src/parser.rs:118:24: mismatched types.")
    assert failure.suggested_fix.startswith("Fix `src/parser.rs:118:24` (E0308) first")
    assert [line.number for line in failure.evidence[:2]] == [50, 51]


def test_the_summary_names_what_failed_and_leaves_the_quote_to_the_root_cause():
    failure = analyse_one(excerpt(  # pytest, as a failing run prints it
        "_______________________________ test_total_includes_tax[DE] _______________________________",
        "tests/test_orders.py:88: in test_total_includes_tax",
        "E       assert Decimal('116.00') == Decimal('119.00')",
        "FAILED tests/test_orders.py::test_total_includes_tax[DE] - assert Decimal('116.00') == Decimal('119.00')",
        "========================= 1 failed, 41 passed in 2.31s =========================", first=120))
    assert "Decimal" not in failure.summary
    assert failure.root_cause.count("assert Decimal('116.00') == Decimal('119.00')") == 1
    assert not re.search(r"(\b[^.]{12,}\.) .*\1", failure.root_cause)  # no sentence said twice


def test_a_quote_of_a_line_the_excerpt_cut_ends_on_a_word_and_an_ellipsis():
    from azura.analyze.say import quote

    cut = "[error] /w/src/main/scala/akka/BehaviorSetup.scala:10:8: object Logger is not a memb … (30 chars cut)"
    assert quote(cut, 200).endswith("is not a memb…")
    assert quote(cut, 60).endswith("…") and "chars cut" not in quote(cut, 60)


def test_evidence_holds_what_a_failing_line_announces_under_it():
    failure = analyse_one(excerpt(  # tasty, in pandoc's test suite (LogChunks 480326509)
        "    custom writer", "      basic:                                                         OK (0.20s)",
        "      tables:                                                        FAIL (0.06s)",
        "        ------------------------------------------------------------------------",
        "        --- tables.custom", first=3029))
    assert [line.number for line in failure.evidence][:3] == [3031, 3032, 3033]


def test_evidence_holds_the_problem_composer_reports_under_its_verdict():
    lines = (Line(4670, "Your requirements could not be resolved to an installable set of packages."),
             Line(4672, "  Problem 1"),  # the excerpt leaves out the blank line 4671
             Line(4673, "    - The requested package symfony/phpunit-bridge 4.4@dev exists as symfony/phpunit-bridge"
                        "[2.7.x-dev, 2.8.x-dev] but these are rejected by your constraint."))
    failure = analyse_one(Excerpt(step=FailedStep(name="Build"), lines=lines, tokens=30))  # symfony, LogChunks 566997029
    assert [line.number for line in failure.evidence] == [4670, 4672, 4673]


def test_a_named_missing_file_needs_no_general_sentence_beside_it():
    failure = analyse_one(excerpt(  # MySQLTuner-perl (LogChunks 431782730)
        "$ python3 mysqltuner.py", "No such file or directory: 'mysqltuner.pl'", first=1162))
    assert failure.root_cause == "The file `mysqltuner.pl` does not exist. Line 1163: No such file or directory: " \
                                 "'mysqltuner.pl'"


def test_evidence_shows_an_msbuild_error_once_not_again_as_the_agents_issue_copy():
    error = ("Controllers/OrdersController.cs(58,20): error CS0246: The type or namespace name 'OrderSummaryDto' could "
             "not be found (are you missing a using directive or an assembly reference?)")
    failure = analyse_one(excerpt(
        f"/home/vsts/work/1/s/src/Api/{error} [/home/vsts/work/1/s/src/Api/Api.csproj]",
        f"##[error]src/Api/{error.replace('error CS', 'Error CS')}",
        "##[error]Error: The process '/usr/bin/dotnet' failed with exit code 1", first=46))
    assert [line.number for line in failure.evidence] == [46, 48]
    assert failure.root_cause.endswith("(line 46)")  # the message is quoted once, in the sentence that names it
    assert failure.suggested_fix.count("Fix ") == 1


def test_a_failing_test_whose_line_holds_its_name_and_message_is_cited_by_its_line_number_only():
    line = ("    ✗ testThatCancelledUploadRequestTriggersAllAppropriateLifetimeEvents, Asynchronous wait failed: Exceeded "
            "timeout of 5 seconds, with unfulfilled expectations: \"didCancel should fire\", \"didCancelTask should fire\".")
    failure = analyse_one(excerpt("UploadRequestEventsTestCase", line, first=2043))  # Alamofire/Alamofire, xcpretty
    assert failure.root_cause.count("Exceeded timeout of 5 seconds") == 1 and failure.root_cause.endswith("(line 2044)")


def test_a_compile_error_the_sentence_quotes_is_cited_by_its_line_number_only():
    failure = analyse_one(excerpt(  # xcpretty (SwiftyJSON, LogChunks 431807215)
        "❌  /Users/travis/build/SwiftyJSON/SwiftyJSON/Source/SwiftyJSON.swift:97:2: unknown attribute "
        "'dynamicMemberLookup'", "@dynamicMemberLookup", first=1620))
    assert failure.root_cause.endswith("unknown attribute 'dynamicMemberLookup'. (line 1620)")


def test_missing_python_module_says_what_to_add():
    failure = analyse_one(excerpt(
        "_______________ ERROR collecting tests/test_api.py _______________",
        "ImportError while importing test module '/w/tests/test_api.py'.",
        "E   ModuleNotFoundError: No module named 'requests'",
        "=========================== 1 error in 0.35s ===========================", first=20))
    assert failure.category == "dependency"
    assert failure.summary == "The module `requests` could not be found."
    assert "`requests`" in failure.suggested_fix and "requirements" in failure.suggested_fix
    assert failure.evidence[0].number == 22 and failure.evidence[-1].number == 23


def test_version_wanted_and_found_are_said_in_the_summary():
    failure = analyse_one(excerpt(
        "java.lang.UnsupportedClassVersionError: spoon/processing/ProcessorProperties has been compiled by a more "
        "recent version of the Java Runtime (class file version 55.0), this version of the Java Runtime only "
        "recognizes class file versions up to 52.0", first=1482))
    assert failure.category == "configuration"
    assert failure.summary == "Java 11 (class file 55.0) is required, but 8 (class file 52.0) was found."


def test_quotes_are_cut_on_a_word_boundary():
    long_line = "ERROR: " + " ".join(f"word{i}" for i in range(80))
    failure = analyse_one(excerpt(long_line, first=9))
    quoted = failure.root_cause.split("Line 9: ")[1]
    assert quoted.endswith("…") and quoted[:-1].split()[-1] in long_line.split()


@pytest.mark.parametrize("texts, high", [
    (["src/Api/A.cs(3,5): error CS0246: The type 'OrderDto' could not be found", "##[error]Bash exited with code '1'."],
     True),
    (["make: *** [all] Error 2", "##[error]Bash exited with code '2'."], False),
    (["Frobnicator says: something is wrong, cannot go on"], False),
])
def test_confidence_is_high_only_for_a_specific_signature_with_its_specifics(texts, high):
    failure = analyse_one(excerpt(*texts))
    assert (failure.confidence >= 0.8) == high


def test_csharp_compile_error_after_a_nuget_warning_is_compile():
    failure = analyse_one(excerpt(
        "/w/src/Api/Api.csproj : warning NU1603: Api depends on Serilog (>= 2.10.0) but Serilog 2.10.0 was not found. "
        "An approximate best match of Serilog 2.12.0 was resolved.",
        "warning NU1301: Unable to load the service index for source https://pkgs.dev.azure.com/x/index.json.",
        "/w/src/Api/Orders.cs(42,17): error CS0246: The type or namespace name 'OrderDto' could not be found",
        "##[error]Bash exited with code '1'.", first=10))
    assert failure.category == "compile"


def test_failed_deployment_step_is_deploy():
    failure = analyse_one(excerpt(
        "Package deployment using ZIP Deploy initiated.",
        "##[error]Failed to deploy web package to App Service.",
        "##[error]To debug further please check Kudu stack trace URL : https://web.scm.azurewebsites.net/api/vfs/LogFiles",
        first=200))
    assert failure.category == "deploy"


def test_wrapper_alone_quotes_what_the_command_printed_last():
    failure = analyse_one(excerpt(
        "$ ./tools/checkJSCurrent.sh", "Done in 6.20s.", " M inst/www/shared/shiny.js",
        "The generated bundle differs from the repository's copy.",
        'The command "./tools/checkJSCurrent.sh" exited with 1.', first=756))
    assert failure.evidence[0] == Line(758, " M inst/www/shared/shiny.js")
    assert failure.evidence[-1].number == 760
    assert failure.confidence < 0.5


def test_a_check_for_uncommitted_generated_files_names_them_in_its_evidence():
    failure = analyse_one(excerpt(  # rstudio/shiny's tools/checkJSCurrent.sh, LogChunks 573996615
        "$ ./tools/checkJSCurrent.sh", "Done in 6.20s.", " M inst/www/shared/shiny.js",
        "Please rebuild the JavaScript and commit the changes.",
        'The command "./tools/checkJSCurrent.sh" exited with 1.', first=756))
    assert failure.category == "lint"
    assert [line.number for line in failure.evidence][:2] == [759, 758]


def test_unknown_quotes_the_first_real_error_not_a_debug_or_summary_line():
    failure = analyse_one(excerpt(
        "DEBUG: retry 1 after error: connection reset", "The thing broke: cannot open /var/run/thing.sock",
        "3 errors in total", first=70))
    assert failure.evidence[0].number == 71


def test_evidence_is_the_cause_then_its_block_in_log_order_then_one_summary():
    failure = analyse_one(excerpt(
        "1) Form_validation_test::test_rule_valid_date", "Failed asserting that false is true.",
        "/home/travis/build/bcit-ci/CodeIgniter/tests/codeigniter/libraries/Form_validation_test.php:318",
        "FAILURES!", "Tests: 1, Assertions: 1, Failures: 1.", 'The command "phpunit" exited with 1.', first=743))
    numbers = [line.number for line in failure.evidence]
    assert numbers[0] == failure.facts.failing_tests[0].log_line
    assert numbers[1:-1] == sorted(set(numbers[1:-1]))
    assert numbers[-1] == 748 and len(set(numbers)) == len(numbers)


def numbered(*rows, **fields):
    """Return an excerpt of (line number, text) rows: real logs' numbers, with the lines the excerpt left out."""
    lines = tuple(Line(number, text) for number, text in rows)
    return Excerpt(step=FailedStep(name="Build"), lines=lines, tokens=10 * len(lines), **fields)


def test_a_cause_far_above_the_verdict_comes_with_the_last_lines_the_command_printed():
    vim = [  # vim's test suite under make (LogChunks 555378073): skipped tests listed, then the failure, then make
        (6835, "\tTest_normal35_g_cmd4(): output of g< can't be tested currently"),
        (6840, "\tTest_term_gettitle(): can't get/set title"), (6843, "-------------------------------"),
        (6844, "Executed:  2190 Tests"), (6845, " Skipped:    11 Tests"), (6846, "  FAILED:     1 Tests"),
        (6849, "Failures:"), (6850, "\tFrom test_popupwin.vim:"), (6851, "\tFound errors in Test_popup_beval():"),
        (6859, "\tRun 4:"),
        (6860, "\tCaught exception in Test_popup_beval(): Vim(call):E958: Job already finished @ function "
               "RunTheTest[40]..Test_popup_beval[40]..VerifyScreenDump, line 1"),
        (6861, "\tFlaky test failed too often, giving up"), (6863, "TEST FAILURE"),
        (6864, "make[2]: *** [report] Error 1"), (6865, "make[2]: Leaving directory `/home/travis/build/vim/vim/src/testdir'"),
        (6866, "make[1]: *** [scripttests] Error 2"), (6867, "make[1]: Leaving directory `/home/travis/build/vim/vim/src'"),
        (6868, "make: *** [scripttests] Error 2"), (6870, 'The command "do_test make ${SHADOWOPT} ${TEST}" exited with 2.')]
    failure = analyse_one(numbered(*vim, verdict=6870, failing_command=2362))
    numbers = [line.number for line in failure.evidence]
    assert numbers[0] == 6835 and numbers[-1] == 6870
    assert 6860 in numbers and not {6864, 6865, 6866, 6867, 6868} & set(numbers)
    assert numbers[1:-1] == sorted(numbers[1:-1])


@pytest.mark.parametrize("text", ["Wrote results to ab-results-README.md.json",
                                  "make[1]: Leaving directory '/home/travis/build/rabbitmq/rabbitmq-server'",
                                  "Updating /home/travis/build/rabbitmq/rabbitmq-server/logs/index.html ... done"])
def test_what_a_tool_says_on_its_way_out_is_routine(text):
    from azura.analyze.candidates import is_progress

    assert is_progress(text)


def test_the_last_words_skip_folds_and_lines_that_say_nothing():
    failure = analyse_one(numbered(  # xcodebuild's test run in Alamofire, whose log writes "nl" lines (LogChunks 559137810)
        (2046, '    ✗ testThatCancelledUploadRequestTriggersAllAppropriateLifetimeEvents, XCTAssertEqual failed: ("finished")'
               ' is not equal to ("cancelled")'),
        (2110, "nlFailing tests:"), (2112, "\tAlamofire iOS Tests:"),
        (2114, "\t\tUploadRequestEventsTestCase.testThatCancelledUploadRequestTriggersAllAppropriateLifetimeEvents()"),
        (2120, "nlTest session results and logs:"),
        (2122, "\t/Users/travis/Library/Developer/Xcode/DerivedData/Alamofire/Logs/Test/Test-Alamofire iOS.xcresult"),
        (2123, "nl"), (2124, "… 2 similar lines"), (2126, "nl** TEST FAILED **"), (2127, "nl"), (2128, "… 3 similar lines"),
        (2131, 'The command "xcodebuild -workspace Alamofire.xcworkspace -scheme \'Alamofire iOS\' test" exited with 65.'),
        verdict=2131))
    numbers = [line.number for line in failure.evidence]
    assert numbers[0] == 2046 and 2122 in numbers
    assert not {2123, 2124, 2127, 2128} & set(numbers)


def test_the_last_words_skip_what_a_tool_reports_done_on_its_way_out():
    failure = analyse_one(numbered(  # Erlang Common Test under make, in rabbitmq-server (LogChunks 572773115)
        (1262, "rabbit_ct_broker_helpers:rpc failed on line 1348"),
        (1263, 'Reason: {badmatch,[{amqp_params,{amqp_params_network,<<"guest">>,<<"...}'),
        (1409, "Testing rabbitmq.rabbitmq-server.worker_pool_SUITE: TEST COMPLETE, 0 ok, 0 failed, 5 skipped of 5 test cases"),
        (1411, "Updating /home/travis/build/rabbitmq/rabbitmq-server/logs/index.html ... done"),
        (1412, "Updating /home/travis/build/rabbitmq/rabbitmq-server/logs/all_runs.html ... done"),
        (1414, "erlang.mk:6494: recipe for target 'ct' failed"), (1415, "make[1]: *** [ct] Error 1"),
        (1416, "make[1]: Leaving directory '/home/travis/build/rabbitmq/rabbitmq-server'"),
        (1418, "make: *** [ct-fast] Error 2"), (1420, 'The command "make ct-fast" exited with 2.'), verdict=1420))
    numbers = [line.number for line in failure.evidence]
    assert numbers[0] == 1262
    assert not {1411, 1412, 1416} & set(numbers)


def test_the_script_a_verdict_quotes_is_not_taken_for_what_the_command_printed():
    failure = analyse_one(numbered(  # pandoc's test job, whose verdict quotes its `case` script (LogChunks 480326509)
        (4686, "1 out of 2041 tests failed (45.46s)"), (4687, "Test suite test-pandoc: FAIL"),
        (4688, "Test suite logged to: dist/test/pandoc-2.6-test-pandoc.log"),
        (4689, "0 of 1 test suites (0 of 1 test cases) passed."),
        (4706, '    cabal test --test-options="--pattern=\\"$TESTPATTERN\\""'), (4707, "    ;;"), (4708, "esac"),
        (4709, '" exited with 1.'), verdict=4709))
    texts = [line.text for line in failure.evidence]
    assert "Test suite logged to: dist/test/pandoc-2.6-test-pandoc.log" in texts
    assert not {"    ;;", "esac"} & set(texts)


def test_npms_account_of_its_own_environment_is_never_evidence():
    failure = analyse_one(numbered(  # a parse error under `npm run test-style`, in git-it-electron (LogChunks 189032849)
        (1566, "    token.value = `/${value.pattern}/${value.flags}`;"), (1567, "                  ^"),
        (1568, "Unexpected token ILLEGAL"), (1570, "npm ERR! Linux 4.8.12-040812-generic"),
        (1571, 'npm ERR! argv "/home/travis/.nvm/versions/node/v0.12.18/bin/node" "run" "test-style"'),
        (1572, "npm ERR! node v0.12.18"), (1573, "npm ERR! npm  v2.15.11"), (1574, "npm ERR! code ELIFECYCLE"),
        (1575, "npm ERR! git-it-electron@4.2.2 test-style: `standard lib/*.js main.js`"),
        (1576, "npm ERR! Exit status 1"), verdict=1576))
    texts = [line.text for line in failure.evidence]
    assert "Unexpected token ILLEGAL" in texts
    assert not [text for text in texts if re.match(r"npm ERR! (?:Linux|argv|node v|npm  v)", text)]


def test_a_stack_trace_gives_the_evidence_its_frame_nearest_the_error_only():
    frames = [(number, f"\tat org.junit.platform.surefire.provider.JUnitPlatformProvider.invoke{number}"
                       f"(JUnitPlatformProvider.java:{number - 19900})") for number in range(19981, 19986)]
    failure = analyse_one(numbered(*frames,  # a JUnit 5 failure under surefire, in java-design-patterns (LogChunks 544453998)
        (19987, "Tests run: 2, Failures: 1, Errors: 0, Skipped: 0, Time elapsed: 0.088 sec <<< FAILURE! - in "
                "org.dirty.flag.DirtyFlagTest"),
        (19988, "testIsDirty()  Time elapsed: 0.058 sec  <<< FAILURE!"),
        (19989, "org.opentest4j.AssertionFailedError: expected: <false> but was: <true>"),
        (19990, "\tat org.dirty.flag.DirtyFlagTest.testIsDirty(DirtyFlagTest.java:45)"),
        (19991, "\tat java.base/jdk.internal.reflect.NativeMethodAccessorImpl.invoke0(NativeMethodAccessorImpl.java)")))
    numbers = [line.number for line in failure.evidence]
    assert {19988, 19989, 19990} <= set(numbers)
    assert not set(range(19981, 19986)) & set(numbers) and 19991 not in numbers


# --- real logs ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("log", [
    "Erlang/rabbitmq@rabbitmq-server/failed/571806905.log",  # erlc errors above make's "*** Error"
    "PHP/bcit-ci@CodeIgniter/failed/507195141.log",  # PHPUnit's numbered failure above "FAILURES!"
    "TypeScript/Microsoft@TypeScript/failed/566234931.log",  # mocha's failure report under "5 failing"
    "CSS/google@material-design-icons/failed/92806560.log",  # "No Rakefile found" under "rake aborted!"
    "Java/ReactiveX@RxJava/failed/561008032.log",  # a Gradle test failure above "Execution failed for task"
    "Erlang/processone@ejabberd/failed/555654050.log",  # a Common Test case far above rebar's "ct failed"
    "PowerShell/pester@Pester/failed/555401304.log",  # Pester's "[-]" failing test above its count
    "Perl/major@MySQLTuner-perl/failed/384377175.log",  # perlcritic's violations above "exited with 2"
    "Swift/vsouza@awesome-ios/failed/557856885.log",  # awesome_bot's list of broken links, not a link in its progress
    "Lua/luvit@luvit/failed/232600361.log",  # the message above a Lua "stack traceback:", above make's "*** Error"
    "Lisp/syl20bnr@spacemacs/failed/401963443.log",  # a formatter check's diff above "exited with 2"
    "Python/scikit-learn@scikit-learn/failed/562395304.log",  # conda's PackagesNotFoundError after a retried solve
    "Perl/jlord@git-it-electron/failed/189032849.log",  # standard's findings above npm's "ERR!" lines
    "R/rstudio@shiny/failed/574875945.log",  # the test file whose run failed under R CMD check's "... ERROR"
    "C/git@git/failed/564416725.log",  # a Go program's "flag provided but not defined" at the end of a long script
    "TeX/cplusplus@draft/failed/566217161.log",  # the last output before the exit code, not latexmk's warnings
])
def test_corpus_cause_line_is_inside_the_labelled_chunk(log):
    from tests.corpus import log_chunks, logchunks_label, logchunks_log
    from azura.context import Settings
    from azura.engine import analyze_logs

    label = logchunks_label(log)
    step = StepLog(FailedStep(name=log, record_type="File"), log_chunks(logchunks_log(log)))
    (failure,) = analyze_logs([step], Settings(history=False)).failures
    assert label["chunk_start_line_normalised"] <= failure.evidence[0].number <= label["chunk_end_line_normalised"]


@pytest.mark.parametrize("log", [
    "C/vim@vim/failed/555378073.log",  # vim's failing test report above make's wrappers and "Leaving directory"
    "Lisp/purcell@emacs.d/failed/495224858.log",  # an Emacs backtrace under retried TLS connections that "...failed"
    "Scala/scala@scala/failed/566675131.log",  # partest's failed test, once sbt's trace gives one frame, not four
])
def test_corpus_a_cause_that_does_not_say_what_failed_comes_with_evidence_inside_the_labelled_chunk(log):
    from tests.corpus import log_chunks, logchunks_label, logchunks_log
    from azura.context import Settings
    from azura.engine import analyze_logs

    label = logchunks_label(log)
    step = StepLog(FailedStep(name=log, record_type="File"), log_chunks(logchunks_log(log)))
    (failure,) = analyze_logs([step], Settings(history=False)).failures
    labelled = range(label["chunk_start_line_normalised"], label["chunk_end_line_normalised"] + 1)
    assert any(line.number in labelled for line in failure.evidence)
    assert len(failure.evidence) <= MAX_EVIDENCE


def test_a_heading_the_diagnosis_rests_on_is_cited_with_the_line_under_it():
    failure = analyse_one(excerpt(  # awesome_bot (vinta/awesome-python, LogChunks 125541453)
        "Issues :-(", "> Links", "  1. 301 https://warehouse.python.org/ → https://pypi.io/",
        'The command "awesome_bot README.md --allow-dupe --white-list pyparsing,graphviz.org" exited with 1.',
        first=1169))
    assert failure.root_cause.endswith(
        "Line 1170: > Links, then line 1171: 1. 301 https://warehouse.python.org/ → https://pypi.io/")


def test_a_heading_is_cited_alone_when_the_line_under_it_reports_only_progress():
    failure = analyse_one(excerpt(  # awesome_bot (dkhamsing/open-source-ios-apps, LogChunks 562459179)
        "Issues :-(", "> Dupes", "Wrote results to ab-results-check-unique.txt.json",
        'The command "awesome_bot check-unique.txt --allow-redirect" exited with 1.', first=5562))
    assert failure.root_cause.endswith("Line 5563: > Dupes")


def test_a_summary_with_no_facts_says_what_the_cause_line_says_not_only_a_label():
    failure = analyse_one(excerpt(  # mhinz/vim-galore, LogChunks 430784580: a Markdown checker no signature knows
        "$ gomali *.md", "README.md:2197:Line longer than 80 characters.",
        'The command "gomali *.md" exited with 1.', first=686))
    assert failure.category == "unknown"
    assert failure.summary == "No known failure signature matched: README.md:2197:Line longer than 80 characters."


def test_a_signatures_sentence_is_followed_by_the_line_it_matched_when_no_facts_name_what_failed():
    failure = analyse_one(numbered(  # necolas/normalize.css, LogChunks 225771405
        (1435, "> stylelint normalize.css"), (1438, "normalize.css"),
        (1439, ' 105:12  ✖  Expected newline after ","   selector-list-comma-newline-after'),
        (1441, "npm ERR! Test failed.  See above for more details."),
        (1445, 'The command "npm test" exited with 1.')))
    assert failure.signature_id == "stylelint-errors"
    assert failure.summary == ('stylelint found problems in the stylesheets: 105:12 ✖ Expected newline after "," '
                               'selector-list-comma-newline-after')


def test_the_summary_of_a_wrapper_quotes_what_the_command_printed_last():
    failure = analyse_one(excerpt(  # tj/git-extras' check_integrity.sh, LogChunks 525870481
        "$ ./check_integrity.sh $(find bin | cut -b 5- | xargs)", "Skip command rscp",
        "Run 'make docs' to create man/git-rename-remote.1 and man/git-rename-remote.html",
        'The command "./check_integrity.sh $(find bin | cut -b 5- | xargs)" exited with 1.', first=863))
    assert failure.summary.endswith(
        "its last output: Run 'make docs' to create man/git-rename-remote.1 and man/git-rename-remote.html")


def vims_failing_test_run():
    """vim's test run (LogChunks 556831164, lines as the excerpt keeps them): `make` runs the tests ${TEST} names."""
    return numbered(
        (12075, "\tFound errors in Test_terminal_termwinsize_option_fixed():"), (12077, "\tRun 1:"),
        (12081, "\tfunction RunTheTest[40]..Test_terminal_termwinsize_option_fixed[23]..StopVimInTerminal line 1: "
                    "Expected 'running' but got 'finished'"),
        (12089, "\tFlaky test failed too often, giving up"),
        (12131, 'The command "do_test make ${SHADOWOPT} ${TEST}" exited with 2.'))


def test_a_cause_no_signature_knows_takes_its_category_from_the_test_script_that_failed():
    assert analyse_one(vims_failing_test_run()).category == "test"


def test_the_summary_of_a_line_that_announces_what_follows_quotes_the_first_line_that_says_it():
    assert analyse_one(vims_failing_test_run()).summary == (
        "Tests failed: Found errors in Test_terminal_termwinsize_option_fixed(): function "
        "RunTheTest[40]..Test_terminal_termwinsize_option_fixed[23]..StopVimInTerminal line 1…")


def test_a_failing_phpt_test_is_named_with_its_file_and_the_command_that_runs_it_alone():
    failure = analyse_one(excerpt(  # php/php-src, LogChunks 530446443
        "FAIL Bug#71412 ArrayIterator reflection parameter info [ext/spl/tests/bug71412.phpt] ",
        "Tests failed    :    1 (  0.0%) (  0.0%)", first=2018))
    assert failure.summary == "Test `Bug#71412 ArrayIterator reflection parameter info` failed at ext/spl/tests/bug71412.phpt."
    assert "`php run-tests.php ext/spl/tests/bug71412.phpt`" in failure.suggested_fix


def test_a_failing_test_shown_without_its_message_is_told_with_the_message_of_another_that_has_one():
    failure = analyse_one(numbered(  # nvbn/thefuck, LogChunks 540934200
        (4321, "____ ERROR at setup of test_get_new_command[command0-nix-env -iA nixos.vim] ____"),
        (4322, "file /home/travis/build/nvbn/thefuck/tests/rules/test_nixos_cmd_not_found.py, line 21"),
        (4344, "_________________________________ test_readme __________________________________"),
        (4348, "    def test_readme(source_root):"),
        (4360, 'E                   AssertionError: Missing rule "nixos_cmd_not_found" in README.md'),
        (4364, "tests/test_readme.py:11: AssertionError")))
    assert failure.root_cause.startswith(
        "2 tests failed. The first, `test_get_new_command[command0-nix-env -iA nixos.vim]`, failed. Also failing: "
        "`test_readme`. `test_readme` failed with: AssertionError: Missing rule \"nixos_cmd_not_found\" in README.md.")
    assert "`pytest -k test_get_new_command`" in failure.suggested_fix


def test_a_failing_common_test_case_is_named_with_its_reason():
    failure = analyse_one(excerpt(  # Erlang Common Test's report of a failing case (rabbitmq-server, LogChunks 571824621)
        "- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -",
        "confirms_rejects_SUITE:mixed_dead_alive_queues_reject failed on line 195",
        "Reason: expecting_nack_got_ack", first=1403))
    assert failure.summary == "Test `confirms_rejects_SUITE:mixed_dead_alive_queues_reject` failed."
    assert "failed: expecting_nack_got_ack." in failure.root_cause


def test_a_stylesheet_that_does_not_compile_is_a_compile_error_whatever_the_script_that_ran_sass_is_called():
    failure = analyse_one(numbered(  # jgthms/bulma, LogChunks 373686035
        (902, "$ test/sass-compile-tester.sh"),
        (903, 'Error: Invalid CSS after ""sass/flex/_all" ": expected media query list, was "/*! it was call..."'),
        (904, "        on line 7 of bulma.sass"), (905, "  Use --trace for backtrace."),
        (909, 'The command "test/sass-compile-tester.sh" exited with 65.')))
    assert (failure.category, failure.summary) == ("compile", "Compile error at bulma.sass:7.")


def test_swiftlints_violations_are_a_lint_finding_not_a_compile_error():
    failure = analyse_one(numbered(  # realm/realm-cocoa, LogChunks 552057535
        (3668, "Linting 'Object+Combine.swift' (10/53)"),
        (3670, "/Users/travis/build/realm/realm-cocoa/RealmSwift/Object+Combine.swift:88:42: warning: Colon Violation: "
                   "Colons should be next to the identifier when specifying a type and next to the key in dictionary "
                   "literals. (colon)"),
        (3811, 'The command "./build.sh verify-swiftlint" exited with 3.')))
    assert (failure.category, failure.signature_id) == ("lint", "swiftlint-violations")
    assert failure.summary.startswith("SwiftLint found style violations: /Users/travis/build/realm/realm-cocoa/RealmSwift/"
                                      "Object+Combine.swift:88:42: warning: Colon Violation")


def test_a_python_traceback_is_told_by_the_exception_that_ends_it_not_by_its_header():
    failure = analyse_one(excerpt(  # electron/electron, LogChunks 303140404
        "Traceback (most recent call last):",
        '  File "./script/cibuild", line 129, in <module>',
        "    sys.exit(main())",
        '  File "./script/cibuild", line 63, in main',
        "    execute(['sudo', 'apt-get', 'update'])",
        '  File "/home/travis/build/electron/electron/script/lib/util.py", line 174, in execute',
        "    raise e",
        "subprocess.CalledProcessError: Command '['sudo', 'apt-get', 'update']' returned non-zero exit status 100",
        "",
        'The command "./script/cibuild" exited with 1.', first=630))
    assert failure.evidence[0] == Line(637, "subprocess.CalledProcessError: Command '['sudo', 'apt-get', 'update']' "
                                            "returned non-zero exit status 100")
    assert "Traceback" not in failure.summary


def test_a_cmake_error_is_quoted_with_the_message_indented_under_it():
    failure = analyse_one(excerpt(  # BVLC/caffe, LogChunks 221812641
        "CMake Error at /usr/share/cmake-3.2/Modules/FindBoost.cmake:1201 (message):",
        "  Unable to find the requested Boost libraries.", "", "  Boost version: 1.54.0", first=3758))
    assert failure.evidence[0].number == 3758
    assert "Unable to find the requested Boost libraries" in failure.root_cause


def test_an_emacs_package_that_is_unavailable_is_a_dependency_failure_whatever_the_script_is_called():
    failure = analyse_one(numbered(  # purcell/emacs.d, LogChunks 515415388
        (534, "Done (Total of 2 files compiled, 1 skipped)"),
        (535, "Debugger entered--Lisp error: (error \"Package `emacs-25.1' is unavailable\")"),
        (536, "  signal(error (\"Package `emacs-25.1' is unavailable\"))"),
        (561, 'The command "lsb_release -a && ./test-startup.sh" exited with 255.')))
    assert (failure.category, failure.evidence[0].number) == ("dependency", 535)
    assert failure.summary == "Emacs 25.1 is required."  # what package.el means by the package `emacs-25.1`


def test_an_erlang_runtime_that_stopped_on_an_uncaught_error_is_named_as_such_not_as_a_failed_build():
    failure = analyse_one(numbered(  # erlang/otp, LogChunks 546984181
        (1129, "Building OTP.............. failed."),
        (1318, 'System process <0.0.0> terminated: {{badmatch,{error,{bad_lib,"Function not found '
               'prim_file:read_handle_info_nif/1"}}},[{prim_file,on_load,0,[]},{erl_init,start,2,[]}]}'),
        (1332, "make: *** [emulator] Error 2"), (1333, "*** Failed ***")))
    assert (failure.signature_id, failure.evidence[0].number) == ("erlang-runtime-error", 1318)
    assert failure.summary.startswith("The Erlang runtime stopped on an uncaught error")


def test_an_optional_emacs_package_that_could_not_be_installed_is_not_the_cause_of_the_error_after_it():
    failure = analyse_one(numbered(  # purcell/emacs.d, LogChunks 516445189
        (987, "Couldn't install optional package `scratch': (error \"Package `emacs-25.1' is unavailable\")"),
        (988, "Importing package-keyring.gpg..."),
        (990, "Debugger entered--Lisp error: (error \"No version of command-log-mode >= nil is available\")"),
        (991, "  signal(error (\"No version of command-log-mode >= nil is available\"))"),
        (1024, 'The command "lsb_release -a && ./test-startup.sh" exited with 255.')))
    assert (failure.category, failure.evidence[0].number) == ("dependency", 990)
    assert "`command-log-mode`" in failure.summary
