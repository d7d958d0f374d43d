"""The publish sinks: files, summary tab, build tag and PR thread, each failing alone.

Logging commands are asserted as exact lines; REST sinks go to the Azure DevOps emulator with the real SDK.
"""
from __future__ import annotations

import io
import pytest

from azura.context import Settings
from azura.models import Analysis, Build, Excerpt, FailedStep, Failure, Line, Rendered
from azura.publish.pr_thread import MARKER, MAX_COMMENT_CHARS
from azura.publish import publish
from tests.emulators import ado_scenarios as scenarios
from tests.emulators.ado import AdoEmulator

TOKEN = "publishT0kenValue0123456789abcdefghijklmnopqrst"


def make_analysis(failed: bool = True, tag: str = "azura-test", build: Build = None) -> Analysis:
    step = FailedStep(name="Run tests", stage="Test", job="Linux", log_id=6)
    failure = Failure(step=step, excerpt=Excerpt(step=step, lines=(Line(3, "E   assert 1 == 2"),), tokens=9),
                      category="test", summary="a test failed", root_cause="assert 1 == 2",
                      suggested_fix="fix the test", confidence=0.9)
    return Analysis(headline="a test failed" if failed else "nothing failed", failures=(failure,) if failed else (),
                    tag=tag, build=build)


def make_rendered(pr_comment: str = f"{MARKER}\n### Azura\na test failed") -> Rendered:
    return Rendered(summary_md="# Azura\na test failed\n", pr_comment_md=pr_comment,
                    analysis_json='{"schema_version": 1}', text="a test failed")


@pytest.fixture
def emulator(tmp_path, monkeypatch):
    monkeypatch.setenv("AZURE_DEVOPS_CACHE_DIR", str(tmp_path / "sdk-cache"))
    with AdoEmulator(token=TOKEN) as emu:
        yield emu


@pytest.fixture
def make_settings(tmp_path):
    """Return create(**fields) -> Settings of a pipeline step, writing to tmp_path/out."""

    def create(**fields) -> Settings:
        values = dict(mode="pipeline", in_pipeline=True, publish=True, org_url="http://127.0.0.1:9/contoso",
                      project="Widgets", build_id=7, token=TOKEN, token_variable="SYSTEM_ACCESSTOKEN",
                      output_dir=str(tmp_path / "out"), temp_dir=str(tmp_path), timeout=30.0)
        values.update(fields)
        return Settings(**values)

    return create


def outcome(outcomes, sink):
    return next(o for o in outcomes if o.sink == sink)


def test_pipeline_step_emits_only_the_summary_command_and_tags_through_rest(emulator, make_settings, tmp_path):
    scenario = scenarios.multi_stage_two_failed_jobs(emulator)
    stdout = io.StringIO()

    publish(make_analysis(), make_rendered(), make_settings(org_url=emulator.org_url, build_id=scenario.build_id),
            stdout)

    summary = (tmp_path / "out" / "summary.md").resolve()
    assert stdout.getvalue().splitlines() == [f"##vso[task.uploadsummary]{summary}"]
    assert emulator.tags(scenario.build_id) == ["azura-test"]
    assert [r.method for r in emulator.requests(route="build_tags")] == ["PUT"]


def test_summary_file_is_written_before_the_command_and_left_in_place(make_settings, tmp_path):
    settings = make_settings(sinks=("summary",))
    stdout = io.StringIO()

    publish(make_analysis(), make_rendered(), settings, stdout)

    path = stdout.getvalue().strip().split("]", 1)[1]
    assert open(path, encoding="utf-8").read() == "# Azura\na test failed\n"


def test_nothing_failed_means_no_tag_and_no_summary(make_settings):
    stdout = io.StringIO()

    outcomes = publish(make_analysis(failed=False, tag="azura-unknown"), make_rendered(), make_settings(), stdout)

    assert stdout.getvalue() == ""
    assert outcome(outcomes, "tag").status == "skipped"
    assert outcome(outcomes, "summary").status == "skipped"


def test_files_are_written_but_nothing_published_without_publish(make_settings, tmp_path):
    stdout = io.StringIO()

    outcomes = publish(make_analysis(), make_rendered(), make_settings(publish=False), stdout)

    assert stdout.getvalue() == ""
    assert outcome(outcomes, "files").status == "ok"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["analysis.json", "pr-comment.md", "summary.md"]


