"""The Azure DevOps emulator answers the real azure-devops SDK over real HTTP like the service does."""

import base64
import functools
import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.emulators import ado_scenarios
from tests.emulators.ado import BUILD_SERVICE_ID, FIXTURES, LOG_TIMESTAMP, AdoEmulator, case_result, commit

TOKEN = "t0ken"


@pytest.fixture
def sdk(tmp_path, monkeypatch):
    """Return the SDK package with its file cache in tmp_path, never in HOME."""
    cache_dir = tmp_path / "ado-cache"
    cache_dir.mkdir()
    monkeypatch.setenv("AZURE_DEVOPS_CACHE_DIR", str(cache_dir))
    import azure.devops.client
    import azure.devops.connection
    from azure.devops import _file_cache

    # The SDK fixes its cache files at first import, which an earlier test may have done.
    monkeypatch.setattr(azure.devops.client, "OPTIONS_FILE_CACHE",
                        _file_cache.get_cache("options", cache_dir=str(cache_dir)))
    monkeypatch.setattr(azure.devops.connection, "RESOURCE_FILE_CACHE",
                        _file_cache.get_cache("resources", cache_dir=str(cache_dir)))
    return azure.devops


@pytest.fixture
def emu():
    with AdoEmulator(token=TOKEN) as emulator:
        yield emulator


def connect(sdk, url, token=TOKEN):
    from azure.devops.connection import Connection
    from msrest.authentication import BasicAuthentication

    return Connection(base_url=url, creds=BasicAuthentication("", token))


def build_client(sdk, url, token=TOKEN):
    return connect(sdk, url, token).clients_v7_1.get_build_client()


