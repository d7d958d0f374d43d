"""The fact extractors, on lines as real runners and compilers print them (most copied from the shared corpus)."""
import re

import pytest

from azura.analyze.facts import read_facts
from azura.analyze.facts.compilers import compile_errors
from azura.analyze.facts.names import exit_status, missing_names, version_mismatches
from azura.analyze.facts.tests import failing_tests
from azura.analyze.candidates import AGENT_MARKER
from azura.analyze.patterns import KeywordPattern, sre, sre_parse
from azura.models import Line, SourceLocation


def lines(first, *texts):
    """Return the lines from `first` on, blank ones left out as the excerpt leaves them out."""
    return [Line(first + i, text) for i, text in enumerate(texts) if text.strip()]


# --- failing tests ------------------------------------------------------------------------------------

TEST_REPORTS = [
    pytest.param("pytest", lines(
        4228, "=================================== FAILURES ===================================",
        "_________________________________ test_readme __________________________________",
        "    def test_readme(source_root):",
        ">                   assert rule.stem in readme,\\",
        'E                   AssertionError: Missing rule "shoaib" in README.md',
        "E                   assert 'shoaib' in '# The Fuck [![Version][version-badge]]'",
        "tests/test_readme.py:11: AssertionError",
        "======= 1 failed, 1582 passed, 14 skipped, 2 warnings in 441.80 seconds ========"),
        "test_readme", 'AssertionError: Missing rule "shoaib" in README.md', SourceLocation("tests/test_readme.py", 11), 1,
        id="pytest report (nvbn/thefuck)"),
    pytest.param("pytest", lines(
        4321, "____ ERROR at setup of test_get_new_command[command0-nix-env -iA nixos.vim] ____",
        "file /home/travis/build/nvbn/thefuck/tests/rules/test_nixos_cmd_not_found.py, line 21",
        "  def test_get_new_command(mocker, command, new_command, packages):",
        "E       fixture 'packages' not found",
        ">       use 'pytest --fixtures [testpath]' for help on them."),
        "test_get_new_command[command0-nix-env -iA nixos.vim]", "fixture 'packages' not found", None, 1,
        id="pytest error at set-up (nvbn/thefuck)"),
    pytest.param("pytest", lines(
        109, "FAILED tests/test_orders.py::test_total_includes_tax[DE] - AssertionError: assert Decimal('116.00') == "
             "Decimal('119.00')",
        "======================== 1 failed, 212 passed in 14.07s ========================"),
        "tests/test_orders.py::test_total_includes_tax[DE]", "AssertionError: assert Decimal('116.00') == Decimal('119.00')",
        None, 1, id="pytest short summary"),
    pytest.param("unittest", lines(
        7945, "FAIL: tests.openface_batch_represent_tests.test_batch_represent",
        "----------------------------------------------------------------------",
        "Traceback (most recent call last):",
        '  File "/root/src/openface/tests/openface_batch_represent_tests.py", line 50, in test_batch_represent',
        "    assert p.returncode == 0",
        "AssertionError:"),
        "tests.openface_batch_represent_tests.test_batch_represent", "AssertionError:",
        SourceLocation("/root/src/openface/tests/openface_batch_represent_tests.py", 50), 1, id="unittest/nose (openface)"),
    pytest.param("unittest", lines(
        20, "FAIL: test_parse_date (tests.test_dates.ParseTests.test_parse_date)", "-" * 70,
        "Traceback (most recent call last):", '  File "/w/tests/test_dates.py", line 12, in test_parse_date',
        "AssertionError: 3 != 4", "FAILED (failures=1)"),
        "tests.test_dates.ParseTests.test_parse_date", "AssertionError: 3 != 4", SourceLocation("/w/tests/test_dates.py", 12),
        1, id="unittest 3.11"),
    pytest.param("jest", lines(
        822, " FAIL  test/autoprefixer.test.js (11.3s)", "  ● hacks › supports grid layout", "",
        "    expect(received).toEqual(expected)", "", "    Expected value to equal:"),
        "hacks › supports grid layout", "expect(received).toEqual(expected)", None, 1, id="jest (postcss/autoprefixer)"),
    pytest.param("mocha", lines(
        1429, "  5 failing", "", "  1)", "", "         unittests:: Reuse program structure:: General",
        "           fails if change affects tripleslash references:", "     AssertionError: expected 1 to equal 2",
        "      at Context.<anonymous> (src/testRunner/unittests/reuseProgramStructure.ts:259:20)"),
        "unittests:: Reuse program structure:: General fails if change affects tripleslash references",
        "AssertionError: expected 1 to equal 2", SourceLocation("src/testRunner/unittests/reuseProgramStructure.ts", 259), 5,
        id="mocha (Microsoft/TypeScript)"),
    pytest.param("junit", lines(
        19987, "Tests run: 2, Failures: 1, Errors: 0, Skipped: 0, Time elapsed: 0.088 sec <<< FAILURE! - in "
               "org.dirty.flag.DirtyFlagTest",
        "testIsDirty()  Time elapsed: 0.058 sec  <<< FAILURE!",
        "org.opentest4j.AssertionFailedError: expected: <false> but was: <true>",
        "\tat org.dirty.flag.DirtyFlagTest.testIsDirty(DirtyFlagTest.java:45)"),
        "testIsDirty", "org.opentest4j.AssertionFailedError: expected: <false> but was: <true>",
        SourceLocation("DirtyFlagTest.java", 45), 1, id="surefire (iluwatar/java-design-patterns)"),
    pytest.param("junit", lines(
        519, "io.reactivex.internal.operators.observable.ObservableRefCountTest > publishNoLeak FAILED",
        "    java.lang.AssertionError: 13,928,704 -> 113,907,376", "        at org.junit.Assert.fail(Assert.java:88)",
        "        at org.junit.Assert.assertTrue(Assert.java:41)",
        "        at io.reactivex.internal.operators.observable.ObservableRefCountTest.publishNoLeak"
        "(ObservableRefCountTest.java:731)",
        "11169 tests completed, 1 failed, 240 skipped"),
        "io.reactivex.internal.operators.observable.ObservableRefCountTest.publishNoLeak",
        "java.lang.AssertionError: 13,928,704 -> 113,907,376", SourceLocation("ObservableRefCountTest.java", 731), 1,
        id="gradle (ReactiveX/RxJava)"),
    pytest.param("xunit", lines(
        3202, "    Nancy.Testing.Tests.BrowserFixture.Should_return_JSON_serialized_form [FAIL]", "",
        "      Assert.Equal() Failure", "", "      Expected: 1"),
        "Nancy.Testing.Tests.BrowserFixture.Should_return_JSON_serialized_form", "Assert.Equal() Failure", None, 1,
        id="xunit (NancyFx/Nancy)"),
    pytest.param("dotnet", lines(
        40, "  Failed Contoso.Api.Tests.OrdersTests.Total_includes_tax [38 ms]", "  Error Message:",
        "   Assert.Equal() Failure: Values differ", "  Stack Trace:",
        "     at Contoso.Api.Tests.OrdersTests.Total_includes_tax() in /w/tests/OrdersTests.cs:line 27",
        "Failed!  - Failed:     2, Passed:   311, Skipped:     0, Total:   313, Duration: 12 s - Api.Tests.dll (net8.0)"),
        "Contoso.Api.Tests.OrdersTests.Total_includes_tax", "Assert.Equal() Failure: Values differ",
        SourceLocation("/w/tests/OrdersTests.cs", 27), 2, id="dotnet test"),
    pytest.param("go", lines(
        1045, "    --- FAIL: TestAlpha/Libraries_for_developing_GraphQL_servers_in_Go. (0.00s)",
        "        repo_test.go:131: expected 'gqlgen' but actual is 'graphql-go'"),
        "TestAlpha/Libraries_for_developing_GraphQL_servers_in_Go.", "expected 'gqlgen' but actual is 'graphql-go'",
        SourceLocation("repo_test.go", 131), 1, id="go test (avelino/awesome-go)"),
    pytest.param("cargo", lines(
        1725, "test newline_with_cursor_beyond_scroll_region ... FAILED", "test history ... ok",
        "---- newline_with_cursor_beyond_scroll_region stdout ----",
        "thread 'newline_with_cursor_beyond_scroll_region' panicked at 'Ref test failed; grid doesn't match', "
        "alacritty_terminal/tests/ref.rs:126:9"),
        "newline_with_cursor_beyond_scroll_region", "Ref test failed; grid doesn't match",
        SourceLocation("alacritty_terminal/tests/ref.rs", 126), 1, id="cargo test (jwilm/alacritty)"),
    pytest.param("phpunit", lines(
        743, "1) Form_validation_test::test_rule_valid_date", "Failed asserting that false is true.", "",
        "/home/travis/build/bcit-ci/CodeIgniter/tests/codeigniter/libraries/Form_validation_test.php:318",
        "FAILURES!", "Tests: 1, Assertions: 1, Failures: 1."),
        "Form_validation_test::test_rule_valid_date", "Failed asserting that false is true.",
        SourceLocation("/home/travis/build/bcit-ci/CodeIgniter/tests/codeigniter/libraries/Form_validation_test.php", 318),
        1, id="phpunit (bcit-ci/CodeIgniter)"),
    pytest.param("rspec", lines(
        11439, "  1) DistributedMutex allows only one mutex object to have the lock at a time",
        "     Failure/Error: expect(x).to eq(10)", "", "       expected: 10", "            got: 7", "",
        "     # ./spec/components/distributed_mutex_spec.rb:29:in `block (2 levels) in <main>'",
        "13107 examples, 1 failure, 3 pending", "",
        "rspec ./spec/components/distributed_mutex_spec.rb:13 # DistributedMutex allows only one mutex object to have "
        "the lock at a time"),
        "DistributedMutex allows only one mutex object to have the lock at a time", "expected: 10",
        SourceLocation("./spec/components/distributed_mutex_spec.rb", 29), 1, id="rspec (discourse/discourse)"),
    pytest.param("minitest", lines(
        1435, "  1) Failure:",
        "MemCacheStoreTest#test_two_classes_autoloading [/home/travis/build/rails/rails/activesupport/test/caching_test.rb:665]:",
        "Expected #<E:0x000000030acd48> to be a kind of E, not E.", "",
        "3256 runs, 381949 assertions, 1 failures, 0 errors, 49 skips"),
        "MemCacheStoreTest#test_two_classes_autoloading", "Expected #<E:0x000000030acd48> to be a kind of E, not E.",
        SourceLocation("/home/travis/build/rails/rails/activesupport/test/caching_test.rb", 665), 1, id="minitest (rails/rails)"),
    pytest.param("minitest", lines(
        1132, "Failure:",
        "TestKramdown#test_: kramdown when a custom highlighter is chosen should use the chosen highlighter if it's "
        "available.  [/home/travis/build/jekyll/jekyll/test/test_kramdown.rb:106]",
        "Minitest::Assertion: Expected true to not be truthy."),
        "TestKramdown#test_: kramdown when a custom highlighter is chosen should use the chosen highlighter if it's "
        "available", "Minitest::Assertion: Expected true to not be truthy.",
        SourceLocation("/home/travis/build/jekyll/jekyll/test/test_kramdown.rb", 106), 1,
        id="minitest, a test named by its words (jekyll/jekyll)"),
    pytest.param("exunit", lines(
        815, "  1) test assert received when different message (ExUnit.AssertionsTest)",
        "     test/ex_unit/assertions_test.exs:396",
        "     ** (MatchError) no match of right hand side value: {:hello, [{:message, :not_expected, :at_all}]}"),
        "ExUnit.AssertionsTest: assert received when different message",
        "** (MatchError) no match of right hand side value: {:hello, [{:message, :not_expected, :at_all}]}",
        SourceLocation("test/ex_unit/assertions_test.exs", 396), 1, id="exunit (elixir-lang/elixir)"),
    pytest.param("scalatest", lines(
        5505, "[info] - http/2 client, http/1.1 server (streaming): symmetric reader and getContent *** FAILED ***",
        "[info]   com.twitter.util.TimeoutException: 30.seconds"),
        "http/2 client, http/1.1 server (streaming): symmetric reader and getContent",
        "com.twitter.util.TimeoutException: 30.seconds", None, 1, id="scalatest (twitter/finagle)"),
    pytest.param("tasty", lines(
        3030, "      basic:                                                         OK (0.20s)",
        "      tables:                                                        FAIL (0.06s)",
        "        ------------------------------------------------------------------------",
        "        --- tables.custom"),
        "tables", "--- tables.custom", None, 1, id="tasty (jgm/pandoc)"),
    pytest.param("commontest", lines(
        1403, "- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -",
        "confirms_rejects_SUITE:mixed_dead_alive_queues_reject failed on line 195", "Reason: expecting_nack_got_ack"),
        "confirms_rejects_SUITE:mixed_dead_alive_queues_reject", "expecting_nack_got_ack", None, 1,
        id="common test (rabbitmq/rabbitmq-server)"),
    pytest.param("phpt", lines(
        2018, "FAIL Bug#71412 ArrayIterator reflection parameter info [ext/spl/tests/bug71412.phpt] ",
        "Tests failed    :    1 (  0.0%) (  0.0%)"),
        "Bug#71412 ArrayIterator reflection parameter info", "", SourceLocation("ext/spl/tests/bug71412.phpt"), 1,
        id="php run-tests (php/php-src)"),
]


