"""The offline question parser: the common question shapes, and what it must leave to an LLM."""
from datetime import datetime, timedelta, timezone

import pytest

from azura.ask import Query, parse_question

NOW = datetime(2026, 11, 21, 15, 30, tzinfo=timezone.utc)  # a Saturday
TODAY = datetime(2026, 11, 21, tzinfo=timezone.utc)


@pytest.mark.parametrize("question, expected", [
    ("Why did the last build fail for project X?",
     Query("last_build", project="X", result="failed", explain=True)),
    ("why did the last build of pipeline web-app fail?",
     Query("last_build", pipeline="web-app", result="failed", explain=True)),
    ("What was the last failed build of api-ci?", Query("last_build", pipeline="api-ci", result="failed")),
    ("latest successful build of pipeline 'Nightly Tests'",
     Query("last_build", pipeline="Nightly Tests", result="succeeded")),
    ("show the most recent run of the api-ci pipeline", Query("last_build", pipeline="api-ci")),
    ("last green build of web-app on branch release/2.0",
     Query("last_build", pipeline="web-app", result="succeeded", branch="refs/heads/release/2.0")),
    ("Why did pipeline nightly fail?", Query("last_build", pipeline="nightly", result="failed", explain=True)),
], ids=lambda value: value if isinstance(value, str) else "")
def test_parser_reads_last_build_questions(question, expected):
    assert parse_question(question, NOW) == expected


@pytest.mark.parametrize("question, expected", [
    ("List all successful builds for pipeline Y in the last week",
     Query("list_builds", pipeline="Y", result="succeeded", since=NOW - timedelta(days=7))),
    ("builds of web-app in the last 3 days",
     Query("list_builds", pipeline="web-app", since=NOW - timedelta(days=3))),
    ("failed builds of api-ci in the past two weeks",
     Query("list_builds", pipeline="api-ci", result="failed", since=NOW - timedelta(days=14))),
    ("show builds for My App in project Contoso yesterday",
     Query("list_builds", pipeline="My App", project="Contoso", since=TODAY - timedelta(days=1), until=TODAY)),
    ("builds of web-app requested by Alice Smith this week",
     Query("list_builds", pipeline="web-app", requested_for="Alice Smith", since=TODAY - timedelta(days=5))),
    ("canceled runs of deploy since 2026-11-01",
     Query("list_builds", pipeline="deploy", result="canceled",
           since=datetime(2026, 11, 1, tzinfo=timezone.utc))),
    ("list builds", Query("list_builds")),
    ("show me failed builds on main this week",
     Query("list_builds", result="failed", branch="refs/heads/main", since=TODAY - timedelta(days=5))),
    ("did the nightly pipeline fail yesterday?",
     Query("list_builds", pipeline="nightly", result="failed", since=TODAY - timedelta(days=1), until=TODAY)),
    ("failed runs of the web-app pipeline last week",
     Query("list_builds", pipeline="web-app", result="failed", since=NOW - timedelta(days=7))),
    ("builds of web-app in the last 2 years",
     Query("list_builds", pipeline="web-app", since=NOW - timedelta(days=730))),
], ids=lambda value: value if isinstance(value, str) else "")
def test_parser_reads_build_list_questions(question, expected):
    assert parse_question(question, NOW) == expected


@pytest.mark.parametrize("question, expected", [
    ("why did build 1234 fail?", Query("explain_build", build_id=1234, explain=True)),
    ("What went wrong in build #77 of project Contoso?",
     Query("explain_build", build_id=77, project="Contoso", explain=True)),
    ("analyse run 5", Query("explain_build", build_id=5, explain=True)),
    ("which pipelines failed today?", Query("failed_pipelines", since=TODAY)),
    ("What failed yesterday in project Contoso?",
     Query("failed_pipelines", project="Contoso", since=TODAY - timedelta(days=1), until=TODAY)),
    ("list pipelines", Query("list_pipelines")),
    ("what pipelines are in project Contoso?", Query("list_pipelines", project="Contoso")),
    ("list projects", Query("list_projects")),
    ("Which projects do you know?", Query("list_projects")),
], ids=lambda value: value if isinstance(value, str) else "")
def test_parser_reads_build_pipeline_and_project_questions(question, expected):
    assert parse_question(question, NOW) == expected


@pytest.mark.parametrize("question", [
    "How do I speed up my pipeline?",
    "Who broke the build on Friday and why do they hate me?",
    "Compare test durations between main and develop",
    "hello",
    "",
])
def test_parser_leaves_other_questions_to_an_llm(question):
    assert parse_question(question, NOW) is None


def test_parser_does_not_take_a_time_word_for_a_pipeline_name():
    query = parse_question("builds of web-app in the last 3 days", NOW)

    assert query.pipeline == "web-app"
    assert query.since == NOW - timedelta(days=3)


def test_parser_does_not_take_a_verb_after_pipeline_for_its_name():
    query = parse_question("did the nightly pipeline fail yesterday?", NOW)

    assert query.pipeline == "nightly"


def test_parser_keeps_a_build_number_out_of_the_pipeline_name():
    query = parse_question("why did build 42 of pipeline api fail", NOW)

    assert (query.intent, query.build_id) == ("explain_build", 42)
