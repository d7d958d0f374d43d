"""The Azure DevOps layer: retries on the injected clock, and errors that name the cause and the setting to fix.

The real SDK talks to the emulator over HTTP on 127.0.0.1; only time is fake, so no test waits.
"""
from __future__ import annotations

import pytest

from azura import collect
from azura.context import Settings
from azura.devops import AzureDevOps
from azura.errors import CollectError, DeadlineExceeded, PublishError
from tests.emulators import ado_scenarios as scenarios
from tests.emulators.ado import AdoEmulator

TOKEN = "unitT0kenValue9876543210zyxwvutsrqponmlkjihgfedcba"


class FakeTime:
    """A clock that only moves when something sleeps on it."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def emulator(tmp_path, monkeypatch):
    monkeypatch.setenv("AZURE_DEVOPS_CACHE_DIR", str(tmp_path / "sdk-cache"))
    with AdoEmulator(token=TOKEN) as emu:
        yield emu


@pytest.fixture
def connect(emulator, tmp_path):
    """Return create(mode=..., token=..., timeout=...) -> (AzureDevOps on the fake clock, the fake clock)."""

    def create(mode="pipeline", token=TOKEN, timeout=120.0, token_variable=None):
        variable = token_variable or ("SYSTEM_ACCESSTOKEN" if mode == "pipeline" else "AZURE_DEVOPS_PAT")
        settings = Settings(mode=mode, org_url=emulator.org_url, project="Widgets", token=token,
                            token_variable=variable, temp_dir=str(tmp_path), timeout=timeout)
        fake = FakeTime()
        return AzureDevOps(settings, clock=fake, sleep=fake.sleep), fake

    return create


def test_429_waits_exactly_the_retry_after_seconds(emulator, connect):
    scenario = scenarios.succeeded_run(emulator)
    emulator.fault("GET", "build", status=429, retry_after=3, times=1)
    ado, fake = connect()

    build = collect.get_build(ado, scenario.project, scenario.build_id)

    assert build.id == scenario.build_id
    assert fake.sleeps == [3.0]


def test_5xx_without_retry_after_backs_off_exponentially(emulator, connect):
    scenario = scenarios.succeeded_run(emulator)
    emulator.fault("GET", "build", status=503, times=3)
    ado, fake = connect()

    collect.get_build(ado, scenario.project, scenario.build_id)

    assert fake.sleeps == [0.5, 1.0, 2.0]


def test_persistent_500_gives_up_after_five_attempts(emulator, connect):
    scenario = scenarios.succeeded_run(emulator)
    emulator.fault("GET", "build", status=500, times=None)
    ado, fake = connect()

    with pytest.raises(CollectError, match=r"build \d+ of project Widgets: Azure DevOps answered HTTP 500 5 times"):
        collect.get_build(ado, scenario.project, scenario.build_id)
    assert len(emulator.requests(route="build")) == 5


def test_retry_after_longer_than_the_deadline_gives_up_without_waiting(emulator, connect):
    scenario = scenarios.succeeded_run(emulator)
    emulator.fault("GET", "build", status=429, retry_after=60, times=1)
    ado, fake = connect(timeout=30)

    with pytest.raises(CollectError, match=r"--timeout of 30 s would pass"):
        collect.get_build(ado, scenario.project, scenario.build_id)
    assert fake.sleeps == []


def test_request_after_the_deadline_is_never_sent(emulator, connect):
    scenario = scenarios.succeeded_run(emulator)
    ado, fake = connect(timeout=10)
    fake.now = 11

    with pytest.raises(DeadlineExceeded, match="--timeout of 10 s passed"):
        collect.get_build(ado, scenario.project, scenario.build_id)
    assert emulator.requests(route="build") == []


def test_missing_build_is_not_retried_and_names_build_project_and_variables(emulator, connect):
    scenarios.succeeded_run(emulator)
    ado, fake = connect()

    with pytest.raises(CollectError) as raised:
        collect.get_build(ado, "Widgets", 4242)
    message = str(raised.value)
    assert "read build 4242 of project Widgets: not found" in message
    assert "BUILD_BUILDID" in message
    assert fake.sleeps == []


@pytest.mark.parametrize("mode, variable, advice", [
    ("pipeline", "SYSTEM_ACCESSTOKEN", "env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)"),
    ("remote", "AZURE_DEVOPS_PAT", "create a new personal access token"),
])
def test_401_names_the_variable_the_token_came_from(emulator, connect, mode, variable, advice):
    scenario = scenarios.succeeded_run(emulator)
    ado, _ = connect(mode=mode, token="wrongTokenValue0123456789abcdefghijklmnop")

    with pytest.raises(CollectError) as raised:
        collect.get_build(ado, scenario.project, scenario.build_id)
    assert f"the token from {variable} was refused (401)" in str(raised.value)
    assert advice in str(raised.value)
    assert "wrongTokenValue" not in str(raised.value)


def test_sign_in_page_is_a_refused_token_not_a_parse_error(emulator, connect):
    scenario = scenarios.succeeded_run(emulator)
    emulator.fault("*", "*", sign_in=True, times=None)
    ado, fake = connect()

    with pytest.raises(CollectError, match=r"the token from SYSTEM_ACCESSTOKEN was refused \(sign-in page\)"):
        collect.get_build(ado, scenario.project, scenario.build_id)
    assert fake.sleeps == []


def test_missing_pull_request_permission_names_contribute_to_pull_requests(emulator, connect):
    scenario = scenarios.pr_build(emulator)
    emulator.pr_contribute = False
    ado, _ = connect()
    from azure.devops.v7_1.git.models import Comment, GitPullRequestCommentThread

    thread = GitPullRequestCommentThread(comments=[Comment(content="x")])
    with pytest.raises(PublishError) as raised:
        ado.call("git", "create the PR thread on pull request 42", lambda git: git.create_thread(
            thread, scenario.repository_id, scenario.pr_id, project=scenario.project), error=PublishError)
    assert '"Contribute to pull requests"' in str(raised.value)
    assert "TF401027" in str(raised.value)


def test_connection_refused_names_the_organisation_and_is_retried(connect, emulator):
    ado, fake = connect()
    emulator.stop()

    with pytest.raises(CollectError, match=r"could not reach http://127\.0\.0\.1:\d+/contoso to read build 1"):
        collect.get_build(ado, "Widgets", 1)
    assert len(fake.sleeps) == 4


def test_service_error_echoing_the_token_is_redacted(emulator, connect):
    scenarios.succeeded_run(emulator)
    ado, _ = connect()
    from azure.devops._models import WrappedException
    from azure.devops.exceptions import AzureDevOpsServiceError

    def echo(client):
        raise AzureDevOpsServiceError(WrappedException(message=f"bad header Basic :{TOKEN}", type_key="X"))

    with pytest.raises(CollectError) as raised:
        ado.call("build", "read something", echo)
    assert TOKEN not in str(raised.value)
    assert "«redacted:token»" in str(raised.value)


def test_post_is_retried_and_recheck_returns_what_an_earlier_try_created(emulator, connect):
    scenarios.succeeded_run(emulator)
    ado, fake = connect()
    from requests.exceptions import ChunkedEncodingError

    calls = []

    def cut_off(client):
        calls.append(1)
        raise ChunkedEncodingError("Connection broken: IncompleteRead")

    result = ado.call("git", "create the PR thread", cut_off, error=PublishError, recheck=lambda: "found thread 7")

    assert result == "found thread 7"
    assert len(calls) == 1


def test_organisation_url_that_is_not_azure_devops_names_the_setting(tmp_path, monkeypatch):
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class WebPage(BaseHTTPRequestHandler):
        def do_OPTIONS(self):
            body = b"<html><body>Welcome to our intranet</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_OPTIONS

        def log_message(self, *args):
            pass

    monkeypatch.setenv("AZURE_DEVOPS_CACHE_DIR", str(tmp_path / "sdk-cache"))
    server = HTTPServer(("127.0.0.1", 0), WebPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = Settings(mode="remote", org_url=f"http://127.0.0.1:{server.server_port}/intranet",
                            project="Widgets", token=TOKEN, token_variable="AZURE_DEVOPS_PAT", timeout=30.0)
        expected = r"did not answer like Azure DevOps.*\(AZURE_DEVOPS_ORG_URL\)"
        with pytest.raises(CollectError, match=expected):
            collect.get_build(AzureDevOps(settings), "Widgets", 1)
    finally:
        server.shutdown()
        server.server_close()
