import re

import pytest

from azura.analyze.signatures import bundled_signatures, load_signatures, match_signature
from azura.errors import ConfigError
from azura.models import CATEGORIES

BUNDLED = bundled_signatures()


def user_entry(**overrides):
    entry = {"id": "team-flaky-db", "category": "infrastructure", "pattern": r"ContosoDb is warming up",
             "summary": "The shared test database was still starting.", "hint": "Re-run the job."}
    entry.update(overrides)
    return entry


@pytest.mark.parametrize("signature", BUNDLED, ids=lambda s: s.id)
def test_bundled_signature_matches_each_of_its_examples(signature):
    assert signature.examples
    for example in signature.examples:
        assert re.search(signature.pattern, example), f"{signature.id} does not match {example!r}"


@pytest.mark.parametrize("signature", BUNDLED, ids=lambda s: s.id)
def test_bundled_signature_matches_its_examples_as_the_excerpt_cleans_them(signature):
    # Patterns meet lines after the excerpt step: timestamps stripped, `##[error]` shown as `[error] `.
    from azura.excerpt import read_lines

    for example in signature.examples:
        stamped = f"2024-05-02T10:00:00.0000000Z {example}\n".encode()
        cleaned = next(iter(read_lines([stamped]))).text
        assert re.search(signature.pattern, cleaned), f"{signature.id} does not match cleaned {cleaned!r}"


@pytest.mark.parametrize("signature", BUNDLED, ids=lambda s: s.id)
def test_bundled_signature_category_is_in_the_contract(signature):
    assert signature.category in CATEGORIES


@pytest.mark.parametrize("signature", BUNDLED, ids=lambda s: s.id)
def test_bundled_signature_text_points_into_the_log_not_at_a_line_on_screen(signature):
    # Summaries and hints are read in a PR comment or the summary tab, where the matched line may not be shown.
    for text in (signature.summary, signature.hint):
        assert not re.search(r"\b(?:above|below)\b|\bthis line\b", text or ""), f"{signature.id}: {text}"


def test_bundled_knowledge_base_is_large_and_ids_are_unique_slugs():
    ids = [signature.id for signature in BUNDLED]
    assert len(ids) >= 40
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", name) for name in ids)


def test_bundled_patterns_keep_to_the_re2_subset():
    # the excerpt step scans whole logs with these patterns and uses RE2 when installed
    look_around_or_backreference = re.compile(r"\(\?<?[=!]|\\[1-9]")
    offenders = [s.id for s in BUNDLED if look_around_or_backreference.search(s.pattern)]
    assert offenders == []


def test_bundled_load_is_cached():
    assert bundled_signatures() is bundled_signatures()


def test_specific_signature_wins_over_the_generic_exit_code_line():
    assert match_signature("##[error]Bash exited with code '137'.", BUNDLED).id == "exit-137-oom-killed"
    assert match_signature("##[error]Bash exited with code '2'.", BUNDLED).id == "process-exit-code"


def test_match_signature_returns_none_for_an_ordinary_line():
    assert match_signature("Restored /home/vsts/work/1/s/src/Api/Api.csproj (in 1.2 sec).", BUNDLED) is None


