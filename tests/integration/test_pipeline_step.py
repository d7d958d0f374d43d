"""`azura analyze` as a `condition: failed()` pipeline step: a subprocess with the agent's environment,
reading the run from the Azure DevOps emulator with the real SDK, and publishing back to it."""
from __future__ import annotations

from tests.emulators import ado_scenarios as scenarios
from tests.emulators.ado import issue, timeline_record
from tests.integration.conftest import assert_token_never_leaks

MARKER = "<!-- azura:pr-comment v1 -->"


def reported(step) -> list:
    return [(f["stage"], f["job"], f["task"]) for f in step.analysis["failures"]]


def expected(scenario) -> list:
    return [(s.stage if s.stage != "__default" else None, s.job, s.name) for s in scenario.failed]


def log_requests(emulator) -> list:
    return [r for r in emulator.requests(route="build_log")]


def test_multi_stage_run_reports_both_failed_jobs(emulator, agent_env, run_step):
    scenario = scenarios.multi_stage_two_failed_jobs(emulator)
    env = agent_env(emulator, scenario)

    step = run_step(env)

    assert step.returncode == 0, step.stderr
    assert reported(step) == expected(scenario)
    assert step.analysis["build"]["id"] == scenario.build_id
    summary = step.output_dir.resolve() / "summary.md"
    assert step.commands() == [f"##vso[task.uploadsummary]{summary}"]
    assert emulator.tags(scenario.build_id) == ["azura-test"]
    assert summary.read_text(encoding="utf-8").strip()
    assert_token_never_leaks(step, env)


def test_only_logs_of_failed_steps_are_downloaded(emulator, agent_env, run_step):
    scenario = scenarios.multi_stage_two_failed_jobs(emulator)

    run_step(agent_env(emulator, scenario))

    downloaded = sorted(int(r.path.rsplit("/", 1)[1]) for r in log_requests(emulator))
    assert downloaded == sorted(s.log_id for s in scenario.failed)


def test_retried_run_reports_only_the_latest_attempt(emulator, agent_env, run_step):
    scenario = scenarios.retried_run_attempt_2(emulator)

    step = run_step(agent_env(emulator, scenario))

    assert reported(step) == expected(scenario)
    assert [int(r.path.rsplit("/", 1)[1]) for r in log_requests(emulator)] == [scenario.failed[0].log_id]
    excerpt = "\n".join(line["text"] for line in step.analysis["failures"][0]["excerpt"])
    assert "32.54" in excerpt
    assert "Error 111 connecting to localhost:6379" not in excerpt  # attempt 1's cause must not be reported


def test_job_timeout_without_failed_task_reports_the_job_and_its_issue(emulator, agent_env, run_step):
    scenario = scenarios.job_timeout_no_failed_task(emulator)

    step = run_step(agent_env(emulator, scenario))

    assert reported(step) == expected(scenario)
    failure = step.analysis["failures"][0]
    assert failure["category"] == "timeout"
    assert "ran longer than the maximum time of 60 minutes" in str(failure)


def test_canceled_run_reports_the_canceled_job_not_its_canceled_task(emulator, agent_env, run_step):
    scenario = scenarios.canceled_run(emulator)

    step = run_step(agent_env(emulator, scenario))

    assert reported(step) == expected(scenario)


def test_succeeded_run_publishes_nothing_and_downloads_no_log(emulator, agent_env, run_step):
    scenario = scenarios.succeeded_run(emulator)

    step = run_step(agent_env(emulator, scenario))

    assert step.returncode == 0
    assert step.analysis["failures"] == []
    assert step.commands() == []
    assert "no failed step" in step.stdout.lower()
    assert log_requests(emulator) == []
    assert emulator.tags(scenario.build_id) == []


def test_step_never_reports_its_own_timeline_record(emulator, agent_env, run_step):
    scenario = scenarios.multi_stage_two_failed_jobs(emulator)
    own = scenario.failed[0]

    step = run_step(agent_env(emulator, scenario, SYSTEM_TASKINSTANCEID=own.record_id))

    assert reported(step) == expected(scenario)[1:]


