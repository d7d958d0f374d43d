"""The LLM half of analyze: one request per run through the `openai` package, validated, cached, never trusted.

Every provider (OpenAI, Azure OpenAI, Ollama, any OpenAI-compatible server) is an `openai` client; only
its construction differs. The answer must match `answer_schema` and cite lines that exist in the excerpts
the model was shown; anything else raises LLMError, and the caller keeps the offline analysis.
"""
from __future__ import annotations

import email.utils
import functools
import hashlib
import importlib.util
import json
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from azura import DISTRIBUTION
from azura.analyze.answer import answer_schema, fits, merged, parsed, positioned, validated
from azura.context import Settings
from azura.errors import ConfigError, LLMError
from azura.models import CATEGORIES, Analysis, Deadline, Failure, Usage

PROMPT_DIR = Path(__file__).resolve().parent.parent / "prompts"
PROMPT_VERSION = "1"  # bump when the meaning of the answer changes; template edits change the cache key anyway
DEFAULT_MODELS = {"openai": "gpt-4o-mini", "ollama": "llama3.1"}
DEFAULT_OLLAMA_URL = "http://localhost:11434"
DEFAULT_AZURE_API_VERSION = "2024-10-21"  # the first GA version with structured outputs
ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"
MAX_RETRIES = 2
BACKOFF_SECONDS = (1.0, 2.0)
MIN_REQUEST_SECONDS = 1.0
MAX_RETRY_WAIT_SECONDS = 60.0  # without a run deadline, a longer Retry-After means "not today"
# What the prompt may add to the excerpts' own tokens, measured with tokens.count_tokens: the system prompt
# is ~445 tokens, a failure's header and hint 60-150, "NNNN | " 3 per line (scripts/prompt_tokens.py: the
# whole overhead is 514-564 tokens on the LogChunks logs at the default budget). The limits leave headroom.
FIXED_OVERHEAD_TOKENS = 600
FAILURE_OVERHEAD_TOKENS = 200
LINE_OVERHEAD_TOKENS = 4
# Source windows add at most their share of the budget (sources.source_budget) in lines, plus a preamble once
# and a heading and markers each (measured 89 tokens for one window, 67 for each more, with long test names).
SOURCE_PREAMBLE_TOKENS = 50
SOURCE_OVERHEAD_TOKENS = 80
ANSWER_TOKENS = 400  # a cap, not a target: it stops a small local model that loops from running to its context end
ANSWER_TOKENS_PER_FAILURE = 400
# Tried in this order within one run: servers that reject a response_format (llama.cpp's server answers
# json_schema with 400/422) get the next one; the prompt itself always describes the JSON too.
RESPONSE_FORMATS = ("json_schema", "json_object", "instructions")


def check_llm_settings(settings: Settings) -> None:
    """Raise ConfigError naming the variable when the configured provider cannot be used."""
    provider = settings.llm_provider
    missing = [name for name in ("openai", "jsonschema") if importlib.util.find_spec(name) is None]
    if provider != "none" and missing:
        raise ConfigError(f"LLM_PROVIDER={provider} needs {' and '.join(missing)}, which the llm extra installs: "
                          f"pip install '{DISTRIBUTION}[llm]'")
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
            client_factory: Optional[Callable[[Settings], Any]] = None, clock: Callable[[], float] = time.monotonic,
            sleep: Callable[[float], None] = time.sleep) -> Analysis:
    """Return `offline` with failures, headline and tag from the LLM's validated answer; raise LLMError if unusable."""
    from azura.analyze.cache import AnswerCache, fingerprint

    check_llm_settings(settings)
    model = resolved_model(settings)
    messages = prompt_messages(offline, settings)
    prompt_tokens = _prompt_tokens_within_limit(messages, offline, settings.budget)
    cache = AnswerCache(settings.cache_path)
    key = fingerprint((PROMPT_VERSION, settings.llm_provider, model, endpoint(settings)),
                      [m["content"] for m in messages])
    cached = cache.get(key)
    if cached is not None and fits(cached, offline):
        return merged(offline, cached, settings, model, Usage(excerpt_tokens=offline.usage.excerpt_tokens))
    client = (client_factory or make_client)(settings)
    completion = _complete(client, model, messages, len(offline.failures), settings, deadline, clock, sleep)
    text = _answer_text(completion)
    answer, dropped = positioned(validated(parsed(text), len(offline.failures)), offline)
    cache.put(key, answer)
    analysis = merged(offline, answer, settings, model, _usage(completion, offline, prompt_tokens, text))
    if dropped:
        analysis = analysis.with_warning(f"the LLM cited {dropped} line number(s) that are not in the excerpts; "
                                         "they were dropped from the evidence")
    return analysis


