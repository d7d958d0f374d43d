"""Failed tests from the Test Results API, through the real SDK over HTTP against the Azure DevOps emulator."""
from __future__ import annotations

import time
from collections import Counter

from azura.context import Settings
from azura.models import Build, Deadline
from azura.testresults import MAX_MESSAGE_CHARS, MAX_PAGES, MAX_RUNS, PAGE_SIZE, read_failed_tests
from tests.emulators import ado_scenarios as scenarios
from tests.emulators.ado import case_result
from tests.integration.conftest import TOKEN, assert_token_never_leaks

TEST_ROUTES = ("test_runs", "test_run_statistics", "test_results")


def asked_for_tests(emulator) -> Counter:
    return Counter(request.route for request in emulator.requests() if request.route in TEST_ROUTES)


def read(emulator, scenario, tmp_path, monkeypatch, **settings):
    """Return what read_failed_tests finds for a scenario's build, as the pipeline step would ask."""
    monkeypatch.setenv("AZURE_DEVOPS_CACHE_DIR", str(tmp_path / "sdk-cache"))
    values = dict(mode="remote", org_url=emulator.org_url, project=scenario.project, build_id=scenario.build_id,
                  token=TOKEN, token_variable="AZURE_DEVOPS_PAT", temp_dir=str(tmp_path), timeout=60.0,
                  secrets=(TOKEN,))
    values.update(settings)
    build = Build(id=scenario.build_id, number="1", url=None, definition="widgets-ci", result="failed",
                  project=scenario.project)
    return read_failed_tests(Settings(**values), build, Deadline.after(60.0, time.monotonic()))


def test_step_names_the_failing_tests_and_their_messages_exactly_as_the_api_returned_them(emulator, agent_env,
                                                                                         run_step):
    scenario = scenarios.tests_failed(emulator)

    step = run_step(agent_env(emulator, scenario))

    assert step.returncode == 0, step.stderr
    (failure,) = step.analysis["failures"]
    named = [(test["name"], test["message"]) for test in failure["facts"]["failing_tests"]]
    assert named == list(scenario.failed_tests)
    assert failure["category"] == "test" and failure["facts"]["failed_test_count"] == 2
    assert scenario.failed_tests[0][0] in failure["root_cause"]
    (run,) = step.analysis["test_runs"]
    assert (run["total"], run["failed"], run["outcomes"]) == (120, 2, {"Passed": 118, "Failed": 2})
    assert [(test["name"], test["message"]) for test in run["tests"]] == list(scenario.failed_tests)


def test_step_shows_the_source_window_of_the_failing_line(emulator, agent_env, run_step):
    scenario = scenarios.tests_failed(emulator)
    path, line, text = scenario.source

    step = run_step(agent_env(emulator, scenario))

    window = step.analysis["sources"][0]
    assert (window["file"], window["line"], window["commit"]) == (path, line,
                                                                 emulator.build(scenario.build_id).source_version)
    assert {"line": line, "text": text} in window["lines"]
    summary = (step.output_dir / "summary.md").read_text(encoding="utf-8")
    assert f"<details><summary>{path}:{line}</summary>" in summary and text in summary


def test_summary_and_pr_comment_show_the_failed_tests_as_a_table(emulator, agent_env, run_step):
    scenario = scenarios.tests_failed(emulator)

    step = run_step(agent_env(emulator, scenario))

    for name in ("summary.md", "pr-comment.md"):
        text = (step.output_dir / name).read_text(encoding="utf-8")
        assert "| Test | Outcome | Message | Failing since |" in text, name
        assert "| Widgets.Tests.Orders.TaxTests.Total\\_includes\\_regional\\_tax | failed | Assert.Equal() Failure: " \
               "Values differ | – |" in text, name


def test_token_without_test_read_still_gets_the_log_based_answer_and_a_warning_naming_the_permission(
        emulator, agent_env, run_step):
    scenario = scenarios.tests_failed(emulator)
    emulator.test_read = False

    step = run_step(agent_env(emulator, scenario))

    assert step.returncode == 0, step.stderr
    (failure,) = step.analysis["failures"]
    assert failure["facts"]["failing_tests"] == [] or all(t["log_line"] for t in failure["facts"]["failing_tests"])
    assert step.analysis["test_runs"] is None
    (warning,) = [w for w in step.analysis["warnings"] if "Test Results API" in w]
    assert "access denied" in warning and "Test: Read" in warning and "--no-test-results" in warning
    assert asked_for_tests(emulator) == Counter({"test_runs": 1})


def test_run_without_results_keeps_the_log_based_answer_and_says_so(emulator, agent_env, run_step):
    scenario = scenarios.tests_failed(emulator, results=False)

    step = run_step(agent_env(emulator, scenario))

    (failure,) = step.analysis["failures"]
    assert all(test["log_line"] for test in failure["facts"]["failing_tests"])  # only what the log named
    assert step.analysis["test_runs"][0]["failed"] == 2 and step.analysis["test_runs"][0]["tests"] == []
    assert any("none of their results" in warning for warning in step.analysis["warnings"])


def test_build_without_test_runs_asks_once_and_adds_nothing(emulator, tmp_path, monkeypatch):
    scenario = scenarios.pr_build(emulator)

    found = read(emulator, scenario, tmp_path, monkeypatch)

    assert found.runs == () and found.warnings == ()
    assert asked_for_tests(emulator) == Counter({"test_runs": 1})


