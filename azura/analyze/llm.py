"""The LLM half of analyze: one request per run through the `openai` package, checked, cached, never trusted.

Every provider (OpenAI, Azure OpenAI, Ollama, any OpenAI-compatible server) is an `openai` client; only its
construction differs. The prompt carries the offline diagnosis and its facts beside each excerpt, all inside
the untrusted-data markers. Whatever comes back is read from the raw HTTP body and checked level by level (the
completion, the message, the answer's JSON, then the answer check in answer.py); nothing that fails replaces the
offline answer, which then stands with a warning saying why, and `llm_status` says what became of the answer.
"""
from __future__ import annotations

import email.utils
import functools
import hashlib
import importlib.util
import ipaddress
import json
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence
from urllib.parse import urlsplit

from azura import extra_install_command
from azura.analyze.answer import answer_schema, cached_verdict, checked, fits, merged, parsed, to_cache
from azura.context import Settings
from azura.engine import analysis_deadline
from azura.errors import ConfigError, LLMError
from azura.models import CATEGORIES, Analysis, Deadline, Facts, Failure, History, Usage

log = logging.getLogger("azura.analyze")
Clock = Callable[[], float]

PROMPT_DIR = Path(__file__).resolve().parent.parent / "prompts"
PROMPT_VERSION = "2"  # bump when the meaning of the answer changes; template edits change the cache key anyway
DEFAULT_MODELS = {"openai": "gpt-4o-mini", "ollama": "llama3.1"}
DEFAULT_OLLAMA_URL = "http://localhost:11434"
DEFAULT_AZURE_API_VERSION = "2024-10-21"  # the first GA version with structured outputs
ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"
MAX_RETRIES = 2
BACKOFF_SECONDS = (1.0, 2.0)
MIN_REQUEST_SECONDS = 1.0
MIN_RETRY_SECONDS = 10.0  # a retry is sent only when at least this long (or --llm-timeout, if shorter) is left
# A server on this machine or network answers a connection at once or not at all; a cloud API may take longer.
LOCAL_CONNECT_SECONDS = 2.0
REMOTE_CONNECT_SECONDS = 10.0
# What the prompt may add to the excerpts' own tokens, measured with tokens.count_tokens: the system prompt is
# ~575 tokens, a failure's header and diagnosis 60-200, "NNNN | " 3 per line, a fact line up to 60 once cut to
# MAX_FACT_CHARS (scripts/prompt_tokens.py: the whole overhead is 681-778 tokens on 300 LogChunks logs at the
# default budget, before the offline analysis fills facts). The limits leave headroom.
FIXED_OVERHEAD_TOKENS = 900
FAILURE_OVERHEAD_TOKENS = 300
LINE_OVERHEAD_TOKENS = 4
FACT_LINE_TOKENS = 70
MAX_FACT_CHARS = 200
MAX_FACTS_PER_KIND = 5
MAX_DIAGNOSIS_CHARS = 500
# Source windows add at most their share of the budget (sources.source_budget) in lines, plus a preamble once
# and a heading and markers each (measured 89 tokens for one window, 67 for each more, with long test names).
SOURCE_PREAMBLE_TOKENS = 50
SOURCE_OVERHEAD_TOKENS = 80
ANSWER_TOKENS = 400  # a cap, not a target: it stops a small local model that loops from running to its context end
ANSWER_TOKENS_PER_FAILURE = 500
# Tried in this order within one run: servers that reject a response_format (llama.cpp's server answers
# json_schema with 400/422) get the next one; the prompt itself always describes the JSON too.
RESPONSE_FORMATS = ("json_schema", "json_object", "instructions")
# The shape of a chat completion, as far as Azura reads it; anything else is a server fault, not an answer.
COMPLETION_SCHEMA = {
    "type": "object",
    "required": ["choices"],
    "properties": {
        "choices": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "required": ["message"],
            "properties": {
                "finish_reason": {"type": ["string", "null"]},
                "message": {"type": "object", "properties": {
                    "content": {"type": ["string", "null"]},
                    "refusal": {"type": ["string", "null"]},
                    "tool_calls": {"type": ["array", "null"]},
                }},
            },
        }},
    },
}


