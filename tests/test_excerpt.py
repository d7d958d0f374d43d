"""The excerpt: anchors, context, folding, budget, redaction, fallbacks, and real corpus logs."""
import random

import pytest

from azura.errors import ConfigError
from azura.excerpt import build_excerpts, covered_lines, normalise_for_diff, read_lines
from azura.models import FailedStep, Issue, StepLog
from azura.tokens import count_tokens
from tests.corpus import cidiff_case, cidiff_error_lines, log_chunks, logchunks_label, logchunks_log

ERROR = "src/app/main.c:42:7: error: 'count' undeclared (first use in this function)"


def make_log(noise_before=2000, error_lines=(ERROR,), noise_after=2000, seed=1):
    """Return (log bytes, line number of the first error line): varied build noise around the error lines."""
    rng = random.Random(seed)

    def noise(count):
        return [f"2024-05-01T10:00:00.0000000Z gcc -O2 -c src/mod{rng.randrange(90)}/f{rng.randrange(10**6)}.c "
                f"-o obj/f{rng.randrange(10**6)}.o" if rng.random() < 0.5 else
                f"tests/test_{rng.choice('abcdefgh')}{rng.randrange(10**5)}.py::test_{rng.randrange(10**5)} PASSED"
                for _ in range(count)]

    lines = noise(noise_before) + list(error_lines) + noise(noise_after)
    return ("\n".join(lines) + "\n").encode(), noise_before + 1


def excerpt_of(data, budget=1024, step=None, chunk=4096, **kwargs):
    step = step or FailedStep(name="Build")
    chunks = [data[i:i + chunk] for i in range(0, len(data), chunk)]
    return build_excerpts([StepLog(step, chunks)], budget, **kwargs)[0]


def numbered(excerpt):
    return {line.number: line.text for line in excerpt.lines}


def test_excerpt_keeps_error_line_with_its_original_number():
    data, at = make_log()
    assert numbered(excerpt_of(data))[at] == ERROR


def test_excerpt_keeps_error_line_of_a_log_far_past_budget():
    data, at = make_log(noise_before=30000, noise_after=30000)
    excerpt = excerpt_of(data, budget=512)
    assert at in numbered(excerpt)
    assert excerpt.total_lines == 60001


def test_excerpt_marks_its_anchor_lines():
    data, at = make_log()
    assert at in excerpt_of(data).anchors


@pytest.mark.parametrize("line", [
    "❌  /Users/me/Sources/App.swift:97:2: unknown attribute 'dynamicMemberLookup'",
    "    [-] Get-Config returns the default path 23ms",
    "cc1: all warnings being treated as errors",
    "Failing due to -Werror.",
    "t9502-gitweb-standalone-parse-output.sh ....... Dubious, test returned 1 (wstat 256, 0x100)",
    "____________________________ test_unsorted_indices _____________________________",
])
def test_test_runner_markers_and_fatal_warnings_are_anchors(line):
    data, at = make_log(error_lines=[line])
    assert at in excerpt_of(data).anchors


@pytest.mark.parametrize("line", ["    [+] Get-Config returns the default path 23ms", "  ✓ adds an item (2 ms)",
                                  "t9119-svn-info.sh ...... skipped: Perl SVN libraries not found or unusable"])
def test_passing_test_lines_are_no_anchors(line):
    data, at = make_log(error_lines=[line])
    assert at not in excerpt_of(data).anchors


@pytest.mark.parametrize("budget", [128, 512, 2048])
def test_excerpt_fits_its_budget_and_counts_what_it_shows(budget):
    data, _ = make_log()
    excerpt = excerpt_of(data, budget=budget)
    assert 0 < excerpt.tokens <= budget
    assert excerpt.tokens == sum(count_tokens(f"{line.number}: {line.text}\n") for line in excerpt.lines)


def test_first_error_of_a_cascade_beats_its_echoes():
    first = "lib/parse.c:10:3: error: expected ';' before '}' token"
    echoes = [f"lib/parse.c:{n}:3: error: expected ';' before '}}' token" for n in range(11, 400)]
    data, at = make_log(error_lines=[first] + echoes, noise_after=500)
    excerpt = excerpt_of(data, budget=256)
    assert numbered(excerpt).get(at) == first