@pytest.mark.parametrize("signature_id, must_match, must_not_match", [
    ("csharp-compile-error", "Api.cs(42,17): error CS0246: The type or namespace name 'X' could not be found",
     "Order.cs(14,23): warning CS8618: Non-nullable property 'CustomerId' must contain a non-null value"),
    ("exit-137-oom-killed", 'process "/bin/sh -c make" did not complete successfully: exit code: 137',
     "Restored 137 packages in 4.2 s"),
    ("npm-eresolve", "npm ERR! code ERESOLVE", "npm WARN ERESOLVE overriding peer dependency"),
    ("pytest-failed", "FAILED tests/test_orders.py::test_total - assert 1 == 2", "tests/test_orders.py::test_total PASSED"),
    ("go-test-failed", "--- FAIL: TestParseConfig (0.00s)", "--- PASS: TestParseConfig (0.00s)"),
    ("junit-summary", "Tests run: 42, Failures: 1, Errors: 0, Skipped: 0", "Tests run: 42, Failures: 0, Errors: 0, Skipped: 1"),
    ("typescript-compile-error", "src/a.ts(3,1): error TS2322: Type 'string' is not assignable to type 'number'.",
     "Found 0 errors. Watching for file changes."),
    ("black-check", "would reformat /home/vsts/work/1/s/src/api.py", "All done! ✨ 🍰 ✨ 12 files would be left unchanged."),
    ("disk-full", "write /var/lib/docker/tmp/x: no space left on device", "Filesystem /dev/sda1 has 14G space left"),
    ("shell-command-not-found", "/home/vsts/work/_temp/5f1c.sh: line 4: yarn: command not found",
     "sbt.ResolveException: unresolved dependency: org.scala-lang#scala-compiler;2.12.9: not found"),
    ("network-timeout", "Read timed out. (read timeout=15)", "if isinstance(e.reason, ConnectTimeoutError):"),
    ("azp-job-max-time", "The job running on agent Hosted Agent ran longer than the maximum time of 60 minutes.",
     "The job running on agent Hosted Agent completed in 12 minutes."),
    ("http-401-403", "Response status code does not indicate success: 401 (Unauthorized).", "GET https://api.nuget.org/v3/index.json 200 OK"),
    ("process-exit-code", "##[error]Bash exited with code '1'.", "Bash exited with code '0'."),
    ("java-compile-error", "[ERROR] /w/src/main/java/App.java:[23,9] cannot find symbol",
     "[WARNING] /w/src/main/java/App.java:[23,9] [deprecation] run() in Task has been deprecated"),
    ("cmake-error", "  Could NOT find OpenSSL, try to set the path to OpenSSL root folder",
     "-- Could NOT find Doxygen (missing: DOXYGEN_EXECUTABLE)"),
    ("assertion-error", "E       assert 107.0 == 108.0", "        assert order.total() == expected"),
    ("staticcheck-findings", "internal/lang/functions.go:176:17: func (*Scope).experimentalFunction is unused (U1000)",
     "internal/lang/functions.go:176:17: experimentalFunction is unused (see issue 1000)"),
    ("generated-files-not-committed",
     "ERROR: go.mod/go.sum are not up-to-date. Run 'go mod tidy' and then commit the updated files.",
     "Your version of Packer is out of date! The latest version"),
    # the lines below are from LogChunks logs
    ("conda-packages-not-found", "PackagesNotFoundError: The following packages are not available from current channels:",
     "Solving environment: | failed with current_repodata.json, will retry with next repodata source."),
    ("elixir-compile-error", "** (CompileError) (for doctest at) lib/list.ex:102: undefined function i/1",
     "== Compilation error in file test/elixir/list_test.exs =="),
    ("yaml-syntax-error", "(./tr-tr/clojure-tr.html.markdown): did not find expected ',' or ']' while parsing a flow "
                          "sequence at line 5 column 7", "FAILURE!!! 1 files were unable to be parsed!"),
    ("erlang-ct-failed", "suite:send_recv failed on line 593",
     "ERROR: ct failed while processing /home/travis/build/processone/ejabberd: rebar_abort"),
    ("pester-failed", "    [-] Should validate test results against the nunit 2.5 schema 191ms",
     "      [+] Throws an error if a Parameters key is used, but does not contain an IDictionary object 14ms"),
    ("build-tool-step-failed", "ERROR: ct failed while processing /home/travis/build/processone/ejabberd: rebar_abort",
     "=INFO REPORT==== 8-Jul-2019::08:18:55 === ejabberd_ct: ct failed to start a node, retrying"),
    ("perlcritic-violations",
     "Use IO::Interactive::is_interactive() instead of -t at line 69, column 28.  See page 218 of PBP.  (Severity: 5)",
     "Having more than one /x regexp modifier is deprecated at /home/travis/perl5/perlbrew/perls/5.24.0/lib/site_perl/"
     "5.24.0/Perl/Critic/Policy/ValuesAndExpressions/RequireInterpolationOfMetachars.pm line 110."),
    ("link-checker-issues", "> Links", "> Checking links in README.md"),
    ("diff-printed", "diff --git a/layers/+lang/ruby/README.org b/layers/+lang/ruby/README.org",
     "--- a/layers/+lang/ruby/README.org"),
    ("standard-js-errors", "standard: Use JavaScript Standard Style (https://github.com/feross/standard)",
     "standard: Run `standard --fix` to automatically fix some problems."),
    ("command-line-usage-error", "flag provided but not defined: -trace2_event_file",
     "    php run-tests.php [options] [files] [directories]"),
])
def test_signature_matches_its_failure_and_not_its_look_alike(signature_id, must_match, must_not_match):
    assert match_signature(must_match, BUNDLED).id == signature_id
    hit = match_signature(must_not_match, BUNDLED)
    assert hit is None or hit.id != signature_id