def check_llm_settings(settings: Settings) -> None:
    """Raise ConfigError naming the variable when the configured provider cannot be used."""
    provider = settings.llm_provider
    missing = [name for name in ("openai", "jsonschema") if importlib.util.find_spec(name) is None]
    if provider != "none" and missing:
        raise ConfigError(f"LLM_PROVIDER={provider} needs {' and '.join(missing)}, which the llm extra installs: "
                          + extra_install_command("llm"))
    if provider == "openai" and not (settings.openai_api_key or settings.openai_base_url):
        raise ConfigError("LLM_PROVIDER=openai needs OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server)")
    if provider == "azure_openai":
        if not settings.azure_openai_endpoint:
            raise ConfigError("LLM_PROVIDER=azure_openai needs AZURE_OPENAI_ENDPOINT (or --endpoint)")
        if not settings.model:
            raise ConfigError("LLM_PROVIDER=azure_openai needs the deployment name in LLM_MODEL_NAME (or --model)")
        if not settings.azure_openai_api_key and importlib.util.find_spec("azure.identity") is None:
            raise ConfigError("LLM_PROVIDER=azure_openai needs AZURE_OPENAI_API_KEY, or azure-identity installed "
                              "for keyless Entra ID sign-in")


def resolved_model(settings: Settings) -> str:
    """Return the model (the deployment for Azure OpenAI) a request will name."""
    return settings.model or DEFAULT_MODELS.get(settings.llm_provider, "")


def endpoint(settings: Settings) -> str:
    """Return the base URL requests go to ('' for the public OpenAI API)."""
    if settings.llm_provider == "azure_openai":
        return settings.azure_openai_endpoint or ""
    if settings.llm_provider == "ollama":
        base = (settings.ollama_base_url or DEFAULT_OLLAMA_URL).rstrip("/")
        return base if base.endswith("/v1") else base + "/v1"
    return settings.openai_base_url or ""