def test_an_error_reported_again_for_another_test_counts_as_an_echo():
    first = "Error: POST /api/orders answered 500 Internal Server Error in test_create_order"
    again = "Error: POST /api/orders answered 500 Internal Server Error in test_cancel_order"
    lines = words("step", 300) + [first] + words("running", 300) + [again] + words("finishing", 300)
    kept = numbered(excerpt_of(lines_log(lines), budget=24))
    assert 301 in kept and 602 not in kept

def test_similar_lines_fold_into_one_entry_that_covers_them():
    progress = [f"Downloading package {n} of 40 (37%)" for n in range(40)]
    data, at = make_log(noise_before=500, error_lines=[ERROR] + progress, noise_after=500)
    excerpt = excerpt_of(data, budget=1024)
    assert numbered(excerpt)[at + 2] == "… 39 similar lines"
    assert set(range(at + 1, at + 41)) <= set(covered_lines(excerpt))


def test_progress_noise_never_crowds_out_the_cause():
    progress = [f"Receiving objects: {n % 100}% ({n}/80000), {n * 3} KiB | 1.2 MiB/s" for n in range(20000)]
    data, at = make_log(noise_before=100, error_lines=[ERROR] + progress, noise_after=0)
    assert at in numbered(excerpt_of(data, budget=512))


def lines_log(lines):
    return ("\n".join(lines) + "\n").encode()


def words(prefix, count):
    """Return `count` lines that never fold together: no two have the same shape."""
    return [f"{prefix} {chr(97 + n % 26)}{chr(97 + n // 26 % 26)}{chr(97 + n // 676)}" for n in range(count)]


def test_an_error_after_the_first_failing_exit_code_ranks_below_the_cause():
    cause = "src/app/main.c:42:7: error: 'count' undeclared (first use in this function)"
    cleanup = "ERROR: failed to upload /build/results.xml: no such file or directory"
    lines = (words("compiling", 300) + [cause] + words("linking", 30) + ['The command "make" exited with 2.']
             + words("uploading", 30) + [cleanup])
    kept = numbered(excerpt_of(lines_log(lines), budget=48))
    assert 301 in kept and 363 not in kept


def test_an_error_of_a_command_that_passed_ranks_below_the_failing_commands_output():
    lines = (["$ npm install"] + words("added", 100)
             + ["Error: fsevents build failed", "  could not find Python to build native modules"]
             + words("added", 100) + ["$ npm test"] + words("ran", 50)
             + ["1 test failed: checkout rejects an empty cart"] + words("ran", 5) + ['The command "npm test" exited with 1.'])
    kept = numbered(excerpt_of(lines_log(lines), budget=24))
    assert 256 in kept and 102 not in kept

@pytest.mark.parametrize("verdict", ["Process completed with exit code 1.", "Bash exited with code '1'."])
def test_scan_finds_the_command_that_failed_in_an_azure_pipelines_log(verdict):
    from azura.excerpt.scan import scan_log

    stamp = "2024-05-01T10:00:00.0000000Z "
    lines = [stamp + text for text in ["##[section]Starting: Restore", "##[command]/usr/bin/dotnet restore",
                                       "Restored /s/app.csproj", "##[command]/usr/bin/dotnet build",
                                       "Build FAILED.", "##[error]" + verdict,
                                       "##[command]/usr/bin/git clean -ffdx"]]
    scan = scan_log(StepLog(FailedStep(name="Build"), [lines_log(lines)]))
    assert scan.failing_command == 4

@pytest.mark.parametrize("verdict", ['The command "make test" failed. Retrying, 2 of 3.',
                                     'The command "make test" failed 3 times.'])
def test_a_command_retried_after_failing_gives_the_verdict(verdict):
    from azura.excerpt.scan import scan_log

    lines = ["$ make test"] + words("ran", 20) + ["FAIL: test_login"] + words("ran", 5) + [verdict] + words("again", 50)
    scan = scan_log(StepLog(FailedStep(name="Test"), [lines_log(lines)]))
    assert scan.verdict == 28


@pytest.mark.parametrize("quoted", [
    "process didn't exit successfully: `/build/target/debug/build/sys-1f/build-script-build` (exit code: 101)",
    "thread 'main' panicked at 'expected success, got: exit code: 77'",
])
def test_an_exit_code_quoted_in_an_error_message_is_no_verdict(quoted):
    from azura.excerpt.scan import scan_log

    lines = ["$ cargo build"] + words("compiling", 20) + ["error: failed to run custom build command for `sys`", quoted]
    scan = scan_log(StepLog(FailedStep(name="Build"), [lines_log(lines + words("stderr", 30))]))
    assert scan.verdict is None


