"""Helpers for the server tests: the Flask app in a real HTTP server on 127.0.0.1:0, settings aimed at the
Azure DevOps emulator, and polling with deadlines."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence

from azura.context import Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 60.0  # seconds any wait in these tests may take


def settings_for(tmp_path: Path, environ: Optional[Mapping[str, str]] = None, **flags: Any) -> Settings:
    """Return Settings as the CLI would build them from `environ`, with the jobs database in tmp_path."""
    env = {"AZURA_NO_CACHE": "1", "AZURA_JOBS_DB": str(tmp_path / "jobs.sqlite3"), **(environ or {})}
    return load_settings(flags, env, {}, {})


def devops_env(emu, token: str, **extra: str) -> Dict[str, str]:
    """Return the environment of a server that reads the emulator's organisation with `token`."""
    return {"AZURE_DEVOPS_ORG_URL": emu.org_url, "AZURE_DEVOPS_PAT": token, **extra}


@dataclass
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def request(url: str, method: str = "GET", body: Optional[bytes] = None, json_body: Any = None,
            headers: Optional[Mapping[str, str]] = None, timeout: float = DEADLINE) -> Response:
    """Send one HTTP request and return the response, error statuses included."""
    sent = dict(headers or {})
    if json_body is not None:
        body = json.dumps(json_body).encode()
        sent.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=body, method=method, headers=sent)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as answer:
            return Response(answer.status, dict(answer.headers), answer.read())
    except urllib.error.HTTPError as error:
        return Response(error.code, dict(error.headers), error.read())


class ServerThread:
    """`create_app(settings)` served by werkzeug on 127.0.0.1:0 in a thread."""

    def __init__(self, settings: Settings):
        from werkzeug.serving import make_server

        from azura.server import create_app

        self.app = create_app(settings)
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "ServerThread":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        self.app.extensions["azura"]["runner"].shutdown()

    def get(self, path: str, **kwargs: Any) -> Response:
        return request(self.url + path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Response:
        return request(self.url + path, method="POST", **kwargs)


def wait_for_job(base_url: str, job_id: str, headers: Optional[Mapping[str, str]] = None,
                 deadline: float = DEADLINE) -> Dict[str, Any]:
    """Poll a job until it is done or failed; fail the test when the deadline passes first."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        job = request(f"{base_url}/api/jobs/{job_id}", headers=headers).json
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish within {deadline} s")


def free_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server_process(environ: Mapping[str, str], port: int, cwd: Path,
                         command: Optional[Sequence[str]] = None) -> subprocess.Popen:
    """Start `python -m azura serve` (or `command`) on 127.0.0.1:port and return once /health answers.

    The server runs in a session of its own, so `os.killpg(process.pid, ...)` reaches its worker processes too.
    """
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO_ROOT), "HOME": str(cwd), **environ}
    command = command or [sys.executable, "-m", "azura", "serve", "--port", str(port)]
    process = subprocess.Popen(list(command), env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        if process.poll() is not None:
            raise AssertionError(f"azura serve exited: {process.stderr.read().decode(errors='replace')}")
        try:
            if request(f"http://127.0.0.1:{port}/health", timeout=2).status == 200:
                return process
        except OSError:
            time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    raise AssertionError(f"azura serve did not answer on port {port} within {DEADLINE} s")


class ScriptedLLM:
    """An OpenAI-compatible /v1/chat/completions on 127.0.0.1:0 that plays back scripted assistant messages.

    Each reply is {"tool_calls": [(name, arguments), ...]} or {"content": "..."}; after the script runs out,
    the last reply repeats. Every request body is kept in `requests`.
    """

    def __init__(self, replies, status: int = 200):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.replies, self.status, self.requests = list(replies), status, []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server naming
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                scripted.requests.append(body)
                answer = scripted._answer(len(scripted.requests) - 1)
                data = json.dumps(answer).encode()
                self.send_response(scripted.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _answer(self, index: int) -> dict:
        if self.status != 200:
            return {"error": {"message": "scripted failure", "type": "server_error"}}
        reply = self.replies[min(index, len(self.replies) - 1)]
        message = {"role": "assistant", "content": reply.get("content")}
        if reply.get("tool_calls"):
            message["tool_calls"] = [{"id": f"call_{index}_{n}", "type": "function",
                                      "function": {"name": name, "arguments": json.dumps(arguments)}}
                                     for n, (name, arguments) in enumerate(reply["tool_calls"])]
        return {"id": f"chatcmpl-{index}", "object": "chat.completion", "created": 0, "model": "scripted",
                "choices": [{"index": 0, "message": message,
                             "finish_reason": "tool_calls" if reply.get("tool_calls") else "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}

    def __enter__(self) -> "ScriptedLLM":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def post_chunked(base_url: str, path: str, chunks, headers: Optional[Mapping[str, str]] = None,
                 timeout: float = DEADLINE) -> Response:
    """POST a body sent with Transfer-Encoding: chunked (no Content-Length) and return the response."""
    import http.client

    address = urllib.parse.urlsplit(base_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=timeout)
    try:
        connection.request("POST", path, body=iter(chunks), headers={"Content-Type": "text/plain", **(headers or {})},
                           encode_chunked=True)
        answer = connection.getresponse()
        return Response(answer.status, dict(answer.headers), answer.read())
    finally:
        connection.close()
