"""Which line a diagnosis rests on: candidates by what and where they are, ranked by structure."""
import pytest

from azura.analyze.candidates import AFTER, BEFORE, CAUSE, ERROR, FAILING, WRAPPER, find_candidates
from azura.analyze.offline import analyze_offline
from azura.analyze.rank import choose_cause
from azura.analyze.signatures import bundled_signatures
from azura.models import Excerpt, FailedStep, Issue, Line

SIGNATURES = bundled_signatures()


def excerpt(numbered, verdict=None, command=None, novel=None, **step):
    """Return an excerpt of (number, text) lines, with the scan's verdict and failing command."""
    lines = tuple(Line(number, text) for number, text in numbered)
    return Excerpt(step=FailedStep(**{"name": "Build", **step}), lines=lines, tokens=10 * len(lines),
                   verdict=verdict, failing_command=command, novel_lines=novel)


def cause_of(an_excerpt):
    (failure,) = analyze_offline([an_excerpt], SIGNATURES)
    return failure.evidence[0].number if failure.evidence else None


def kinds(texts):
    found = find_candidates(excerpt([(n, t) for n, t in enumerate(texts, 1)]), [Line(n, t) for n, t in
                                                                               enumerate(texts, 1)], SIGNATURES)
    by_line = {c.line.number: c.kind for c in found}
    return [by_line.get(n, 0) for n in range(1, len(texts) + 1)]


def test_lines_are_causes_errors_or_wrappers():
    assert kinds(["src/parser.c:118:12: error: implicit declaration of function ‘strlcpy’",
                  "Something went wrong: cannot open the socket",
                  "make: *** [all] Error 2",
                  "Compiling src/parser.c"]) == [CAUSE, ERROR, WRAPPER, 0]


@pytest.mark.parametrize("text", [
    "Apr 24 00:02:18.638 - 0m0s DEBUG detour: detour.go:149 Dial initially to 255.0.0.1:80, error: timeout",
    "[debug] retrying after ECONNREFUSED",
    "npm WARN deprecated request@2.88.2: request has been deprecated, see https://github.com/request/request/issues/3142",
    "[WARNING] Could not transfer artifact org.foo:bar:pom:1.0 from/to central: Connection reset",
    "✖ 1 problem (0 errors, 1 warning)",
    "Tests run: 42, Failures: 0, Errors: 0, Skipped: 1",
    "  ✓ handles ECONNREFUSED by retrying (12ms)",
    "$ grep -r error src/",
    "    at Object.<anonymous> (/w/src/index.js:12:5)",
    "make[1]: [/home/travis/build/rabbitmq/rabbitmq-server/deps/proper] Error 1 (ignored)",
    "-Wno-error=unused-variable -Werror=format",
    "+export GIT_PROVE_OPTS=--timer --jobs 3 --state=failed,slow,save",  # set -x with a PS4 of "+", no space
    "++GIT_PROVE_OPTS='--timer --jobs 3 --state=failed,slow,save'",
    "  Latex failed to resolve 7748 reference(s)",  # latexmk, under "Summary of warnings"
])
def test_lines_that_only_look_like_errors_are_no_candidates(text):
    assert kinds([text]) == [0]


def test_a_linter_warning_that_fails_the_check_is_a_candidate():
    assert kinds(["[warn] Code style issues found in 2 files. Run Prettier with --write to fix."]) == [CAUSE]


def test_wrapper_never_wins_over_a_cause_in_the_same_failing_section():
    assert cause_of(excerpt([
        (10, "$ make"), (11, "src/net.c:12:5: error: 'struct request' has no member named 'timeout_ms'"),
        (12, "make: *** [src/net.o] Error 1"), (13, 'The command "make" exited with 2.')], verdict=13, command=10)) == 11


def test_a_go_subtest_wins_over_the_parent_test_that_failed_because_of_it():
    # hashicorp/terraform, CiDiff "Quick Checks" run 68
    assert cause_of(excerpt([
        (622, "--- FAIL: TestCloud_configWithEnvVars (0.01s)"),
        (623, "    --- FAIL: TestCloud_configWithEnvVars/an_invalid_workspace_env_var (0.00s)"),
        (624, "        backend_test.go:348: an invalid workspace env var: unexpected configure result: Invalid workspace "
              "selection: Terraform failed to find workspace \"i-dont-exist-in-org\"."),
        (625, "FAIL"), (626, "FAIL\tgithub.com/hashicorp/terraform/internal/cloud\t0.638s")], verdict=626)) == 623


