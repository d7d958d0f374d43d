"""Settings: who and what to analyse, and how. The only reader of flags, environment, `.env` and `azura.yml`."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple
from urllib.parse import parse_qs, unquote, urlsplit

from azura.errors import ConfigError

PROVIDERS = ("none", "openai", "azure_openai", "ollama")
FORMATS = ("text", "markdown", "json")
SINKS = ("tag", "pr-thread", "summary", "files")
DEFAULT_BUDGET = 2048
MIN_BUDGET = 128
MAX_BUDGET = 200_000
MIN_KNOWN_SECRET = 6  # shorter values would be redacted everywhere they happen to occur
MIN_NAMED_SECRET = 8  # a variable named like a secret but shorter is a flag or a count, not a secret
TOKEN_HINT = ("map it in the step: `env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)` "
              "(the task does this for you)")


@dataclass(frozen=True)
class Settings:
    """Everything a run needs, resolved once and passed down; `repr` hides every secret."""

    # what to analyse
    mode: str = "local"  # local (--log), pipeline (agent variables), remote (--build-url / --build-id)
    log_paths: Tuple[str, ...] = ()
    org_url: Optional[str] = None
    project: Optional[str] = None
    build_id: Optional[int] = None
    token: Optional[str] = field(default=None, repr=False)
    token_variable: Optional[str] = None  # which variable the token came from, for messages
    pr_id: Optional[int] = None
    pr_number: Optional[int] = None  # GitHub PR number
    pr_target_branch: Optional[str] = None
    repository_id: Optional[str] = None
    repository_provider: Optional[str] = None
    fork_pr: bool = False  # a build of a pull request from a fork: its token is read-only and it gets no secrets
    job_attempt: int = 1
    task_instance_id: Optional[str] = None
    sources_dir: Optional[str] = None  # the agent's checkout (BUILD_SOURCESDIRECTORY), pipeline mode only
    temp_dir: Optional[str] = None
    in_pipeline: bool = False
    # LLM
    llm_provider: str = "none"
    model: Optional[str] = None
    openai_api_key: Optional[str] = field(default=None, repr=False)
    openai_base_url: Optional[str] = None
    azure_openai_api_key: Optional[str] = field(default=None, repr=False)
    azure_openai_endpoint: Optional[str] = None
    azure_openai_api_version: Optional[str] = None
    ollama_base_url: Optional[str] = None
    llm_timeout: float = 60.0
    cache_path: Optional[str] = None  # SQLite file of LLM answers; None disables the cache
    # the run
    budget: int = DEFAULT_BUDGET
    tokenizer: str = "estimate"  # what counts the budget: the estimate, or cl100k (the tokenizer extra) when asked
    output_dir: str = "azura-report"
    format: str = "text"
    publish: bool = False
    sinks: Tuple[str, ...] = SINKS
    templates_dir: Optional[str] = None
    strict: bool = False
    timeout: float = 120.0
    tag_prefix: str = "azura"
    history: bool = True
    test_results: bool = True  # read the build's failed tests from the Test Results API (Test: Read)
    source_lines: bool = True  # read the lines a failure names at the run's commit (Code: Read)
    user_signatures: Tuple[Mapping[str, Any], ...] = ()
    config_path: Optional[str] = None
    secrets: Tuple[str, ...] = field(default=(), repr=False)
    # ask / serve
    ask_max_rounds: int = 5
    host: str = "127.0.0.1"
    port: int = 8080
    workers: Optional[int] = None  # server processes; None: one per CPU
    api_key: Optional[str] = field(default=None, repr=False)
    cors_origins: Tuple[str, ...] = ()
    jobs_db: Optional[str] = None
    job_ttl: float = 3600.0
    max_body_bytes: int = 20 * 1024 * 1024
    jobs_max_bytes: int = 256 * 1024 * 1024  # requests, results and conversations stored together
    allowed_hosts: Tuple[str, ...] = ()  # Host header values served; empty: the loopback names and --host
    request_timeout: float = 25.0  # a request's work ends within this, below gunicorn's default 30 s timeout

    @property
    def build_url(self) -> Optional[str]:
        """Return the web URL of the build under analysis, when known."""
        if not (self.org_url and self.project and self.build_id):
            return None
        return f"{self.org_url}/{self.project}/_build/results?buildId={self.build_id}"


@dataclass(frozen=True)
class BuildReference:
    org_url: str
    project: str
    build_id: int


def parse_build_url(url: str) -> BuildReference:
    """Return org URL, project and build id from a build results URL (cloud, visualstudio.com or Server)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        raise ConfigError("--build-url is not a valid URL") from None
    segments = [s for s in parts.path.split("/") if s]
    build_ids = parse_qs(parts.query).get("buildId")
    if parts.scheme not in ("http", "https") or "_build" not in segments or not build_ids:
        raise ConfigError(
            "--build-url is not a build results URL: expected "
            "https://dev.azure.com/ORG/PROJECT/_build/results?buildId=N")
    project_index = segments.index("_build") - 1
    if project_index < 0:
        raise ConfigError("--build-url has no project before /_build/")
    collection = "/".join(segments[:project_index])
    org_url = f"{parts.scheme}://{parts.netloc}" + (f"/{collection}" if collection else "")
    return BuildReference(org_url=org_url, project=unquote(segments[project_index]),
                          build_id=_positive_int(build_ids[0], "buildId in --build-url"))