def is_local(url: str) -> bool:
    """Return whether `url` names a server on this machine or its private network (a self-hosted model)."""
    host = (urlsplit(url).hostname or "").lower()
    if not host:
        return False  # the public OpenAI API
    if host == "localhost" or "." not in host or host.endswith((".local", ".internal", ".lan", ".localhost")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def make_client(settings: Settings) -> Any:
    """Return an `openai` client for the configured provider, with its own retries off (ours honour the deadline)."""
    import openai

    common = {"max_retries": 0, "timeout": settings.llm_timeout}
    if settings.llm_provider == "azure_openai":
        auth: Dict[str, Any] = {"api_key": settings.azure_openai_api_key}
        if not settings.azure_openai_api_key:
            from azure.identity import DefaultAzureCredential, get_bearer_token_provider

            auth = {"azure_ad_token_provider": get_bearer_token_provider(DefaultAzureCredential(), ENTRA_SCOPE)}
        return openai.AzureOpenAI(azure_endpoint=endpoint(settings), **auth, **common,
                                  api_version=settings.azure_openai_api_version or DEFAULT_AZURE_API_VERSION)
    if settings.llm_provider == "ollama":
        return openai.OpenAI(base_url=endpoint(settings), api_key="ollama", **common)
    # A compatible server without auth still needs some key: the client refuses to start without one.
    return openai.OpenAI(base_url=endpoint(settings) or None, api_key=settings.openai_api_key or "unused",
                         **common)


def ask_llm(offline: Analysis, settings: Settings, deadline: Optional[Deadline] = None,
            client_factory: Optional[Callable[[Settings], Any]] = None, clock: Clock = time.monotonic,
            sleep: Callable[[float], None] = time.sleep) -> Analysis:
    """Return `offline` improved by the parts of the LLM's answer that pass the check; never raise LLMError.

    No usable answer ("failed: ...") or none that passes ("rejected: ...") leaves the offline answer standing,
    with a warning and `degraded` set; the tokens spent are counted either way. `deadline` is the LLM's own
    (engine.analysis_deadline), not the run's.
    """
    from azura.analyze.cache import AnswerCache, fingerprint

    check_llm_settings(settings)
    model = resolved_model(settings)
    offline = replace(offline, provider=settings.llm_provider, model=model)
    deadline = deadline or analysis_deadline(None, settings, clock())
    messages = prompt_messages(offline, settings)
    cache = AnswerCache(settings.cache_path)
    key = fingerprint((PROMPT_VERSION, settings.llm_provider, model, endpoint(settings)),
                      [m["content"] for m in messages])
    cached = cache.get(key)
    if cached is not None and fits(cached, offline):
        return merged(offline, cached_verdict(cached, offline), settings, offline.usage)
    usage = offline.usage
    try:
        prompt_tokens = _prompt_tokens_within_limit(messages, offline, settings.budget, settings.tokenizer)
        client = (client_factory or make_client)(settings)
        document = _complete(client, model, messages, len(offline.failures), settings, deadline, clock, sleep)
        usage = _usage(document, offline, prompt_tokens, settings.tokenizer)
        answer = parsed(_answer_text(document))
    except LLMError as exc:
        log.info("LLM answer failed: %s", exc)
        return _not_used(offline, f"failed: {exc}", usage)
    verdict = checked(answer, offline, instructions=messages[0]["content"])
    if not verdict.used:
        log.info("LLM answer %s", verdict.status)
        return _not_used(offline, verdict.status, usage)
    if verdict.complete:
        cache.put(key, to_cache(verdict))
    analysis = merged(offline, verdict, settings, usage)
    if verdict.dropped:
        analysis = analysis.with_warning(f"the LLM cited {verdict.dropped} line number(s) that are not in the "
                                         "excerpts; they were dropped from the evidence")
    return analysis


def _not_used(offline: Analysis, status: str, usage: Usage) -> Analysis:
    return replace(offline, usage=usage, llm_status=status).with_warning(
        f"LLM answer not used ({status}); showing the offline analysis", degraded=True)


# ---------------------------------------------------------------- the prompt

def build_messages(offline: Analysis) -> List[Dict[str, str]]:
    """Return the chat messages for `offline`: the system prompt, and one user message with every failure's
    diagnosis, facts and excerpt (and the run's history and source lines), each inside untrusted-data markers."""
    failures = [_prompt_failure(failure) for failure in offline.failures]
    history = _history_lines(offline.history, offline.build.id if offline.build else None)
    sources = [_prompt_source(window) for window in offline.sources]
    data = json.dumps([failures, history, sources], ensure_ascii=False)
    marker = hashlib.sha256(data.encode("utf-8")).hexdigest()[:12]
    environment = _prompt_environment()
    system = environment.get_template("system_prompt.j2").render(marker=marker, categories=CATEGORIES)
    user = environment.get_template("user_prompt.j2").render(marker=marker, failures=failures, build=offline.build,
                                                             history=history, sources=sources)
    return [{"role": "system", "content": system.strip()}, {"role": "user", "content": user.strip()}]


def prompt_messages(offline: Analysis, settings: Settings) -> List[Dict[str, str]]:
    """Return the messages exactly as they would be sent: built, then redacted once more."""
    from azura.redact import redact

    # The excerpts were redacted already; this second pass also covers facts, names and any miss.
    return [{"role": m["role"], "content": redact(m["content"], settings.secrets)} for m in build_messages(offline)]


def prompt_limit(offline: Analysis, budget: int) -> int:
    """Return the most tokens a prompt for `offline` may have: the excerpt budget plus the overhead, plus the
    source windows' share of the budget when there are any."""
    from azura.sources import source_budget

    lines = sum(len(failure.excerpt.lines) for failure in offline.failures)
    facts = sum(len(fact_lines(failure.facts)) for failure in offline.failures) + 4  # + the history lines
    sources = (source_budget(budget) + SOURCE_PREAMBLE_TOKENS + SOURCE_OVERHEAD_TOKENS * len(offline.sources)
               if offline.sources else 0)
    return (budget + FIXED_OVERHEAD_TOKENS + FAILURE_OVERHEAD_TOKENS * len(offline.failures)
            + LINE_OVERHEAD_TOKENS * lines + FACT_LINE_TOKENS * facts + sources)


def fact_lines(facts: Facts) -> List[str]:
    """Return the facts as short lines for the prompt: what the offline analysis read from the log."""
    lines = []
    for test in facts.failing_tests[:MAX_FACTS_PER_KIND]:
        where = f" at {test.location}" if test.location else ""
        message = f": {test.message}" if test.message else ""
        lines.append(f"failing test ({test.outcome}): {test.name}{where}{message}{_at_line(test.log_line)}")
    if facts.failed_test_count:
        lines.append(f"failed tests in all: {facts.failed_test_count}")
    for error in facts.compile_errors[:MAX_FACTS_PER_KIND]:
        code = f" {error.code}" if error.code else ""
        lines.append(f"compile error at {error.location or 'an unknown place'}{code}: {error.message}"
                     f"{_at_line(error.log_line)}")
    if facts.compile_error_count:
        lines.append(f"compile errors in all: {facts.compile_error_count}")
    for name in facts.missing[:MAX_FACTS_PER_KIND]:
        lines.append(f"missing {name.kind}: {name.name}{_at_line(name.log_line)}")
    for version in facts.versions[:MAX_FACTS_PER_KIND]:
        lines.append(f"version of {version.subject}: wanted {version.wanted}, found {version.found or 'not said'}"
                     f"{_at_line(version.log_line)}")
    if facts.exit:
        ended = f"signal {facts.exit.signal}" if facts.exit.signal else f"exit code {facts.exit.code}"
        command = f" of {facts.exit.command}" if facts.exit.command else ""
        lines.append(f"ended with {ended}{command}{_at_line(facts.exit.log_line)}")
    return [_cut(_one_line(line), MAX_FACT_CHARS) for line in lines]


def _at_line(number: Optional[int]) -> str:
    return f" [line {number}]" if number else ""


def _history_lines(history: Optional[History], build_id: Optional[int]) -> List[str]:
    """Return what the build history established, as short lines; [] when nothing was."""
    if history is None:
        return []
    lines = []
    if history.last_success_build_id is not None:
        lines.append(f"last green build: {history.last_success_build_id}")
    if history.first_failure_build_id is not None:
        new = " (this run: the failure is new)" if history.first_failure_build_id == build_id else ""
        lines.append(f"first failing build: {history.first_failure_build_id}{new}")
    if history.changes:
        more = " or more" if history.changes_truncated else ""
        suspects = sum(change.suspect for change in history.changes)
        first = f", {suspects} of them with the first failing build" if suspects else ""
        lines.append(f"changes since the last green build: {len(history.changes)}{more}{first}")
    if history.flaky:
        evidence = f": {history.flaky_evidence[0]}" if history.flaky_evidence else ""
        lines.append(_cut(_one_line(f"likely flaky, the same failure passed on a retry{evidence}"), MAX_FACT_CHARS))
    return lines


@functools.lru_cache(maxsize=1)
def _prompt_environment() -> Any:
    import jinja2

    # Plain text prompts: no HTML escaping, and a missing variable is a bug, not an empty string.
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(PROMPT_DIR)), autoescape=False,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def _prompt_failure(failure: Failure) -> Dict[str, Any]:
    step = failure.step
    diagnosis = (f"category {failure.category}, confidence {failure.confidence:.2f}: "
                 f"{failure.summary.rstrip('.')}. Root cause: {failure.root_cause.rstrip('.')}.")
    if failure.suggested_fix:
        diagnosis += f" Fix hint: {failure.suggested_fix}"
    # Timeline issues repeat an excerpt's error lines; they matter when the step has no log of its own.
    issues = [] if failure.excerpt.lines else [_one_line(i.message) for i in step.issues if i.type == "error"]
    return {"name": _one_line(step.path), "kind": step.record_type, "result": step.result,
            "diagnosis": _cut(_one_line(diagnosis), MAX_DIAGNOSIS_CHARS), "facts": fact_lines(failure.facts),
            "issues": issues,
            "lines": [{"number": line.number, "text": _one_line(line.text)} for line in failure.excerpt.lines]}