def test_errors_before_the_failing_command_lose_to_the_failing_commands_own_output():
    assert cause_of(excerpt([
        (5, "Could not resolve host: github.com"), (6, "$ npm test"),
        (40, "  ● OrderSummary › shows the total with tax"), (60, "npm ERR! Test failed.  See above for more details."),
        (61, 'The command "npm test" exited with 1.')], verdict=61, command=6)) == 40


def test_errors_after_the_first_failing_exit_count_only_when_the_section_has_none():
    assert cause_of(excerpt([
        (10, "$ ./check.sh"), (11, 'The command "./check.sh" exited with 1.'),
        (30, "ERROR: cache upload failed: permission denied")], verdict=11, command=10)) == 11
    assert cause_of(excerpt([
        (10, "$ ./check.sh"), (11, "ERROR: schema.json is out of date"), (12, 'The command "./check.sh" exited with 1.'),
        (30, "ERROR: cache upload failed")], verdict=12, command=10)) == 11


def test_incidental_network_error_far_from_where_the_step_stopped_is_no_cause():
    assert cause_of(excerpt([
        (1113, "Resolving www.inf.puc-rio.br (www.inf.puc-rio.br)... failed: Name or service not known."),
        (1617, "text-objects/lexer                                FAIL"),
        (1640, "make: *** [test] Error 1"), (1645, 'The command "make test" exited with 2.')], verdict=1645)) == 1617


def test_incidental_network_error_among_the_last_errors_is_the_cause():
    assert cause_of(excerpt([
        (20, "$ npm ci"),
        (31, "npm ERR! request to https://registry.npmjs.org/react failed, reason: getaddrinfo ENOTFOUND registry.npmjs.org"),
        (35, "npm ERR! A complete log of this run can be found in: /home/vsts/.npm/_logs/debug.log"),
        (36, "##[error]Bash exited with code '1'.")], verdict=36, command=20)) == 31


def test_first_error_of_the_last_cascade_is_the_cause():
    assert cause_of(excerpt([
        (100, "src/a.c:1:1: error: unknown type name 'uint'"), (101, "src/a.c:9:3: error: 'x' undeclared"),
        (102, "src/b.c:4:1: error: expected ';' before '}' token"), (103, "make: *** [all] Error 1"),
        (104, "##[error]Bash exited with code '2'.")], verdict=104)) == 100


def test_failing_tests_reported_one_by_one_reach_back_to_the_first():
    assert cause_of(excerpt([
        (1202, "1) Composer\\Test\\DependencyResolver\\SolverTest::testUnstable"), (1203, "Failed asserting that false is true."),
        (1268, "2) Composer\\Test\\InstallerTest::testIntegration"), (1269, "Failed asserting that two strings are equal."),
        (1300, "FAILURES!"), (1301, 'The command "vendor/bin/phpunit" exited with 2.')], verdict=1301)) == 1202


def test_lines_new_since_the_last_green_run_win_over_old_ones():
    lines = [(10, "ERROR: the network check timed out"), (50, "ERROR: schema.json is out of date"),
             (60, "##[error]Bash exited with code '1'.")]
    assert cause_of(excerpt(lines, verdict=60)) == 50
    assert cause_of(excerpt(lines, verdict=60, novel=(10, 60))) == 10


def test_job_that_hit_its_time_limit_is_diagnosed_from_its_issue_even_with_log_lines():
    issue = Issue("The job running on agent Hosted Agent ran longer than the maximum time of 60 minutes. "
                  "For more information, see https://go.microsoft.com/fwlink/?linkid=2077134")
    an_excerpt = excerpt([(400, "Running tests..."), (401, "tests/test_big.py::test_slow "),
                          (402, "##[error]The operation was canceled.")], record_type="Job", result="canceled",
                         issues=(issue,))
    (failure,) = analyze_offline([an_excerpt], SIGNATURES)
    assert failure.category == "timeout"
    assert failure.evidence[0] == Line(0, issue.message)
    assert "60 minutes" in failure.root_cause and failure.confidence >= 0.8


def test_issues_that_repeat_a_log_error_leave_the_log_line_as_the_cause():
    an_excerpt = excerpt([(12, "src/Api/A.cs(3,5): error CS0246: The type 'OrderDto' could not be found"),
                          (20, "##[error]Bash exited with code '1'.")], verdict=20,
                         issues=(Issue("Bash exited with code '1'."),))
    assert cause_of(an_excerpt) == 12