def test_tag_the_service_would_reject_is_never_sent(make_settings):
    stdout = io.StringIO()

    outcomes = publish(make_analysis(tag="azura-test:x"), make_rendered(), make_settings(sinks=("tag",)), stdout)

    assert stdout.getvalue() == ""
    assert outcome(outcomes, "tag").status == "failed"


def test_failing_files_sink_does_not_stop_the_tag(emulator, make_settings, tmp_path):
    scenario = scenarios.multi_stage_two_failed_jobs(emulator)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    settings = make_settings(output_dir=str(blocker / "out"), org_url=emulator.org_url, build_id=scenario.build_id)

    outcomes = publish(make_analysis(), make_rendered(), settings, io.StringIO())

    assert outcome(outcomes, "files").status == "failed"
    assert outcome(outcomes, "tag").status == "ok"
    assert emulator.tags(scenario.build_id) == ["azura-test"]


def test_tag_refused_for_want_of_permission_fails_alone_naming_edit_build_quality(emulator, make_settings):
    scenario = scenarios.multi_stage_two_failed_jobs(emulator)
    emulator.tag_permission = False
    stdout = io.StringIO()

    outcomes = publish(make_analysis(), make_rendered(),
                       make_settings(org_url=emulator.org_url, build_id=scenario.build_id), stdout)

    tag = outcome(outcomes, "tag")
    assert tag.status == "failed"
    assert '"Edit build quality"' in tag.detail and "Build: Read" not in tag.detail
    assert outcome(outcomes, "summary").status == "ok"
    assert "addbuildtag" not in stdout.getvalue()
    assert emulator.tags(scenario.build_id) == []


def test_tag_refused_with_tf400813_is_a_token_problem_not_a_permission(emulator, make_settings):
    scenario = scenarios.multi_stage_two_failed_jobs(emulator)
    emulator.fault("PUT", "build_tags", not_authorized=True)

    outcomes = publish(make_analysis(), make_rendered(),
                       make_settings(org_url=emulator.org_url, build_id=scenario.build_id), io.StringIO())

    detail = outcome(outcomes, "tag").detail
    assert "the token from SYSTEM_ACCESSTOKEN was refused (TF400813)" in detail
    assert "Edit build quality" not in detail


def test_fork_pull_request_withholds_tag_and_thread_but_publishes_summary_and_files(emulator, make_settings,
                                                                                    tmp_path):
    scenario = scenarios.pr_build(emulator)
    settings = make_settings(org_url=emulator.org_url, build_id=scenario.build_id, pr_id=scenario.pr_id,
                             repository_id=scenario.repository_id, repository_provider="TfsGit", fork_pr=True)
    stdout = io.StringIO()

    outcomes = publish(make_analysis(), make_rendered(), settings, stdout)

    assert [(o.sink, o.status) for o in outcomes] == [
        ("files", "ok"), ("summary", "ok"), ("tag", "withheld"), ("pr-thread", "withheld")]
    assert all("fork" in o.detail and "read-only token" in o.detail for o in outcomes if o.status == "withheld")
    assert stdout.getvalue().startswith("##vso[task.uploadsummary]")
    assert emulator.requests(route="build_tags") == [] and emulator.requests(route="pr_threads") == []


def test_outside_a_pipeline_the_tag_goes_through_rest(emulator, make_settings):
    scenario = scenarios.multi_stage_two_failed_jobs(emulator)
    settings = make_settings(mode="remote", in_pipeline=False, org_url=emulator.org_url, build_id=scenario.build_id)
    stdout = io.StringIO()

    outcomes = publish(make_analysis(), make_rendered(), settings, stdout)

    assert stdout.getvalue() == ""
    assert outcome(outcomes, "tag").status == "ok"
    assert outcome(outcomes, "summary").status == "skipped"
    assert "azura-test" in emulator.tags(scenario.build_id)


def pr_settings(make_settings, emulator, scenario, **fields):
    return make_settings(org_url=emulator.org_url, build_id=scenario.build_id, pr_id=scenario.pr_id,
                         repository_id=scenario.repository_id, repository_provider="TfsGit",
                         sinks=("pr-thread",), **fields)