def test_a_stack_trace_is_kept_whole_past_the_context_of_a_plain_line():
    frames = [f"    at com.shop.cart.{name}.run({name}.java:12)" for name in (w.split()[1] for w in words("x", 55))]
    lines = words("step", 300) + ["java.lang.IllegalStateException: cart is empty"] + frames + words("finishing", 300)
    kept = numbered(excerpt_of(lines_log(lines), budget=1024))
    assert 301 in kept and 356 in kept


def test_a_failing_tests_output_is_kept_back_to_the_previous_passing_test():
    report = ["  Missing 1 call to the resolver", "  stack traceback:"] + words("  diagnostic", 10)
    lines = words("step", 300) + ["ok 22 dns - load resolver"] + report + ["not ok 23 dns - resolve TXT record"]
    kept = numbered(excerpt_of(lines_log(lines + words("finishing", 300)), budget=200))
    assert {302, 314} <= set(kept)


def test_a_pytest_failure_report_is_kept_from_its_header():
    report = (["______________________________ test_checkout ______________________________", "",
               "    def test_checkout():"] + words("        cart.add", 24)
              + ["E       AssertionError: expected 3 items, got 2"])
    lines = words("collected", 300) + report + words("finishing", 300)
    kept = numbered(excerpt_of(lines_log(lines), budget=400))
    assert 301 in kept and 328 in kept


@pytest.mark.parametrize("row", [
    lambda n: f"{'src/app/' + 'pkg/' * (n % 3) + f'mod{n}.py':<60}{n * 7:>6}{n % 13:>6}{n % 100:>5}%",  # coverage
    lambda n: f"  [{'▬' * (n + 1)}{'․' * (60 - n)}] {n // 20} failing",  # mocha's progress bar
    lambda n: f"    --- PASS: TestAlpha/{words('Case', 60)[n].split()[1]} (0.00s)",  # passing tests' names
], ids=["coverage table", "progress bar", "passing tests"])
def test_rows_that_differ_only_in_names_padding_or_bar_length_fold(row):
    rows = [row(n) for n in range(60)]
    data, at = make_log(noise_before=500, error_lines=[ERROR] + rows, noise_after=500)
    excerpt = excerpt_of(data, budget=1024)
    assert set(range(at + 1, at + 61)) <= set(covered_lines(excerpt))
    assert sum(1 for number in numbered(excerpt) if at < number <= at + 60) <= 4


def test_the_next_cluster_gets_in_before_the_far_context_of_the_best_one():
    early = "tests/test_db.py:8: in connect: error: could not connect to database on port 5432"
    late = "src/app/main.c:42:7: error: 'count' undeclared (first use in this function)"
    lines = (words("step", 200) + [early] + words("running", 800) + [late] + words("  in expansion of macro", 12)
             + words("finishing", 100))
    kept = numbered(excerpt_of(lines_log(lines), budget=240))
    assert 201 in kept and 1002 in kept
    assert 1002 + 20 not in kept


def test_a_cluster_that_words_a_reason_beats_a_bare_error_of_the_same_weight():
    lines = (words("step", 450) + ["Error: deploy step", "  could not resolve host registry.example.com"]
             + words("running", 100) + ["Error: lint step", "  lint failed, see the output above"] + words("finishing", 450))
    kept = numbered(excerpt_of(lines_log(lines), budget=24))
    assert 451 in kept and 553 not in kept

def test_context_lines_that_report_passing_tests_go_last():
    lines = ([f"setup {n}" for n in range(100)] + ["FAIL src/cart.test.js"]
             + [text for n in range(8) for text in (f"  ✓ adds item {n} (2 ms)", f"    at Cart.total (src/cart.js:{n}:5)")]
             + [f"teardown {n}" for n in range(100)])
    kept = numbered(excerpt_of(lines_log(lines), budget=64))
    assert 101 in kept
    assert any("at Cart.total" in text for text in kept.values())
    assert not any("✓" in text for text in kept.values())


def test_context_of_the_first_error_of_a_cluster_beats_context_of_its_later_ones():
    lines = [f"setup {n}" for n in range(100)] + ["listening on 127.0.0.1:9008"]
    for name in "abcdef":
        lines += [f"FAIL tests/{name}.phpt", f"  diff of {name}: expected 'pid', got 'address already in use'"]
    lines += [f"teardown {n}" for n in range(100)]
    kept = numbered(excerpt_of(lines_log(lines), budget=120))
    assert {101, 102, 103} <= set(kept)


