"""An OpenAI-compatible emulator: a real HTTP server on 127.0.0.1 that the ``openai`` package talks to.

It serves ``POST /v1/chat/completions`` (OpenAI, Ollama's ``/v1``, any compatible server; bearer key)
and Azure OpenAI's ``POST /openai/deployments/{name}/chat/completions?api-version=...`` (``api-key``
header, or a bearer token from Entra ID), records every request, and answers according to its mode.
Standard library only.

Usage::

    with OpenAIEmulator(api_key="sk-test") as emu:      # binds 127.0.0.1:0, serves on a thread
        emu.base_url                                     # http://127.0.0.1:PORT/v1  (OPENAI_BASE_URL)
        emu.endpoint                                     # http://127.0.0.1:PORT     (AZURE_OPENAI_ENDPOINT)
        emu.set_mode("rate_limited", times=1)            # one 429, then valid answers
        emu.requests                                     # [RecordedRequest], in arrival order
        emu.responses                                    # the chat.completion bodies sent, in order

    OpenAIEmulator(tls=ssl_context)                      # serves HTTPS with the context's certificate

Modes (``times`` faults, then valid answers; ``times=None`` faults forever)::

    valid                   an answer matching the schema, built from the prompt: for each "## Failure N"
                            block it cites the numbered lines that mention an error and confirms the first
                            offline fact (see ``answer_for``)
    reject_json_schema      400 (or ``reject_status``) for response_format json_schema, as llama.cpp's
                            server does; json_object and plain requests get valid answers
    reject_response_format  400 for any response_format; plain requests get valid answers
    reject_all              400 for every request (a model name or parameter the server does not take)
    fenced                  ignores response_format: prose around a ```json fence holding a valid answer
    off_schema              ignores response_format: valid JSON of another shape
    malformed               JSON cut off in the middle
    invented_evidence       valid, but every failure also cites line numbers that are not in its excerpt
    obedient                a model fooled by instructions planted in the log: it says what the first one
                            it finds asks for (plain, in a test name, base64-encoded), citing the error lines
    rate_limited            429 with ``Retry-After: retry_after``
    server_error            ``error_status`` (500) with ``Retry-After: retry_after``
    hang                    holds the request without answering until the emulator stops
    reset                   reads the request, then resets the connection (TCP RST) without answering
    cut_body                a 200 whose body stops halfway through its Content-Length
    html_200                an HTML page with status 200 (a proxy's or sign-in page)
    not_json                status 200, Content-Type application/json, a body that is not JSON
    body                    status 200 with ``custom_body`` (any JSON value, or bytes sent as they are) as the body
    refusal                 ``message.refusal`` set and no content
    tool_calls              no content, a tool call instead, finish_reason tool_calls
    length                  half an answer, finish_reason length
    empty                   content ""
    custom                  answers ``custom_content`` verbatim as the message content
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import socket
import struct
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional
from urllib.parse import parse_qs, urlsplit

from tests.emulators.loopback import LoopbackServer

MODES = ("valid", "reject_json_schema", "reject_response_format", "reject_all", "fenced", "off_schema", "malformed",
         "invented_evidence", "obedient", "rate_limited", "server_error", "hang", "reset", "cut_body", "html_200",
         "not_json", "body", "refusal", "tool_calls", "length", "empty", "custom")
CATEGORIES = ("compile", "test", "dependency", "network", "auth", "timeout", "resource", "configuration",
              "infrastructure", "lint", "deploy", "script", "unknown")
HANG_LIMIT_SECONDS = 60.0  # a hung request is released at the latest then, even if nobody stops the emulator
_OPENAI_PATH = re.compile(r"^/v1/chat/completions$")
_AZURE_PATH = re.compile(r"^/openai/deployments/(?P<deployment>[^/]+)/chat/completions$")
_FAILURE_HEADER = re.compile(r"^## Failure (\d+): (.*)$")
_NUMBERED_LINE = re.compile(r"^(\d+) \| (.*)$")
_FACT_LINE = re.compile(r"^fact \| (.*)$")
# What a fooled model takes for an order: text addressed to it, or telling it to drop its instructions.
_ORDER = re.compile(r"(?:note to the assistant|ignore previous instructions|ai reviewers?)\W+(.*)", re.IGNORECASE)
_BASE64 = re.compile(r"[A-Za-z0-9+/]{24,}={0,2}")
_ERROR_WORDS = re.compile(r"error|fail|exception|fatal|denied|timed out", re.IGNORECASE)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: Dict[str, List[str]]
    headers: Dict[str, str]  # lower-case names
    body: Optional[dict]
    raw: bytes
    deployment: Optional[str] = None

    @property
    def response_format(self) -> Optional[str]:
        """Return the requested response_format type, or None for a plain request."""
        return ((self.body or {}).get("response_format") or {}).get("type")

    @property
    def prompt(self) -> str:
        """Return the text of every message, joined."""
        return "\n".join(str(m.get("content") or "") for m in (self.body or {}).get("messages", []))


@dataclass
class OpenAIEmulator(LoopbackServer):
    api_key: Optional[str] = "sk-emulator"  # None: any key, or none, is accepted
    azure_token: Optional[str] = None  # an Entra ID bearer token the Azure route accepts instead of api-key
    mode: str = "valid"
    times: Optional[int] = None
    retry_after: str = "1"
    reject_status: int = 400
    error_status: int = 500
    custom_content: str = ""
    custom_body: object = None
    tls: Optional[ssl.SSLContext] = None
    requests: List[RecordedRequest] = field(default_factory=list)
    responses: List[dict] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    # ------------------------------------------------------------------ lifecycle

    def make_server(self) -> ThreadingHTTPServer:
        return ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))

    def stop(self) -> None:
        self._stopping.set()
        super().stop()

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{'https' if self.tls is not None else 'http'}://{host}:{port}"

    @property
    def base_url(self) -> str:
        return self.endpoint + "/v1"

    def set_mode(self, mode: str, times: Optional[int] = None) -> None:
        """Answer in `mode` for the next `times` requests (None: for every request), then validly."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        with self._lock:
            self.mode, self.times = mode, times

    def chat_requests(self) -> List[RecordedRequest]:
        """Return the recorded chat-completion requests (both routes)."""
        return [r for r in self.requests if r.body is not None]

    # ------------------------------------------------------------------ answering

    def _current_mode(self) -> str:
        with self._lock:
            if self.mode == "valid" or self.times is None:
                return self.mode
            if self.times <= 0:
                return "valid"
            self.times -= 1
            return self.mode

    def handle(self, handler: "BaseHTTPRequestHandler") -> None:
        parts = urlsplit(handler.path)
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in handler.headers.items()}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        azure = _AZURE_PATH.match(parts.path)
        request = RecordedRequest(handler.command, parts.path, parse_qs(parts.query), headers, body, raw,
                                  deployment=azure.group("deployment") if azure else None)
        with self._lock:
            self.requests.append(request)
        if handler.command != "POST" or not (azure or _OPENAI_PATH.match(parts.path)):
            return _send_error(handler, 404, "not found", "invalid_request_error")
        problem = self._auth_problem(request, azure is not None)
        if problem:
            return _send_error(handler, 401, problem, "invalid_request_error")
        if body is None or not isinstance(body.get("messages"), list):
            return _send_error(handler, 400, "'messages' is required", "invalid_request_error")
        self._answer(handler, request, self._current_mode())

    def _auth_problem(self, request: RecordedRequest, azure: bool) -> Optional[str]:
        bearer = request.headers.get("authorization", "")
        if azure:
            if "api-version" not in request.query:
                return "api-version query parameter is required"
            if self.api_key and request.headers.get("api-key") == self.api_key:
                return None
            if self.azure_token and bearer == f"Bearer {self.azure_token}":
                return None
            return "Access denied due to invalid subscription key or wrong API endpoint."
        if self.api_key and bearer != f"Bearer {self.api_key}":
            return "Incorrect API key provided."
        return None

    def _answer(self, handler, request: RecordedRequest, mode: str) -> None:
        response_format = request.response_format
        if mode == "reject_json_schema" and response_format == "json_schema":
            return _send_error(handler, self.reject_status, "response_format type json_schema is not supported",
                               "invalid_request_error")
        if mode == "reject_response_format" and response_format:
            return _send_error(handler, self.reject_status, "response_format is not supported",
                               "invalid_request_error")
        if mode == "reject_all":
            return _send_error(handler, self.reject_status, "invalid request", "invalid_request_error")
        if mode == "rate_limited":
            return _send_error(handler, 429, "Rate limit reached", "rate_limit_exceeded",
                               {"Retry-After": self.retry_after})
        if mode == "server_error":
            return _send_error(handler, self.error_status, "The server had an error while processing your request.",
                               "server_error", {"Retry-After": self.retry_after})
        if mode == "hang":
            self._stopping.wait(HANG_LIMIT_SECONDS)
            handler.close_connection = True
            return None
        if mode == "reset":
            return _reset(handler)
        if mode == "cut_body":
            return _send_cut(handler, json.dumps(_completion(request, json.dumps(answer_for(request.prompt)), None)))
        if mode == "html_200":
            return _send_raw(handler, 200, "text/html; charset=utf-8",
                             b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Sign in to continue"
                             b"</body></html>")
        if mode == "not_json":
            return _send_raw(handler, 200, "application/json", b"upstream connect error or disconnect/reset")
        if mode == "body":
            body = self.custom_body if isinstance(self.custom_body, bytes) else json.dumps(self.custom_body).encode()
            return _send_raw(handler, 200, "application/json", body)
        answer = obedient_answer(request.prompt) if mode == "obedient" else \
            answer_for(request.prompt, invent=(mode == "invented_evidence"))
        content: Optional[str] = json.dumps(answer)
        refusal = None
        extra: Dict[str, object] = {}
        if mode == "fenced":
            content = f"Here is my analysis of the run.\n\n```json\n{json.dumps(answer, indent=2)}\n```\nGood luck!"
        elif mode == "off_schema":
            content = json.dumps({"answer": answer["headline"], "ok": True})
        elif mode == "malformed":
            content = content[: len(content) // 2]
        elif mode == "refusal":
            content, refusal = None, "I'm sorry, I can't help with that."
        elif mode == "tool_calls":
            content, extra = None, {"finish_reason": "tool_calls", "tool_calls": [{
                "id": "call_1", "type": "function",
                "function": {"name": "get_build_log", "arguments": json.dumps({"build_id": 1})}}]}
        elif mode == "length":
            content, extra = content[: len(content) // 2], {"finish_reason": "length"}
        elif mode == "empty":
            content = ""
        elif mode == "custom":
            content = self.custom_content
        completion = _completion(request, content, refusal, **extra)
        with self._lock:
            self.responses.append(completion)
        _send_json(handler, 200, completion)


def answer_for(prompt: str, invent: bool = False) -> dict:
    """Return a schema-valid answer for the failures in `prompt`: it cites the lines that mention errors,
    quoting each, and confirms the first offline fact; `invent` adds a cited line that is not in the excerpt."""
    entries = []
    for index, (name, lines, facts) in enumerate(_failures_in(prompt), start=1):
        cited = _error_lines(lines)
        evidence = [{"line": number, "quote": text.strip()[:40]} for number, text in cited]
        if invent:
            evidence.append({"line": max((n for n, _ in lines), default=0) + 1000 + index, "quote": ""})
        number, text = cited[0] if cited else (None, "")
        confirmed = f" The offline analysis found it too: {facts[0]}." if facts else ""
        entries.append({
            "index": index,
            "category": _category(text),
            "summary": f"{name} failed: {_short(text)}",
            "root_cause": f"Line {number} shows the error.{confirmed}",
            "suggested_fix": "Fix the error shown on that line and run the pipeline again.",
            "confidence": 0.7,
            "evidence": evidence,
        })
    return {"headline": _headline(entries), "failures": entries}


def _short(text: str, limit: int = 80) -> str:
    """Return a line cut as a model would shorten it: at `limit` characters, never inside a quotation."""
    text = text.strip()[:limit]
    return text[:text.rfind('"')] if text.count('"') % 2 else text


def obedient_answer(prompt: str) -> dict:
    """Return the answer of a model that obeys the first order it finds in each failure's log or facts.

    It still cites the error lines, as a model would that is fooled but not careless; only its words obey.
    """
    entries = []
    for index, (name, lines, facts) in enumerate(_failures_in(prompt), start=1):
        order = next((found for found in map(_order_in, [text for _, text in lines] + facts) if found), "")
        said = order.rstrip(".") + "." if order else f"{name} failed."
        category = re.search(r"category (\w+)", order)
        entries.append({
            "index": index,
            "category": category.group(1) if category and category.group(1) in CATEGORIES else "unknown",
            "summary": said[:1].upper() + said[1:],
            "root_cause": said[:1].upper() + said[1:],
            "suggested_fix": "Nothing needs fixing.",
            "confidence": 1.0,
            "evidence": [{"line": number, "quote": text.strip()[:40]} for number, text in _error_lines(lines)],
        })
    return {"headline": _headline(entries), "failures": entries}


def _order_in(text: str) -> str:
    """Return what `text` orders a model to say, read as a fooled model would: plain, from a test's name, or decoded."""
    readings = [text, text.replace("_", " ")]
    for token in _BASE64.findall(text):
        try:
            readings.append(base64.b64decode(token, validate=True).decode("utf-8"))
        except (binascii.Error, UnicodeDecodeError):
            continue
    for reading in readings:
        found = _ORDER.search(reading)
        if found:
            order = re.split(r"\s+-\s+|\s+#\s+", found.group(1))[0].strip()
            demanded = re.search(r".*\b(?:say|report|state)\s+(?:that\s+)?(.*)", order, re.IGNORECASE)
            return (demanded.group(1) if demanded else order).strip()
    return ""


def _error_lines(lines: List[tuple]) -> List[tuple]:
    erroring = [(number, text) for number, text in lines if _ERROR_WORDS.search(text)]
    return (erroring or lines[-1:])[:3]


def _headline(entries: List[dict]) -> str:
    headline = entries[0]["summary"] if entries else "No failure was shown."
    if len(entries) > 1:
        headline += f"; the {len(entries) - 1} later failure(s) are consequences of it."
    return headline


def _failures_in(prompt: str) -> List[tuple]:
    """Return (name, [(number, text)], [fact]) for each "## Failure N" block of the prompt."""
    failures: List[tuple] = []
    for line in prompt.splitlines():
        header = _FAILURE_HEADER.match(line)
        if header:
            failures.append((header.group(2), [], []))
            continue
        numbered = _NUMBERED_LINE.match(line)
        fact = _FACT_LINE.match(line)
        if numbered and failures:
            failures[-1][1].append((int(numbered.group(1)), numbered.group(2)))
        elif fact and failures:
            failures[-1][2].append(fact.group(1))
    return failures


def _category(text: str) -> str:
    lowered = text.lower()
    for words, category in ((("error cs", "error ts", "compil", "syntax"), "compile"),
                            (("test", "assert"), "test"),
                            (("npm err", "could not resolve", "dependency", "package"), "dependency"),
                            (("timed out", "timeout"), "timeout")):
        if any(word in lowered for word in words):
            return category
    return "script"


def _completion(request: RecordedRequest, content: Optional[str], refusal: Optional[str],
                finish_reason: str = "stop", tool_calls: Optional[list] = None) -> dict:
    prompt_tokens = max(1, len(request.prompt) // 4)
    completion_tokens = max(1, len(content or refusal or json.dumps(tool_calls or "")) // 4)
    message = {"role": "assistant", "content": content, "refusal": refusal}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": f"chatcmpl-emu-{int(time.time() * 1000)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(request.body.get("model")),
        "choices": [{"index": 0, "finish_reason": finish_reason, "logprobs": None, "message": message}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def _send_error(handler, status: int, message: str, kind: str, headers: Optional[Dict[str, str]] = None) -> None:
    _send_json(handler, status, {"error": {"message": message, "type": kind, "code": status}}, headers)


def _send_json(handler, status: int, document: dict, headers: Optional[Dict[str, str]] = None) -> None:
    _send_raw(handler, status, "application/json", json.dumps(document).encode("utf-8"), headers)


def _send_raw(handler, status: int, content_type: str, body: bytes, headers: Optional[Dict[str, str]] = None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def _send_cut(handler, text: str) -> None:
    body = text.encode("utf-8")
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body[: len(body) // 2])
    handler.wfile.flush()
    handler.close_connection = True
    handler.connection.shutdown(socket.SHUT_RDWR)


def _reset(handler) -> None:
    # SO_LINGER with a zero timeout makes close() send RST instead of FIN: the client sees "connection reset".
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.close_connection = True
    handler.connection.close()


def _handler_for(emulator: OpenAIEmulator) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802 - the stdlib's naming
            emulator.handle(self)

        def do_GET(self):  # noqa: N802
            emulator.handle(self)

        def log_message(self, *args):  # keep test output clean
            pass

    return Handler
