"""The REST API and web chat (`azura serve`): a Flask app made by `create_app(settings)`.

`azura serve` runs one worker process per CPU under gunicorn (`--workers N`, AZURA_WORKERS; one worker is
werkzeug's threaded server in a single process, as on Windows). gunicorn may also be run directly:

    AZURA_API_KEY=... AZURA_HOST=0.0.0.0 AZURA_ALLOWED_HOSTS=azura.example.com \
        gunicorn -w 2 -b 0.0.0.0:8080 'azura.server:app_from_env()'

Without AZURA_API_KEY the app answers only clients on this machine; behind a reverse proxy on the same
machine every client looks local, so set the key there too. Requests naming another host than the allowed
ones (DNS rebinding) and state-changing requests from another web site are refused. A request's work ends
within AZURA_REQUEST_TIMEOUT (keep it below gunicorn's --timeout, 30 s by default), so a slow analysis is the
API's JSON 504, never a killed worker. Jobs and chat conversations live in the SQLite file AZURA_JOBS_DB
(default: the user's cache folder), shared by all workers; a job whose worker stopped is run again once.

Every analysis is the engine's: the same Analysis.to_dict() (the analysis.json contract) and the same
PR-comment markdown as the pipeline step. Pasted logs are untrusted and may hold secrets: no error message
quotes a request value, and the Azure DevOps token and LLM keys never leave the server.
"""
from __future__ import annotations

import hmac
import io
import ipaddress
import json
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, TextIO
from urllib.parse import urlsplit

from azura import __version__
from azura.context import Settings
from azura.errors import AzuraError, ConfigError, DeadlineExceeded, InputError

WEB_DIR = Path(__file__).parent / "web"
OPENAPI_PATH = Path(__file__).parent / "openapi.json"
MAX_CHAT_CHARS = 2000
MAX_HISTORY = 20  # messages of a conversation sent back to the LLM
MAX_JSON_DEPTH = 32  # request bodies are a few levels deep; deeper is an attack on the parser
MIN_API_KEY_CHARS = 16
REQUEST_WORKERS = 8  # requests doing work at once per process; more wait, within their time limit
REQUEST_WORK_GRACE = 5.0  # seconds a request's work may go on after its answer, before its own deadline
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")
# The routes of the API Azura grew from, served as aliases so that its clients keep working.
ORIGINAL_API_ROUTES = ("/process_errors", "/process_errors_async", "/example_errors")
log = logging.getLogger("azura.server")


