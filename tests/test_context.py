"""Where the build to analyse comes from: pipeline variables, a build URL, or flags; what is missing is named."""
from __future__ import annotations

import pytest

from azura.context import TOKEN_HINT, load_settings, parse_build_url, require_build
from azura.errors import ConfigError

AGENT = {
    "TF_BUILD": "True",
    "SYSTEM_COLLECTIONURI": "https://dev.azure.com/contoso/",
    "SYSTEM_TEAMPROJECT": "Widgets",
    "BUILD_BUILDID": "4711",
    "SYSTEM_ACCESSTOKEN": "agentTokenValue",
    "SYSTEM_PULLREQUEST_PULLREQUESTID": "42",
    "BUILD_REPOSITORY_ID": "fb3f5e50-6e75-5249-8192-97dd2f931394",
    "BUILD_REPOSITORY_PROVIDER": "TfsGit",
    "SYSTEM_JOBATTEMPT": "2",
    "SYSTEM_TASKINSTANCEID": "7d1a2b3c-0000-4000-8000-000000000001",
    "AGENT_TEMPDIRECTORY": "/agent/_temp",
}


def settings_from(flags=None, environ=None, dotenv=None):
    return load_settings(flags or {}, environ or {}, dotenv or {}, {})


@pytest.mark.parametrize("url, org_url, project, build_id", [
    ("https://dev.azure.com/contoso/Widgets/_build/results?buildId=4711&view=logs",
     "https://dev.azure.com/contoso", "Widgets", 4711),
    ("https://contoso.visualstudio.com/Widgets/_build/results?buildId=12",
     "https://contoso.visualstudio.com", "Widgets", 12),
    ("https://tfs.example.com/tfs/DefaultCollection/Widgets/_build/results?buildId=3",
     "https://tfs.example.com/tfs/DefaultCollection", "Widgets", 3),
    ("https://dev.azure.com/contoso/Widgets%20Web/_build/results?buildId=9",
     "https://dev.azure.com/contoso", "Widgets Web", 9),
])
def test_build_url_gives_organisation_project_and_build(url, org_url, project, build_id):
    reference = parse_build_url(url)

    assert (reference.org_url, reference.project, reference.build_id) == (org_url, project, build_id)


@pytest.mark.parametrize("url", [
    "https://dev.azure.com/contoso/Widgets/_build/results",
    "https://dev.azure.com/contoso/Widgets/_git/widgets?buildId=3",
    "ftp://dev.azure.com/contoso/Widgets/_build/results?buildId=3",
    "https://dev.azure.com/contoso/Widgets/_build/results?buildId=abc",
])
def test_url_that_is_not_a_build_results_url_is_refused(url):
    with pytest.raises(ConfigError):
        parse_build_url(url)


def test_agent_variables_make_a_pipeline_run_of_the_current_build():
    settings = settings_from(environ=AGENT)

    assert settings.mode == "pipeline"
    assert (settings.org_url, settings.project, settings.build_id) == ("https://dev.azure.com/contoso", "Widgets",
                                                                       4711)
    assert (settings.pr_id, settings.repository_provider, settings.job_attempt) == (42, "TfsGit", 2)
    assert settings.task_instance_id == AGENT["SYSTEM_TASKINSTANCEID"]
    assert settings.token_variable == "SYSTEM_ACCESSTOKEN"
    assert settings.publish is True


def test_pipeline_without_access_token_names_the_mapping():
    environ = {k: v for k, v in AGENT.items() if k != "SYSTEM_ACCESSTOKEN"}

    with pytest.raises(ConfigError, match="SYSTEM_ACCESSTOKEN is not set") as raised:
        require_build(settings_from(environ=environ))
    assert TOKEN_HINT in str(raised.value)


def test_pipeline_without_build_id_names_build_buildid():
    environ = {k: v for k, v in AGENT.items() if k != "BUILD_BUILDID"}

    with pytest.raises(ConfigError, match="BUILD_BUILDID is not set"):
        require_build(settings_from(environ=environ))


def test_laptop_uses_org_url_and_pat_and_publishes_nothing_by_default():
    settings = settings_from(flags={"project": "Widgets", "build_id": 12},
                             environ={"AZURE_DEVOPS_ORG_URL": "https://dev.azure.com/contoso",
                                      "AZURE_DEVOPS_PAT": "laptopPat"})

    assert settings.mode == "remote"
    assert (settings.token, settings.token_variable) == ("laptopPat", "AZURE_DEVOPS_PAT")
    assert settings.publish is False


def test_laptop_without_pat_names_azure_devops_pat():
    settings = settings_from(flags={"org_url": "https://dev.azure.com/contoso", "project": "Widgets",
                                    "build_id": 12})

    with pytest.raises(ConfigError, match="AZURE_DEVOPS_PAT"):
        require_build(settings)


def test_build_url_flag_wins_over_pipeline_variables_and_leaves_pipeline_mode():
    settings = settings_from(flags={"build_url": "https://dev.azure.com/fabrikam/Web/_build/results?buildId=5"},
                             environ=AGENT)

    assert settings.mode == "remote"
    assert (settings.org_url, settings.project, settings.build_id) == ("https://dev.azure.com/fabrikam", "Web", 5)
    assert settings.pr_id is None  # the agent's PR belongs to the agent's build, not this one


def test_token_never_shows_in_settings_repr():
    assert "agentTokenValue" not in repr(settings_from(environ=AGENT))


@pytest.mark.parametrize("given, expected", [("refs/heads/main", "refs/heads/main"), ("main", "refs/heads/main"),
                                             ("", None)])
def test_pull_request_target_branch_becomes_a_full_ref(given, expected):
    environ = {"TF_BUILD": "True", "SYSTEM_PULLREQUEST_TARGETBRANCH": given}
    assert load_settings({}, environ, {}, {}).pr_target_branch == expected


@pytest.mark.parametrize("is_fork, expected", [("True", True), ("true", True), ("False", False), (None, False)])
def test_pull_request_from_a_fork_is_known_from_the_agent_variable(is_fork, expected):
    environ = dict(AGENT, **({"SYSTEM_PULLREQUEST_ISFORK": is_fork} if is_fork is not None else {}))
    assert settings_from(environ=environ).fork_pr is expected


def test_known_secrets_are_the_runs_keys_the_tasks_secret_variables_and_secret_named_variables():
    settings = settings_from(environ={**AGENT, "OPENAI_API_KEY": "sk-llm-key-123456",
                                      "AZURA_SECRETS": '["db-pass-from-task", "x"]',
                                      "DB_PASSWORD": "mapped-secret-9", "PWD": "/agent/_work/1/s",
                                      "TOKEN_URL": "https://login.example.com/token", "MY_PAT": "short"})

    assert set(settings.secrets) == {"agentTokenValue", "sk-llm-key-123456", "db-pass-from-task", "mapped-secret-9"}


def test_task_secrets_that_are_not_a_json_list_of_strings_are_refused_without_quoting_them():
    with pytest.raises(ConfigError, match="AZURA_SECRETS") as refused:
        settings_from(environ={"AZURA_SECRETS": "[hunter2-not-json"})

    assert "hunter2" not in str(refused.value)


def test_settings_repr_never_shows_a_known_secret():
    settings = settings_from(environ={"DB_PASSWORD": "mapped-secret-9"})

    assert "mapped-secret-9" not in repr(settings)