def test_log_without_an_error_falls_back_to_its_tail():
    data, _ = make_log(error_lines=())
    excerpt = excerpt_of(data, budget=512)
    assert excerpt.anchors == ()
    assert excerpt.lines[-1].number == 4000


def test_empty_log_gives_an_empty_excerpt():
    excerpt = excerpt_of(b"")
    assert (excerpt.lines, excerpt.tokens, excerpt.total_lines) == ((), 0, 0)


def test_step_without_a_log_gives_an_empty_excerpt():
    [excerpt] = build_excerpts([StepLog(FailedStep(name="Job timed out", record_type="Job"))], 512)
    assert excerpt.lines == ()


def test_knowledge_base_pattern_makes_an_anchor():
    quiet = "Deployment quota reached for subscription"
    data, at = make_log(error_lines=[quiet])
    assert at in numbered(excerpt_of(data, budget=256, anchor_patterns=[r"quota reached"]))


def test_knowledge_base_pattern_anchored_at_line_start_matches_a_timestamped_line():
    data, at = make_log(error_lines=["2024-05-01T10:00:00.0000000Z \x1b[31mDeployment quota reached\x1b[0m"])
    assert at in excerpt_of(data, budget=256, anchor_patterns=[r"^Deployment quota"]).anchors


def test_line_matching_no_pattern_is_no_anchor():
    quiet = "Deployment quota reached for subscription"
    data, at = make_log(error_lines=[quiet])
    assert at not in excerpt_of(data, budget=256).anchors


def test_invalid_anchor_pattern_is_a_config_error():
    with pytest.raises(ConfigError, match="anchor pattern"):
        excerpt_of(b"x\n", anchor_patterns=["(unclosed"])


def test_timeline_issue_with_a_line_number_is_kept():
    data, at = make_log(error_lines=["Deployment quota reached for subscription"])
    step = FailedStep(name="Deploy", issues=(Issue("Quota reached", line=at),))
    assert at in excerpt_of(data, budget=256, step=step).anchors


def test_timeline_issue_is_found_by_its_text():
    data, at = make_log(error_lines=["Deployment quota reached for subscription"])
    step = FailedStep(name="Deploy", issues=(Issue("Deployment quota reached for subscription"),))
    assert at in excerpt_of(data, budget=256, step=step).anchors


def test_secrets_are_redacted_before_they_reach_the_excerpt():
    pat = "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst"
    data, at = make_log(error_lines=[f"error: push failed for https://me:{pat}@dev.azure.com/o/p swordfish"])
    text = numbered(excerpt_of(data, secrets=["swordfish"]))[at]
    assert pat not in text and "swordfish" not in text and "«redacted:" in text


def test_long_context_line_is_cut_but_a_long_anchor_line_is_not():
    context = "x" * 1000
    anchor = ERROR + " " + "y" * 400
    data, at = make_log(error_lines=(context, anchor))
    lines = numbered(excerpt_of(data, budget=2048))
    assert lines[at + 1] == anchor
    assert lines[at].startswith("x" * 100) and lines[at].endswith("chars cut)") and len(lines[at]) < 300


def test_cutting_a_long_line_never_leaves_part_of_a_secret():
    secret = "swordfish-" * 10
    data, at = make_log(error_lines=("z" * 150 + secret, ERROR))
    text = numbered(excerpt_of(data, secrets=[secret]))[at]
    assert "swordfish" not in text


def test_first_failed_step_gets_the_larger_share():
    first, _ = make_log(seed=1)
    second, _ = make_log(seed=2)
    second += b"fatal: another cause\n"  # so that the two steps do not share one cause
    a, b = build_excerpts([StepLog(FailedStep(name="A"), [first]), StepLog(FailedStep(name="B"), [second])], 900)
    assert a.tokens > b.tokens > 0
    assert a.tokens + b.tokens <= 900


def test_budget_a_step_leaves_unused_goes_to_the_others():
    small = b"error: tiny\n"
    big, _ = make_log()
    a, b = build_excerpts([StepLog(FailedStep(name="A"), [small]), StepLog(FailedStep(name="B"), [big])], 900)
    assert b.tokens > 900 // 3 + 100