def is_loopback(host: str) -> bool:
    """Return True when `host` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings) -> None:
    """Raise ConfigError when the server would listen beyond this machine without an API key, or with a weak one."""
    if not is_loopback(settings.host) and not settings.api_key:
        raise ConfigError(f"refusing to listen on {settings.host} without an API key: set AZURA_API_KEY "
                          f"(clients then send 'Authorization: Bearer <key>'), or bind 127.0.0.1")
    if settings.api_key is not None and len(settings.api_key) < MIN_API_KEY_CHARS:
        raise ConfigError(f"AZURA_API_KEY is too short to resist guessing: use at least {MIN_API_KEY_CHARS} random "
                          "characters (e.g. python -c \"import secrets; print(secrets.token_urlsafe(32))\")")


class RedactingLogFilter(logging.Filter):
    """Redacts the server's log records, tracebacks included: an error may quote a pasted log or a request line.

    One filter per logger, shared by every app of the process; it knows the secrets of all of them.
    """

    secrets: set = set()

    def filter(self, record: logging.LogRecord) -> bool:
        from azura.redact import redact

        known = tuple(self.secrets)
        record.msg, record.args = redact(record.getMessage(), known), ()
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info), known)
            record.exc_info = None  # no handler may format the raw traceback again
        return True


def _redact_logs(settings: Settings) -> None:
    RedactingLogFilter.secrets.update(settings.secrets)
    for name in ("azura.server", "werkzeug"):  # ours, and the development server's request lines
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingLogFilter) for f in logger.filters):
            logger.addFilter(RedactingLogFilter())


def create_app(settings: Settings, start_jobs: bool = True):
    """Return the Flask app for these settings; jobs left unfinished by an earlier process are resumed."""
    from concurrent.futures import ThreadPoolExecutor

    from flask import Flask

    from azura.jobs import HEARTBEAT_SECONDS, STALE_HEARTBEATS, JobRunner, JobStore

    check_exposure(settings)
    _redact_logs(settings)
    app = Flask(__name__, static_folder=str(WEB_DIR), static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.wsgi_app = SizedBody(app.wsgi_app, settings.max_body_bytes)
    app.json.sort_keys = False
    store = JobStore(_jobs_db(settings), ttl=settings.job_ttl, stale_after=HEARTBEAT_SECONDS * STALE_HEARTBEATS,
                     max_runtime=settings.timeout * 2 + 60, max_bytes=settings.jobs_max_bytes)
    runner = JobRunner(store, lambda request, progress: run_analysis(request, settings, progress))
    workers = ThreadPoolExecutor(max_workers=REQUEST_WORKERS, thread_name_prefix="azura-request")
    app.extensions["azura"] = {"settings": settings, "store": store, "runner": runner, "workers": workers}
    _register_guards(app, settings)
    _register_errors(app)
    _register_routes(app, settings, store, runner)
    if start_jobs:
        resumed = runner.resume()
        if resumed:
            log.info("resumed %d unfinished job(s)", len(resumed))
        runner.start_heartbeat()
    return app


def app_from_env():
    """Return the app configured from the environment, .env and azura.yml (the gunicorn entry point)."""
    from azura.context import load_settings, read_config_file, read_dotenv

    settings = load_settings({}, os.environ, read_dotenv(None, explicit=False), read_config_file(None, explicit=False))
    return create_app(settings)


def serve(settings: Settings, stderr: TextIO = sys.stderr) -> None:
    """Serve the app on settings.host:port until interrupted, with settings.workers processes (default: one per CPU).

    Several workers run under gunicorn, each with its own app; they share the job store. One worker, or a
    platform gunicorn does not run on (Windows), is werkzeug's threaded server in this process.
    """
    check_exposure(settings)
    workers = settings.workers or machine_workers()
    prefork = workers > 1 and _gunicorn_runs()
    # Bound here rather than by werkzeug or gunicorn, which print their own messages and exit when the port is taken.
    with _listen(settings) as listener:
        address = f"http://{settings.host}:{listener.getsockname()[1]}"
        if prefork:
            _open_store(settings)  # a job store that cannot be opened is a clear error here, not workers failing to boot
            stderr.write(f"azura: serving on {address} with {workers} worker processes (Ctrl+C stops)\n")
            _serve_with_gunicorn(settings, listener, workers)
        else:
            _serve_in_this_process(settings, listener, address, stderr)
    stderr.write(f"azura: stopped serving {address}; unfinished jobs are kept in {settings.jobs_db} and resume "
                 f"on the next start\n")


def machine_workers() -> int:
    """Return the worker processes that use this machine: one per CPU this process may run on.

    An analysis is CPU-bound Python, so one process runs one at a time at full speed; waiting on Azure DevOps or
    an LLM happens on each process's threads.
    """
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    return max(1, len(usable))


def _gunicorn_runs() -> bool:
    try:
        import gunicorn.app.base  # noqa: F401 - the serve extra installs it; it imports fcntl, absent on Windows
    except ImportError:
        return False
    return True


def _open_store(settings: Settings) -> None:
    from azura.jobs import JobStore

    JobStore(_jobs_db(settings), ttl=settings.job_ttl, stale_after=0)


def _jobs_db(settings: Settings) -> str:
    from azura.context import user_cache_dir

    return settings.jobs_db or os.path.join(user_cache_dir(os.environ), "azura-jobs.sqlite3")


def _serve_in_this_process(settings: Settings, listener, address: str, stderr: TextIO) -> None:
    from werkzeug.serving import make_server

    app = create_app(settings)
    server = make_server(settings.host, settings.port, app, threaded=True, fd=listener.fileno())
    stderr.write(f"azura: serving on {address} in one process (Ctrl+C stops)\n")
    try:
        server.serve_forever()  # werkzeug's returns on Ctrl+C
    finally:
        server.server_close()
        _stop_work(app)


def _stop_work(app) -> None:
    """Stop taking jobs and requests' work; jobs left unfinished resume on the next start."""
    app.extensions["azura"]["runner"].shutdown()
    app.extensions["azura"]["workers"].shutdown(wait=False, cancel_futures=True)