@pytest.mark.parametrize("framework, report, name, message, location, total", TEST_REPORTS)
def test_failing_test_is_named_with_its_message_and_location(framework, report, name, message, location, total):
    tests, count = failing_tests(report)
    first = tests[0]
    assert (first.framework, first.name, first.message) == (framework, name, message)
    assert first.location == location
    assert count == total


def test_a_test_minitest_reports_as_skipped_is_no_failing_test():
    report = lines(1128, "Skipped:",  # jekyll/jekyll, LogChunks 557871100
                   "TestCommandsServe#test_: using LiveReload should insert the LiveReload script tags.  "
                   "[/home/travis/build/jekyll/jekyll/test/test_commands_serve.rb:47]:",
                   "Refinements are not fully supported in JRuby")
    assert failing_tests(report) == ((), None)


def test_a_minitest_failure_whose_place_the_excerpt_cut_off_is_still_named():
    report = lines(1632, "Failure:",  # jekyll/jekyll, LogChunks 557871100, as the excerpt cuts a long line
                   "TestKramdown#test_: kramdown when a custom highlighter is chosen should use the chosen highlighter "
                   "if it's available.  [/home/travis/build/jekyll/jekyll/test/te … (19 chars cut)",
                   "Minitest::Assertion: Expected true to not be truthy.")
    (test,), _ = failing_tests(report)
    assert (test.name, test.message) == ("TestKramdown#test_: kramdown when a custom highlighter is chosen should use "
                                         "the chosen highlighter if it's available",
                                         "Minitest::Assertion: Expected true to not be truthy.")


