"""The Test Results API's failed tests joined to the failures: which failure gets which run, and what it then says."""
from azura.analyze.testfacts import name_api_tests
from azura.models import Excerpt, FailedStep, FailedTestRun, Facts, FailingTest, Failure, SourceLocation

TAX = FailingTest("Widgets.Tests.TaxTests.Total", "Assert.Equal() Failure: Values differ\nExpected: 32.54",
                  SourceLocation("tests/TaxTests.cs", 88))
ROUNDING = FailingTest("Widgets.Tests.TaxTests.Rounding", "Assert.Equal() Failure: Values differ\nExpected: 10.00")


def failure(name="Run unit tests", job="Test.Unit_tests.__default", category="script", confidence=0.4,
            facts=Facts(), attempt=1) -> Failure:
    step = FailedStep(name=name, stage="Test", job="Unit tests", job_identifier=job, attempt=attempt)
    return Failure(step=step, excerpt=Excerpt(step=step, lines=(), tokens=0), category=category,
                   summary="Bash exited with code 1.", root_cause="Line 40: Bash exited with code '1'.",
                   suggested_fix="Read the script's output.", confidence=confidence, facts=facts)


def run(*tests, job="Test.Unit_tests.__default", failed=None, attempt=1) -> FailedTestRun:
    return FailedTestRun(id=31, name="VSTest run", total=120, failed=failed or len(tests), tests=tests,
                         job_identifier=job, attempt=attempt if job else None)


def test_api_tests_replace_the_tests_a_log_named():
    scraped = Facts(failing_tests=(FailingTest("Total", "boom", log_line=12),), failed_test_count=1)
    (named,) = name_api_tests([failure(facts=scraped)], [run(TAX, ROUNDING, failed=7)])
    assert named.facts.failing_tests == (TAX, ROUNDING) and named.facts.failed_test_count == 7


def test_a_failed_script_is_said_again_from_the_api_tests_naming_test_and_message():
    (named,) = name_api_tests([failure()], [run(TAX, ROUNDING)])
    assert named.category == "test" and named.confidence >= 0.8
    assert named.summary == "2 tests failed, first Widgets.Tests.TaxTests.Total."
    assert named.root_cause == ("The Test Results API reports Widgets.Tests.TaxTests.Total failed at "
                                "tests/TaxTests.cs:88: Assert.Equal() Failure: Values differ (1 more failed in "
                                "VSTest run)")
    assert "Widgets.Tests.TaxTests.Total" in named.suggested_fix


def test_a_single_failed_test_is_named_alone():
    (named,) = name_api_tests([failure()], [run(ROUNDING)])
    assert named.summary == "Test Widgets.Tests.TaxTests.Rounding failed."


def test_a_more_specific_cause_keeps_its_diagnosis_and_gains_the_tests_as_facts():
    network = failure(category="network", confidence=0.85)
    (named,) = name_api_tests([network], [run(TAX)])
    assert named.category == "network" and named.root_cause == network.root_cause
    assert named.facts.failing_tests == (TAX,)


def test_a_run_goes_to_the_failed_step_of_the_job_that_published_it():
    lint = failure(name="Lint", job="Build.Lint.__default")
    tests = failure(name="Publish results", job="Test.Unit_tests.__default")
    named = name_api_tests([lint, tests], [run(TAX)])
    assert named[0] == lint and named[1].facts.failing_tests == (TAX,)


def test_a_run_of_an_earlier_attempt_of_the_job_is_not_this_attempts_cause():
    retried = failure(name="Compile", attempt=2)
    other = failure(name="Deploy", job="Deploy.Ship.__default")
    assert name_api_tests([retried, other], [run(TAX, attempt=1)]) == (retried, other)


def test_a_run_published_by_a_job_that_did_not_fail_is_no_failures_cause():
    tests = failure(name="VSTest", job="Test.Unit_tests.__default")
    assert name_api_tests([tests], [run(TAX, job="Test.Flaky_suite.__default")]) == (tests,)


def test_a_run_without_a_job_goes_to_the_failure_that_runs_tests():
    build = failure(name="Build", job=None)
    tests = failure(name="VSTest", job=None)
    named = name_api_tests([build, tests], [run(TAX, job=None)])
    assert named[0] == build and named[1].facts.failing_tests == (TAX,)


def test_a_run_without_a_job_goes_to_the_only_failure():
    (named,) = name_api_tests([failure(name="make ci", job=None)], [run(TAX, job=None)])
    assert named.facts.failing_tests == (TAX,)


def test_a_run_no_failure_can_claim_changes_nothing():
    build, deploy = failure(name="Build", job=None), failure(name="Deploy", job=None)
    assert name_api_tests([build, deploy], [run(TAX, job=None)]) == (build, deploy)


def test_no_runs_change_nothing():
    original = failure()
    assert name_api_tests([original], None) == (original,)
    assert name_api_tests([original], ()) == (original,)


def test_a_run_without_results_changes_nothing():
    original = failure()
    assert name_api_tests([original], [run(failed=2)]) == (original,)