def _serve_with_gunicorn(settings: Settings, listener, workers: int) -> None:
    """Run gunicorn's arbiter on `listener` until it stops (Ctrl+C, SIGTERM); each worker builds its own app.

    The workers are gthread workers: a request waits on a thread while its work runs on the app's own pool, so
    health checks and job polls are answered while analyses run, and the arbiter's heartbeat never stalls on one.
    """
    from gunicorn.app.base import BaseApplication

    descriptor = listener.detach()  # gunicorn takes the socket over and closes this descriptor itself
    arbiter = os.getpid()

    class Workers(BaseApplication):
        def load_config(self) -> None:
            work = settings.request_timeout + REQUEST_WORK_GRACE
            for name, value in {"bind": [f"fd://{descriptor}"], "workers": workers, "worker_class": "gthread",
                                "threads": REQUEST_WORKERS, "timeout": max(30, int(work * 2)),
                                "graceful_timeout": int(work) + 1, "loglevel": "warning", "errorlog": "-",
                                "accesslog": None, "proc_name": "azura", "worker_exit": _worker_exit}.items():
                self.cfg.set(name, value)

        def load(self):
            return create_app(settings)

    try:
        Workers().run()
    except SystemExit as exc:  # the arbiter ends by exiting: 0 when stopped, else its workers could not start
        if os.getpid() != arbiter:  # a worker forked by the arbiter ends by exiting too: let it
            raise
        if exc.code not in (0, None):
            raise ConfigError(f"the server's worker processes could not start (gunicorn exit status {exc.code}); "
                              "the messages above say why") from None


def _worker_exit(arbiter, worker) -> None:
    """gunicorn's hook as a worker process ends: stop its jobs' threads taking work, as one process does."""
    if getattr(worker, "wsgi", None) is not None:  # None when the worker failed to build its app
        _stop_work(worker.wsgi)


def _listen(settings: Settings):
    """Return a listening socket on settings.host:port, or raise ConfigError naming the flags to change."""
    import socket

    from werkzeug.serving import select_address_family

    try:
        return socket.create_server((settings.host, settings.port), backlog=128,
                                    family=select_address_family(settings.host, settings.port))
    except OSError as exc:  # the port is taken, or the address is not this machine's
        raise ConfigError(f"cannot listen on {settings.host}:{settings.port} ({exc.strerror or exc}): "
                          f"pass another --port or --host") from None


# ---------------------------------------------------------------- the work behind the endpoints

def run_analysis(request: Dict[str, Any], settings: Settings,
                 progress: Callable[[float, str], None] = lambda fraction, message: None) -> Dict[str, Any]:
    """Return {analysis, markdown} for a validated analyse request: log text or a build reference."""
    from azura import engine, report

    if "log" in request:
        progress(0.2, "analysing the log")
        analysis = engine.analyze_text(request["log"], settings, name=request.get("name") or "pasted log")
    else:
        target = _build_settings(request, settings)
        progress(0.1, f"reading build {target.build_id} of {target.project} from Azure DevOps")
        analysis = engine.analyze_run(target)
    progress(0.9, "rendering the report")
    rendered = report.render(analysis, settings.templates_dir)
    return {"analysis": analysis.to_dict(), "markdown": rendered.pr_comment_md}


def _build_settings(request: Dict[str, Any], settings: Settings) -> Settings:
    _require_devops(settings, "analyse builds")
    if request.get("build_url"):
        ref = _build_reference(request["build_url"])
        if ref.org_url.rstrip("/").lower() != settings.org_url.rstrip("/").lower():
            # The server's token belongs to one organisation; never send it to another host.
            raise InputError(f"field 'build_url' must point to the organisation this server reads "
                             f"({settings.org_url})")
        return replace(settings, mode="remote", project=ref.project, build_id=ref.build_id, publish=False)
    project = request.get("project") or settings.project or _only_project(settings)
    return replace(settings, mode="remote", project=project, build_id=request["build_id"], publish=False)


