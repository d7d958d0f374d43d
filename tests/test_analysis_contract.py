"""Pin analysis.json (schema_version 1) and the build tag: users' scripts and dashboards read them."""
import json
import re
from dataclasses import replace
from typing import Dict, List, Optional, TypedDict

import pytest

from azura.analyze.offline import analyze_offline, build_tag, headline
from azura.analyze.signatures import bundled_signatures
from azura.models import (CATEGORIES, Analysis, Build, Change, CompileError, Excerpt, ExitStatus, FailedStep,
                          FailedTestRun, Facts, FailingTest, Failure, History, Line, MissingName, SourceLocation,
                          SourceWindow, Usage, VersionMismatch)
from azura.report import analysis_json

class BuildDocument(TypedDict):
    id: int
    number: str
    url: Optional[str]
    definition: Optional[str]
    result: Optional[str]


class LineDocument(TypedDict):
    line: int
    text: str


class LocationDocument(TypedDict):
    file: str
    line: Optional[int]
    column: Optional[int]


class FailingTestDocument(TypedDict):
    name: str
    message: str
    location: Optional[LocationDocument]
    outcome: str
    stack_trace: str
    first_frame: str
    duration_ms: Optional[float]
    log_line: Optional[int]
    framework: str
    failing_since_build: Optional[int]
    failing_runs: Optional[int]


class CompileErrorDocument(TypedDict):
    message: str
    location: Optional[LocationDocument]
    code: str
    log_line: Optional[int]


class MissingDocument(TypedDict):
    kind: str
    name: str
    log_line: Optional[int]


class VersionDocument(TypedDict):
    subject: str
    wanted: str
    found: str
    log_line: Optional[int]


class ExitDocument(TypedDict):
    code: Optional[int]
    signal: str
    command: str
    log_line: Optional[int]


class FactsDocument(TypedDict):
    failing_tests: List[FailingTestDocument]
    failed_test_count: Optional[int]
    compile_errors: List[CompileErrorDocument]
    compile_error_count: Optional[int]
    missing: List[MissingDocument]
    versions: List[VersionDocument]
    exit: Optional[ExitDocument]


class FailureDocument(TypedDict):
    stage: Optional[str]
    job: Optional[str]
    task: str
    log_id: Optional[int]
    category: str
    summary: str
    root_cause: str
    suggested_fix: str
    confidence: float
    evidence: List[LineDocument]
    excerpt: List[LineDocument]
    facts: FactsDocument
    same_as: Optional[int]


class ChangeDocument(TypedDict):
    id: str
    author: Optional[str]
    message: str
    url: Optional[str]
    timestamp: Optional[str]
    suspect: bool
    files: List[str]


class HistoryDocument(TypedDict):
    last_success_build_id: Optional[int]
    first_failure_build_id: Optional[int]
    changes: List[ChangeDocument]
    flaky: bool
    flaky_evidence: List[str]


class MessageGroupDocument(TypedDict):
    message: str
    count: int


class FailedTestRunDocument(TypedDict):
    id: int
    name: str
    url: Optional[str]
    total: int
    failed: int
    outcomes: Dict[str, int]
    tests: List[FailingTestDocument]
    messages: List[MessageGroupDocument]
    read: int


class SourceDocument(TypedDict):
    file: str
    line: Optional[int]
    commit: Optional[str]
    reason: str
    lines: List[LineDocument]


class UsageDocument(TypedDict):
    excerpt_tokens: int
    prompt_tokens: int
    completion_tokens: int


class LLMDocument(TypedDict):
    status: str  # used | rejected: <reason> | failed: <reason> | skipped


class AnalysisDocument(TypedDict):
    schema_version: int
    headline: str
    provider: str
    model: Optional[str]
    degraded: bool
    warnings: List[str]
    build: Optional[BuildDocument]
    tag: str
    failures: List[FailureDocument]
    history: Optional[HistoryDocument]
    test_runs: Optional[List[FailedTestRunDocument]]
    sources: List[SourceDocument]
    usage: UsageDocument
    llm: LLMDocument


CONTRACT_CATEGORIES = ("compile", "test", "dependency", "network", "auth", "timeout", "resource",
                       "configuration", "infrastructure", "lint", "deploy", "script", "unknown")


def keys(document_type) -> set:
    return set(document_type.__annotations__)


def offline_document(**fields) -> dict:
    step = FailedStep(name="dotnet build", stage="CI", job="Linux", log_id=7)
    lines = (Line(41, "src/A.cs(3,5): error CS0246: The type 'OrderDto' could not be found"),
             Line(90, "##[error]Bash exited with code '1'."))
    failures = analyze_offline([Excerpt(step=step, lines=lines, tokens=30)], bundled_signatures())
    analysis = Analysis(headline=headline(failures), failures=failures, tag=build_tag(failures, "azura"),
                        usage=Usage(excerpt_tokens=30), **fields)
    return json.loads(analysis_json(analysis))


def test_document_has_exactly_the_contract_keys_and_version_1():
    document = offline_document()
    assert set(document) == keys(AnalysisDocument)
    assert document["schema_version"] == 1
    assert (document["provider"], document["model"], document["degraded"]) == ("none", None, False)
    assert document["build"] is None and document["history"] is None
    assert document["test_runs"] is None and document["sources"] == []