def test_an_error_of_xcodebuild_that_xcpretty_marks_like_a_failing_test_names_no_test():
    report = lines(1618, "❌  error: Build input file cannot be found: "  # SwiftyJSON, LogChunks 512286699
                         "'/Users/travis/build/SwiftyJSON/SwiftyJSON/Source/Info-iOS.plist'")
    assert failing_tests(report) == ((), None)


def test_failing_test_reported_twice_is_one_test_with_the_longer_name():
    report = lines(78, "________________________ test_total_includes_tax[DE] ________________________",
                   "E       AssertionError: assert Decimal('116.00') == Decimal('119.00')",
                   "tests/test_orders.py:88: AssertionError",
                   "FAILED tests/test_orders.py::test_total_includes_tax[DE] - AssertionError: assert 1 == 2")
    tests, _ = failing_tests(report)
    assert [(t.name, t.location, t.log_line) for t in tests] == [
        ("tests/test_orders.py::test_total_includes_tax[DE]", SourceLocation("tests/test_orders.py", 88), 78)]


def test_a_frame_of_the_jvm_test_runner_is_never_where_a_test_failed():
    # square/retrofit: the excerpt kept the report's header and the last frames of its stack trace, the runner's
    tests, _ = failing_tests([
        Line(5047, "requireFullResponseDocumentConsumption(retrofit2.converter.moshi.MoshiConverterFactoryTest)  "
                   "Time elapsed: 0.228 sec  <<< ERROR!"),
        Line(5079, "\tat org.apache.maven.surefire.booter.ProviderFactory.invokeProvider(ProviderFactory.java:85)"),
        Line(5080, "\tat org.apache.maven.surefire.booter.ForkedBooter.runSuitesInProcess(ForkedBooter.java:115)"),
        Line(5081, "\tat org.apache.maven.surefire.booter.ForkedBooter.main(ForkedBooter.java:75)")])
    assert [(test.name, test.location) for test in tests] == [
        ("retrofit2.converter.moshi.MoshiConverterFactoryTest.requireFullResponseDocumentConsumption", None)]