def _require_devops(settings: Settings, purpose: str) -> None:
    """Raise ConfigError, worded for the API's client, when this server has no Azure DevOps to read."""
    if not (settings.org_url and settings.token):
        raise ConfigError(f"this server cannot {purpose}: it was started without an Azure DevOps organisation "
                          f"and token (AZURE_DEVOPS_ORG_URL, AZURE_DEVOPS_PAT); log text can still be analysed")


def _only_project(settings: Settings) -> str:
    from azura.ask.tools import DevOpsTools

    visible = DevOpsTools(settings).projects()
    if len(visible) != 1:
        raise InputError(f"field 'project' is needed: the organisation has {len(visible)} projects and the "
                         f"server no default one (AZURE_DEVOPS_PROJECT)")
    return visible[0]


def _build_reference(url: str):
    from azura.context import parse_build_url

    try:
        return parse_build_url(url)
    except (ValueError, ConfigError):  # urlsplit refuses some malformed hosts ("[" without "]")
        raise InputError("field 'build_url' must be a build results URL: "
                         "https://dev.azure.com/ORG/PROJECT/_build/results?buildId=N") from None


def parse_json_body(body: bytes) -> Any:
    """Return the JSON document of a request body; raise InputError when it is not JSON or nested too deeply."""
    try:
        document = json.loads(body)
    except RecursionError:
        document = None
    except ValueError:  # also a body that is not UTF-8
        raise InputError("the request body is not valid JSON") from None
    if document is None and body.strip() != b"null" or _depth_exceeds(document, MAX_JSON_DEPTH):
        raise InputError(f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep") from None
    return document


def _depth_exceeds(document: Any, limit: int) -> bool:
    """Return whether lists and objects nest deeper than `limit`, without recursing."""
    pending = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, (list, dict)):
            if depth > limit:
                return True
            pending.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    return False


def parse_analyze_request(content_type: str, body: bytes, json_body: Any) -> Dict[str, Any]:
    """Return the request as {log, name}, {build_url} or {project, build_id}; raise InputError naming the field."""
    if content_type.startswith("text/plain") or not content_type:
        text = body.decode("utf-8", "replace")
        if not text.strip():
            raise InputError("the request body is empty: send log text, or JSON {\"log\": \"...\"}")
        return {"log": text}
    if not content_type.startswith("application/json"):
        raise InputError("Content-Type must be text/plain (a log) or application/json")
    if isinstance(json_body, list):
        return {"log": _errors_to_log(json_body)}
    if not isinstance(json_body, dict):
        raise InputError("the JSON body must be an object or a list of {\"context\": \"...\"} errors")
    if "errors" in json_body:  # the original API's body: {"errors": [{"context": "..."}]}
        _only_fields(json_body, ("errors",))
        if not isinstance(json_body["errors"], list):
            raise InputError("field 'errors' must be a list of {\"context\": \"...\"} objects")
        return {"log": _errors_to_log(json_body["errors"])}
    if "log" in json_body:
        _only_fields(json_body, ("log", "name"))
        return {"log": _text_field(json_body, "log", required=True),
                "name": _text_field(json_body, "name", limit=200)}
    if "build_url" in json_body:
        _only_fields(json_body, ("build_url",))
        return {"build_url": _text_field(json_body, "build_url", required=True, limit=2000)}
    if "build_id" in json_body:
        _only_fields(json_body, ("project", "build_id"))
        build_id = json_body["build_id"]
        if isinstance(build_id, bool) or not isinstance(build_id, int) or build_id <= 0:
            raise InputError("field 'build_id' must be a positive integer")
        project = _text_field(json_body, "project", limit=200)
        if project is not None and not project.strip():
            raise InputError("field 'project' must be a non-empty string")
        return {"project": project, "build_id": build_id}
    _only_fields(json_body, ())
    raise InputError("the JSON body needs one of the fields 'log', 'errors', 'build_url' or 'build_id'")


