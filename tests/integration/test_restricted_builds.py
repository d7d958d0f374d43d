"""`azura analyze` as a pipeline step whose build identity may not do everything: a token without the tag
permission, a token the service does not accept, and a build of a pull request from a fork. Each ends with the
full report Azura could make and a warning saying what was left out and why, exit 0 and no command that the
agent could turn into a failed step."""
from __future__ import annotations

from tests.emulators import ado_scenarios as scenarios
from tests.integration.conftest import assert_token_never_leaks


def summary_published(step) -> bool:
    summary = (step.output_dir / "summary.md").resolve()
    return f"##vso[task.uploadsummary]{summary}" in step.commands() and summary.is_file()


def test_identity_without_tag_permission_still_summarises_and_comments_and_warns_once(emulator, agent_env,
                                                                                        run_step):
    scenario = scenarios.pr_build(emulator)
    emulator.tag_permission = False
    env = agent_env(emulator, scenario)

    step = run_step(env)

    assert step.returncode == 0, step.stderr
    (warning,) = step.warnings()
    assert warning.startswith("tag: could not tag build")
    assert '"Edit build quality"' in warning and "Build: Read" not in warning
    assert summary_published(step)
    assert step.analysis["failures"] and (step.output_dir / "pr-comment.md").is_file()
    assert len(emulator.threads(scenario.pr_id)) == 1
    assert emulator.tags(scenario.build_id) == []
    assert not any("addbuildtag" in line for line in step.commands())
    assert_token_never_leaks(step, env)


def test_token_refused_with_tf400813_when_tagging_is_reported_as_the_token_not_a_permission(emulator, agent_env,
                                                                                            run_step):
    scenario = scenarios.multi_stage_two_failed_jobs(emulator)
    emulator.fault("PUT", "build_tags", not_authorized=True, times=None)

    step = run_step(agent_env(emulator, scenario))

    assert step.returncode == 0
    (warning,) = step.warnings()
    assert "the token from SYSTEM_ACCESSTOKEN was refused (TF400813)" in warning
    assert "permission" not in warning
    assert summary_published(step)


def test_fork_pull_request_publishes_summary_and_files_and_says_what_it_skipped(emulator, agent_env, run_step):
    scenario = scenarios.pr_build(emulator)
    env = agent_env(emulator, scenario, SYSTEM_PULLREQUEST_ISFORK="True")

    step = run_step(env)

    assert step.returncode == 0, step.stderr
    assert [w.split(":")[0] for w in step.warnings()] == ["tag", "pr-thread"]
    assert all("pull request from a fork" in w and "read-only token" in w for w in step.warnings())
    assert summary_published(step)
    assert step.analysis["failures"][0]["task"] == scenario.failed[0].name
    assert emulator.requests(route="build_tags") == [] and emulator.requests(route="pr_threads") == []
    assert_token_never_leaks(step, env)


def test_fork_pull_request_without_the_llm_key_analyses_offline_instead_of_giving_up(emulator, agent_env, run_step):
    scenario = scenarios.pr_build(emulator)
    # Azure Pipelines hands builds of forks no secret variables: the key the pipeline maps arrives empty.
    env = agent_env(emulator, scenario, SYSTEM_PULLREQUEST_ISFORK="True", LLM_PROVIDER="openai", OPENAI_API_KEY="")

    step = run_step(env)

    assert step.returncode == 0, step.stderr
    llm = [w for w in step.warnings() if w.startswith("the LLM was not asked")]
    assert len(llm) == 1 and "OPENAI_API_KEY" in llm[0] and "forks get no secret variables" in llm[0]
    assert step.analysis["provider"] == "none" and step.analysis["degraded"] is True
    assert step.analysis["failures"] and summary_published(step)


def test_missing_llm_key_outside_a_fork_is_still_a_configuration_error(emulator, agent_env, run_step):
    scenario = scenarios.pr_build(emulator)

    step = run_step(agent_env(emulator, scenario, LLM_PROVIDER="openai", OPENAI_API_KEY=""))

    assert step.returncode == 2
    assert "OPENAI_API_KEY" in step.stderr
