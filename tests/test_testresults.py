"""The Test Results API's results as facts: names, messages cut and redacted, locations, message groups, streaks."""
from azure.devops.v7_1.test import models
from msrest import Deserializer

from azura.models import FailedTestRun, FailingTest, SourceLocation
from azura.testresults import MAX_MESSAGE_CHARS, failing_test, message_groups, with_failure_streaks
from tests.emulators.ado import case_result

DESERIALIZE = Deserializer({name: value for name, value in vars(models).items() if isinstance(value, type)})
NET_FRAME = ("   at Widgets.Tests.TaxTests.Total() in /home/vsts/work/1/s/tests/Widgets.Tests/TaxTests.cs:line 88\n"
             "   at System.RuntimeMethodHandle.InvokeMethod(Object target, Void** arguments, Signature sig)")


def api_result(name="Widgets.Tests.TaxTests.Total", **fields):
    """Return a TestCaseResult as the SDK deserialises it from the service's JSON."""
    return DESERIALIZE("TestCaseResult", case_result(name, **fields))


def test_failed_result_keeps_the_api_name_outcome_message_and_stack_exactly():
    test = failing_test(api_result(message="Assert.Equal() Failure\nExpected: 32.54\nActual:   29.97",
                                   stack_trace=NET_FRAME, outcome="Failed", duration_ms=41.0))
    assert test.name == "Widgets.Tests.TaxTests.Total" and test.outcome == "failed"
    assert test.message == "Assert.Equal() Failure\nExpected: 32.54\nActual:   29.97"
    assert test.stack_trace == NET_FRAME.rstrip() and test.duration_ms == 41.0 and test.log_line is None


def test_location_is_the_first_frame_placed_in_the_repository():
    test = failing_test(api_result(message="x", stack_trace=NET_FRAME))
    assert test.location == SourceLocation("tests/Widgets.Tests/TaxTests.cs", 88)
    assert test.first_frame.startswith("at Widgets.Tests.TaxTests.Total() in")


def test_result_without_automated_name_is_named_by_its_title():
    result = case_result("ignored", title="Checkout totals match", message="x")
    del result["automatedTestName"]
    assert failing_test(DESERIALIZE("TestCaseResult", result)).name == "Checkout totals match"


def test_failing_since_names_the_build_the_test_started_failing_in():
    assert failing_test(api_result(message="x", failing_since=805)).failing_since_build == 805
    assert failing_test(api_result(message="x")).failing_since_build is None


def test_secrets_in_messages_names_and_stacks_are_redacted():
    token = "azT0kenSecretValue1234567890abcdefghijklmnopqrstuv"
    test = failing_test(api_result(f"Login_with_{token}", message=f"401 for Bearer eyJhbGciOi.{token}",
                                   stack_trace=f"at Login() password={token}"), secrets=(token,))
    assert token not in test.name + test.message + test.stack_trace
    assert "«redacted" in test.message and "«redacted" in test.stack_trace


def test_huge_message_is_cut_and_says_so():
    test = failing_test(api_result(message="x" * 1_000_000))
    assert len(test.message) == MAX_MESSAGE_CHARS and test.message.endswith("…")


def test_long_stack_trace_keeps_its_first_frames_and_counts_the_rest():
    stack = "\n".join(f"   at Frame{n}() in /home/vsts/work/1/s/src/F{n}.cs:line {n}" for n in range(1, 201))
    test = failing_test(api_result(message="x", stack_trace=stack))
    assert test.stack_trace.splitlines()[0].strip().startswith("at Frame1()")
    assert test.stack_trace.endswith("… 170 more lines")


def test_messages_differing_only_in_numbers_are_one_group_most_frequent_first():
    tests = [FailingTest(f"t{n}", f"Expected {n} but was {n + 1}\ndetails") for n in range(40)]
    tests += [FailingTest("u", "Timeout after 30 s"), FailingTest("v", "")]
    assert message_groups(tests) == (("Expected 0 but was 1", 40), ("Timeout after 30 s", 1), ("(no message)", 1))


def test_failure_streaks_are_filled_from_the_failing_since_build():
    run = FailedTestRun(1, "run", tests=(FailingTest("a", failing_since_build=805), FailingTest("b")))
    (filled,) = with_failure_streaks((run,), lambda since: 3 if since == 805 else None)
    assert [test.failing_runs for test in filled.tests] == [3, None]


def test_no_runs_stay_no_runs():
    assert with_failure_streaks(None, lambda since: 1) is None
    assert with_failure_streaks((), lambda since: 1) == ()


def test_a_runs_job_is_named_as_the_timeline_names_it_without_the_implicit_stage():
    from azura.testresults import _job_identifier

    def reference(stage):
        return DESERIALIZE("PipelineReference", {"pipelineId": 7, "stageReference": {"stageName": stage},
                                                 "phaseReference": {"phaseName": "Unit_tests"},
                                                 "jobReference": {"jobName": "__default", "attempt": 1}})

    assert _job_identifier(reference("Test")) == "Test.Unit_tests.__default"
    assert _job_identifier(reference("__default")) == "Unit_tests.__default"  # as in dnceng's real timelines
    assert _job_identifier(None) is None