def _errors_to_log(errors: List[Any]) -> str:
    if not errors:
        raise InputError("the list of errors is empty")
    lines = []
    for index, item in enumerate(errors):
        if not isinstance(item, dict) or not isinstance(item.get("context"), str):
            raise InputError(f"item {index} of the list must be an object with a string field 'context'")
        extra = sorted(set(item) - {"context"})
        if extra:
            raise InputError(f"item {index} of the list has unknown field(s): {', '.join(extra)}")
        lines.append(item["context"])
    return "\n".join(lines)


def _only_fields(body: Dict[str, Any], allowed: tuple) -> None:
    extra = sorted(k for k in body if k not in allowed)
    if extra:
        names = ", ".join(f"'{k[:40]}'" for k in extra[:5])
        raise InputError(f"unknown field(s) {names}; allowed: "
                         f"{', '.join(allowed) or 'log, errors, build_url, build_id'}")


def _text_field(body: Dict[str, Any], name: str, required: bool = False, limit: Optional[int] = None) -> Optional[str]:
    if name not in body and not required:
        return None
    value = body.get(name)
    if not isinstance(value, str) or (required and not value.strip()):
        raise InputError(f"field '{name}' must be a {'non-empty ' if required else ''}string")
    if limit is not None and len(value) > limit:
        raise InputError(f"field '{name}' must be at most {limit} characters")
    return value


def parse_chat_request(json_body: Any) -> Dict[str, Any]:
    """Return {message, conversation_id} from a chat request; raise InputError naming the field."""
    if not isinstance(json_body, dict):
        raise InputError("the JSON body must be an object {\"message\": \"...\"}")
    _only_fields(json_body, ("message", "conversation_id"))
    message = _text_field(json_body, "message", required=True, limit=MAX_CHAT_CHARS)
    conversation_id = _text_field(json_body, "conversation_id", limit=64)
    if conversation_id is not None and not conversation_id.isalnum():
        raise InputError("field 'conversation_id' must be an id returned by an earlier chat answer")
    return {"message": message.strip(), "conversation_id": conversation_id}


def _examples() -> List[Dict[str, str]]:
    from azura.examples import example_paths

    return [{"name": path.stem, "log": path.read_text(encoding="utf-8", errors="replace")}
            for path in example_paths()]


# ---------------------------------------------------------------- Flask wiring

class SizedBody:
    """WSGI middleware: one body limit for every transfer encoding.

    A chunked body has no Content-Length, and werkzeug then cuts it at the limit without a word. It is read
    here instead, up to one byte past the limit, and handed on with the length it has, so the app's own
    Content-Length check answers 413 for it like for any other. The rest of an oversized body is read and
    dropped (up to the limit again) so that the client gets to read the 413 rather than a reset connection.
    """

    def __init__(self, app: Callable, limit: int):
        self.app, self.limit = app, limit

    def __call__(self, environ: Dict[str, Any], start_response: Callable) -> Any:
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            stream = environ["wsgi.input"]
            body = _read_at_most(stream, self.limit + 1)
            if len(body) > self.limit:
                _read_at_most(stream, self.limit, keep=False)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            del environ["HTTP_TRANSFER_ENCODING"]
        return self.app(environ, start_response)


def _read_at_most(stream: Any, limit: int, keep: bool = True) -> bytes:
    parts: List[bytes] = []
    left = limit
    while left > 0:
        chunk = stream.read(min(left, 1 << 16))
        if not chunk:
            break
        left -= len(chunk)
        if keep:
            parts.append(chunk)
    return b"".join(parts)


def allowed_hosts(settings: Settings) -> Sequence[str]:
    """Return the names the Host header may carry: AZURA_ALLOWED_HOSTS, else the loopback names and --host."""
    if settings.allowed_hosts:
        return settings.allowed_hosts
    bound = () if settings.host in WILDCARD_HOSTS else (settings.host.strip("[]").lower(),)
    return LOOPBACK_NAMES + bound