def test_novel_lines_are_preferred():
    a_line = "error: cache service unreachable"
    b_line = "error: module 'left-pad' not found"
    data, at = make_log(noise_before=1000, error_lines=[a_line] + ["ok"] * 60 + [b_line], noise_after=1000)
    novel = build_excerpts([StepLog(FailedStep(name="x"), [data])], 64,
                           novel=lambda step, text: text == normalise_for_diff(a_line))[0]
    assert at in numbered(novel)


def test_binary_log_raises_input_error_naming_the_step():
    from azura.errors import InputError

    with pytest.raises(InputError, match="'Sign binaries'"):
        excerpt_of(bytes(range(256)) * 64, step=FailedStep(name="Sign binaries"))


# Real logs: each labelled chunk must be inside the excerpt at the default budget.
@pytest.mark.parametrize("log", [
    "C#/NancyFx@Nancy/failed/375658615.log",
    "Rust/BurntSushi@ripgrep/failed/524443210.log",
    "CoffeeScript/Atom@atom/failed/544911934.log",
    "C/php@php-src/failed/531576999.log",
    "Perl/major@MySQLTuner-perl/failed/400483306.log",
])
def test_labelled_logchunks_cause_is_in_the_excerpt(log):
    label = logchunks_label(log)
    blank = {line.number for line in read_lines(log_chunks(logchunks_log(log))) if not line.text.strip()}
    wanted = set(range(label["chunk_start_line_normalised"], label["chunk_end_line_normalised"] + 1)) - blank
    excerpt = build_excerpts([StepLog(FailedStep(name=log), log_chunks(logchunks_log(log)))], 2048)[0]
    assert wanted <= set(covered_lines(excerpt))


def test_github_actions_log_keeps_its_error_and_loses_timestamps_and_markers():
    case = cidiff_case("breakages_dump/Quick Checks_/run548")
    excerpt = build_excerpts([StepLog(FailedStep(name="Quick Checks"), log_chunks(case / "fail.log"))], 1024)[0]
    assert set(cidiff_error_lines(case)) <= set(covered_lines(excerpt))
    assert not any(line.text.startswith("2022-") or "##[" in line.text for line in excerpt.lines)


def test_log_of_a_hundred_thousand_errors_keeps_the_first_and_few_anchors():
    errors = [f"lib/gen{n}.c:{n}:1: error: 'x{n}' undeclared" for n in range(100_000)]
    data, at = make_log(noise_before=10, error_lines=errors, noise_after=10)
    excerpt = excerpt_of(data, budget=512, chunk=1 << 16)
    assert at in numbered(excerpt)
    assert len(excerpt.anchors) < 20


@pytest.mark.parametrize("engine", ["re2", "re"])
def test_patterns_with_global_flags_scan_with_either_engine(monkeypatch, without_cached_matchers, engine):
    if engine == "re":
        monkeypatch.setitem(__import__("sys").modules, "re2", None)  # as where google-re2 is not installed
    data, at = make_log(error_lines=["DEPLOYMENT QUOTA reached"])
    excerpt = excerpt_of(data, budget=256, anchor_patterns=[r"(?i)deployment quota", r"(?i)^never here$"])
    assert at in excerpt.anchors


@pytest.mark.parametrize("texts", [
    ["src/app/main.c:42:7: error: 'count' undeclared (first use in this function) in /home/vsts/work/1/s/src/app"
     "/main.c at 0x7ffe3a2b4c5d with 123456 bytes"],
    ["    at com.example.orders.TaxCalculator.totalFor(TaxCalculator.java:88) 4b825dc642cb6eb9a060e54bf8d69288fbef4904"],
    ["x" * 200, "a " * 100, "", "   ", "===== " * 30, "/very/long/path/" * 20 + " error", "1\u00a02\u3000 3 " * 40],
    ["##[error]The process '/usr/bin/dotnet' failed with exit code 1", "FAILED tests/test_x.py::test_y - assert 1 == 2"],
])
def test_the_start_of_a_shape_is_that_of_the_whole_line(texts):
    from azura.excerpt.scan import REPEAT_PREFIX, shape_starts

    assert shape_starts(texts) == [normalise_for_diff(text)[:REPEAT_PREFIX] for text in texts]


def test_the_start_of_a_shape_is_that_of_the_whole_line_on_a_real_log():
    from azura.excerpt.scan import REPEAT_PREFIX, shape_starts

    texts = [line.text for line in read_lines(log_chunks(logchunks_log("R/rstudio@shiny/failed/574891057.log")))
             if line.text.strip()]
    assert shape_starts(texts) == [normalise_for_diff(text)[:REPEAT_PREFIX] for text in texts]


