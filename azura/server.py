"""The REST API and web chat (`azura serve`): a Flask app made by `create_app(settings)`.

Development: `azura serve` (werkzeug's threaded server on 127.0.0.1:8080). Production, behind gunicorn:

    AZURA_API_KEY=... AZURA_HOST=0.0.0.0 gunicorn -w 2 -b 0.0.0.0:8080 'azura.server:app_from_env()'

Without AZURA_API_KEY the app answers only clients on this machine; behind a reverse proxy on the same
machine every client looks local, so set the key there too. Jobs and chat conversations live in the SQLite
file AZURA_JOBS_DB, shared by all workers; a job a stopped worker left unfinished is run again on start.

Every analysis is the engine's: the same Analysis.to_dict() (the analysis.json contract) and the same
PR-comment markdown as the pipeline step. Pasted logs are untrusted and may hold secrets: no error message
quotes a request value, and the Azure DevOps token and LLM keys never leave the server.
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, TextIO

from azura import __version__
from azura.context import Settings
from azura.errors import AzuraError, ConfigError, InputError

WEB_DIR = Path(__file__).parent / "web"
OPENAPI_PATH = Path(__file__).parent / "openapi.json"
MAX_CHAT_CHARS = 2000
MAX_HISTORY = 20  # messages of a conversation sent back to the LLM
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
    """Raise ConfigError when the server would listen beyond this machine without an API key."""
    if not is_loopback(settings.host) and not settings.api_key:
        raise ConfigError(f"refusing to listen on {settings.host} without an API key: set AZURA_API_KEY "
                          f"(clients then send 'Authorization: Bearer <key>'), or bind 127.0.0.1")


def create_app(settings: Settings, start_jobs: bool = True):
    """Return the Flask app for these settings; jobs left unfinished by an earlier process are resumed."""
    from flask import Flask

    from azura.jobs import JobRunner, JobStore

    check_exposure(settings)
    app = Flask(__name__, static_folder=str(WEB_DIR), static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False
    jobs_db = settings.jobs_db or os.path.join(tempfile.gettempdir(), "azura-jobs.sqlite3")
    store = JobStore(jobs_db, ttl=settings.job_ttl, stale_after=settings.timeout * 2 + 60)
    runner = JobRunner(store, lambda request, progress: run_analysis(request, settings, progress))
    app.extensions["azura"] = {"settings": settings, "store": store, "runner": runner}
    _register_guards(app, settings)
    _register_errors(app)
    _register_routes(app, settings, store, runner)
    if start_jobs:
        resumed = runner.resume()
        if resumed:
            log.info("resumed %d unfinished job(s)", len(resumed))
    return app


def app_from_env():
    """Return the app configured from the environment, .env and azura.yml (the gunicorn entry point)."""
    from azura.context import load_settings, read_config_file, read_dotenv

    settings = load_settings({}, os.environ, read_dotenv(None, explicit=False), read_config_file(None, explicit=False))
    return create_app(settings)


def serve(settings: Settings, stderr: TextIO = sys.stderr) -> None:
    """Serve the app on settings.host:port with werkzeug's threaded server until interrupted."""
    from werkzeug.serving import make_server

    check_exposure(settings)
    # Bound here rather than by werkzeug, which prints its own message and exits 1 when the port is taken.
    with _listen(settings) as listener:
        app = create_app(settings)
        server = make_server(settings.host, settings.port, app, threaded=True, fd=listener.fileno())
        address = f"http://{settings.host}:{server.port}"
        stderr.write(f"azura: serving on {address} (Ctrl+C stops; use gunicorn in production: "
                     f"gunicorn -w 2 'azura.server:app_from_env()')\n")
        try:
            server.serve_forever()  # werkzeug's returns on Ctrl+C
        finally:
            server.server_close()
            app.extensions["azura"]["runner"].shutdown()
    stderr.write(f"azura: stopped serving {address}; unfinished jobs are kept in {settings.jobs_db} and resume "
                 f"on the next start\n")


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

def _register_guards(app, settings: Settings) -> None:
    from flask import request

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
    from flask import jsonify, request, send_from_directory

    def analyze_request() -> Dict[str, Any]:
        body = request.get_data(cache=True)
        json_body = None
        if request.mimetype == "application/json":
            json_body = request.get_json(silent=True)
            if json_body is None:
                raise InputError("the request body is not valid JSON")
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
        return jsonify(run_analysis(analyze_request(), settings))

    @app.post("/api/analyze/async")
    @app.post("/process_errors_async")
    def analyze_async():
        job_id = runner.submit(analyze_request())
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
        chat_request = parse_chat_request(request.get_json(silent=True))
        history: List[Dict[str, str]] = []
        if chat_request["conversation_id"]:
            history = store.conversation(chat_request["conversation_id"])
            if history is None:
                return _error("no such conversation (conversations expire after AZURA_JOB_TTL seconds idle)", 404)
        _require_devops(settings, "answer questions about pipelines")
        answer = ask(chat_request["message"], settings, history=history[-MAX_HISTORY:])
        history = history + [{"role": "user", "content": chat_request["message"]},
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