def host_allowed(host: str, allowed: Sequence[str]) -> bool:
    """Return whether a Host header (name or [v6] address, maybe with a port) is one of `allowed`.

    "*" allows any host; ".example.com" allows example.com and its subdomains; 127.0.0.1 stands for every
    loopback address.
    """
    if "*" in allowed:
        return True
    try:
        name = urlsplit(f"//{host}").hostname or ""
    except ValueError:  # "[" without "]"
        return False
    if not name:
        return False
    if any(name == entry or (entry.startswith(".") and (name.endswith(entry) or name == entry[1:]))
           for entry in allowed):
        return True
    return "127.0.0.1" in allowed and is_loopback(name)


def is_cross_site(headers: Mapping[str, str], host: str, trusted_origins: Sequence[str]) -> bool:
    """Return whether a request comes from a web page of another site than this server's.

    Browsers say so in Sec-Fetch-Site and Origin; curl and other clients send neither, so they pass. Origins
    listed in AZURA_CORS_ORIGINS are trusted. Origin "null" (a sandboxed page, a file) is another site.
    """
    origin = headers.get("Origin")
    site = (headers.get("Sec-Fetch-Site") or "").lower()
    if origin is not None:
        if origin in trusted_origins:
            return False
        return origin == "null" or urlsplit(origin).netloc.lower() != host.lower()
    return site in ("cross-site", "same-site")


def _register_guards(app, settings: Settings) -> None:
    from flask import request

    hosts = allowed_hosts(settings)

    @app.before_request
    def require_known_host():
        # A web page whose name was rebound to 127.0.0.1 reaches this server with its own name in Host.
        if not host_allowed(request.host, hosts):
            return _error("the request's Host is not a name this server answers to; add it to AZURA_ALLOWED_HOSTS",
                          400)
        return None

    @app.before_request
    def refuse_cross_site_changes():
        # Any web page may make a browser POST here (text/plain needs no preflight); only this server's page may.
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return None
        if is_cross_site(request.headers, request.host, settings.cors_origins):
            return _error("requests from other web sites may not change anything here (AZURA_CORS_ORIGINS lists "
                          "the web origins allowed)", 403)
        return None

    @app.before_request
    def require_api_key():
        if request.method == "OPTIONS" or not (request.path.startswith("/api/") or request.path == "/health"
                                               or request.path in ORIGINAL_API_ROUTES):
            return None
        if settings.api_key:
            sent = request.headers.get("Authorization", "")
            if not (sent.startswith("Bearer ") and hmac.compare_digest(sent[7:].strip().encode(),
                                                                       settings.api_key.encode())):
                return _error("missing or wrong API key: send 'Authorization: Bearer <AZURA_API_KEY>'", 401,
                              {"WWW-Authenticate": "Bearer"})
        elif not is_loopback(request.remote_addr or ""):
            return _error("this server takes requests from other machines only with an API key (AZURA_API_KEY)",
                          403)
        return None

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
        origin = request.headers.get("Origin")
        if origin and origin in settings.cors_origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response.headers["Access-Control-Max-Age"] = "600"
            response.headers.add("Vary", "Origin")
        return response


def _error(message: str, status: int, headers: Optional[Dict[str, str]] = None):
    from flask import jsonify

    response = jsonify({"error": message})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _register_errors(app) -> None:
    from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

    @app.errorhandler(AzuraError)
    def azura_error(exc: AzuraError):
        return _error(str(exc), exc.http_status)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc):
        limit = app.config["MAX_CONTENT_LENGTH"]
        return _error(f"the request body is larger than the limit of {limit} bytes (AZURA_MAX_BODY_BYTES)", 413)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        # Keep the exception's own headers: a 405 must say which methods are allowed (RFC 9110).
        extra = {name: value for name, value in exc.get_headers() if name.lower() != "content-type"}
        return _error(exc.name, exc.code or 500, extra)

    @app.errorhandler(Exception)
    def internal_error(exc: Exception):
        log.exception("internal error")
        return _error("internal error; the server log has the details", 500)