def test_comment_from_a_template_without_the_marker_still_starts_with_it(emulator, make_settings):
    scenario = scenarios.pr_build(emulator)

    publish(make_analysis(), make_rendered(pr_comment="my own template"), pr_settings(make_settings, emulator,
                                                                                      scenario), io.StringIO())

    (thread,) = emulator.threads(scenario.pr_id)
    assert thread["comments"][0]["content"] == f"{MARKER}\nmy own template"


def test_comment_longer_than_the_service_allows_is_cut_to_the_limit(emulator, make_settings):
    scenario = scenarios.pr_build(emulator)

    publish(make_analysis(), make_rendered(pr_comment=MARKER + "x" * 200_000),
            pr_settings(make_settings, emulator, scenario), io.StringIO())

    (thread,) = emulator.threads(scenario.pr_id)
    assert len(thread["comments"][0]["content"]) == MAX_COMMENT_CHARS


def test_thread_with_our_property_but_no_marker_is_not_ours(emulator, make_settings):
    scenario = scenarios.pr_build(emulator)
    emulator.add_thread(scenario.pr_id, "a human copied the property", properties={"Azura.Thread": "pr-comment/v1"})

    publish(make_analysis(), make_rendered(), pr_settings(make_settings, emulator, scenario), io.StringIO())

    assert len(emulator.threads(scenario.pr_id)) == 2


def test_thread_with_our_marker_and_property_written_by_someone_else_is_not_adopted(emulator, make_settings):
    scenario = scenarios.pr_build(emulator)
    theirs = emulator.add_thread(scenario.pr_id, f"{MARKER}\nlooks like the bot, says something else",
                                 author="Mallory Example", properties={"Azura.Thread": "pr-comment/v1"})

    outcomes = publish(make_analysis(), make_rendered(), pr_settings(make_settings, emulator, scenario),
                       io.StringIO())

    threads = emulator.threads(scenario.pr_id)
    assert outcome(outcomes, "pr-thread").status == "ok"
    assert len(threads) == 2
    assert [t for t in threads if t["id"] == theirs["id"]][0]["comments"] == theirs["comments"]


def test_thread_creation_outlasting_the_request_timeout_leaves_one_thread(emulator, make_settings):
    scenario = scenarios.pr_build(emulator)
    emulator.fault("POST", "pr_threads", delay=3, times=1)  # the service creates it after the client gave up
    settings = pr_settings(make_settings, emulator, scenario, timeout=6.0)  # 2 s per request

    outcomes = publish(make_analysis(), make_rendered(), settings, io.StringIO())

    assert outcome(outcomes, "pr-thread").status == "ok"
    assert len(emulator.threads(scenario.pr_id)) == 1
    assert len(emulator.requests(route="pr_threads", method="POST")) == 1


def test_reopened_failure_sets_a_resolved_thread_active_again(emulator, make_settings):
    scenario = scenarios.pr_build(emulator)
    settings = pr_settings(make_settings, emulator, scenario)
    publish(make_analysis(), make_rendered(), settings, io.StringIO())
    publish(make_analysis(failed=False), make_rendered(pr_comment=f"{MARKER}\nfixed"), settings, io.StringIO())
    assert emulator.threads(scenario.pr_id)[0]["status"] == "fixed"

    publish(make_analysis(), make_rendered(), settings, io.StringIO())

    (thread,) = emulator.threads(scenario.pr_id)
    assert thread["status"] == "active"


def test_no_thread_is_created_when_nothing_failed(emulator, make_settings):
    scenario = scenarios.pr_build(emulator)

    outcomes = publish(make_analysis(failed=False), make_rendered(), pr_settings(make_settings, emulator, scenario),
                       io.StringIO())

    assert emulator.threads(scenario.pr_id) == []
    assert outcome(outcomes, "pr-thread").status == "skipped"


def test_pr_of_the_build_is_used_outside_a_pipeline(emulator, make_settings):
    scenario = scenarios.pr_build(emulator)
    build = Build(id=scenario.build_id, number="1", url=None, definition="ci", result="failed", pr_id=scenario.pr_id,
                  repository_id=scenario.repository_id, repository_type="TfsGit")
    settings = make_settings(mode="remote", in_pipeline=False, org_url=emulator.org_url, sinks=("pr-thread",))

    publish(make_analysis(build=build), make_rendered(), settings, io.StringIO())

    assert len(emulator.threads(scenario.pr_id)) == 1