def test_a_run_is_read_page_by_page_until_its_failures_end(emulator, tmp_path, monkeypatch):
    scenario = scenarios.thousands_of_failed_tests(emulator, count=PAGE_SIZE * 2 + 30)

    (run,) = read(emulator, scenario, tmp_path, monkeypatch).runs

    assert (run.failed, run.read, len(run.tests)) == (PAGE_SIZE * 2 + 30, PAGE_SIZE * 2 + 30, 5)
    pages = [request.query for request in emulator.requests(route="test_results")]
    assert [page["$skip"] for page in pages] == ["0", str(PAGE_SIZE), str(PAGE_SIZE * 2)]
    assert all(page["outcomes"] == "Failed,Error,Timeout,Aborted" for page in pages)


def test_thousands_of_failures_are_counted_exactly_and_grouped_by_message_from_the_pages_read(emulator, tmp_path,
                                                                                              monkeypatch):
    scenario = scenarios.thousands_of_failed_tests(emulator, count=4000)

    (run,) = read(emulator, scenario, tmp_path, monkeypatch).runs

    assert run.failed == 4000 and run.total == 4118 and run.read == PAGE_SIZE * MAX_PAGES
    assert run.messages == (("Assert.True() Failure", PAGE_SIZE * MAX_PAGES - 2),
                            ("Assert.Equal() Failure: Values differ", 2))
    assert asked_for_tests(emulator)["test_results"] == MAX_PAGES


def test_many_runs_with_failures_cost_a_bounded_number_of_requests(emulator, tmp_path, monkeypatch):
    scenario = scenarios.tests_failed(emulator)
    for index in range(MAX_RUNS + 2):
        emulator.add_test_run(scenario.build_id, f"shard {index}",
                              [case_result(f"Shard{index}.T.fails", message="boom")])

    found = read(emulator, scenario, tmp_path, monkeypatch)

    assert len(found.runs) == MAX_RUNS
    assert any("3 more test run(s) with failures were not read" in warning for warning in found.warnings)
    assert sum(asked_for_tests(emulator).values()) <= 1 + MAX_RUNS + MAX_PAGES


def test_huge_messages_are_cut_and_secrets_in_them_never_leave(emulator, agent_env, run_step):
    hostile = [case_result("Widgets.Tests.Auth.Login_uses_the_pat", message=f"401 with token {TOKEN}\n" + "y" * 900_000,
                           stack_trace=f"   at Login() in /home/vsts/work/1/s/tests/Auth.cs:line 3 password={TOKEN}")]
    scenario = scenarios.tests_failed(emulator, extra_results=hostile)

    env = agent_env(emulator, scenario)
    step = run_step(env)

    assert step.returncode == 0, step.stderr
    (run,) = step.analysis["test_runs"]
    login = next(test for test in run["tests"] if test["name"].endswith("Login_uses_the_pat"))
    assert len(login["message"]) == MAX_MESSAGE_CHARS and "«redacted:secret»" in login["message"]
    assert_token_never_leaks(step, env)


def test_one_failing_request_costs_that_run_only(emulator, tmp_path, monkeypatch):
    scenario = scenarios.tests_failed(emulator)
    emulator.add_test_run(scenario.build_id, "integration", [case_result("Api.T.fails", message="boom")])
    emulator.fault("GET", r"/Runs/301/Statistics", status=400)

    found = read(emulator, scenario, tmp_path, monkeypatch)

    assert [run.name for run in found.runs] == ["integration"]
    assert any(warning.startswith("failed tests of test run 301 not read") for warning in found.warnings)


def test_turned_off_the_lookup_sends_nothing(emulator, agent_env, run_step):
    scenario = scenarios.tests_failed(emulator)

    step = run_step(agent_env(emulator, scenario), "--no-test-results")

    assert step.returncode == 0, step.stderr
    assert step.analysis["test_runs"] is None and asked_for_tests(emulator) == Counter()


def test_a_test_failing_for_several_runs_says_since_which_build_and_in_how_many_runs(emulator, agent_env, run_step):
    built = scenarios.build_history(emulator, ("green", "red", "red"))
    scenario = scenarios.tests_failed(emulator, failing_since=built.builds[1].id)

    step = run_step(agent_env(emulator, scenario))

    test = step.analysis["test_runs"][0]["tests"][0]
    assert (test["failing_since_build"], test["failing_runs"]) == (built.builds[1].id, 3)
    summary = (step.output_dir / "summary.md").read_text(encoding="utf-8")
    assert f"| 3 runs (build {built.builds[1].id}) |" in summary


def test_without_history_a_test_says_only_since_which_build(emulator, agent_env, run_step):
    built = scenarios.build_history(emulator, ("green", "red"))
    scenario = scenarios.tests_failed(emulator, failing_since=built.builds[1].id)

    step = run_step(agent_env(emulator, scenario), "--no-history")

    test = step.analysis["test_runs"][0]["tests"][0]
    assert (test["failing_since_build"], test["failing_runs"]) == (built.builds[1].id, None)


def test_a_run_of_a_pipeline_without_stages_goes_to_the_failed_step_of_its_job(emulator, agent_env, run_step):
    scenario = scenarios.github_repo_build(emulator)
    emulator.add_test_run(scenario.build_id, "Jest", [case_result("Cart › shows the total with tax",
                                                                  message="expect(element).toHaveTextContent()")],
                          job=("__default", "Job", "__default", 1))

    step = run_step(agent_env(emulator, scenario))

    (failure,) = step.analysis["failures"]
    assert [test["name"] for test in failure["facts"]["failing_tests"]] == ["Cart › shows the total with tax"]