def build_messages(offline: Analysis) -> List[Dict[str, str]]:
    """Return the chat messages for `offline`'s failures: the system prompt and one user message with every excerpt."""
    failures = [_prompt_failure(failure) for failure in offline.failures]
    marker = hashlib.sha256(json.dumps(failures, ensure_ascii=False).encode("utf-8")).hexdigest()[:12]
    environment = _prompt_environment()
    system = environment.get_template("system_prompt.j2").render(marker=marker, categories=CATEGORIES)
    user = environment.get_template("user_prompt.j2").render(marker=marker, failures=failures, build=offline.build,
                                                             sources=[_prompt_source(w) for w in offline.sources])
    return [{"role": "system", "content": system.strip()}, {"role": "user", "content": user.strip()}]


def prompt_messages(offline: Analysis, settings: Settings) -> List[Dict[str, str]]:
    """Return the messages exactly as they would be sent: built, then redacted once more."""
    from azura.redact import redact

    # The excerpts were redacted already; this second pass also covers hints and names, and any miss.
    return [{"role": m["role"], "content": redact(m["content"], settings.secrets)} for m in build_messages(offline)]


def prompt_limit(offline: Analysis, budget: int) -> int:
    """Return the most tokens a prompt for `offline` may have: the excerpt budget plus the fixed overhead, plus
    the source windows' share of the budget when there are any."""
    from azura.sources import source_budget

    lines = sum(len(failure.excerpt.lines) for failure in offline.failures)
    sources = (source_budget(budget) + SOURCE_PREAMBLE_TOKENS + SOURCE_OVERHEAD_TOKENS * len(offline.sources)
               if offline.sources else 0)
    return (budget + FIXED_OVERHEAD_TOKENS + FAILURE_OVERHEAD_TOKENS * len(offline.failures)
            + LINE_OVERHEAD_TOKENS * lines + sources)


@functools.lru_cache(maxsize=1)
def _prompt_environment() -> Any:
    import jinja2

    # Plain text prompts: no HTML escaping, and a missing variable is a bug, not an empty string.
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(PROMPT_DIR)), autoescape=False,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def _prompt_failure(failure: Failure) -> Dict[str, Any]:
    step = failure.step
    hint = f"category {failure.category}, confidence {failure.confidence:.2f}: {failure.summary.rstrip('.')}."
    if failure.suggested_fix:
        hint += f" Fix hint: {failure.suggested_fix}"
    # Timeline issues repeat an excerpt's error lines; they matter when the step has no log of its own.
    issues = [] if failure.excerpt.lines else [_one_line(i.message) for i in step.issues if i.type == "error"]
    return {"name": step.path, "kind": step.record_type, "result": step.result, "hint": _one_line(hint), "issues": issues,
            "lines": [{"number": line.number, "text": _one_line(line.text)} for line in failure.excerpt.lines]}


def _prompt_source(window: Any) -> Dict[str, Any]:
    return {"file": _one_line(window.location.file), "line": window.location.line, "commit": window.commit,
            "reason": _one_line(window.reason),
            "lines": [{"number": line.number, "text": _one_line(line.text)} for line in window.lines]}


def _one_line(text: str) -> str:
    # A line break inside a log line would let it forge "END LOG" or a line number of its own.
    return text.replace("\r", " ").replace("\n", " ")


def _prompt_tokens_within_limit(messages: Sequence[Dict[str, str]], offline: Analysis, budget: int) -> int:
    from azura.tokens import count_tokens

    tokens = sum(count_tokens(m["content"]) for m in messages)
    limit = prompt_limit(offline, budget)
    if tokens > limit:
        raise LLMError(f"the prompt would be {tokens} tokens, over the limit of {limit} (budget {budget} "
                       "plus overhead); not sent")
    return tokens


def _complete(client: Any, model: str, messages: List[Dict[str, str]], failure_count: int, settings: Settings,
              deadline: Optional[Deadline], clock: Callable[[], float], sleep: Callable[[float], None]) -> Any:
    import openai

    rejection = None
    answer_tokens = ANSWER_TOKENS + ANSWER_TOKENS_PER_FAILURE * failure_count
    schema = answer_schema(failure_count)
    # temperature 0: a rerun of the same failure should get the same answer, not a new guess.
    for style in RESPONSE_FORMATS:
        try:
            return _with_retries(lambda timeout: client.chat.completions.create(
                model=model, messages=messages, temperature=0, max_tokens=answer_tokens,
                timeout=timeout, **_response_format(style, schema)), settings, deadline, clock, sleep)
        except openai.APIStatusError as exc:
            rejection = exc  # this response_format was refused: the next, plainer request may pass
    raise LLMError(f"the server refused the request ({rejection.status_code}): {_server_message(rejection)}")