def test_a_match_running_over_a_line_break_does_not_hide_the_next_lines_anchor():
    # r"\s+quota exceeded" also matches from the break before the line; that match must not swallow the line's own
    lines = [f"step {n} ok" for n in range(50)] + ["Deploying to plan B2", "  quota exceeded for plan B2"] + \
        [f"cleanup {n} ok" for n in range(50)]
    data = ("\n".join(lines) + "\n").encode()
    excerpt = excerpt_of(data, budget=256, anchor_patterns=[r"\s+quota exceeded"])
    assert 52 in excerpt.anchors


def test_the_scan_finds_the_same_lines_from_re2s_spans_as_from_its_match_objects():
    re2 = pytest.importorskip("re2")
    from types import SimpleNamespace

    from azura.excerpt.anchors import PREFILTER
    from azura.excerpt.scan import _first_match, _lines_found, _re2_alternation

    regex = _re2_alternation(re2, (PREFILTER, r"\s+quota exceeded"))
    data = b"".join(log_chunks(logchunks_log("Java/ReactiveX@RxJava/failed/561008032.log"))) + \
        b"ok\r\n  quota exceeded\rBUILD FAILED\r\n\nerror: at the end"
    by_span = list(_lines_found(_first_match(regex), data))
    by_match_object = list(_lines_found(_first_match(SimpleNamespace(search=regex.search)), data))
    assert by_span == by_match_object and len(by_span) > 10


def test_a_short_logs_rules_and_signatures_searched_apart_find_the_lines_they_find_together():
    """On the bundled examples, on real logs and on lines made to cross a break, and whatever their size (a log up to
    APART_BYTES is searched apart): the same lines, in order, and no others (but for an empty one at a line's break,
    which no pattern reads as an anchor)."""
    pytest.importorskip("re2")
    from pathlib import Path

    from azura.analyze.patterns import possible_patterns
    from azura.analyze.signatures import bundled_signatures
    from azura.excerpt.anchors import COMMAND_SCAN, PREFILTER
    from azura.excerpt.reading import segments
    from azura.excerpt.scan import _filtered_finder, _finder, _non_capturing
    from tests.corpus import corpus_dir

    signatures = tuple(signature.pattern for signature in bundled_signatures())
    rules = (_non_capturing(PREFILTER), COMMAND_SCAN)
    logs = [[path.read_bytes()] for path in sorted((Path(__file__).parents[1] / "azura" / "examples").glob("*.log"))]
    logs += [log_chunks(path) for path in sorted((corpus_dir() / "logchunks" / "logs").glob("*/*/*/*.log.gz"))[::20]]
    logs.append([b"ok\r\n  quota exceeded\rBUILD FAILED\r\n\n   FAILED a.py::t - x\nerror: at the end"])
    compared = 0
    for chunks in logs:
        for segment in segments(chunks):
            possible = possible_patterns(signatures, segment.data)
            together = [hit for hit in _finder(rules, possible)(segment.data) if hit[0] < hit[1]]
            apart = [hit for hit in _filtered_finder(rules, possible, 0)(segment.data) if hit[0] < hit[1]]
            assert apart == together
            compared += bool(possible and together)
    assert compared > 20


def _scan_rows(chunks, signatures):
    from azura.excerpt.scan import scan_log

    scan = scan_log(StepLog(FailedStep(name="Build"), chunks), signatures)
    return ([(a.line, a.rule.name, a.window) for a in scan.anchors], tuple(scan.tail), scan.verdict, scan.total_lines)


def _chunked(data):
    """Return `data` in the 64 KB chunks a download streams."""
    return [data[i:i + (64 << 10)] for i in range(0, len(data), 64 << 10)]


def test_a_long_log_of_real_build_output_is_scanned_as_with_every_signature_searched_in_every_segment(monkeypatch):
    """Each segment searched for only the signatures that may match in it keeps the same anchors, windows and tail."""
    pytest.importorskip("re2")
    from pathlib import Path

    from azura.analyze.signatures import bundled_signatures
    from azura.excerpt import scan
    from tests.corpus import corpus_dir

    signatures = tuple(signature.pattern for signature in bundled_signatures())
    paths = sorted((corpus_dir() / "logchunks" / "logs").glob("*/*/*/*.log.gz"))[::7]
    data = b"".join(b"".join(log_chunks(path)) for path in paths)[:5 << 20]
    data = data[:data.rindex(b"\n") + 1].translate(None, bytes(range(9)) + bytes(range(14, 27)) + bytes(range(28, 32)))

    filtered = _scan_rows(_chunked(data), signatures)
    monkeypatch.setattr(scan, "STEADY_SEGMENTS", 0)  # every segment searched for every signature
    everything = _scan_rows(_chunked(data), signatures)

    assert len(filtered[0]) > 20
    assert filtered == everything