def _register_routes(app, settings: Settings, store, runner) -> None:
    from concurrent.futures import TimeoutError as FutureTimeout

    from flask import jsonify, request, send_from_directory

    from azura.redact import redact

    workers = app.extensions["azura"]["workers"]
    limit = settings.request_timeout
    # The request answers at the limit whatever happens; its work stops by its own deadline a little later, so
    # that the limit's clean 504 comes first and no thread works on long for an answer nobody waits for.
    work_limit = limit + REQUEST_WORK_GRACE
    bounded = replace(settings, timeout=min(settings.timeout, work_limit),
                      llm_timeout=min(settings.llm_timeout, work_limit))

    def within_time_limit(work: Callable[[], Any]) -> Any:
        future = workers.submit(work)
        try:
            return future.result(timeout=limit)
        except FutureTimeout:
            raise DeadlineExceeded(f"the request did not finish within its time limit of {limit:g} s "
                                   "(AZURA_REQUEST_TIMEOUT); for a long analysis POST /api/analyze/async and poll "
                                   "the job") from None

    def analyze_request() -> Dict[str, Any]:
        body = request.get_data(cache=True)
        json_body = parse_json_body(body) if request.mimetype == "application/json" else None
        return parse_analyze_request(request.mimetype or "", body, json_body)

    @app.get("/")
    def index():
        return send_from_directory(WEB_DIR, "index.html")

    @app.get("/health")
    def health():
        return jsonify({"status": "ok", "version": __version__, "provider": settings.llm_provider,
                        "model": settings.model, "azure_devops": _devops_health(settings)})

    @app.get("/openapi.json")
    def openapi():
        return send_from_directory(OPENAPI_PATH.parent, OPENAPI_PATH.name, mimetype="application/json")

    @app.post("/api/analyze")
    @app.post("/process_errors")
    def analyze():
        parsed = analyze_request()
        return jsonify(within_time_limit(lambda: run_analysis(parsed, bounded)))

    @app.post("/api/analyze/async")
    @app.post("/process_errors_async")
    def analyze_async():
        parsed = analyze_request()
        if "log" in parsed:  # the job store keeps the log until the job ends: never a secret in it
            parsed["log"] = redact(parsed["log"], settings.secrets)
        job_id = runner.submit(parsed)
        response = jsonify({"job_id": job_id, "status": "queued", "url": f"/api/jobs/{job_id}"})
        response.status_code = 202
        response.headers["Location"] = f"/api/jobs/{job_id}"
        return response

    @app.get("/api/jobs/<job_id>")
    def job(job_id: str):
        found = store.get(job_id) if job_id.isalnum() else None
        if found is None:
            return _error("no such job (finished jobs expire after AZURA_JOB_TTL seconds)", 404)
        return jsonify(found.to_dict())

    @app.get("/api/examples")
    @app.get("/example_errors")
    def examples():
        return jsonify({"examples": _examples()})

    @app.post("/api/chat")
    def chat():
        from azura.ask import ask

        if request.mimetype != "application/json":
            raise InputError("Content-Type must be application/json")
        chat_request = parse_chat_request(parse_json_body(request.get_data(cache=True)))
        history: List[Dict[str, str]] = []
        if chat_request["conversation_id"]:
            history = store.conversation(chat_request["conversation_id"])
            if history is None:
                return _error("no such conversation (conversations expire after AZURA_JOB_TTL seconds idle)", 404)
        _require_devops(settings, "answer questions about pipelines")
        message = redact(chat_request["message"], settings.secrets)  # conversations are stored
        answer = within_time_limit(lambda: ask(message, bounded, history=history[-MAX_HISTORY:]))
        history = history + [{"role": "user", "content": message},
                             {"role": "assistant", "content": answer.text}]
        conversation_id = store.save_conversation(chat_request["conversation_id"], history)
        return jsonify({"conversation_id": conversation_id, **answer.to_dict()})


def _devops_health(settings: Settings) -> Dict[str, Any]:
    """Return whether Azure DevOps is configured and answers; the message never holds the token."""
    if not (settings.org_url and settings.token):
        return {"configured": False, "reachable": None,
                "detail": "set AZURE_DEVOPS_ORG_URL and AZURE_DEVOPS_PAT to ask about builds"}
    from azura import collect

    try:
        projects = collect.list_projects(replace(settings, timeout=min(settings.timeout, 10.0)))
    except AzuraError as exc:
        return {"configured": True, "reachable": False, "detail": str(exc)}
    return {"configured": True, "reachable": True, "detail": f"{len(projects)} project(s) visible"}