def test_choose_cause_returns_none_without_candidates():
    assert choose_cause([], []) is None


@pytest.mark.parametrize("number, place", [(5, BEFORE), (10, FAILING), (15, FAILING), (20, FAILING), (25, AFTER)])
def test_a_line_is_placed_before_in_or_after_the_failing_section(number, place):
    from azura.analyze.candidates import failing_bounds, place_of

    assert place_of(number, failing_bounds(excerpt([], verdict=20, command=10))) == place


# GitHub Actions, terraform's "Quick Checks" (CiDiff breakage run327): the step shows its script, then runs it.
GITHUB_RUN_STEP = [
    (697, "[command]/usr/bin/tar --use-compress-program zstd -d -xf /home/runner/work/_temp/cache.tzst -P -C /w"),
    (701, "[group] Run make fmtcheck generate staticcheck exhaustive protobuf"),
    (702, "make fmtcheck generate staticcheck exhaustive protobuf"),
    (703, 'if [[ -n "$(git status --porcelain)" ]]; then'),
    (704, '  echo >&2 "ERROR: Generated files are inconsistent. Run \'make generate\' and \'make protobuf\' locally and '
          'then commit the updated files."'),
    (705, "  git >&2 status --porcelain"), (706, "  exit 1"), (707, "fi"), (708, "shell: /usr/bin/bash -e {0}"),
    (709, "env:"), (710, "  GOROOT: /opt/hostedtoolcache/go/1.18.1/x64"),
    (712, "==> Checking that code complies with go fmt requirements..."),
    (715, "[error] internal/states/instance_object_test.go:63:3: the goroutine calls T.Fatalf, which must be called in "
          "the same goroutine as the test (SA2002)"),
    (717, "exit status 1"), (718, "make: *** [Makefile:39: staticcheck] Error 1"),
    (719, "[error] Process completed with exit code 2.")]


def test_the_script_a_github_actions_step_shows_before_running_is_no_candidate():
    assert cause_of(excerpt(GITHUB_RUN_STEP, verdict=717)) == 715


def test_output_indented_like_a_variable_after_the_github_actions_group_is_still_output():
    # the group's "##[endgroup]" (line 711) is not in the excerpt: what follows it is the step's own output
    lines = [(n, t) for n, t in GITHUB_RUN_STEP if n <= 710] + [(712, "  Error: gofmt found unformatted files")]
    assert cause_of(excerpt(lines, verdict=None)) == 712


def test_a_run_group_the_excerpt_shows_only_in_part_hides_nothing():
    # a log's own "::group::Run checks", its output, then lines the excerpt left out before a later step's header
    found = find_candidates(excerpt([]), [Line(100, "[group] Run checks"), Line(101, "ERROR: schema.json is out of date"),
                                          Line(150, "shell: /usr/bin/bash -e {0}")], SIGNATURES)
    assert [c.line.number for c in found] == [101]


def test_the_script_an_azure_pipelines_script_task_shows_before_running_is_no_candidate():
    # the Bash task's own lines (azure-pipelines-tasks issue 8848), then the script's output
    assert kinds(["Generating script.", "Script contents:",
                  'test -f dist/app.js || echo "ERROR: the bundle was not built"',
                  "========================== Starting Command Output ===========================",
                  "[command]/usr/bin/bash --noprofile --norc /home/vsts/work/_temp/76626739.sh",
                  "ERROR: the bundle was not built"]) == [0, 0, 0, 0, 0, ERROR]


def test_the_failing_section_starts_at_the_github_actions_step_that_holds_the_verdict():
    from azura.analyze.candidates import failing_bounds, place_of

    bounds = failing_bounds(excerpt(GITHUB_RUN_STEP, verdict=717))
    assert (place_of(697, bounds), place_of(701, bounds), place_of(715, bounds)) == (BEFORE, FAILING, FAILING)


def test_a_step_that_printed_nothing_before_failing_points_at_the_errors_before_it():
    # terraform's package build (CiDiff run390): `git describe` failed a step earlier, leaving the version empty
    assert cause_of(excerpt([
        (1308, "v1.3.0-dev"), (1309, "fatal: No tags can describe '60a189413d732eccd0158591618422c7cad1aed7'."),
        (1310, "Try --always, or create some tags."), (1358, "Building Terraform CLI"),
        (1359, '[group] Run [ -n "" ]'), (1360, '[ -n "" ]'), (1361, 'echo "::notice title=Terraform CLI Version::"'),
        (1362, "shell: /usr/bin/bash -e {0}"), (1363, "env:"), (1364, "  PKG_NAME: terraform"),
        (1366, "[error] Process completed with exit code 1.")], verdict=1366)) == 1309


