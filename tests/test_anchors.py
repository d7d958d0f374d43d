"""Anchors: one pass of every pattern over a line gives the answer `classify` gives trying them in turn."""
import pytest

from azura.analyze.signatures import load_signatures
from azura.excerpt.anchors import ISSUE, SIGNATURE, Classifier, classify, is_verdict
from azura.excerpt.reading import read_lines
from tests.corpus import log_chunks, logchunks_log

SIGNATURES = tuple(signature.pattern for signature in load_signatures())

LINES = [
    "src/app/main.c:42:7: error: 'count' undeclared (first use in this function)",
    "##[error]Bash exited with code '1'.",
    "Process completed with exit code 2.",
    "error: process didn't exit successfully: `target/debug/x` (exit code: 101)",  # a quoted exit code
    "Tests run: 12, Failures: 0, Errors: 0, Skipped: 1",  # counts of nothing
    "Tests run: 12, Failures: 0, Errors: 2, Skipped: 1",
    "ok 3 - parses the header",
    "not ok 4 - parses the footer",
    "[WARNING] The requested profile \"ci\" could not be activated because it does not exist.",
    "npm ERR! code ERESOLVE",
    "java.lang.NullPointerException: Cannot invoke \"String.length()\" because \"s\" is null",
    "_____________________________ test_parse ______________________________",
    "Compiling serde v1.0.193",
    "fatal: unable to access 'https://github.com/x/y.git/': Could not resolve host: github.com",
    "✗ renders the header",  # not ASCII: `classify` itself answers
    "ÄÖÜError: the Unicode letters before it are word characters to re, not to RE2",
    "",
]


@pytest.mark.parametrize("line", LINES)
def test_the_one_pass_classifier_answers_as_classify(line):
    assert Classifier(SIGNATURES)(line) is classify(line, SIGNATURES)


def test_one_classifier_answers_each_line_as_classify_whatever_lines_came_before():
    classifier = Classifier(SIGNATURES)
    passing = ["PASSED tests/test_build.py::reports a failed build", "a failed build"]  # the same rule, one passing
    for lines in (LINES + passing, passing[::-1] + LINES[::-1], LINES * 2):
        assert [classifier(line) for line in lines] == [classify(line, SIGNATURES) for line in lines]


@pytest.mark.parametrize("line", [
    "Process completed with exit code 2.", "[error] Bash exited with code '1'.", "Command exit status 2",
    "npm ERR! code ELIFECYCLE: non-zero exit", "The process '/usr/bin/dotnet' failed with exit code 1",
    "Script returned exit code 1", 'The command "make" failed. Retrying, 2 of 3.', 'The command "make" failed 3 times.',
])
def test_a_signature_hit_saying_the_exit_code_in_any_form_is_the_verdict(line):
    assert is_verdict(line, SIGNATURE)


def test_a_signature_hit_quoting_an_exit_code_is_no_verdict():
    assert not is_verdict("error: process didn't exit successfully: `x` (exit code: 101)", SIGNATURE)
    assert not is_verdict("fatal: unable to access 'https://github.com/x/y.git/'", SIGNATURE)


def test_a_signature_re2_cannot_run_is_still_tried(without_cached_matchers):
    classifier = Classifier((r"(?<!no )quota reached",))
    assert classifier("deployment quota reached") is SIGNATURE
    assert classifier("no quota reached") is not SIGNATURE


def test_a_signature_re2_reads_otherwise_is_tried_with_re(without_cached_matchers):
    # "{,3}" repeats to `re`, and is literal text to RE2
    classifier = Classifier((r"quota x{,3} reached",))
    assert classifier("quota xx reached") is SIGNATURE


def test_an_issue_text_in_a_line_makes_it_an_issue_anchor():
    assert Classifier(SIGNATURES, ("Deployment of app failed",))("x: Deployment of app failed badly") is ISSUE


def test_without_re2_the_classifier_answers_as_classify(monkeypatch, without_cached_matchers):
    monkeypatch.setitem(__import__("sys").modules, "re2", None)  # as where google-re2 is not installed
    classifier = Classifier(SIGNATURES)
    assert [classifier(line) for line in LINES] == [classify(line, SIGNATURES) for line in LINES]


@pytest.mark.parametrize("name", ["Java/ReactiveX@RxJava/failed/561008032.log", "Rust/jwilm@alacritty/failed/564527447.log",
                                  "Go/getlantern@lantern/failed/519285064.log", "C/php@php-src/failed/531576999.log",
                                  "Python/nvbn@thefuck/failed/530361507.log", "R/rstudio@shiny/failed/574891057.log"])
def test_the_one_pass_classifier_answers_as_classify_on_every_line_of_real_logs(name):
    lines = [line.text for line in read_lines(log_chunks(logchunks_log(name)))]
    classifier = Classifier(SIGNATURES)
    assert [classifier(text) for text in lines] == [classify(text, SIGNATURES) for text in lines]


@pytest.mark.parametrize("name", ["Java/ReactiveX@RxJava/failed/561008032.log", "Rust/jwilm@alacritty/failed/564527447.log",
                                  "C/php@php-src/failed/531576999.log"])
def test_a_classifier_given_the_lines_it_will_be_asked_about_answers_as_classify_on_real_logs(name):
    lines = [line.text for line in read_lines(log_chunks(logchunks_log(name)))]
    classifier = Classifier(SIGNATURES, lines=lines)
    assert [classifier(text) for text in lines] == [classify(text, SIGNATURES) for text in lines]


def test_a_classifier_given_its_lines_holds_only_the_signatures_that_may_match_them():
    pytest.importorskip("re2", reason="the sets are RE2's (the re2 extra)")
    lines = ["npm ERR! code ERESOLVE", "Restored 12 packages in 1.2 s"]
    classifier = Classifier(SIGNATURES, lines=lines)
    assert [classifier(line) for line in lines] == [SIGNATURE, None]
    assert len(classifier._slots.signatures) < len(SIGNATURES) / 4


def test_a_line_past_ascii_is_tried_with_every_signature_whatever_lines_the_classifier_was_given():
    classifier = Classifier((r"quota reached",), lines=["naïve quota reached"])
    assert classifier("naïve quota reached") is SIGNATURE
