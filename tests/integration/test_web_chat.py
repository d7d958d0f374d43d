"""The web chat in headless Chromium (Debian's `chromium`), driven over the DevTools protocol.

A person's path: open the page, type a question, press Enter, read the answer; paste a log, press Analyse,
watch the progress, read the PR-comment markdown. The screenshot is kept in .ci-artifacts/web-chat.png.
"""
from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

websocket = pytest.importorskip("websocket", reason="websocket-client is not installed (pip install websocket-client)")

from tests.emulators import ado_scenarios  # noqa: E402
from tests.integration.conftest import TOKEN  # noqa: E402
from tests.integration.server_support import (DEADLINE, REPO_ROOT, ServerThread, devops_env, request,  # noqa: E402
                                              settings_for)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = REPO_ROOT / ".ci-artifacts" / "web-chat.png"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-extensions", "--disable-default-apps", "--remote-debugging-port=0",
                  "--window-size=1280,1000")

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                                         "(apt-get install -y chromium)")


class Browser:
    """One headless Chromium page, spoken to over the DevTools protocol's WebSocket."""

    def __init__(self, profile: Path):
        self.process = subprocess.Popen([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port = self._devtools_port(profile / "DevToolsActivePort")
        pages = [t for t in request(f"http://127.0.0.1:{port}/json/list").json if t["type"] == "page"]
        self.socket = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=DEADLINE,
                                                  suppress_origin=True)
        self._ids = itertools.count(1)

    def _devtools_port(self, marker: Path) -> int:
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            lines = marker.read_text().splitlines() if marker.exists() else []
            if len(lines) >= 2:  # the port, then the browser's path: the file is complete
                return int(lines[0])
            if self.process.poll() is not None:
                raise AssertionError(f"chromium exited with {self.process.returncode}")
            time.sleep(0.05)
        raise AssertionError("chromium did not open its DevTools port in time")

    def send(self, method: str, **params) -> dict:
        """Send one command and return its result, skipping the events that arrive meanwhile."""
        message_id = next(self._ids)
        self.socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            answer = json.loads(self.socket.recv())
            if answer.get("id") == message_id:
                if "error" in answer:
                    raise AssertionError(f"{method}: {answer['error']}")
                return answer.get("result", {})

    def evaluate(self, expression: str):
        """Return the value of a JavaScript expression in the page."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str):
        """Return the expression's value once it is truthy; fail when the deadline passes first."""
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    def open(self, url: str) -> None:
        self.send("Page.enable")
        self.send("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete' && !!document.getElementById('question')", "the page")

    def type_into(self, selector: str, text: str) -> None:
        self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        self.send("Input.insertText", text=text)

    def press_enter(self) -> None:
        for kind in ("keyDown", "keyUp"):
            self.send("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter", windowsVirtualKeyCode=13,
                      text="\r" if kind == "keyDown" else "")

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"]))

    def close(self) -> None:
        try:
            self.socket.close()
        finally:
            self.process.terminate()
            self.process.wait(timeout=DEADLINE)


@pytest.fixture
def browser(tmp_path):
    """Return a headless Chromium page with a fresh profile; closed after the test."""
    opened = Browser(tmp_path / "chromium-profile")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def server(tmp_path, emulator):
    """Return a running server that reads the emulator's organisation."""
    with ServerThread(settings_for(tmp_path, devops_env(emulator, TOKEN))) as running:
        yield running


def test_typed_question_gets_an_answer_with_build_links_and_the_analysis(browser, server, emulator):
    scenario = ado_scenarios.multi_stage_two_failed_jobs(emulator)
    browser.open(server.url + "/")

    browser.type_into("#question", "why did the last build of widgets-ci fail?")
    browser.press_enter()
    answer = browser.wait_for("(document.querySelector('.message.assistant:not(.pending)') || {}).innerText",
                              "the answer")
    links = browser.evaluate("[...document.querySelectorAll('.message.assistant a')].map(a => a.href)")
    browser.screenshot(SCREENSHOT)

    assert "test_order_total_includes_tax" in answer and "NU1301" in answer
    assert any(link.endswith(f"buildId={scenario.build_id}") for link in links)
    assert SCREENSHOT.stat().st_size > 10_000


def test_the_page_shows_the_server_health(browser, server, emulator):
    ado_scenarios.multi_stage_two_failed_jobs(emulator)
    browser.open(server.url + "/")

    health = browser.wait_for("document.getElementById('health').innerText.includes('Azure DevOps') && "
                              "document.getElementById('health').innerText", "the health line")

    assert "Azure DevOps reachable" in health and "offline analysis" in health


def test_pasted_log_is_analysed_in_a_job_and_rendered_without_running_its_html(browser, server):
    log = "\n".join([
        "tests/test_orders.py::test_total FAILED",
        "E   AssertionError: assert 1 == 2 <img src=x onerror=\"document.title='pwned'\">",
        "FAILED tests/test_orders.py::test_total - AssertionError: assert 1 == 2",
        "##[error]Bash exited with code '1'.",
    ])
    browser.open(server.url + "/")

    browser.evaluate(f"document.getElementById('log').value = {json.dumps(log)}")
    browser.evaluate("document.getElementById('analyse').click()")
    rendered = browser.wait_for("document.getElementById('analysis').innerText", "the analysis")
    progress = browser.evaluate("document.getElementById('progress-bar').value")

    assert "AssertionError: assert 1 == 2" in rendered and "<img src=x" in rendered
    assert browser.evaluate("document.querySelectorAll('#analysis img').length") == 0
    assert browser.evaluate("document.title") == "Azura"
    assert progress == 1


def test_page_of_a_keyed_server_asks_for_the_key_then_answers(browser, tmp_path, emulator):
    ado_scenarios.multi_stage_two_failed_jobs(emulator)
    key = "web-chat-api-key-93b1"
    with ServerThread(settings_for(tmp_path, devops_env(emulator, TOKEN, AZURA_API_KEY=key))) as keyed:
        browser.open(keyed.url + "/")
        browser.wait_for("!document.getElementById('key-form').hidden", "the API key form")

        browser.type_into("#api-key", key)
        browser.evaluate("document.querySelector('#key-form button').click()")
        browser.type_into("#question", "list pipelines")
        browser.press_enter()
        answer = browser.wait_for("(document.querySelector('.message.assistant:not(.pending)') || {}).innerText",
                                  "the answer")

    assert "widgets-ci" in answer
    assert browser.evaluate("document.getElementById('key-form').hidden") is True


@pytest.fixture
def offline_server(tmp_path):
    """Return a running server with no Azure DevOps organisation."""
    with ServerThread(settings_for(tmp_path)) as running:
        yield running


def analyse_in_page(browser, log: str) -> str:
    """Paste `log`, press Analyse and return the rendered analysis once it is there."""
    browser.evaluate(f"document.getElementById('log').value = {json.dumps(log)}")
    browser.evaluate("document.getElementById('analyse').click()")
    return browser.wait_for("document.getElementById('analysis').innerText", "the analysis")


def choose_example(browser, name: str) -> None:
    browser.wait_for(f"[...document.querySelectorAll('#examples option')].some(o => o.value === {json.dumps(name)})",
                     "the examples")
    browser.evaluate(f"const s = document.getElementById('examples'); s.value = {json.dumps(name)}; "
                     "s.dispatchEvent(new Event('change'))")


@pytest.mark.parametrize("width", [1280, 420])
def test_long_log_lines_scroll_inside_their_block_and_never_the_page(browser, offline_server, width):
    long_line = "E   AssertionError: " + "x" * 3000
    browser.send("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1, mobile=False)
    browser.open(offline_server.url + "/")

    analyse_in_page(browser, "\n".join(["tests/test_a.py::test_a FAILED", long_line,
                                        "FAILED tests/test_a.py::test_a - " + long_line]))
    page_width = browser.evaluate("document.documentElement.scrollWidth")
    viewport = browser.evaluate("document.documentElement.clientWidth")
    block = browser.evaluate("(() => { const p = document.querySelector('#analysis pre'); "
                             "return [p.scrollWidth, p.clientWidth]; })()")

    assert page_width <= viewport
    assert block[0] > block[1]  # the log line scrolls inside its own box


def test_bundled_example_is_analysed_under_its_name(browser, offline_server):
    browser.open(offline_server.url + "/")

    choose_example(browser, "pytest-failure")
    browser.evaluate("document.getElementById('analyse').click()")
    rendered = browser.wait_for("!document.getElementById('result-actions').hidden && "
                                "document.getElementById('analysis').innerText", "the analysis")

    assert "pytest-failure" in rendered and "pasted log" not in rendered


def test_analysis_is_copied_and_downloaded_as_markdown_and_json(browser, offline_server, tmp_path):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.send("Browser.grantPermissions", origin=offline_server.url,
                 permissions=["clipboardReadWrite", "clipboardSanitizedWrite"])
    browser.send("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(downloads))
    browser.send("Emulation.setFocusEmulationEnabled", enabled=True)  # a person's click leaves the page focused
    browser.open(offline_server.url + "/")
    choose_example(browser, "pytest-failure")
    browser.evaluate("document.getElementById('analyse').click()")
    browser.wait_for("!document.getElementById('result-actions').hidden", "the analysis")

    browser.evaluate("document.getElementById('copy-json').click()")
    browser.wait_for("document.getElementById('action-status').innerText.includes('Copied')", "the copy")
    copied_json = json.loads(browser.evaluate("navigator.clipboard.readText()"))
    browser.evaluate("document.getElementById('copy-markdown').click()")
    browser.wait_for("document.getElementById('action-status').innerText.includes('Markdown')", "the copy")
    copied_markdown = browser.evaluate("navigator.clipboard.readText()")
    for kind in ("download-markdown", "download-json"):
        browser.evaluate(f"document.getElementById('{kind}').click()")
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end and sorted(p.name for p in downloads.iterdir()) != [
            "azura-pytest-failure.json", "azura-pytest-failure.md"]:
        time.sleep(0.1)

    assert copied_json["schema_version"] == 1 and copied_json["failures"][0]["task"] == "pytest-failure"
    assert copied_markdown.startswith("<!-- azura:pr-comment v1 -->") and "pytest-failure" in copied_markdown
    assert json.loads((downloads / "azura-pytest-failure.json").read_text()) == copied_json
    assert (downloads / "azura-pytest-failure.md").read_text() == copied_markdown


def test_ask_is_off_with_a_one_line_reason_when_no_organisation_is_configured(browser, offline_server):
    browser.open(offline_server.url + "/")

    reason = browser.wait_for("!document.getElementById('ask-off').hidden && "
                              "document.getElementById('ask-off').innerText", "the reason")

    assert "AZURE_DEVOPS_ORG_URL" in reason and "\n" not in reason.strip()
    assert browser.evaluate("document.getElementById('ask').disabled && "
                            "document.getElementById('question').disabled") is True


def test_ask_stays_on_when_an_organisation_is_configured(browser, server, emulator):
    ado_scenarios.multi_stage_two_failed_jobs(emulator)
    browser.open(server.url + "/")

    browser.wait_for("document.getElementById('health').innerText.includes('Azure DevOps')", "the health line")

    assert browser.evaluate("document.getElementById('ask').disabled") is False
    assert browser.evaluate("document.getElementById('ask-off').hidden") is True