def raw(emu, path, *, method="GET", body=None, accept="application/json;api-version=7.1-preview.7", token=TOKEN):
    """Return (status, parsed JSON or text) of a plain HTTP request to the emulator."""
    headers = {"Accept": accept, "Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f":{token}".encode()).decode()
    request = urllib.request.Request(emu.host_url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read()
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, payload.decode("utf-8", "replace")


@pytest.mark.parametrize("shape", ["org_url", "server_url"])
def test_get_build_answers_on_both_collection_url_shapes(sdk, emu, shape):
    scenario = ado_scenarios.multi_stage_two_failed_jobs(emu)

    build = build_client(sdk, getattr(emu, shape)).get_build(scenario.project, scenario.build_id)

    assert (build.id, build.result, build.definition.id) == (scenario.build_id, "failed", scenario.definition_id)
    assert build.url.startswith(getattr(emu, shape) + "/")


def test_project_may_be_addressed_by_id(sdk, emu):
    scenario = ado_scenarios.succeeded_run(emu)

    build = build_client(sdk, emu.org_url).get_build(scenario.project_id, scenario.build_id)

    assert build.project.name == scenario.project


def test_unknown_build_is_build_not_found(sdk, emu):
    from azure.devops.exceptions import AzureDevOpsServiceError

    emu.add_project("Widgets")
    with pytest.raises(AzureDevOpsServiceError) as raised:
        build_client(sdk, emu.org_url).get_build("Widgets", 999999)

    assert raised.value.type_key == "BuildNotFoundException"
    assert raised.value.message.startswith("TF400714")


def test_timeline_holds_stage_phase_job_task_records_linked_by_parent(sdk, emu):
    scenario = ado_scenarios.multi_stage_two_failed_jobs(emu)

    timeline = build_client(sdk, emu.org_url).get_build_timeline(scenario.project, scenario.build_id)

    by_id = {record.id: record for record in timeline.records}
    failed_tasks = [record for record in timeline.records if record.type == "Task" and record.result == "failed"]
    assert [task.id for task in failed_tasks] == [step.record_id for step in scenario.failed]
    for task in failed_tasks:
        job = by_id[task.parent_id]
        assert job.type == "Job" and by_id[by_id[job.parent_id].parent_id].type == "Stage"
        assert int(task.issues[0].data["logFileLineNumber"]) > 0


def test_earlier_attempt_timeline_is_served_by_its_id(sdk, emu):
    scenario = ado_scenarios.retried_run_attempt_2(emu)
    client = build_client(sdk, emu.org_url)

    latest = client.get_build_timeline(scenario.project, scenario.build_id)
    job = next(record for record in latest.records if record.type == "Job")
    earlier = client.get_build_timeline(scenario.project, scenario.build_id,
                                        timeline_id=job.previous_attempts[0].timeline_id)

    assert job.attempt == 2
    assert {record.attempt for record in earlier.records} == {1}
    assert job.previous_attempts[0].record_id in {record.id for record in earlier.records}


def test_log_lines_are_one_based_inclusive_and_timestamped(sdk, emu):
    build = emu.add_build(emu.add_project("Widgets").name)
    emu.add_log(build.id, 3, lines=["one", "two", "three", "four"])

    lines = build_client(sdk, emu.org_url).get_build_log_lines("Widgets", build.id, 3, start_line=2, end_line=3)

    assert lines == [f"{LOG_TIMESTAMP} two", f"{LOG_TIMESTAMP} three"]


def test_log_streams_as_text_with_every_line(sdk, emu):
    build = emu.add_build(emu.add_project("Widgets").name)
    emu.add_log(build.id, 3, line_count=50_000, line_at=lambda number: f"line {number}")

    text = b"".join(build_client(sdk, emu.org_url).get_build_log("Widgets", build.id, 3)).decode()

    assert text.splitlines()[-1] == f"{LOG_TIMESTAMP} line 50000"
    assert len(text.splitlines()) == 50_000


def test_logs_list_reports_line_counts(sdk, emu):
    build = emu.add_build(emu.add_project("Widgets").name)
    emu.add_log(build.id, 5, lines=["a", "b"])

    logs = build_client(sdk, emu.org_url).get_build_logs("Widgets", build.id)

    assert [(log.id, log.line_count) for log in logs] == [(5, 2)]


def test_build_tags_are_added_and_returned_whole(sdk, emu):
    build = emu.add_build(emu.add_project("Widgets").name, tags=["nightly"])
    client = build_client(sdk, emu.org_url)

    assert client.add_build_tag("Widgets", build.id, "azura-test") == ["azura-test", "nightly"]
    assert client.add_build_tags(["azura-compile"], "Widgets", build.id) == ["azura-compile", "azura-test", "nightly"]
    assert emu.tags(build.id) == ["azura-compile", "azura-test", "nightly"]


def test_created_thread_keeps_its_id_comments_and_properties(sdk, emu):
    from azure.devops.v7_1.git.models import Comment, GitPullRequestCommentThread

    scenario = ado_scenarios.pr_build(emu)
    git = connect(sdk, emu.org_url).clients_v7_1.get_git_client()
    thread = GitPullRequestCommentThread(comments=[Comment(content="<!-- azura -->\nfirst", comment_type="text",
                                                           parent_comment_id=0)],
                                         status="active", properties={"azura.marker": "v1"})

    created = git.create_thread(thread, scenario.repository_id, scenario.pr_id, project=scenario.project)
    git.update_comment(Comment(content="<!-- azura -->\nsecond"), scenario.repository_id, scenario.pr_id,
                       created.id, created.comments[0].id, project=scenario.project)
    listed = git.get_threads(scenario.repository_id, scenario.pr_id, project=scenario.project)

    assert [(item.id, item.comments[0].content) for item in listed] == [(created.id, "<!-- azura -->\nsecond")]
    assert listed[0].properties["azura.marker"] == {"$type": "System.String", "$value": "v1"}


@pytest.mark.parametrize("shape", ["org_url", "server_url"])
def test_connection_data_names_the_build_service_that_authors_created_threads(sdk, emu, shape):
    scenario = ado_scenarios.pr_build(emu)
    connection = connect(sdk, getattr(emu, shape))
    from azure.devops.v7_1.git.models import Comment, GitPullRequestCommentThread

    me = connection.clients_v7_1.get_location_client().get_connection_data().authenticated_user
    created = connect(sdk, emu.org_url).clients_v7_1.get_git_client().create_thread(
        GitPullRequestCommentThread(comments=[Comment(content="hello", parent_comment_id=0)]),
        scenario.repository_id, scenario.pr_id, project=scenario.project)

    assert me.id == created.comments[0].author.id == BUILD_SERVICE_ID
    assert me.provider_display_name == "Project Collection Build Service (contoso)"


def test_thread_creation_without_permission_is_tf401027(sdk, emu):
    from azure.devops.exceptions import AzureDevOpsServiceError
    from azure.devops.v7_1.git.models import Comment, GitPullRequestCommentThread

    scenario = ado_scenarios.pr_build(emu)
    emu.pr_contribute = False
    git = connect(sdk, emu.org_url).clients_v7_1.get_git_client()

    with pytest.raises(AzureDevOpsServiceError) as raised:
        git.create_thread(GitPullRequestCommentThread(comments=[Comment(content="x")]), scenario.repository_id,
                          scenario.pr_id, project=scenario.project)

    assert raised.value.type_key == "GitNeedsPermissionException"
    assert "PullRequestContribute" in raised.value.message
    assert emu.threads(scenario.pr_id) == []


def test_wrong_token_is_refused_with_authentication_error(sdk, emu):
    from azure.devops.exceptions import AzureDevOpsAuthenticationError

    with pytest.raises(AzureDevOpsAuthenticationError):
        build_client(sdk, emu.org_url, token="wrong")

    assert [request.status for request in emu.requests()] == [401]


def test_bearer_token_is_accepted(sdk, emu):
    from azure.devops.connection import Connection
    from msrest.authentication import BasicTokenAuthentication

    scenario = ado_scenarios.succeeded_run(emu)
    connection = Connection(base_url=emu.org_url, creds=BasicTokenAuthentication({"access_token": TOKEN}))

    build = connection.clients_v7_1.get_build_client().get_build(scenario.project, scenario.build_id)

    assert build.id == scenario.build_id
    assert {request.auth_scheme for request in emu.requests()} == {"Bearer"}


def test_get_is_retried_after_429_honouring_retry_after(sdk, emu):
    scenario = ado_scenarios.succeeded_run(emu)
    client = build_client(sdk, emu.org_url)
    emu.fault("GET", "build", status=429, retry_after=1, times=1)

    started = time.monotonic()
    build = client.get_build(scenario.project, scenario.build_id)

    assert build.id == scenario.build_id
    assert [request.status for request in emu.requests(route="build")] == [429, 200]
    assert time.monotonic() - started >= 0.9


def test_post_is_not_retried_after_429(sdk, emu):
    from azure.devops.exceptions import AzureDevOpsServiceError
    from azure.devops.v7_1.git.models import Comment, GitPullRequestCommentThread

    scenario = ado_scenarios.pr_build(emu)
    git = connect(sdk, emu.org_url).clients_v7_1.get_git_client()
    emu.fault("POST", "pr_threads", status=429, retry_after=1, times=2)

    with pytest.raises(AzureDevOpsServiceError) as raised:
        git.create_thread(GitPullRequestCommentThread(comments=[Comment(content="x")]), scenario.repository_id,
                          scenario.pr_id, project=scenario.project)

    assert raised.value.message.startswith("TF400733")
    assert len(emu.requests(route="pr_threads", method="POST")) == 1


def test_sign_in_page_surfaces_as_deserialization_error(sdk, emu):
    from azure.core.exceptions import DeserializationError

    scenario = ado_scenarios.succeeded_run(emu)
    client = build_client(sdk, emu.org_url)
    emu.fault("GET", "build", sign_in=True)

    with pytest.raises(DeserializationError):
        client.get_build(scenario.project, scenario.build_id)


@pytest.mark.parametrize("route, call", [
    ("build_log", lambda client, build: b"".join(client.get_build_log("Widgets", build.id, 3))),
    ("build", lambda client, build: client.get_build("Widgets", build.id)),
])
def test_cut_answer_fails_instead_of_returning_a_short_body(sdk, emu, route, call):
    from requests.exceptions import ChunkedEncodingError

    build = emu.add_build(emu.add_project("Widgets").name)
    emu.add_log(build.id, 3, line_count=200_000, line_at=lambda number: f"line {number}")
    client = build_client(sdk, emu.org_url)
    emu.fault("GET", route, cut=True)

    with pytest.raises(ChunkedEncodingError):
        call(client, build)


def test_slow_fault_delays_the_answer(sdk, emu):
    scenario = ado_scenarios.succeeded_run(emu)
    client = build_client(sdk, emu.org_url)
    emu.fault("GET", "build", delay=0.5)

    started = time.monotonic()
    client.get_build(scenario.project, scenario.build_id)

    assert time.monotonic() - started >= 0.5


def test_clearing_the_requests_forgets_one_still_being_answered(sdk, emu):
    scenario = ado_scenarios.succeeded_run(emu)
    client = build_client(sdk, emu.org_url)
    client.get_build(scenario.project, scenario.build_id)  # the SDK's own first requests are done
    emu.fault("GET", "build", delay=0.5)
    answering = threading.Thread(target=client.get_build, args=(scenario.project, scenario.build_id))
    answering.start()
    time.sleep(0.2)  # the request has arrived and waits for its answer

    emu.clear_requests()
    answering.join()

    assert emu.requests() == []


def test_missing_api_version_is_400(emu):
    scenario = ado_scenarios.succeeded_run(emu)

    status, body = raw(emu, f"/contoso/{scenario.project}/_apis/build/builds/{scenario.build_id}",
                       accept="application/json")

    assert status == 400
    assert set(body) == {"$id", "innerException", "message", "typeName", "typeKey", "errorCode", "eventId"}


def test_api_version_in_query_is_accepted(emu):
    scenario = ado_scenarios.succeeded_run(emu)

    status, body = raw(emu, f"/contoso/{scenario.project}/_apis/build/builds/{scenario.build_id}"
                            "?api-version=7.1-preview.7", accept="application/json")

    assert (status, body["id"]) == (200, scenario.build_id)


def test_unknown_api_version_is_400(emu):
    scenario = ado_scenarios.succeeded_run(emu)

    status, _ = raw(emu, f"/contoso/{scenario.project}/_apis/build/builds/{scenario.build_id}",
                    accept="application/json;api-version=9.9")

    assert status == 400


@pytest.mark.parametrize("served, asked, status", [("7.0", "7.1-preview.7", 400), ("7.0", "7.0", 200),
                                                   ("6.0", "7.0", 400), ("6.0", "6.0", 200)])
def test_server_refuses_api_versions_newer_than_it_serves(served, asked, status):
    with AdoEmulator(token=TOKEN, api_version=served) as server:
        scenario = ado_scenarios.succeeded_run(server)

        answer = raw(server, f"/tfs/DefaultCollection/{scenario.project}/_apis/build/builds/{scenario.build_id}",
                     accept=f"application/json;api-version={asked}")

    assert answer[0] == status
    if status == 400:
        assert answer[1]["typeKey"] == "VssVersionOutOfRangeException"


def test_server_locations_say_which_versions_it_serves(sdk):
    with AdoEmulator(token=TOKEN, api_version="7.0") as server:
        locations = raw(server, "/tfs/DefaultCollection/_apis", method="OPTIONS")[1]["value"]

    assert {(item["maxVersion"], item["releasedVersion"]) for item in locations} == {("7.0", "7.0")}


def test_tag_without_edit_build_quality_is_403_access_denied(sdk, emu):
    from azure.devops.exceptions import AzureDevOpsServiceError

    scenario = ado_scenarios.succeeded_run(emu)
    emu.tag_permission = False

    with pytest.raises(AzureDevOpsServiceError) as refused:
        build_client(sdk, emu.org_url).add_build_tag(scenario.project, scenario.build_id, "azura-test")

    assert refused.value.type_key == "AccessDeniedException"
    assert "needs Edit build quality permissions" in refused.value.message
    assert emu.tags(scenario.build_id) == []


def test_not_authorized_fault_is_tf400813_in_json(sdk, emu):
    from azure.devops.exceptions import AzureDevOpsServiceError

    scenario = ado_scenarios.succeeded_run(emu)
    emu.fault("GET", "build", not_authorized=True)

    with pytest.raises(AzureDevOpsServiceError) as refused:
        build_client(sdk, emu.org_url).get_build(scenario.project, scenario.build_id)

    assert refused.value.message.startswith("TF400813")
    assert emu.requests(route="build")[0].status == 401


def test_links_name_the_host_the_client_asked_for(emu):
    scenario = ado_scenarios.succeeded_run(emu)
    request = urllib.request.Request(
        emu.host_url + f"/contoso/{scenario.project}/_apis/build/builds/{scenario.build_id}",
        headers={"Accept": "application/json;api-version=7.0", "Host": f"ado.internal.invalid:{emu.port}",
                 "Authorization": "Basic " + base64.b64encode(f":{TOKEN}".encode()).decode()})
    with urllib.request.urlopen(request, timeout=10) as response:
        build = json.loads(response.read())

    assert build["url"].startswith(f"http://ado.internal.invalid:{emu.port}/contoso/")


def test_unknown_route_is_404(emu):
    assert raw(emu, "/contoso/_apis/nothing/here")[0] == 404


def test_request_without_auth_is_401(emu):
    assert raw(emu, "/contoso/_apis/projects", token=None)[0] == 401


def test_non_json_body_is_400(emu):
    scenario = ado_scenarios.pr_build(emu)
    path = (f"/contoso/{scenario.project}/_apis/git/repositories/{scenario.repository_id}"
            f"/pullRequests/{scenario.pr_id}/threads")

    status, body = raw(emu, path, method="POST", body=b"not json", accept="application/json;api-version=7.1-preview.1")

    assert (status, body["typeKey"]) == (400, "ArgumentNullException")


def test_request_log_counts_log_bytes_downloaded(sdk, emu):
    build = emu.add_build(emu.add_project("Widgets").name)
    emu.add_log(build.id, 3, lines=["x" * 10])
    client = build_client(sdk, emu.org_url)

    client.get_build_log_lines("Widgets", build.id, 3)

    assert emu.bytes_sent(route="build_log") == len(json.dumps({"count": 1, "value": [f"{LOG_TIMESTAMP} {'x' * 10}"]}))
    assert len(emu.requests(route="build_log")) == 1


def test_builds_list_honours_definition_branch_result_and_top(sdk, emu):
    history = ado_scenarios.build_history(emu, ("green", "green", "red", "red"))
    emu.add_build(history.project, ("other", 99), result="succeeded")
    emu.add_build(history.project, ("widgets-ci", history.definition_id), result="succeeded", branch="refs/heads/dev")
    client = build_client(sdk, emu.org_url)

    builds = client.get_builds(history.project, definitions=[history.definition_id], branch_name=history.branch,
                               result_filter="succeeded", top=1, query_order="finishTimeDescending")

    assert [build.id for build in builds] == [history.last_success_build_id]


def test_builds_list_honours_min_time(sdk, emu):
    history = ado_scenarios.build_history(emu, ("green", "red", "red"))
    client = build_client(sdk, emu.org_url)
    first_failure = emu.build(history.first_failure_build_id)

    builds = client.get_builds(history.project, min_time=first_failure.finish_time)

    assert sorted(build.id for build in builds) == [history.first_failure_build_id, history.latest_build_id]


def test_changes_between_builds_are_the_commits_after_the_first_build(sdk, emu):
    history = ado_scenarios.build_history(emu, ("green", "red", "red"))
    client = build_client(sdk, emu.org_url)

    changes = client.get_changes_between_builds(history.project, history.last_success_build_id,
                                                history.latest_build_id)

    expected = [item["id"] for build in reversed(history.builds[1:]) for item in build.commits]
    assert [change.id for change in changes] == expected


def test_build_changes_carry_author_and_message(sdk, emu):
    build = emu.add_build(emu.add_project("Widgets").name,
                          changes=[commit("a" * 40, "Round prices half-even", "Chen Wei")])

    changes = build_client(sdk, emu.org_url).get_build_changes("Widgets", build.id)

    assert [(change.message, change.author.display_name) for change in changes] == [("Round prices half-even",
                                                                                    "Chen Wei")]


@pytest.mark.parametrize("builder", [
    ado_scenarios.multi_stage_two_failed_jobs, ado_scenarios.retried_run_attempt_2, ado_scenarios.pr_build,
    ado_scenarios.github_repo_build, functools.partial(ado_scenarios.large_log, size_mb=1),
    functools.partial(ado_scenarios.five_failed_tasks_with_large_logs, size_mb=0.2),
], ids=lambda builder: getattr(builder, "__name__", None) or builder.func.__name__)
def test_scenario_cause_line_holds_the_cause(sdk, emu, builder):
    scenario = builder(emu)
    client = build_client(sdk, emu.org_url)

    for step in scenario.failed:
        lines = client.get_build_log_lines(scenario.project, scenario.build_id, step.log_id,
                                           start_line=step.cause_line, end_line=step.cause_line)
        last = client.get_build_log_lines(scenario.project, scenario.build_id, step.log_id)[-1]
        assert step.cause_text in lines[0]
        assert step.cause_text not in last


@pytest.mark.slow
def test_300_mb_log_streams_without_growing_memory(sdk, emu):
    scenario = ado_scenarios.large_log(emu, size_mb=300)
    step = scenario.failed[0]
    client = build_client(sdk, emu.org_url)
    baseline = resident_kib()

    received, peak = 0, baseline
    for index, chunk in enumerate(client.get_build_log(scenario.project, scenario.build_id, step.log_id)):
        received += len(chunk)
        if index % 256 == 0:
            peak = max(peak, resident_kib())

    assert received >= 300 * 1024 * 1024 * 0.95
    assert emu.bytes_sent(route="build_log") == received
    assert peak - baseline < 64 * 1024


def resident_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def test_control_endpoint_sets_a_fault_while_running(emu):
    scenario = ado_scenarios.succeeded_run(emu)
    spec = json.dumps({"method": "GET", "route": "build", "status": 503, "times": 1}).encode()
    urllib.request.urlopen(urllib.request.Request(emu.host_url + "/_emulator/faults", data=spec, method="POST"),
                           timeout=10).close()

    path = f"/contoso/{scenario.project}/_apis/build/builds/{scenario.build_id}"
    assert [raw(emu, path)[0], raw(emu, path)[0]] == [503, 200]


def test_answers_carry_every_key_of_the_real_service(emu):
    real = json.loads((FIXTURES / "response-keys.json").read_text(encoding="utf-8"))
    scenario = ado_scenarios.pr_build(emu)
    emu.add_thread(scenario.pr_id, "An earlier comment", author="Ana Lopez")
    build = f"/contoso/{scenario.project}/_apis/build/builds/{scenario.build_id}"
    pull_request = f"/contoso/{scenario.project}/_apis/git/repositories/{scenario.repository_id}/pullRequests/" \
                   f"{scenario.pr_id}"
    emu.set_changes(scenario.build_id, [commit("b" * 40, "Round prices half-even", "Chen Wei")])
    run_id = emu.add_test_run(scenario.build_id, "VSTest", [case_result("T.fails", message="boom", stack_trace="at T",
                                                                        failing_since=scenario.build_id)])
    source_version = emu.build(scenario.build_id).source_version
    emu.add_file(scenario.repository_id, source_version, "src/a.py", "print(1)\n")
    emu.set_commit_changes(scenario.repository_id, source_version, [("src/a.py", "edit")])
    tests = f"/contoso/{scenario.project}/_apis/test/Runs/{run_id}"
    git = f"/contoso/{scenario.project}/_apis/git/repositories/{scenario.repository_id}"
    version = "application/json;api-version=7.1-preview.1"
    timeline = raw(emu, build + "/Timeline")[1]
    thread = raw(emu, pull_request + "/threads", accept="application/json;api-version=7.1-preview.1")[1]["value"][0]
    answers = {
        "build": raw(emu, build)[1],
        "timeline": timeline,
        "timeline_record": next(record for record in timeline["records"] if record["type"] == "Task"),
        "build_log": raw(emu, build + "/logs")[1]["value"][0],
        "change": raw(emu, build + "/changes")[1]["value"][0],
        "pull_request": raw(emu, pull_request, accept="application/json;api-version=7.1-preview.1")[1],
        "thread": thread,
        "comment": thread["comments"][0],
        "test_run": raw(emu, tests, accept="application/json;api-version=7.1-preview.3")[1],
        "test_result": raw(emu, tests + "/Results", accept="application/json;api-version=7.1-preview.6")[1]["value"][0],
        "test_run_statistics": raw(emu, tests + "/Statistics", accept="application/json;api-version=7.1-preview.3")[1],
        "commit_changes": raw(emu, f"{git}/commits/{source_version}/changes", accept=version)[1],
        "commit_change": raw(emu, f"{git}/commits/{source_version}/changes", accept=version)[1]["changes"][0],
        "git_item": raw(emu, f"{git}/items?path=/src/a.py&versionDescriptor.version={source_version}"
                             "&versionDescriptor.versionType=commit", accept=version)[1],
    }

    missing = {kind: sorted(set(real[kind]) - set(answer)) for kind, answer in answers.items()}
    assert missing == {kind: [] for kind in answers}


@pytest.mark.parametrize("builder", [ado_scenarios.job_timeout_no_failed_task, ado_scenarios.canceled_run])
def test_scenario_without_failed_task_expects_the_job_and_its_issue(sdk, emu, builder):
    scenario = builder(emu)
    timeline = build_client(sdk, emu.org_url).get_build_timeline(scenario.project, scenario.build_id)

    [step] = scenario.failed
    job = next(record for record in timeline.records if record.id == step.record_id)
    assert (job.type, job.result) == ("Job", step.result)
    assert step.cause_text in job.issues[0].message
    assert not [record for record in timeline.records if record.type == "Task" and record.result == "failed"]


def test_succeeded_run_has_no_failed_record(sdk, emu):
    scenario = ado_scenarios.succeeded_run(emu)
    timeline = build_client(sdk, emu.org_url).get_build_timeline(scenario.project, scenario.build_id)

    assert scenario.failed == ()
    assert {record.result for record in timeline.records} == {"succeeded"}


# -- test runs and results, Git items and commits

def client_of_tests(sdk, url):
    return connect(sdk, url).clients_v7_1.get_test_client()


def test_build_test_runs_carry_counts_and_the_job_that_published_them(sdk, emu):
    scenario = ado_scenarios.tests_failed(emu)

    (run,) = client_of_tests(sdk, emu.org_url).get_test_runs(scenario.project, build_uri=f"vstfs:///Build/Build/"
                                                         f"{scenario.build_id}", include_run_details=True)

    assert (run.total_tests, run.passed_tests, run.unanalyzed_tests) == (120, 118, 2)
    reference = run.pipeline_reference
    assert (reference.stage_reference.stage_name, reference.phase_reference.phase_name,
            reference.job_reference.job_name) == ("Test", "Unit_tests_Linux", "__default")


def test_test_runs_of_another_build_are_not_listed(sdk, emu):
    scenario = ado_scenarios.tests_failed(emu)

    runs = client_of_tests(sdk, emu.org_url).get_test_runs(scenario.project, build_uri="vstfs:///Build/Build/1")

    assert runs == [] and scenario.build_id != 1


def test_results_filter_by_outcome_and_page_with_skip_and_top(sdk, emu):
    scenario = ado_scenarios.thousands_of_failed_tests(emu, count=1200)
    client = client_of_tests(sdk, emu.org_url)
    run_id = client.get_test_runs(scenario.project)[0].id

    first = client.get_test_results(scenario.project, run_id, top=1000, outcomes=["Failed"])
    rest = client.get_test_results(scenario.project, run_id, skip=1000, top=1000, outcomes=["Failed"])
    everything = client.get_test_results(scenario.project, run_id, top=5000)

    assert (len(first), len(rest), len(everything)) == (1000, 200, 1000)  # 1000 at most per page
    assert {result.outcome for result in first + rest} == {"Failed"}
    assert first[0].failing_since is None and first[0].stack_trace.startswith("   at Widgets.Tests.Orders")


def test_run_statistics_count_results_by_outcome(sdk, emu):
    scenario = ado_scenarios.tests_failed(emu)
    client = client_of_tests(sdk, emu.org_url)
    run_id = client.get_test_runs(scenario.project)[0].id

    statistics = client.get_test_run_statistics(scenario.project, run_id)

    assert {(s.outcome, s.count) for s in statistics.run_statistics} == {("Passed", 118), ("Failed", 2)}


def test_a_run_without_results_still_has_its_statistics(sdk, emu):
    scenario = ado_scenarios.tests_failed(emu, results=False)
    client = client_of_tests(sdk, emu.org_url)
    run_id = client.get_test_runs(scenario.project)[0].id

    assert client.get_test_results(scenario.project, run_id) == []
    assert sum(s.count for s in client.get_test_run_statistics(scenario.project, run_id).run_statistics) == 120


def test_identity_without_test_read_is_refused_with_403(sdk, emu):
    from azure.devops.exceptions import AzureDevOpsServiceError

    scenario = ado_scenarios.tests_failed(emu)
    emu.test_read = False

    with pytest.raises(AzureDevOpsServiceError, match="View test runs"):
        client_of_tests(sdk, emu.org_url).get_test_runs(scenario.project)
    assert emu.requests(route="test_runs")[0].status == 403


def test_git_item_text_is_the_file_at_the_commit(sdk, emu):
    from azure.devops.v7_1.git.models import GitVersionDescriptor

    scenario = ado_scenarios.tests_failed(emu)
    build = emu.build(scenario.build_id)
    git = connect(sdk, emu.org_url).clients_v7_1.get_git_client()
    version = GitVersionDescriptor(version=build.source_version, version_type="commit")

    text = b"".join(git.get_item_text(build.repository.id, "/" + scenario.source[0], scenario.project,
                                      version_descriptor=version)).decode()

    assert text.splitlines()[scenario.source[1] - 1] == scenario.source[2]


def test_git_item_missing_at_the_commit_is_tf401174(sdk, emu):
    from azure.devops.exceptions import AzureDevOpsServiceError
    from azure.devops.v7_1.git.models import GitVersionDescriptor

    scenario = ado_scenarios.tests_failed(emu)
    build = emu.build(scenario.build_id)
    git = connect(sdk, emu.org_url).clients_v7_1.get_git_client()

    with pytest.raises(AzureDevOpsServiceError, match="TF401174") as raised:
        git.get_item_text(build.repository.id, "/src/generated.cs", scenario.project,
                          version_descriptor=GitVersionDescriptor(version=build.source_version, version_type="commit"))
    assert raised.value.type_key == "GitItemNotFoundException"


def test_commit_changes_list_the_files_a_commit_touched(sdk, emu):
    scenario = ado_scenarios.tests_failed(emu)
    build = emu.build(scenario.build_id)
    emu.set_commit_changes(build.repository, "c" * 40, [("src/Orders.cs", "edit"), ("docs/tax.md", "add")])
    git = connect(sdk, emu.org_url).clients_v7_1.get_git_client()

    changes = git.get_changes("c" * 40, build.repository.id, scenario.project, top=1)

    assert changes.change_counts == {"Edit": 1, "Add": 1}
    assert [(c["item"]["path"], c["changeType"]) for c in changes.changes] == [("/src/Orders.cs", "edit")]