def test_bad_user_regex_names_the_entry_and_the_file():
    with pytest.raises(ConfigError, match=r"team/azura\.yml.*'team-broken'.*invalid pattern"):
        load_signatures([user_entry(id="team-broken", pattern="error (unclosed")], "team/azura.yml")


def test_unknown_user_category_names_the_entry_and_the_file():
    with pytest.raises(ConfigError, match=r"azura\.yml.*'team-flaky-db'.*category 'flaky'"):
        load_signatures([user_entry(category="flaky")], "azura.yml")


def test_missing_user_key_names_the_entry_and_the_key():
    entry = user_entry()
    del entry["hint"]
    with pytest.raises(ConfigError, match=r"azura\.yml.*'team-flaky-db' is missing hint"):
        load_signatures([entry], "azura.yml")


def test_user_example_that_its_pattern_does_not_match_is_refused():
    with pytest.raises(ConfigError, match=r"'team-flaky-db'.*does not match its example"):
        load_signatures([user_entry(examples=["ContosoDb is ready"])], "azura.yml")


def test_user_entry_with_a_bundled_id_overrides_it_in_place():
    signatures = load_signatures([user_entry(id="npm-eresolve", pattern="npm ERR! code ERESOLVE",
                                             category="configuration")], "azura.yml")
    assert len(signatures) == len(BUNDLED)
    overridden = match_signature("npm ERR! code ERESOLVE", signatures)
    assert (overridden.id, overridden.category, overridden.source) == ("npm-eresolve", "configuration", "azura.yml")
    assert [s.id for s in signatures] == [s.id for s in BUNDLED]


def test_new_user_entry_is_tried_before_every_bundled_signature():
    signatures = load_signatures([user_entry(pattern=r"error CS0246: .*'LegacyDto'", category="dependency")],
                                 "azura.yml")
    assert signatures[0].id == "team-flaky-db"
    line = "Api.cs(3,5): error CS0246: The type or namespace name 'LegacyDto' could not be found"
    assert match_signature(line, signatures).category == "dependency"
    assert match_signature(line, BUNDLED).category == "compile"


# --- roles and the one-pass matcher ----------------------------------------------------------------------------

def test_user_entry_may_be_a_wrapper_and_takes_part_in_ranking():
    from azura.analyze.offline import analyze_offline
    from azura.models import Excerpt, FailedStep, Line

    signatures = load_signatures([user_entry(id="team-gate", category="deploy", role="wrapper",
                                             pattern=r"^Deployment gate failed"),
                                  user_entry(id="team-quota", category="deploy", pattern=r"quota of \d+ slots reached")],
                                 "azura.yml")
    assert signatures[0].role == "wrapper" and signatures[1].role == "cause"
    lines = (Line(10, "Slot swap refused: quota of 5 slots reached"), Line(11, "Deployment gate failed"))
    (failure,) = analyze_offline([Excerpt(step=FailedStep(name="Deploy"), lines=lines, tokens=20)], signatures)
    assert (failure.signature_id, failure.evidence[0].number) == ("team-quota", 10)


def test_unknown_role_names_the_entry_and_the_roles():
    with pytest.raises(ConfigError, match=r"'team-flaky-db' has role 'summary'; expected one of cause, wrapper, incidental"):
        load_signatures([user_entry(role="summary")], "azura.yml")


def test_every_signature_matching_a_line_is_found_in_knowledge_base_order():
    from azura.analyze.signatures import signature_set

    text = "##[error]Bash exited with code '137'."
    assert [s.id for s in signature_set(BUNDLED).matching(text)] == ["exit-137-oom-killed", "process-exit-code"]
    assert signature_set(BUNDLED).matching("Restored 12 packages in 1.2 s") == ()