def test_a_go_test_failing_only_through_its_subtests_is_not_named_beside_them():
    tests, total = failing_tests([  # avelino/awesome-go
        Line(386, "--- FAIL: TestAlpha (0.02s)"),
        Line(468, "    --- FAIL: TestAlpha/Testing_Frameworks (0.00s)"),
        Line(469, "        repo_test.go:131: expected 'go-carpet' but actual is 'gobdd'")])
    assert [(test.name, test.message) for test in tests] == [
        ("TestAlpha/Testing_Frameworks", "expected 'go-carpet' but actual is 'gobdd'")] and total == 1


def test_passing_tests_and_zero_counts_name_no_failing_test():
    report = lines(1, "--- PASS: TestParse (0.00s)", "test history ... ok", "Tests run: 42, Failures: 0, Errors: 0",
                   "=========================== 213 passed in 12.84s ===========================")
    assert failing_tests(report) == ((), None)


TOTALS = ["========== 2 failed, 41 passed in 3.20s ==========", "FAILED (failures=1, errors=2)", "Tests:       3 failed, 9 total",
          "  2 failing", "Tests run: 12, Failures: 1, Errors: 0", "20 tests completed, 2 failed",
          "Failed!  - Failed:     1, Passed:    10", "Total tests: 4. Passed: 3. Failed: 1.",
          "test result: FAILED. 3 passed; 1 failed; 0 ignored", "Tests: 5, Assertions: 9, Errors: 2.",
          "Tests: 5, Assertions: 9, ", "8 examples, 2 failures", "3 runs, 5 assertions, 1 failures, 0 errors",
          "4 tests, 1 failure", "Failed: Total 9, Failed 2, Errors 0", "Executed 7 tests, with 1 failure",
          "Tests failed    :    2 ( 0.3%)"]