def _refuses_request(exc: Any) -> bool:
    """Return whether an error answer refuses the request itself, so resending it unchanged cannot help."""
    if exc.status_code in (400, 422):
        return True
    # llama-cpp-python's server answers an unsupported response_format with 500 and a validation message.
    return exc.status_code >= 500 and "response_format" in _raw_message(exc)


def _response_format(style: str, schema: Dict[str, Any]) -> Dict[str, Any]:
    if style == "json_schema":
        return {"response_format": {"type": "json_schema", "json_schema": {
            "name": "azura_analysis", "strict": True, "schema": schema}}}
    if style == "json_object":
        # `schema` is an extension some servers (llama.cpp's) use to constrain the output; others ignore it.
        return {"response_format": {"type": "json_object", "schema": schema}}
    return {}


def _with_retries(send: Callable[[float], Any], settings: Settings, deadline: Optional[Deadline],
                  clock: Callable[[], float], sleep: Callable[[float], None]) -> Any:
    import openai

    attempt = 0
    while True:
        timeout = _request_timeout(settings, deadline, clock)
        try:
            return send(timeout)
        except openai.APITimeoutError:
            reason, wait = f"no answer within {timeout:.0f} s", 0.0
        except openai.RateLimitError as exc:
            reason, wait = "rate limited (429)", _retry_after(exc.response, BACKOFF_SECONDS[min(attempt, 1)])
        except openai.InternalServerError as exc:
            if _refuses_request(exc):
                raise
            reason = f"server error ({exc.status_code})"
            wait = _retry_after(exc.response, BACKOFF_SECONDS[min(attempt, 1)])
        except openai.APIConnectionError:
            reason = f"cannot connect to {endpoint(settings) or 'the OpenAI API'}"
            wait = BACKOFF_SECONDS[min(attempt, 1)]
        except openai.APIStatusError as exc:
            if _refuses_request(exc):
                raise
            raise LLMError(f"the server answered {exc.status_code}: {_server_message(exc)}") from None
        if attempt == MAX_RETRIES:
            raise LLMError(f"{reason}, after {MAX_RETRIES} retries")
        if wait > _longest_wait(deadline, clock):
            raise LLMError(f"{reason}; a retry in {wait:.0f} s would not fit in the time left")
        sleep(wait)
        attempt += 1


def _longest_wait(deadline: Optional[Deadline], clock: Callable[[], float]) -> float:
    if deadline is None:
        return MAX_RETRY_WAIT_SECONDS
    return deadline.remaining(clock()) - MIN_REQUEST_SECONDS


def _request_timeout(settings: Settings, deadline: Optional[Deadline], clock: Callable[[], float]) -> float:
    timeout = settings.llm_timeout
    if deadline is not None:
        timeout = min(timeout, deadline.remaining(clock()))
    if timeout < MIN_REQUEST_SECONDS:
        raise LLMError("no time left before the run's deadline")
    return timeout


def _retry_after(response: Any, default: float) -> float:
    headers = getattr(response, "headers", None) or {}
    try:
        if headers.get("retry-after-ms"):
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if not value:
            return default
        if value.strip().replace(".", "", 1).isdigit():
            return float(value)
        moment = email.utils.parsedate_to_datetime(value)
        return max(0.0, moment.timestamp() - time.time())
    except (TypeError, ValueError):
        return default


def _raw_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or getattr(exc, "message", "") or "no detail")


def _server_message(exc: Any) -> str:
    from azura.commands import neutralize

    return neutralize(_one_line(_raw_message(exc)))[:160]


def _answer_text(completion: Any) -> str:
    choices = getattr(completion, "choices", None) or []
    if not choices:
        raise LLMError("the answer had no choices")
    choice = choices[0]
    if getattr(choice.message, "refusal", None):
        raise LLMError("the model refused to answer")
    if choice.finish_reason == "content_filter":
        raise LLMError("the answer was blocked by a content filter")
    if choice.finish_reason == "length":
        raise LLMError("the answer was cut off at the token limit")
    if not (choice.message.content or "").strip():
        raise LLMError("the answer was empty")
    return choice.message.content


def _usage(completion: Any, offline: Analysis, prompt_tokens: int, text: str) -> Usage:
    from azura.tokens import count_tokens

    reported = getattr(completion, "usage", None)
    # Some compatible servers send no usage; then our own count stands in.
    return Usage(excerpt_tokens=offline.usage.excerpt_tokens,
                 prompt_tokens=getattr(reported, "prompt_tokens", None) or prompt_tokens,
                 completion_tokens=getattr(reported, "completion_tokens", None) or count_tokens(text))