def test_signatures_read_a_tools_line_behind_the_agents_error_marker():
    lines = ["[error] internal/command/cliconfig/credentials_test.go:88:9: undefined: os",  # GitHub Actions' go matcher
             "[error] /home/travis/build/scala/scala/src/reflect/scala/reflect/internal/util/Collections.scala:78: "
             "type mismatch;"]  # sbt writes "[error]" itself
    found = find_candidates(excerpt([]), [Line(n, t) for n, t in enumerate(lines, 1)], SIGNATURES)
    assert [c.signature.id for c in found] == ["go-compile-error", "scala-compile-error"]


def test_a_verdict_alone_on_its_line_is_a_wrapper():
    # go test's closing "FAIL"; R CMD check's "ERROR" under "* checking tests ..."; Minitest's "Error:" heads a report
    assert kinds(["FAIL", "--- FAIL: TestCloud_config (1.67s)", " ERROR", "Error:"]) == [WRAPPER, CAUSE, WRAPPER, ERROR]


def test_an_incidental_cause_is_a_lead_not_a_certainty():
    an_excerpt = excerpt([
        (20, "$ npm ci"),
        (31, "npm ERR! request to https://registry.npmjs.org/react failed, reason: getaddrinfo ENOTFOUND registry.npmjs.org"),
        (36, "##[error]Bash exited with code '1'.")], verdict=36, command=20)
    (failure,) = analyze_offline([an_excerpt], SIGNATURES)
    assert failure.category == "network" and 0.5 <= failure.confidence < 0.8


def test_a_count_of_passed_and_failed_tests_or_xcodebuilds_verdict_is_a_wrapper():
    # Pester's closing count; xcodebuild's banner after the tests it ran
    assert kinds(["passed 79, failed 4, total 83", "** TEST EXECUTE FAILED **"]) == [WRAPPER, WRAPPER]


def test_a_common_test_case_failure_wins_over_rebars_abort_far_below_it():
    assert cause_of(excerpt([
        (4056, "08:18:55.470 [error] CRASH REPORT Process <0.3232.0> with 0 neighbours exited with reason: bad record "
               "state in mod_muc_room:normal_state/2 line 328"),
        (4061, "suite:send_recv failed on line 593"),
        (4062, "Reason: timetrap_timeout"),
        (4065, "Testing processone.ejabberd: *** FAILED test case 89 of 1470 ***"),
        (13729, "ERROR: ct failed while processing /home/travis/build/processone/ejabberd: rebar_abort"),
        (13731, 'The command "make test" exited with 1.')], verdict=13731)) == 4061


def test_a_link_checkers_final_list_of_broken_links_wins_over_a_failure_in_its_progress():
    # awesome_bot prints each link as it checks it, then "Issues :-(" and the links that failed under "> Links"
    assert cause_of(excerpt([
        (3316, "  23. [L3034]  https://swift.sandbox.bluemix.net Failed to open TCP connection to "
               "swift.sandbox.bluemix.net:443 (getaddrinfo: Name or service not known)"),
        (3317, "  24. [L3241] 200 https://github.com/hsavit1/Awesome-Swift-Education"),
        (3328, "Issues :-("),
        (3329, "> Links"),
        (3330, "  01. [L0410] 301 https://github.com/CoreCharts/CoreCharts  → https://github.com/cagricolak/CoreCharts"),
        (3335, "  06. [L1622] 404 https://www.goprimer.com"),
        (3342, "> Dupes"),
        (3343, "  None ✓"),
        (3345, "Wrote results to ab-results-README.md.json"),
        (3349, 'The command "awesome_bot README.md --allow-ssl --white-list $allowed_dupes,$allowed_redirects" exited '
               'with 1.')], verdict=3349)) == 3329


def test_the_message_above_a_lua_stack_traceback_is_an_error_whatever_its_words():
    assert cause_of(excerpt([
        (1376, "fetching: 1 object"),
        (1378, 'fail: [string "bundle:libs/codec.lua"]:123: No such hash: 31b8c996c762b151bedbd7f0e5ad12c2ababf3cd'),
        (1380, "stack traceback:"),
        (1382, "\t[C]: in function 'assert'"),
        (1384, "\t[string \"bundle:libs/codec.lua\"]:123: in function 'read'"),
        (1408, "make: *** [lit] Error 255"),
        (1415, 'The command "make" exited with 2.')], verdict=1415)) == 1378