def test_every_line_a_total_is_read_from_holds_the_words_that_let_it_be_read():
    """The word check in front of the runners' totals only turns away lines no total pattern finds: on a total of
    each runner, and on every line of a sample of real logs."""
    from azura.analyze.facts.tests import _TOTAL_WORDS, COUNTS

    from tests.corpus import corpus_dir, log_chunks

    texts = set(TOTALS)
    for path in sorted((corpus_dir() / "logchunks" / "logs").glob("*/*/*/*.log.gz"))[::40]:
        texts.update(b"".join(log_chunks(path)).decode("utf-8", "replace").splitlines())
    found = [text for text in texts if any(re.search(pattern.pattern, text) for pattern in COUNTS)]
    assert set(TOTALS) <= set(found)
    assert all(any(word in text.lower() for word in _TOTAL_WORDS) for text in found), \
        [text for text in found if not any(word in text.lower() for word in _TOTAL_WORDS)]


# --- compile errors -----------------------------------------------------------------------------------

COMPILE_ERRORS = [
    pytest.param(["/home/vsts/work/1/s/src/Api/OrdersController.cs(42,17): error CS0246: The type or namespace name "
                  "'OrderDto' could not be found [/home/vsts/work/1/s/src/Api/Api.csproj]"],
                 "/home/vsts/work/1/s/src/Api/OrdersController.cs", 42, 17, "CS0246",
                 "The type or namespace name 'OrderDto' could not be found", id="csharp"),
    pytest.param(["src/api/client.ts(27,9): error TS2322: Type 'string | undefined' is not assignable to type 'string'."],
                 "src/api/client.ts", 27, 9, "TS2322", "Type 'string | undefined' is not assignable to type 'string'.",
                 id="typescript"),
    pytest.param(["src/index.ts:14:3 - error TS2304: Cannot find name 'process'."], "src/index.ts", 14, 3, "TS2304",
                 "Cannot find name 'process'.", id="typescript pretty"),
    pytest.param(["[ERROR] /home/runner/work/auto/auto/service/processor/src/main/java/com/google/auto/service/processor/"
                  "AutoServiceProcessor.java:[62,8] cannot find symbol"],
                 "/home/runner/work/auto/auto/service/processor/src/main/java/com/google/auto/service/processor/"
                 "AutoServiceProcessor.java", 62, 8, "", "cannot find symbol", id="maven javac"),
    pytest.param(["e: file:///home/vsts/work/1/s/app/src/main/kotlin/Main.kt:12:5 Unresolved reference: parse"],
                 "/home/vsts/work/1/s/app/src/main/kotlin/Main.kt", 12, 5, "", "Unresolved reference: parse", id="kotlin"),
    pytest.param(["[error] /home/travis/build/scala/scala/src/reflect/scala/reflect/internal/ReificationSupport.scala:614: "
                  "')' expected but 'else' found."],
                 "/home/travis/build/scala/scala/src/reflect/scala/reflect/internal/ReificationSupport.scala", 614, None, "",
                 "')' expected but 'else' found.", id="scalac (scala/scala)"),
    pytest.param(["../../util.h:28:14: error: static declaration of ‘memrchr’ follows non-static declaration"],
                 "../../util.h", 28, 14, "", "static declaration of ‘memrchr’ follows non-static declaration",
                 id="gcc (martanne/vis)"),
    pytest.param(["shellcheck.hs:442:19: error:", "    Variable not in scope: doesPathExist :: [Char] -> IO Bool"],
                 "shellcheck.hs", 442, 19, "", "Variable not in scope: doesPathExist :: [Char] -> IO Bool",
                 id="ghc (koalaman/shellcheck)"),
    pytest.param(["./internal/server/handler.go:41:9: undefined: NewRouter"], "./internal/server/handler.go", 41, 9, "",
                 "undefined: NewRouter", id="go"),
    pytest.param(["[error] internal/command/cliconfig/credentials_test.go:88:9: undefined: os"],
                 "internal/command/cliconfig/credentials_test.go", 88, 9, "", "undefined: os",
                 id="go behind GitHub Actions' error marker (terraform, CiDiff)"),
    pytest.param(["❌  /Users/travis/build/SwiftyJSON/SwiftyJSON/Source/SwiftyJSON.swift:97:2: unknown attribute "
                  "'dynamicMemberLookup'"], "/Users/travis/build/SwiftyJSON/SwiftyJSON/Source/SwiftyJSON.swift", 97, 2, "",
                 "unknown attribute 'dynamicMemberLookup'", id="swiftc through xcpretty (SwiftyJSON)"),
    pytest.param(["error[E0407]: method `oom` is not a member of trait `Alloc`", "   --> src/lib.rs:212:5"],
                 "src/lib.rs", 212, 5, "E0407", "method `oom` is not a member of trait `Alloc`", id="rustc (redox-os)"),
    pytest.param(['  File "/w/app/settings.py", line 12', "    DEBUG = True True", "               ^",
                  "SyntaxError: invalid syntax"], "/w/app/settings.py", 12, None, "SyntaxError", "invalid syntax",
                 id="python SyntaxError"),
    pytest.param(["Error: Inconsistent indentation: 3 spaces were used for indentation, but the rest of the document was "
                  "indented using 2 spaces.", "        on line 8 of sass/layout/footer.sass",
                  "        from line 5 of sass/layout/_all.sass"], "sass/layout/footer.sass", 8, None, "",
                 "Inconsistent indentation: 3 spaces were used for indentation, but the rest of the document was "
                 "indented using 2 spaces.", id="sass (jgthms/bulma)"),
    pytest.param(["src/rabbit_vhost.erl:91: field description undefined in record vhost"], "src/rabbit_vhost.erl", 91,
                 None, "", "field description undefined in record vhost", id="erlc (rabbitmq)"),
    pytest.param([r"D:\a\1\s\src\main.cpp(12): fatal error C1083: Cannot open include file: 'boost/asio.hpp': No such "
                  "file or directory"], r"D:\a\1\s\src\main.cpp", 12, None, "C1083",
                 "Cannot open include file: 'boost/asio.hpp': No such file or directory", id="msvc"),
]