def _prompt_source(window: Any) -> Dict[str, Any]:
    return {"file": _one_line(window.location.file), "line": window.location.line, "commit": window.commit,
            "reason": _one_line(window.reason),
            "lines": [{"number": line.number, "text": _one_line(line.text)} for line in window.lines]}


def _one_line(text: str) -> str:
    # A line break inside a log line would let it forge "END LOG" or a line number of its own.
    return text.replace("\r", " ").replace("\n", " ")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _prompt_tokens_within_limit(messages: Sequence[Dict[str, str]], offline: Analysis, budget: int,
                                tokenizer: str) -> int:
    from azura.tokens import count_tokens

    tokens = sum(count_tokens(m["content"], tokenizer) for m in messages)
    limit = prompt_limit(offline, budget)
    if tokens > limit:
        raise LLMError(f"the prompt would be {tokens} tokens, over the limit of {limit} (budget {budget} "
                       "plus overhead); not sent")
    return tokens


# ---------------------------------------------------------------- the request

def _complete(client: Any, model: str, messages: List[Dict[str, str]], failure_count: int, settings: Settings,
              deadline: Deadline, clock: Clock, sleep: Callable[[float], None]) -> Dict[str, Any]:
    """Return the chat completion's JSON document, or raise LLMError naming what went wrong."""
    import openai

    rejection = None
    answer_tokens = ANSWER_TOKENS + ANSWER_TOKENS_PER_FAILURE * failure_count
    schema = answer_schema(failure_count)
    local = is_local(endpoint(settings))

    def send(style: str, timeout: float) -> Dict[str, Any]:
        connect = min(timeout, LOCAL_CONNECT_SECONDS if local else REMOTE_CONNECT_SECONDS)
        # temperature 0: a rerun of the same failure should get the same answer, not a new guess.
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=messages, temperature=0, max_tokens=answer_tokens,
            timeout=openai.Timeout(timeout, connect=connect), **_response_format(style, schema))
        return _completion_document(raw)

    for style in RESPONSE_FORMATS:
        try:
            return _with_retries(functools.partial(send, style), settings, local, deadline, clock, sleep)
        except openai.APIStatusError as exc:
            rejection = exc  # this response_format was refused: the next, plainer request may pass
    raise LLMError(f"the server refused the request ({rejection.status_code}): {_server_message(rejection)}")