def test_a_diff_the_failing_check_printed_is_the_cause_when_nothing_more_specific_is_there():
    # a documentation formatter's check prints what it would change, then the script exits 2
    assert cause_of(excerpt([
        (520, "$ .travisci/test.sh"),
        (541, "PLEASE APPLY CHANGES BELOW:"),
        (543, "diff --git a/layers/+lang/ruby/README.org b/layers/+lang/ruby/README.org"),
        (544, "index 18d226b..c6dbc80 100644"),
        (545, "--- a/layers/+lang/ruby/README.org"),
        (546, "+++ b/layers/+lang/ruby/README.org"),
        (590, " ** Bundler"),
        (595, 'The command ".travisci/test.sh" exited with 2.')], verdict=595, command=520)) == 543


def test_r_cmd_checks_failed_check_is_a_wrapper_of_the_file_whose_run_failed_under_it():
    assert cause_of(excerpt([
        (1444, "* checking data for ASCII and uncompressed saves ... OK"),
        (1445, "* checking examples ... ERROR"),
        (1446, "Running examples in ‘AnomalyDetection-Ex.R’ failed"),
        (1447, "The error most likely occurred in:"),
        (1459, "Error in format_timestamp(data_decomp) :"),
        (1460, '  could not find function "str_detect"'),
        (1465, 'The command "R CMD check *tar.gz" exited with 1.')], verdict=1465)) == 1446


def test_a_program_refusing_its_command_line_is_the_cause_not_the_usage_text_under_it():
    assert cause_of(excerpt([
        (615, "$ ./sapi/cli/php run-tests.php -P -d extension=`pwd`/modules/zend_test.so -j2"),
        (616, "Illegal switch 'j' specified!"),
        (617, "Synopsis:"),
        (621, "    -l <file>   Read the testfiles to be executed from <file>. After the test"),
        (622, "                has finished all failed tests are written to the same <file>."),
        (628, "    -w <file>   Write a list of all failed tests to <file>."),
        (695, 'The command "./sapi/cli/php run-tests.php -P -j2" exited with 1.')], verdict=695, command=615)) == 616


REPORT_AND_PASS_LINES = [
    "3 failed, 12 passed", "BUILD FAILURE", "Build failed", "exited with code 2", "non-zero exit status 1",
    "make: *** [all] Error 2", "Your build exited with 1.", "Failing tests:", "** TEST FAILED **", "2/3 passing",
    "Test suite failure for app", "Test suite unit: FAIL", "ERROR", "Installation failed.", "ok 3 - adds",
    "OK (0.21s)", "Skipped: flaky", "SKIPPED [1] x.py", "XFAIL test_x", "✓ renders", "PASSED", "Errors: 0, Failed: 0",
    "0 failures", "npm ERR! argv \"node\" \"npm\"", "npm ERR! code E404", "not ok 1 - adds", "Tests run: 3",
    "DEBUG: retrying", "[trace] x", "12:00:01.2 - 0m0s VERBOSE y", "[ſtep] VERBOſE output",
]


def test_word_checks_before_the_line_patterns_never_change_what_they_find():
    """The `in` checks in front of the report-only, passing, debug, zero-count and npm patterns only turn away lines
    those patterns would not find: on lines of each kind, and on every line of a sample of real logs."""
    import re

    from azura.analyze import candidates

    from tests.corpus import corpus_dir, log_chunks

    logs = sorted((corpus_dir() / "logchunks" / "logs").glob("*/*/*/*.log.gz"))[::40]
    texts = set(REPORT_AND_PASS_LINES)
    for path in logs:
        texts.update(b"".join(log_chunks(path)).decode("utf-8", "replace").splitlines())
    report_only = re.compile("|".join(part.pattern for part in candidates._REPORT_ONLY))  # the parts as one
    for text in texts:
        assert candidates._reports_only(text) == bool(report_only.search(text)), text
        assert candidates._passing(text) == bool(candidates._PASSING.search(text)), text
        assert candidates._debug(text) == bool(candidates._DEBUG.match(text)), text
        assert candidates._without_zero_counts(text) == candidates._ZERO_COUNTS.sub("", text), text
        assert not candidates._NPM_BOILERPLATE.match(text) or text.startswith("npm ERR!"), text