@pytest.mark.parametrize("texts, file, line, column, code, message", COMPILE_ERRORS)
def test_compile_error_is_read_with_file_line_column_and_code(texts, file, line, column, code, message):
    (error,), count = compile_errors(lines(100, *texts))
    assert (error.location, error.code, error.message) == (SourceLocation(file, line, column), code, message)
    # the line that reports the error is cited, wherever the compiler printed the location
    cited = texts[error.log_line - 100]
    assert (message in cited or cited.endswith("error:")) and count == 1


def test_compile_error_total_is_the_printed_one_when_there_is_one():
    errors, count = compile_errors(lines(1, "a.c:1:1: error: x", "b.c:2:2: error: y", "5 errors generated."))
    assert len(errors) == 2 and count == 5


def test_warnings_and_notes_are_no_compile_errors():
    assert compile_errors(lines(1, "src/a.c:3:1: warning: unused variable 'x' [-Wunused-variable]",
                                "src/a.c:2:1: note: declared here", "a.go:3:1: warning: x")) == ((), None)


def test_a_warning_is_a_compile_error_where_the_build_treats_warnings_as_errors():
    (error,), count = compile_errors(lines(  # GHC under -Werror (jgm/pandoc, LogChunks 479984913)
        1794, "[ 16 of 147] Compiling Text.Pandoc.Ipynb ( src/Text/Pandoc/Ipynb.hs, dist/build/Text/Pandoc/Ipynb.o )", "",
        "src/Text/Pandoc/Ipynb.hs:94:10: Warning:", "    No explicit implementation for", "      ‘mappend’",
        "    In the instance declaration for ‘Monoid (Notebook a)’", "", "<no location info>:",
        "Failing due to -Werror."))
    assert error.location == SourceLocation("src/Text/Pandoc/Ipynb.hs", 94, 10) and error.log_line == 1796
    assert error.message == ("warning: No explicit implementation for ‘mappend’ In the instance declaration for "
                             "‘Monoid (Notebook a)’") and count == 1


def test_ghcs_message_is_read_past_the_progress_a_parallel_build_prints_under_its_header():
    (error, *_), _ = compile_errors(lines(  # koalaman/shellcheck, LogChunks 471475140
        1007, "src/ShellCheck/Fixer.hs:38:10: error:",
        "[ 6 of 19] Compiling Paths_ShellCheck ( dist/build/autogen/Paths_ShellCheck.hs, dist/build/Paths_ShellCheck.o )",
        "[ 7 of 19] Compiling ShellCheck.Data  ( src/ShellCheck/Data.hs, dist/build/ShellCheck/Data.o )",
        "    Not in scope: type constructor or class `Semigroup'"))
    assert error.message == "Not in scope: type constructor or class `Semigroup'"


# --- missing names, versions, exit status ---------------------------------------------------------------