def test_a_log_that_repeats_itself_is_searched_for_every_signature_after_a_few_alike_segments(monkeypatch):
    from azura.excerpt import scan
    from azura.excerpt.reading import SEGMENT_BYTES

    searched = []
    possible = scan.possible_patterns
    monkeypatch.setattr(scan, "possible_patterns",
                        lambda patterns, data: searched.append(len(data)) or possible(patterns, data))
    block = b"".join(b"[%d/900] gcc -c src/file%d.c\nwarning: unused variable 'x'\n" % (n, n) for n in range(900))
    data = block * (6 * SEGMENT_BYTES // len(block))

    rows = _scan_rows(_chunked(data), (r"fatal error: \S+\.h: No such file", r"unused variable"))

    assert len(searched) == scan.STEADY_SEGMENTS
    assert rows[0] and all(name == "signature" for _, name, _ in rows[0])


def test_the_finders_of_a_long_logs_segments_are_not_kept_for_the_rest_of_the_run(without_cached_matchers):
    """A long log's megabytes mostly need other signatures each: only a one-segment log's finder is shared."""
    pytest.importorskip("re2")
    from azura.excerpt import scan
    from azura.excerpt.reading import SEGMENT_BYTES

    parts = [b"fatal error: x.h: No such file or directory\n", b"warning: unused variable 'x'\n", b"ok\n"]
    data = b"".join(part + b"compiling src/file.c\n" * (SEGMENT_BYTES // 20) for part in parts)

    rows = _scan_rows(_chunked(data), (r"fatal error: \S+\.h: No such file", r"unused variable"))

    assert len(rows[0]) == 2
    assert scan.compile_finder.cache_info().currsize == 0


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
@pytest.mark.parametrize("ends_with_break", [True, False])
def test_a_line_is_found_and_numbered_the_same_counted_from_the_start_or_back_from_the_end(newline, ends_with_break):
    from azura.excerpt.reading import segments
    from azura.excerpt.scan import _line_numbers, _line_start

    texts = [b"line %d" % n + b" x" * (n % 7) for n in range(1, 501)]
    data = newline.join(texts) + (newline if ends_with_break else b"")
    (segment,) = segments([data], first_line=40)
    starts = [sum(len(text) + len(newline) for text in texts[:index]) for index in range(500)]

    assert [_line_start(segment, index) for index in range(500)] == starts
    picked = [starts[i] for i in (3, 250, 251, 480, 499)]  # the first on from the start, the others back from the end
    assert _line_numbers(segment, picked) == {start: 40 + starts.index(start) for start in picked}


def test_without_re2_a_signature_is_searched_in_the_first_bytes_of_each_line_only(monkeypatch, without_cached_matchers):
    from azura.excerpt.scan import FALLBACK_LINE_BYTES, compile_finder

    monkeypatch.setitem(__import__("sys").modules, "re2", None)  # as where google-re2 is not installed
    near, far = b"x" * 100 + b"needle", b"x" * FALLBACK_LINE_BYTES + b"needle"
    data = b"\n".join([near, far, b"needle"])

    found = list(compile_finder((), ("needle",))(data))

    third = len(near) + 1 + len(far) + 1
    assert found == [(0, len(near)), (third, third + len(b"needle"))]


def test_with_re2_a_signature_is_found_anywhere_in_a_long_line():
    pytest.importorskip("re2")
    from azura.excerpt.scan import FALLBACK_LINE_BYTES, compile_finder

    far = b"x" * FALLBACK_LINE_BYTES + b"needle"

    assert list(compile_finder((), ("needle",))(far)) == [(0, len(far))]


def test_steps_failing_alike_share_one_excerpt_and_the_budget_goes_by_cause():
    first, _ = make_log(seed=1)
    again, _ = make_log(seed=2)  # the same error among other noise: the same cause
    other = make_log(seed=3)[0] + b"fatal: another cause\n"
    alone = build_excerpts([StepLog(FailedStep(name="A"), [first]), StepLog(FailedStep(name="C"), [other])], 900)

    a, b, c = build_excerpts([StepLog(FailedStep(name="A"), [first]), StepLog(FailedStep(name="B"), [again]),
                              StepLog(FailedStep(name="C"), [other])], 900)

    assert (a.same_as, b.same_as, c.same_as) == (None, 0, None)
    assert b.lines == () and b.tokens == 0 and b.step.name == "B"
    assert (a.lines, c.lines) == (alone[0].lines, alone[1].lines)


def test_steps_whose_failing_tests_differ_only_by_a_number_in_their_names_are_not_alike():
    first, _ = make_log(error_lines=("FAILED tests/test_orders.py::test_case_1 - assert 3 == 4",), seed=1)
    second, _ = make_log(error_lines=("FAILED tests/test_orders.py::test_case_2 - assert 5 == 6",), seed=2)

    a, b = build_excerpts([StepLog(FailedStep(name="A"), [first]), StepLog(FailedStep(name="B"), [second])], 900)

    assert b.same_as is None and b.lines


def test_cause_shape_keeps_numbers_in_names_and_drops_the_ones_that_differ_between_runs():
    from azura.excerpt.scan import cause_shape

    one = cause_shape("FAILED tests/test_x.py::test_case_1 - assert 12 == 13 (0.23s) at /home/vsts/work/1/s/x.py:42 "
                      "0x7ffe3a2b4c5d")
    other = cause_shape("FAILED tests/test_x.py::test_case_1 - assert 7 == 8 (1.5s) at /home/runner/work/s/x.py:9 "
                        "0x55d0c0ffee00")

    assert one == other and "test_case_1" in one
    assert cause_shape("FAILED test_case_1") != cause_shape("FAILED test_case_2")


def test_a_step_whose_log_was_read_in_part_is_never_grouped():
    from dataclasses import replace

    from azura.excerpt import cause_fingerprint
    from azura.excerpt.scan import scan_log

    step = FailedStep(name="A")
    scan = scan_log(StepLog(step, [make_log()[0]]))

    assert cause_fingerprint(step, scan) is not None
    assert cause_fingerprint(step, replace(scan, complete=False)) is None


@pytest.mark.parametrize("line, pattern", [
    ("\x1b[31mquota\x1b[0m exceeded: the deployment failed", r"quota exceeded: the deployment"),  # across colour codes
    ("Quota Exceeded: the deployment failed", r"(?i)^quota exceeded"),
    ("2024-05-01T10:00:00.0000000Z \x1b[1mQuota exceeded\x1b[0m: the deployment failed", r"^Quota exceeded:"),
])
def test_a_signature_matching_a_hit_line_once_cleaned_makes_it_a_signature_anchor(line, pattern):
    from azura.excerpt.anchors import SIGNATURE
    from azura.excerpt.scan import scan_log

    lines = words("step", 40) + [line] + words("cleanup", 40)
    scan = scan_log(StepLog(FailedStep(name="Deploy"), [lines_log(lines)]), (pattern, r"never (?:here|there)"))
    assert [(anchor.line, anchor.rule) for anchor in scan.anchors if anchor.line == 41] == [(41, SIGNATURE)]


@pytest.mark.parametrize("name", ["Java/ReactiveX@RxJava/failed/561008032.log", "Rust/jwilm@alacritty/failed/564527447.log",
                                  "Go/getlantern@lantern/failed/519285064.log", "Python/nvbn@thefuck/failed/530361507.log",
                                  "R/rstudio@shiny/failed/574891057.log"])
def test_a_log_searched_for_the_signatures_it_may_match_gets_the_anchors_of_a_search_for_all(name, monkeypatch):
    from azura.analyze import patterns
    from azura.analyze.signatures import load_signatures
    from azura.excerpt.scan import scan_log

    signatures = tuple(signature.pattern for signature in load_signatures())
    log = StepLog(FailedStep(name="Build"), list(log_chunks(logchunks_log(name))))

    def found(scan):
        return [(a.line, a.rule.name, a.shape, a.repeat, a.window) for a in scan.anchors], scan.verdict, \
            scan.failing_command

    narrowed = scan_log(log, signatures)
    monkeypatch.setattr(patterns, "pattern_filter", lambda _: None)  # every pattern is possible
    assert found(narrowed) == found(scan_log(log, signatures))
