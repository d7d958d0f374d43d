import gzip
import json
import os
import re
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