MISSING_NAMES = [
    ("E   ModuleNotFoundError: No module named 'requests'", "module", "requests"),
    ("ImportError: No module named 'cv2'", "module", "cv2"),
    ("Error: Cannot find module 'fast-deep-equal'", "module", "fast-deep-equal"),
    ("LoadError: cannot load such file -- nokogiri", "module", "nokogiri"),
    ("ui.h:6:21: fatal error: termkey.h: No such file or directory", "module", "termkey.h"),
    ("Package required but not available: ‘lubridate’", "package", "lubridate"),
    ("ERROR: No matching distribution found for torch==1.4.0", "package", "torch==1.4.0"),
    ("npm ERR! 404 Not Found - GET https://registry.npmjs.org/left-padd - Not found", "package", "left-padd"),
    ("npm ERR! 404 Not Found - GET https://registry.npmjs.org/@contoso%2fui - Not found", "package", "@contoso/ui"),
    ("error NU1101: Unable to find package Contoso.Common. No packages exist with this id", "package", "Contoso.Common"),
    ("E: Unable to locate package libssl1.0-dev", "package", "libssl1.0-dev"),
    ("/Users/travis/.travis/job_stages: line 476: yarn: command not found", "command", "yarn"),
    ("sh: 1: sw_vers: not found", "command", "sw_vers"),
    ("'dotnet-ef' is not recognized as an internal or external command,", "command", "dotnet-ef"),
    ("cp: cannot stat 'dist/app.zip': No such file or directory", "file", "dist/app.zip"),
    ("/home/travis/.travis/functions: line 104: /home/travis/install-jdk.sh: No such file or directory", "file",
     "/home/travis/install-jdk.sh"),
    ("No Rakefile found (looking for: rakefile, Rakefile, rakefile.rb, Rakefile.rb)", "file", "Rakefile"),
]


@pytest.mark.parametrize("text, kind, name", MISSING_NAMES)
def test_missing_name_is_read_with_its_kind(text, kind, name):
    (missing,) = missing_names(lines(7, text))
    assert (missing.kind, missing.name, missing.log_line) == (kind, name, 7)


def test_a_line_that_names_nothing_missing_gives_no_missing_name():
    assert missing_names(lines(1, "Requirement already satisfied: requests in ./venv", "command -v yarn")) == ()


VERSION_MISMATCHES = [
    (['error vite@5.2.0: The engine "node" is incompatible with this module. Expected version "^18.0.0 || >=20.0.0". '
      'Got "16.20.2"'], "node", "^18.0.0 || >=20.0.0", "16.20.2"),
    (["java.lang.UnsupportedClassVersionError: spoon/processing/ProcessorProperties has been compiled by a more recent "
      "version of the Java Runtime (class file version 55.0), this version of the Java Runtime only recognizes class "
      "file versions up to 52.0"], "Java", "55.0", "52.0"),
    (["npm ERR! Found: react@18.3.1", "npm ERR! Could not resolve dependency:",
      'npm ERR! peer react@"^16.8.0 || ^17.0.0" from react-date-range@1.4.0'], "react", "^16.8.0 || ^17.0.0", "18.3.1"),
    (["ERROR: Could not find a version that satisfies the requirement torch==1.4.0 (from versions: 2.2.0, 2.2.1)"],
     "torch", "==1.4.0", "2.2.0, 2.2.1"),
    (["Microsoft.PowerShell.SDK.csproj : error NU1605: Detected package downgrade: System.Data.SqlClient from 4.6.1 "
      "to 4.5.1. Reference the package directly from the project to select a different version."],
     "System.Data.SqlClient", "4.6.1", "4.5.1"),
]


@pytest.mark.parametrize("texts, subject, wanted, found", VERSION_MISMATCHES)
def test_version_wanted_and_found_are_read_together(texts, subject, wanted, found):
    (version,) = version_mismatches(lines(1, *texts))
    assert (version.subject, version.wanted, version.found) == (subject, wanted, found)


def test_a_peer_requirement_that_is_met_is_no_version_mismatch():
    report = lines(1, "npm ERR! Found: react@18.3.1", 'npm ERR!   peer react@">=16.8.0" from @floating-ui/react-dom@2.1.2')
    assert version_mismatches(report) == ()


EXIT_STATUSES = [
    (['ERROR: failed to solve: process "/bin/sh -c npm run build" did not complete successfully: exit code: 137'],
     137, "SIGKILL", "/bin/sh -c npm run build"),
    (["bash: line 1: 27986 Segmentation fault      (core dumped) /home/travis/build/symfony/symfony/phpunit",
      'The command "./phpunit" exited with 139.'], 139, "SIGSEGV", "./phpunit"),
    (["##[error]Bash exited with code '1'."], 1, "", ""),
    (['The command "make ct-fast" exited with 2.'], 2, "", "make ct-fast"),
    # a skipped test's title names a crash that did not happen (php/php-src, LogChunks 530446443)
    (["SKIP Bug #76348 (WSDL_CACHE_MEMORY causes Segmentation fault) [ext/soap/tests/bugs/bug76348.phpt] reason: "
      "online test", 'The command "./sapi/cli/php run-tests.php -j2" exited with 1.'], 1, "",
     "./sapi/cli/php run-tests.php -j2"),
]


@pytest.mark.parametrize("texts, code, signal, command", EXIT_STATUSES)
def test_exit_status_names_code_signal_and_command(texts, code, signal, command):
    status = exit_status(lines(1, *texts))
    assert (status.code, status.signal, status.command) == (code, signal, command)


def test_exit_code_zero_is_no_failing_exit():
    assert exit_status(lines(1, "Process completed with exit code 0.")) is None