def test_signatures_are_matched_in_one_pass_without_re2_too(monkeypatch):
    import sys

    from azura.analyze.signatures import SignatureSet

    monkeypatch.setitem(sys.modules, "re2", None)  # as where google-re2 has no wheel: the import fails
    matcher = SignatureSet(BUNDLED)
    text = "##[error]Bash exited with code '137'."
    assert [s.id for s in matcher.matching(text)] == ["exit-137-oom-killed", "process-exit-code"]
    assert matcher.matching("Restored 12 packages in 1.2 s") == ()


def test_the_classifiers_set_answers_for_the_signatures_it_holds_first_as_their_own_set_does(monkeypatch):
    pytest.importorskip("re2", reason="the sets are RE2's (the re2 extra)")
    from azura.analyze import patterns
    from azura.analyze.signatures import SignatureSet
    from azura.excerpt.anchors import _slots

    monkeypatch.setattr(patterns, "_COMPILED", type(patterns._COMPILED)(maxlen=8))
    own = SignatureSet(BUNDLED)  # no set was built before: it builds its own
    patterns._COMPILED.clear()
    _slots.cache_clear()
    classifier = _slots(tuple(s.pattern for s in BUNDLED))  # as the excerpt builds it, before the diagnosis
    shared = SignatureSet(BUNDLED)
    assert shared._set is classifier.patterns and own._set is not classifier.patterns
    # every example, and lines that the classifier's own patterns (rules, passing, warnings) match
    lines = [example for s in BUNDLED for example in s.examples] + [
        "Traceback (most recent call last):", "make: *** [all] Error 2", "3 failed, 12 passed", "PASSED test_x",
        "npm WARN deprecated x", "Restored 12 packages in 1.2 s"]
    assert [shared.matching(line) for line in lines] == [own.matching(line) for line in lines]


def test_the_matcher_for_some_lines_answers_for_them_and_their_parts_as_the_matcher_of_all_does(monkeypatch):
    from azura.analyze import patterns
    from azura.analyze.signatures import signature_set, signature_set_for
    from azura.excerpt import read_lines
    from tests.corpus import log_chunks, logchunks_log

    monkeypatch.setattr(patterns, "_COMPILED", type(patterns._COMPILED)(maxlen=8))  # no set of them all built yet
    lines = [line.text for line in read_lines(log_chunks(logchunks_log("Java/ReactiveX@RxJava/failed/561008032.log")))]
    lines += ["[error] npm ERR! code ERESOLVE", "[error] Bash exited with code '137'.", "naïve: npm ERR! code E404"]
    parts = lines + [line[len("[error] "):] for line in lines if line.startswith("[error] ")]
    matcher = signature_set_for(BUNDLED, lines)
    assert [matcher.matching(text) for text in parts] == [signature_set(BUNDLED).matching(text) for text in parts]
    assert any(matcher.matching(text) for text in parts)


def test_the_matcher_for_some_lines_holds_only_the_signatures_that_may_match_them(monkeypatch):
    pytest.importorskip("re2", reason="the filter is RE2's (the re2 extra)")
    from azura.analyze import patterns
    from azura.analyze.signatures import signature_set, signature_set_for

    monkeypatch.setattr(patterns, "_COMPILED", type(patterns._COMPILED)(maxlen=8))  # no set of them all built yet
    line = "npm ERR! code ERESOLVE"
    matcher = signature_set_for(BUNDLED, [line, "Restored 12 packages in 1.2 s"])
    assert matcher.matching(line) == signature_set(BUNDLED).matching(line) != ()
    assert len(matcher.signatures) < len(BUNDLED) / 4


def test_the_matcher_for_some_lines_is_the_set_of_all_signatures_the_classifier_built(monkeypatch,
                                                                                     without_cached_matchers):
    pytest.importorskip("re2", reason="the sets are RE2's (the re2 extra)")
    from azura.analyze import patterns
    from azura.analyze.signatures import signature_set_for
    from azura.excerpt.anchors import _slots

    monkeypatch.setattr(patterns, "_COMPILED", type(patterns._COMPILED)(maxlen=8))
    classifier = _slots(tuple(s.pattern for s in BUNDLED))  # as the scan of a log of many segments builds it
    matcher = signature_set_for(BUNDLED, ["npm ERR! code ERESOLVE"])
    assert matcher.signatures == BUNDLED and matcher._set is classifier.patterns