def test_task_that_succeeded_with_issues_is_not_a_cause(emulator, agent_env, run_step):
    scenario = scenarios.succeeded_run(emulator)
    build = emulator.build(scenario.build_id)
    stage = timeline_record("Stage", "Build", order=1)
    job = timeline_record("Job", "Lint", parent_id=stage["id"], result="succeededWithIssues", order=1)
    task = timeline_record("Task", "flake8 (continueOnError)", parent_id=job["id"], result="succeededWithIssues",
                           order=2, log_id=5, issues=[issue("Bash exited with code '1'.", line=2)])
    emulator.add_log(build.id, 5, lines=["src/app.py:3:1: F401 'os' imported but unused", "##[error]Bash exited"])
    emulator.set_timeline(build.id, [stage, job, task])

    step = run_step(agent_env(emulator, scenario))

    assert step.analysis["failures"] == []
    assert log_requests(emulator) == []


def test_300_mb_log_is_read_from_the_tail(emulator, agent_env, run_step):
    scenario = scenarios.large_log(emulator, size_mb=300)

    step = run_step(agent_env(emulator, scenario))

    assert step.returncode == 0, step.stderr
    assert emulator.bytes_sent(route="build_log") < 2 * 1024 * 1024
    assert all(int(r.query.get("startLine", 1)) > 1 for r in log_requests(emulator))
    assert scenario.failed[0].cause_text in str(step.analysis["failures"][0]["evidence"])


ERROR = "src/Orders.cs(3,4): error CS1002: ; expected"


def one_failed_task(emulator, line_count, cause_line, job_name="Compile", task_name="Build solution",
                    issue_message=ERROR, issue_line=True):
    """Return a Scenario: one failed task whose log has `line_count` lines and its error at `cause_line`; the
    timeline's issue says `issue_message`, at that line unless `issue_line` is False."""
    project = emulator.add_project("Widgets")
    build = emulator.add_build("Widgets", ("widgets-ci", 12), result="failed")
    stage = timeline_record("Stage", "Build", result="failed", order=1)
    job = timeline_record("Job", job_name, parent_id=stage["id"], result="failed", order=1)
    task = timeline_record("Task", task_name, parent_id=job["id"], result="failed", order=2, log_id=9,
                           issues=[issue(issue_message, line=cause_line if issue_line else None)])
    emulator.add_log(build.id, 9, line_count=line_count,
                     line_at=lambda n: f"##[error]{ERROR}" if n == cause_line else f"  Compiling module {n} ... ok")
    emulator.set_timeline(build.id, [stage, job, task])
    return scenarios.Scenario(name="one_failed_task", project="Widgets", project_id=project.id, build_id=build.id,
                              definition_id=12, result="failed", failed=())


def test_timeline_issue_shortly_before_the_tail_is_read_with_it(emulator, agent_env, run_step):
    scenario = one_failed_task(emulator, line_count=40_000, cause_line=100)

    step = run_step(agent_env(emulator, scenario))

    (failure,) = step.analysis["failures"]
    assert 100 in [line["line"] for line in failure["evidence"]]
    assert [int(r.query.get("startLine", 1)) for r in log_requests(emulator)] == [1]


def test_timeline_issue_far_before_the_tail_does_not_pull_in_the_whole_log(emulator, agent_env, run_step):
    scenario = one_failed_task(emulator, line_count=400_000, cause_line=100)

    step = run_step(agent_env(emulator, scenario))

    assert len(step.analysis["failures"]) == 1
    assert [int(r.query["startLine"]) for r in log_requests(emulator)] == [400_000 - 5_000 + 1]


# ---------------------------------------------------------------------------------------------------------------
# The pull-request thread


def test_pr_build_run_twice_keeps_exactly_one_thread_and_updates_it(emulator, agent_env, run_step):
    scenario = scenarios.pr_build(emulator)
    env = agent_env(emulator, scenario)
    run_step(env)
    first = emulator.threads(scenario.pr_id)
    log_id = scenario.failed[0].log_id
    emulator.add_log(scenario.build_id, log_id, lines=[
        "widgets/cart.py:7: error: Name \"Decimal\" is not defined  [name-defined]",
        "Found 1 error in 1 file (checked 14 source files)", "##[error]Bash exited with code '1'."])

    step = run_step(env)

    threads = emulator.threads(scenario.pr_id)
    assert len(threads) == 1 and len(threads[0]["comments"]) == 1
    assert threads[0]["id"] == first[0]["id"]
    assert threads[0]["comments"][0]["content"].startswith(MARKER)
    assert "name-defined" in threads[0]["comments"][0]["content"]
    assert "name-defined" not in first[0]["comments"][0]["content"]
    assert len(emulator.requests(route="pr_threads", method="POST")) == 1
    assert_token_never_leaks(step, env)