def test_failure_entries_have_exactly_the_contract_keys():
    (failure,) = offline_document()["failures"]
    assert set(failure) == keys(FailureDocument)
    assert failure["category"] == "compile" and 0.0 <= failure["confidence"] <= 1.0
    assert all(set(line) == keys(LineDocument) for line in failure["evidence"] + failure["excerpt"])
    assert [line["line"] for line in failure["excerpt"]] == [41, 90]


def test_facts_have_exactly_the_contract_keys_when_empty():
    (failure,) = offline_document()["failures"]
    assert set(failure["facts"]) == keys(FactsDocument)


def test_every_kind_of_fact_has_exactly_the_contract_keys():
    here = SourceLocation("src/A.cs", 3, 5)
    facts = Facts(
        failing_tests=(FailingTest("OrdersTests.Total", "Expected 108 but was 107", here, duration_ms=12.0,
                                   log_line=40),),
        failed_test_count=1,
        compile_errors=(CompileError("The type 'OrderDto' could not be found", here, "CS0246", 41),),
        compile_error_count=1, missing=(MissingName("package", "requests", 42),),
        versions=(VersionMismatch("node", ">=18", "16.20.2", 43),), exit=ExitStatus(137, "SIGKILL", "make", 44))
    step = FailedStep(name="build")
    failure = Failure(step=step, excerpt=Excerpt(step=step, lines=(), tokens=0), category="compile", summary="s",
                      root_cause="r", suggested_fix="f", confidence=0.9, facts=facts)
    document = json.loads(analysis_json(Analysis(headline="h", failures=(failure,), tag="azura-compile")))
    written = document["failures"][0]["facts"]
    assert set(written) == keys(FactsDocument)
    (test,) = written["failing_tests"]
    assert set(test) == keys(FailingTestDocument) and set(test["location"]) == keys(LocationDocument)
    assert set(written["compile_errors"][0]) == keys(CompileErrorDocument)
    assert set(written["missing"][0]) == keys(MissingDocument)
    assert set(written["versions"][0]) == keys(VersionDocument)
    assert set(written["exit"]) == keys(ExitDocument)
    assert test["location"] == {"file": "src/A.cs", "line": 3, "column": 5}


def test_build_history_and_usage_have_exactly_the_contract_keys():
    document = offline_document(
        build=Build(id=812, number="20261121.3", url=None, definition="web", result="failed"),
        history=History(last_success_build_id=800, first_failure_build_id=805,
                        changes=(Change("9f2c1ab", "Ana", "Round half-even", suspect=True, files=("src/A.cs",)),)))
    assert set(document["build"]) == keys(BuildDocument)
    assert set(document["history"]) == keys(HistoryDocument)
    (change,) = document["history"]["changes"]
    assert set(change) == keys(ChangeDocument) and change["suspect"] is True and change["files"] == ["src/A.cs"]
    assert set(document["usage"]) == keys(UsageDocument)


LLM_STATUS = re.compile(r"used|skipped|(?:rejected|failed): \S.*")


@pytest.mark.parametrize("status", ["skipped", "used", "rejected: the summary is not a sentence",
                                    "failed: no answer within 30 s"])
def test_llm_has_exactly_the_contract_keys_and_its_status_one_of_the_four_forms(status):
    document = offline_document(llm_status=status)
    assert set(document["llm"]) == keys(LLMDocument)
    assert document["llm"]["status"] == status and LLM_STATUS.fullmatch(status)


def test_an_offline_run_says_the_llm_was_skipped():
    assert offline_document()["llm"] == {"status": "skipped"}


def test_test_runs_and_sources_have_exactly_the_contract_keys():
    failed = FailingTest("Widgets.Tests.TaxTests.Total", "Assert.Equal() Failure", outcome="failed",
                         stack_trace="   at Widgets.Tests.TaxTests.Total() in /home/vsts/work/1/s/T.cs:line 88",
                         failing_since_build=805, failing_runs=3)
    run = FailedTestRun(id=31, name="VSTest run", total=120, failed=1, outcomes=(("Passed", 119), ("Failed", 1)),
                        tests=(failed,), messages=(("Assert.Equal() Failure", 1),), read=1)
    window = SourceWindow(SourceLocation("T.cs", 88), (Line(88, "Assert.Equal(32.54m, total);"),), "a1b2c3d4",
                          "failing test Widgets.Tests.TaxTests.Total")
    document = offline_document(test_runs=(run,), sources=(window,))
    (written,) = document["test_runs"]
    assert set(written) == keys(FailedTestRunDocument) and written["outcomes"] == {"Passed": 119, "Failed": 1}
    (test,) = written["tests"]
    assert set(test) == keys(FailingTestDocument)
    assert test["first_frame"].startswith("at Widgets.Tests.TaxTests.Total()") and test["failing_runs"] == 3
    assert set(written["messages"][0]) == keys(MessageGroupDocument)
    (source,) = document["sources"]
    assert set(source) == keys(SourceDocument) and set(source["lines"][0]) == keys(LineDocument)
    assert (source["file"], source["line"], source["commit"]) == ("T.cs", 88, "a1b2c3d4")


def test_category_enum_is_the_contract():
    assert CATEGORIES == CONTRACT_CATEGORIES


@pytest.mark.parametrize("category", CONTRACT_CATEGORIES)
def test_build_tag_is_prefix_dash_category_without_a_colon(category):
    (unknown,) = analyze_offline([Excerpt(step=FailedStep(name="x"), lines=(), tokens=0)], bundled_signatures())
    tag = build_tag((replace(unknown, category=category),), "azura")
    assert tag == f"azura-{category}"
    assert re.fullmatch(r"[A-Za-z0-9._-]+", tag)