def _response_format(style: str, schema: Dict[str, Any]) -> Dict[str, Any]:
    if style == "json_schema":
        return {"response_format": {"type": "json_schema", "json_schema": {
            "name": "azura_analysis", "strict": True, "schema": schema}}}
    if style == "json_object":
        # `schema` is an extension some servers (llama.cpp's) use to constrain the output; others ignore it.
        return {"response_format": {"type": "json_object", "schema": schema}}
    return {}


def _with_retries(send: Callable[[float], Any], settings: Settings, local: bool, deadline: Deadline, clock: Clock,
                  sleep: Callable[[float], None]) -> Any:
    """Return send(timeout), retried after 429, 5xx, a reset or a timeout only while a retry still fits in the
    deadline (and a timeout never against a local server, whose one slot is still busy with the first request).

    Raises LLMError, or the openai.APIStatusError of a request the server refuses as such (4xx, or llama.cpp's
    500 about response_format), for the caller to try a plainer request.
    """
    import openai

    attempt = 0
    while True:
        timeout = _request_timeout(settings, deadline, clock)
        backoff = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)]
        needed = min(settings.llm_timeout, MIN_RETRY_SECONDS)
        try:
            return send(timeout)
        except openai.APITimeoutError:
            reason, wait, needed = f"no answer within {timeout:.0f} s", 0.0, timeout
            if local:
                raise LLMError(f"{reason} (not retried: a local server is still busy with the request)") from None
        except openai.RateLimitError as exc:
            reason, wait = "rate limited (429)", _retry_after(exc.response, backoff)
        except openai.InternalServerError as exc:
            if _refuses_request(exc):
                raise
            reason, wait = f"server error ({exc.status_code})", _retry_after(exc.response, backoff)
        except openai.APIConnectionError as exc:
            reason, wait = _connection_problem(exc, settings), backoff
        except openai.APIStatusError as exc:
            if _refuses_request(exc):
                raise
            raise LLMError(f"the server answered {exc.status_code}: {_server_message(exc)}") from None
        if attempt == MAX_RETRIES:
            raise LLMError(f"{reason}, after {MAX_RETRIES} retries")
        left = deadline.remaining(clock())
        if wait + needed > left:
            retry = f"a retry in {wait:.0f} s" if wait >= 1 else "a retry"
            raise LLMError(f"{reason}; {retry} would not fit in the {left:.0f} s left")
        sleep(wait)
        attempt += 1