def test_facts_read_missing_names_from_the_cause_block_only():
    section = lines(1, "/home/travis/.travis/job_stages: line 476: yarn: command not found", *["ok"] * 30,
                    "E   ModuleNotFoundError: No module named 'requests'")
    facts = read_facts(section, len(section) - 1)
    assert [m.name for m in facts.missing] == ["requests"]


# --- the keywords in front of the patterns ------------------------------------------------------------------

def keyword_patterns():
    """Return every pattern of the fact tables and of the candidates' line shapes that is tried only on a line holding
    one of its keywords."""
    from azura.analyze import candidates
    from azura.analyze.facts import compilers, names, tests

    found = {}

    def collect(value):
        if isinstance(value, KeywordPattern) and value.keywords:
            found[id(value)] = value
        elif isinstance(value, tuple):
            for item in value:
                collect(item)
        elif isinstance(value, tests.Report):
            collect(value.header)

    for module in (names, compilers, tests, candidates):
        for value in vars(module).values():
            collect(value)
    return list(found.values())


def readings(items):
    """Return each way to read a parsed pattern without alternation: its alternatives, as lists of nodes."""
    ways = [[]]
    for op, value in items:
        if op == sre.BRANCH:
            choices = [way for branch in value[1] for way in readings(branch)]
        elif op == sre.SUBPATTERN:
            choices = readings(value[-1])
        elif op == sre.IN and all(kind == sre.LITERAL for kind, _ in value):  # [✗❌]: one character or the other
            choices = [[item] for item in value]
        else:
            choices = [[(op, value)]]
        ways = [way + choice for way in ways for choice in choices]
    return ways


def texts_held(way):
    """Return the literal texts that every match of one reading holds: its runs of literal characters."""
    runs, run = [], ""
    for op, value in way:
        if op == sre.LITERAL:
            run += chr(value)
            continue
        repeated = list(value[2]) if op in (sre.MAX_REPEAT, sre.MIN_REPEAT) else []
        if value and repeated and value[0] >= 1 and len(repeated) == 1 and repeated[0][0] == sre.LITERAL:
            at_least = chr(repeated[0][1]) * value[0]  # "_{3,} " holds "___" after what comes before, "___ " with what follows
            runs.append(run + at_least)
            run = at_least
        else:
            runs.append(run)
            run = ""
    return runs + [run]


@pytest.mark.parametrize("pattern", keyword_patterns(), ids=lambda pattern: pattern.keywords[0])
def test_every_reading_of_a_pattern_holds_one_of_its_keywords(pattern):
    """Read from the pattern itself: each alternative has, among the characters it matches one after the other, one
    of the keywords, so no line without them can match."""
    parsed = sre_parse.parse(pattern.pattern)
    assert not parsed.state.flags & re.IGNORECASE  # the keywords are looked for as written
    for way in readings(parsed):
        assert any(keyword in text for keyword in pattern.keywords for text in texts_held(way)), texts_held(way)


def example_and_corpus_runs():
    """Return this file's examples and the lines of a sample of real logs, as runs of lines in a row."""
    from tests.corpus import corpus_dir, log_chunks

    runs = [[line.text for line in param.values[1]] for param in TEST_REPORTS]
    runs += [param.values[0] for param in COMPILE_ERRORS] + [TOTALS] + [[text for text, _, _ in MISSING_NAMES]]
    runs += [texts for texts, *_ in VERSION_MISMATCHES + EXIT_STATUSES]
    for path in sorted((corpus_dir() / "logchunks" / "logs").glob("*/*/*/*.log.gz"))[::40]:
        runs.append(b"".join(log_chunks(path)).decode("utf-8", "replace").splitlines())
    return runs


def test_every_line_a_fact_pattern_matches_holds_one_of_its_keywords():
    """On this file's examples and on real logs, as each pattern is tried (the compilers' also on a line without
    an agent's "##[error]", the versions' on each line joined to the one before): a keyword is never missing from a
    line its pattern matches."""
    from azura.analyze.facts.names import VERSIONS

    runs = example_and_corpus_runs()
    texts = {text for run in runs for text in run}
    texts.update([AGENT_MARKER.sub("", text) for text in texts])
    pairs = {f"{before}\n{after}" for run in runs for before, after in zip(run, run[1:])}
    joined = {id(pattern) for _, pattern in VERSIONS}
    missed, matched = [], set()
    for pattern in keyword_patterns():
        compiled = re.compile(pattern.pattern)
        for text in (texts | pairs if id(pattern) in joined else texts):
            if compiled.search(text):
                matched.add(pattern.pattern)
                if not pattern.holds_keyword(text):
                    missed.append((pattern.keywords, text))
    assert not missed
    assert len(matched) > len(keyword_patterns()) / 2  # most patterns meet a line of theirs