def test_pr_thread_carries_our_property_and_is_active(emulator, agent_env, run_step):
    scenario = scenarios.pr_build(emulator)

    run_step(agent_env(emulator, scenario))

    (thread,) = emulator.threads(scenario.pr_id)
    assert thread["status"] == "active"
    assert thread["properties"]["Azura.Thread"]["$value"] == "pr-comment/v1"


def test_pr_thread_is_resolved_when_a_later_run_of_the_pr_succeeds(emulator, agent_env, run_step):
    scenario = scenarios.pr_build(emulator)
    env = agent_env(emulator, scenario)
    run_step(env)
    stage = timeline_record("Stage", "Build", order=1)
    emulator.set_timeline(scenario.build_id, [stage, timeline_record("Job", "Lint and type check",
                                                                     parent_id=stage["id"], order=1)])

    step = run_step(env)

    (thread,) = emulator.threads(scenario.pr_id)
    assert thread["status"] == "fixed"
    assert step.commands() == []


def test_someone_elses_thread_quoting_our_marker_is_left_alone(emulator, agent_env, run_step):
    scenario = scenarios.pr_build(emulator)
    theirs = emulator.add_thread(scenario.pr_id, f"{MARKER}\nquoting the bot: why is this red?")

    run_step(agent_env(emulator, scenario))

    threads = emulator.threads(scenario.pr_id)
    assert len(threads) == 2
    assert [t for t in threads if t["id"] == theirs["id"]][0]["comments"] == theirs["comments"]


def test_github_repository_skips_the_thread_but_tags_and_summarises(emulator, agent_env, run_step):
    scenario = scenarios.github_repo_build(emulator)

    step = run_step(agent_env(emulator, scenario))

    assert step.returncode == 0
    assert "pr-thread skipped: GitHub repository" in step.stderr
    assert [line.split("]")[0] for line in step.commands()] == ["##vso[task.uploadsummary"]
    assert len(emulator.tags(scenario.build_id)) == 1
    assert emulator.requests(route="pr_threads") == []


def test_build_url_from_a_laptop_prints_and_publishes_only_with_publish(emulator, agent_env, run_step):
    scenario = scenarios.multi_stage_two_failed_jobs(emulator)
    url = f"{emulator.org_url}/{scenario.project}/_build/results?buildId={scenario.build_id}"
    laptop = {"PATH": "", "AGENT_TEMPDIRECTORY": agent_env(emulator, scenario)["AGENT_TEMPDIRECTORY"],
              "AZURE_DEVOPS_PAT": agent_env(emulator, scenario)["SYSTEM_ACCESSTOKEN"],
              "PYTHONPATH": agent_env(emulator, scenario)["PYTHONPATH"]}

    quiet = run_step(laptop, "--build-url", url, "--output-dir", laptop["AGENT_TEMPDIRECTORY"] + "/azura")
    assert emulator.tags(scenario.build_id) == []
    published = run_step(laptop, "--build-url", url, "--publish", "--output-dir",
                         laptop["AGENT_TEMPDIRECTORY"] + "/azura")

    assert quiet.returncode == published.returncode == 0
    assert quiet.commands() == published.commands() == []
    assert emulator.tags(scenario.build_id) == ["azura-test"]
    assert reported(published) == expected(scenario)


def test_timeline_names_and_issues_holding_a_lone_surrogate_escape_are_read_with_a_replacement_character(
        emulator, agent_env, run_step):
    # JSON may say "\ud800", a half of a character that no file or HTTP body can hold
    scenario = one_failed_task(emulator, line_count=40, cause_line=20, job_name="Compile \ud800",
                               task_name="Build \ud800 solution", issue_message=f"{ERROR} \udfff", issue_line=False)

    step = run_step(agent_env(emulator, scenario))

    assert step.returncode == 0, step.stderr
    (failure,) = step.analysis["failures"]
    assert (failure["job"], failure["task"]) == ("Compile \ufffd", "Build \ufffd solution")
    assert "CS1002" in failure["root_cause"]