def _refuses_request(exc: Any) -> bool:
    """Return whether an error answer refuses the request itself, so resending it unchanged cannot help."""
    if exc.status_code in (400, 422):
        return True
    # llama-cpp-python's server answers an unsupported response_format with 500 and a validation message.
    return exc.status_code >= 500 and "response_format" in _raw_message(exc)


def _connection_problem(exc: Any, settings: Settings) -> str:
    where = endpoint(settings) or "the OpenAI API"
    cause = type(exc.__cause__).__name__ if exc.__cause__ else ""
    if "Connect" in cause:
        return f"cannot connect to {where}"
    return f"the connection to {where} broke before the answer was complete"


def _request_timeout(settings: Settings, deadline: Deadline, clock: Clock) -> float:
    timeout = min(settings.llm_timeout, deadline.remaining(clock()))
    if timeout < MIN_REQUEST_SECONDS:
        raise LLMError("no time left for the LLM before the run's deadline (publishing keeps its share of --timeout)")
    return timeout


def _retry_after(response: Any, default: float) -> float:
    """Return the wait the server asks for (Retry-After in seconds or as a date, retry-after-ms), else `default`."""
    headers = getattr(response, "headers", None) or {}
    try:
        if headers.get("retry-after-ms"):
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if not value:
            return default
        if value.strip().replace(".", "", 1).isdigit():
            return float(value)
        # A date: measured against the server's own Date header, so neither clock's error counts.
        moment = email.utils.parsedate_to_datetime(value)
        now = email.utils.parsedate_to_datetime(headers.get("date") or "")
        return max(0.0, (moment - now).total_seconds())
    except (TypeError, ValueError):
        return default


def _raw_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or getattr(exc, "message", "") or "no detail")


def _server_message(exc: Any) -> str:
    from azura.commands import neutralize

    return neutralize(_one_line(_raw_message(exc)))[:160]


# ---------------------------------------------------------------- the reply

def _completion_document(raw: Any) -> Dict[str, Any]:
    """Return the JSON document of a 2xx reply when it has the shape of a chat completion; else raise LLMError."""
    import jsonschema

    content_type = (raw.headers.get("content-type") or "no content type").split(";")[0]
    try:
        document = json.loads(raw.content)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise LLMError(f"the server's reply is not JSON ({raw.status_code}, {content_type}, "
                       f"{len(raw.content)} bytes)") from None
    if isinstance(document, dict) and "error" in document and "choices" not in document:
        error = document["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise LLMError(f"the server replied {raw.status_code} with an error: "
                       f"{_cut(_one_line(str(message)), 160)}")
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(COMPLETION_SCHEMA).iter_errors(document))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "the top level"
        raise LLMError(f"the server's reply is not a chat completion (at {where}: {error.validator} check failed)")
    return document


def _answer_text(document: Dict[str, Any]) -> str:
    choice = document["choices"][0]
    message = choice["message"]
    if message.get("refusal"):
        raise LLMError("the model refused to answer")
    content = message.get("content") or ""
    if not content.strip() and message.get("tool_calls"):
        raise LLMError("the model called a tool instead of answering")
    if choice.get("finish_reason") == "content_filter":
        raise LLMError("the answer was blocked by a content filter")
    if choice.get("finish_reason") == "length":
        raise LLMError("the answer was cut off at the token limit")
    if not content.strip():
        raise LLMError("the answer was empty")
    return content


def _usage(document: Dict[str, Any], offline: Analysis, prompt_tokens: int, tokenizer: str) -> Usage:
    """Return the tokens the request used, as the server reports them, else as counted here."""
    from azura.tokens import count_tokens

    reported = document.get("usage") if isinstance(document.get("usage"), dict) else {}

    def tokens(name: str, fallback: Callable[[], int]) -> int:
        value = reported.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else fallback()

    def answer_tokens() -> int:
        choices = document.get("choices")
        message = choices[0].get("message") if choices and isinstance(choices[0], dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        return count_tokens(content, tokenizer) if isinstance(content, str) else 0

    return Usage(excerpt_tokens=offline.usage.excerpt_tokens,
                 prompt_tokens=tokens("prompt_tokens", lambda: prompt_tokens),
                 completion_tokens=tokens("completion_tokens", answer_tokens))