def _positive_int(value: Any, name: str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {str(value)[:40]!r}") from None
    if number <= 0:
        raise ConfigError(f"{name} must be positive, got {number}")
    return number


def _optional_positive_int(value: Any, name: str) -> Optional[int]:
    return None if value in (None, "") else _positive_int(value, name)


def _number(value: Any, name: str) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {str(value)[:40]!r}") from None
    if number <= 0:
        raise ConfigError(f"{name} must be positive, got {value}")
    return number


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


class _Layers:
    """Look a setting up in flags, then environment, then .env, then azura.yml; remember where it was found."""

    def __init__(self, flags: Mapping[str, Any], environ: Mapping[str, str], dotenv: Mapping[str, str],
                 config_file: Mapping[str, Any]):
        self.flags, self.environ, self.dotenv, self.config_file = flags, environ, dotenv, config_file

    def get(self, flag: Optional[str] = None, env: Tuple[str, ...] = (), key: Optional[str] = None) -> Any:
        if flag and self.flags.get(flag) is not None:
            return self.flags[flag]
        for layer in (self.environ, self.dotenv):
            for name in env:
                if layer.get(name) not in (None, ""):
                    return layer[name]
        if key and self.config_file.get(key) is not None:
            return self.config_file[key]
        return None

    def env_name(self, *names: str) -> Optional[str]:
        """Return the first of `names` set in the environment or .env."""
        for layer in (self.environ, self.dotenv):
            for name in names:
                if layer.get(name):
                    return name
        return None


def load_settings(flags: Mapping[str, Any], environ: Mapping[str, str], dotenv: Mapping[str, str],
                  config_file: Mapping[str, Any]) -> Settings:
    """Return Settings; flags win, then environment, then .env, then azura.yml."""
    layers = _Layers(flags, environ, dotenv, config_file)
    in_pipeline = _truthy(environ.get("TF_BUILD", ""))
    values: Dict[str, Any] = {"in_pipeline": in_pipeline}
    values.update(_llm_values(layers))
    values.update(_run_values(layers, in_pipeline))
    values.update(_target_values(layers, flags, environ, in_pipeline))
    values["publish"] = _publish(flags, values["mode"])
    values["secrets"] = _known_secrets(values, environ, dotenv)
    return Settings(**values)


def _known_secrets(values: Mapping[str, Any], environ: Mapping[str, str], dotenv: Mapping[str, str]) -> Tuple[str, ...]:
    """Return the secret values this run knows, to redact wherever they appear.

    Its own keys; the secret pipeline variables the task hands over in AZURA_SECRETS (a JSON list: never on
    the command line, where other processes could read it); and every variable whose name names a secret
    (DB_PASSWORD), as a script step maps secret variables into its environment by name.
    """
    from azura.redact import catalogue

    found = [values.get(name) for name in ("token", "openai_api_key", "azure_openai_api_key", "api_key")]
    found.extend(_task_secrets(environ.get("AZURA_SECRETS", "")))
    names = catalogue().names
    for layer in (environ, dotenv):
        found.extend(value for name, value in layer.items()
                     if len(value or "") >= MIN_NAMED_SECRET and not value.startswith(("/", "~"))
                     and names.is_secret(name))
    return tuple(sorted({s for s in found if s and len(s) >= MIN_KNOWN_SECRET}, key=len, reverse=True))


def _task_secrets(document: str) -> Tuple[str, ...]:
    if not document.strip():
        return ()
    import json

    try:
        secrets = json.loads(document)
    except ValueError:
        raise ConfigError("AZURA_SECRETS must be a JSON list of strings (the task's secret variables)") from None
    if not isinstance(secrets, list) or not all(isinstance(s, str) for s in secrets):
        raise ConfigError("AZURA_SECRETS must be a JSON list of strings (the task's secret variables)")
    return tuple(secrets)


def _llm_values(layers: _Layers) -> Dict[str, Any]:
    provider = str(layers.get("llm_provider", ("LLM_PROVIDER",), "llm_provider") or "none").strip().lower()
    if provider not in PROVIDERS:
        raise ConfigError(f"LLM_PROVIDER / --llm-provider must be one of {', '.join(PROVIDERS)}, got {provider!r}")
    return {
        "llm_provider": provider,
        "model": layers.get("model", ("LLM_MODEL_NAME",), "model"),
        "openai_api_key": layers.get(None, ("OPENAI_API_KEY",)),
        "openai_base_url": layers.get("endpoint" if provider == "openai" else None, ("OPENAI_BASE_URL",),
                                      "openai_base_url"),
        "azure_openai_api_key": layers.get(None, ("AZURE_OPENAI_API_KEY",)),
        "azure_openai_endpoint": layers.get("endpoint" if provider == "azure_openai" else None,
                                            ("AZURE_OPENAI_ENDPOINT",), "azure_openai_endpoint"),
        "azure_openai_api_version": layers.get(None, ("AZURE_OPENAI_API_VERSION",), "azure_openai_api_version"),
        "ollama_base_url": layers.get("endpoint" if provider == "ollama" else None, ("OLLAMA_BASE_URL",),
                                      "ollama_base_url"),
        "llm_timeout": _number(layers.get("llm_timeout", ("AZURA_LLM_TIMEOUT",), "llm_timeout") or 60,
                               "--llm-timeout"),
    }


def _run_values(layers: _Layers, in_pipeline: bool) -> Dict[str, Any]:
    from azura.tokens import check_tokenizer

    temp_dir = layers.get(None, ("AGENT_TEMPDIRECTORY",))
    budget = _positive_int(layers.get("budget", ("AZURA_BUDGET",), "budget") or DEFAULT_BUDGET, "--budget")
    if not MIN_BUDGET <= budget <= MAX_BUDGET:
        raise ConfigError(f"--budget must be between {MIN_BUDGET} and {MAX_BUDGET} tokens, got {budget}")
    tokenizer = str(layers.get("tokenizer", ("AZURA_TOKENIZER",), "tokenizer") or "estimate").strip().lower()
    check_tokenizer(tokenizer)
    output_format = str(layers.get("format", (), "format") or "text")
    if output_format not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {output_format!r}")
    default_output = os.path.join(temp_dir, "azura") if (in_pipeline and temp_dir) else "azura-report"
    cache_dir = temp_dir or _user_cache_dir(layers)
    no_cache = bool(layers.flags.get("no_cache")) or _truthy(layers.get(None, ("AZURA_NO_CACHE",)) or "")
    user_signatures = layers.config_file.get("signatures") or ()
    if not isinstance(user_signatures, (list, tuple)):
        raise ConfigError("`signatures` in azura.yml must be a list of signature entries")
    skipped = {s for s in SINKS if layers.flags.get(f"no_{s.replace('-', '_')}")}
    return {
        "temp_dir": temp_dir,
        "budget": budget,
        "tokenizer": tokenizer,
        "format": output_format,
        "output_dir": str(layers.get("output_dir", ("AZURA_OUTPUT_DIR",), "output_dir") or default_output),
        "templates_dir": layers.get("templates", ("AZURA_TEMPLATES",), "templates"),
        "strict": bool(layers.flags.get("strict")) or _truthy(layers.get(None, ("AZURA_STRICT",), "strict") or ""),
        "timeout": _number(layers.get("timeout", ("AZURA_TIMEOUT",), "timeout") or 120, "--timeout"),
        "tag_prefix": _tag_prefix(str(layers.get("tag_prefix", ("AZURA_TAG_PREFIX",), "tag_prefix") or "azura")),
        "history": _lookup_on(layers, "history"),
        "test_results": _lookup_on(layers, "test_results"),
        "source_lines": _lookup_on(layers, "source_lines"),
        "sinks": tuple(s for s in SINKS if s not in skipped),
        "user_signatures": tuple(user_signatures),
        "config_path": layers.flags.get("config_path"),
        "cache_path": None if no_cache else os.path.join(cache_dir, "azura-llm-cache.sqlite3"),
        "ask_max_rounds": _positive_int(layers.get("max_rounds", ("AZURA_ASK_MAX_ROUNDS",), "ask_max_rounds")
                                        or 5, "--max-rounds"),
        "host": str(layers.get("host", ("AZURA_HOST",), "host") or "127.0.0.1"),
        "port": _positive_int(layers.get("port", ("AZURA_PORT", "PORT"), "port") or 8080, "--port"),
        "workers": _optional_positive_int(layers.get("workers", ("AZURA_WORKERS",), "workers"), "--workers"),
        "api_key": layers.get(None, ("AZURA_API_KEY",)),
        "cors_origins": tuple(o.strip() for o in str(layers.get(None, ("AZURA_CORS_ORIGINS",), "cors_origins")
                                                      or "").split(",") if o.strip()),
        "jobs_db": layers.get("jobs_db", ("AZURA_JOBS_DB",), "jobs_db")
        or os.path.join(cache_dir, "azura-jobs.sqlite3"),
        "job_ttl": _number(layers.get(None, ("AZURA_JOB_TTL",), "job_ttl") or 3600, "AZURA_JOB_TTL"),
        "max_body_bytes": _positive_int(layers.get(None, ("AZURA_MAX_BODY_BYTES",), "max_body_bytes")
                                        or 20 * 1024 * 1024, "AZURA_MAX_BODY_BYTES"),
        "jobs_max_bytes": _positive_int(layers.get(None, ("AZURA_JOBS_MAX_BYTES",), "jobs_max_bytes")
                                        or 256 * 1024 * 1024, "AZURA_JOBS_MAX_BYTES"),
        "allowed_hosts": tuple(h.strip().lower() for h in str(
            layers.get(None, ("AZURA_ALLOWED_HOSTS",), "allowed_hosts") or "").split(",") if h.strip()),
        "request_timeout": _number(layers.get(None, ("AZURA_REQUEST_TIMEOUT",), "request_timeout") or 25,
                                   "AZURA_REQUEST_TIMEOUT"),
    }


def _lookup_on(layers: _Layers, name: str) -> bool:
    """Return whether an optional Azure DevOps lookup runs: on unless --no-<name> or `<name>: false` in azura.yml."""
    return not layers.flags.get(f"no_{name}") and str(layers.config_file.get(name, True)) != "False"


def _user_cache_dir(layers: _Layers) -> str:
    return user_cache_dir({**layers.dotenv, **layers.environ})


def user_cache_dir(environ: Mapping[str, str]) -> str:
    """Return Azura's folder in the user's own cache (XDG_CACHE_HOME, LOCALAPPDATA, else ~/.cache): not shared."""
    base = environ.get("XDG_CACHE_HOME") or environ.get("LOCALAPPDATA") or os.path.join(os.path.expanduser("~"),
                                                                                          ".cache")
    return os.path.join(base, "azura")


def _tag_prefix(prefix: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,40}", prefix):
        raise ConfigError(f"--tag-prefix may only hold letters, digits, '.', '_' and '-', got {prefix[:40]!r}")
    return prefix


def _target_values(layers: _Layers, flags: Mapping[str, Any], environ: Mapping[str, str],
                   in_pipeline: bool) -> Dict[str, Any]:
    log_paths = tuple(flags.get("log") or ())
    explicit = flags.get("build_url") or flags.get("build_id") or flags.get("org_url") or flags.get("project")
    if log_paths:
        mode = "local"
    elif in_pipeline and not explicit:
        mode = "pipeline"
    else:
        mode = "remote"
    values: Dict[str, Any] = {"mode": mode, "log_paths": log_paths}
    if flags.get("build_url"):
        ref = parse_build_url(str(flags["build_url"]))
        values.update(org_url=ref.org_url, project=ref.project, build_id=ref.build_id)
    else:
        org_env = ("SYSTEM_COLLECTIONURI", "AZURE_DEVOPS_ORG_URL") if mode == "pipeline" else (
            "AZURE_DEVOPS_ORG_URL", "SYSTEM_COLLECTIONURI")
        values["org_url"] = layers.get("org_url", org_env, "org_url")
        values["project"] = layers.get("project", ("SYSTEM_TEAMPROJECT", "AZURE_DEVOPS_PROJECT"), "project")
        build_id = layers.get("build_id", ("BUILD_BUILDID",) if mode == "pipeline" else ())
        values["build_id"] = _positive_int(build_id, "--build-id / BUILD_BUILDID") if build_id else None
    if values.get("org_url"):
        values["org_url"] = str(values["org_url"]).rstrip("/")
    token_names = ("SYSTEM_ACCESSTOKEN", "AZURE_DEVOPS_PAT") if mode == "pipeline" else (
        "AZURE_DEVOPS_PAT", "SYSTEM_ACCESSTOKEN")
    values["token_variable"] = layers.env_name(*token_names)
    values["token"] = layers.get(None, token_names)
    if mode == "pipeline":
        values.update(_pipeline_values(environ))
    return values


def _pipeline_values(environ: Mapping[str, str]) -> Dict[str, Any]:
    def optional_int(name: str) -> Optional[int]:
        value = environ.get(name, "").strip()
        return int(value) if value.isdigit() else None

    return {
        "pr_id": optional_int("SYSTEM_PULLREQUEST_PULLREQUESTID"),
        "pr_number": optional_int("SYSTEM_PULLREQUEST_PULLREQUESTNUMBER"),
        "pr_target_branch": _branch_ref(environ.get("SYSTEM_PULLREQUEST_TARGETBRANCH", "")),
        "repository_id": environ.get("BUILD_REPOSITORY_ID") or None,
        "repository_provider": environ.get("BUILD_REPOSITORY_PROVIDER") or None,
        "fork_pr": _truthy(environ.get("SYSTEM_PULLREQUEST_ISFORK", "")),
        "job_attempt": optional_int("SYSTEM_JOBATTEMPT") or 1,
        "task_instance_id": environ.get("SYSTEM_TASKINSTANCEID") or None,
        "sources_dir": environ.get("BUILD_SOURCESDIRECTORY") or None,
    }


def _branch_ref(branch: str) -> Optional[str]:
    """Return a full ref; GitHub PR builds give the target branch as a bare name ("main")."""
    branch = branch.strip()
    if not branch:
        return None
    return branch if branch.startswith("refs/") else f"refs/heads/{branch}"


def _publish(flags: Mapping[str, Any], mode: str) -> bool:
    if flags.get("publish") is not None:
        return bool(flags["publish"])
    return mode == "pipeline"


def require_build(settings: Settings) -> BuildReference:
    """Return the build to analyse, or raise ConfigError naming the first missing setting and its variable."""
    pipeline = settings.mode == "pipeline"
    if not settings.org_url:
        raise ConfigError("no Azure DevOps organisation: pass --org-url or --build-url, or set "
                          + ("SYSTEM_COLLECTIONURI" if pipeline else "AZURE_DEVOPS_ORG_URL"))
    if not settings.project:
        raise ConfigError("no project: pass --project or --build-url, or set "
                          + ("SYSTEM_TEAMPROJECT" if pipeline else "AZURE_DEVOPS_PROJECT"))
    if not settings.build_id:
        raise ConfigError("no build to analyse: pass --build-url or --build-id"
                          + (" (BUILD_BUILDID is not set)" if pipeline else ""))
    require_token(settings)
    return BuildReference(settings.org_url, settings.project, settings.build_id)


def require_token(settings: Settings) -> str:
    """Return the Azure DevOps token, or raise ConfigError saying which variable to set."""
    if settings.token:
        return settings.token
    if settings.mode == "pipeline":
        raise ConfigError(f"SYSTEM_ACCESSTOKEN is not set: {TOKEN_HINT}")
    raise ConfigError("no Azure DevOps token: set AZURE_DEVOPS_PAT (a PAT with Build: Read, Build: Read & execute "
                      "to tag with --publish, and Code: Read & write to comment on pull requests)")


def read_dotenv(path: Optional[str], explicit: bool) -> Dict[str, str]:
    """Return the variables of a .env file; a missing default .env is empty, a missing --env-file is an error."""
    target = Path(path or ".env")
    if not target.is_file():
        if explicit:
            raise ConfigError(f"--env-file {target} does not exist")
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(target).items() if v is not None}


def read_config_file(path: Optional[str], explicit: bool) -> Dict[str, Any]:
    """Return the mapping in azura.yml (or --config FILE); a missing default file is empty."""
    target = Path(path or "azura.yml")
    if not target.is_file():
        if explicit:
            raise ConfigError(f"--config {target} does not exist")
        return {}
    import yaml

    try:
        document = yaml.safe_load(target.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{target} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{target} must hold a mapping of settings at the top level")
    known = {f.name for f in fields(Settings)} | {"signatures", "endpoint", "templates"}
    unknown = sorted(set(document) - known)
    if unknown:
        raise ConfigError(f"{target}: unknown setting(s) {', '.join(unknown)}")
    return document
