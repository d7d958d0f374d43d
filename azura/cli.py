"""The command line: argparse, dispatch, and the one error shell. No analysis logic lives here."""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from typing import Any, Dict, Mapping, Optional, Sequence, TextIO

from azura import __version__
from azura.errors import AzuraError, ConfigError, ExitCode, InputError

PROG = "azura"


def main(argv: Optional[Sequence[str]] = None, environ: Optional[Mapping[str, str]] = None,
         stdout: Optional[TextIO] = None, stderr: Optional[TextIO] = None, stdin: Any = None) -> int:
    """Run one command and return its exit code; every failure is reported here and nowhere else."""
    environ = os.environ if environ is None else environ
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = build_parser()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the help, the version, or the usage and the problem
        return int(exc.code or 0)
    if not getattr(args, "command", None):
        parser.print_help(stdout)
        return ExitCode.USAGE
    in_pipeline = str(environ.get("TF_BUILD", "")).lower() == "true"
    strict = bool(getattr(args, "strict", False))
    try:
        settings = _settings(args, environ)
        return args.program(args, settings, stdout, stderr, stdin)
    except ConfigError as exc:
        _report_problem(str(exc), stderr, in_pipeline)
        return exc.exit_code
    except InputError as exc:
        _report_problem(str(exc), stderr, in_pipeline)
        if getattr(args, "log", None) or args.command != "analyze":  # the user's own input was refused
            return exc.exit_code
        return ExitCode.ANALYSIS_IMPOSSIBLE if strict else ExitCode.OK
    except AzuraError as exc:
        _report_problem(str(exc), stderr, in_pipeline)
        return ExitCode.ANALYSIS_IMPOSSIBLE if strict else ExitCode.OK
    except KeyboardInterrupt:
        stderr.write("azura: interrupted\n")
        return ExitCode.ANALYSIS_IMPOSSIBLE
    except BrokenPipeError:  # `azura demo | head`: the reader has all it wanted
        _silence_stdout()
        return ExitCode.OK
    except Exception as exc:  # a bug of ours must never turn a pipeline red unless --strict
        if _debug(environ):
            traceback.print_exc(file=stderr)
        _report_problem(f"internal error ({type(exc).__name__}): {_first_line(exc)}", stderr, in_pipeline)
        return ExitCode.ANALYSIS_IMPOSSIBLE if (strict or not in_pipeline) else ExitCode.OK


def _silence_stdout() -> None:
    # Python flushes stdout again at exit; point it at devnull so that flush cannot fail a second time.
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _report_problem(message: str, stderr: TextIO, in_pipeline: bool) -> None:
    from azura.commands import neutralize, vso
    from azura.redact import redact

    message = redact(message)  # an internal error's text may quote a log line
    if in_pipeline:
        stderr.write(vso("task.logissue", f"Azura: {message}", type="warning") + "\n")
    else:
        stderr.write(f"azura: {neutralize(message)}\n")


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0][:300]


def _debug(environ: Mapping[str, str]) -> bool:
    return any(str(environ.get(name, "")).lower() in ("1", "true") for name in ("AZURA_DEBUG", "SYSTEM_DEBUG"))


def _settings(args: argparse.Namespace, environ: Mapping[str, str]):
    from azura.context import load_settings, read_config_file, read_dotenv

    flags: Dict[str, Any] = {k: v for k, v in vars(args).items() if k not in ("program", "command")}
    dotenv = read_dotenv(args.env_file, explicit=args.env_file is not None)
    config = read_config_file(args.config_path, explicit=args.config_path is not None)
    return load_settings(flags, environ, dotenv, config)


# ---------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    """Return the parser: one sub-command per verb, the common flags shared through a parent parser."""
    parser = argparse.ArgumentParser(
        prog=PROG, allow_abbrev=False,
        description="Why did the pipeline fail, and what do I do now? Analyses failed Azure Pipelines runs.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    common = _common_parser()
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_analyze(subparsers, common)
    _add_ask(subparsers, common)
    _add_serve(subparsers, common)
    _add_demo(subparsers, common)
    return parser


def _budget(value: str) -> int:
    from azura.context import MAX_BUDGET, MIN_BUDGET

    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of tokens, got {value!r}") from None
    if not MIN_BUDGET <= number <= MAX_BUDGET:
        raise argparse.ArgumentTypeError(f"must be between {MIN_BUDGET} and {MAX_BUDGET} tokens, got {number}")
    return number


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return number


def _common_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    llm = common.add_argument_group("LLM")
    llm.add_argument("--llm-provider", choices=("none", "openai", "azure_openai", "ollama"),
                     help="LLM to ask (default: LLM_PROVIDER or none = offline analysis only)")
    llm.add_argument("--model", help="model or Azure OpenAI deployment (default: LLM_MODEL_NAME)")
    llm.add_argument("--endpoint", help="base URL of the provider (OPENAI_BASE_URL, AZURE_OPENAI_ENDPOINT, "
                                        "OLLAMA_BASE_URL)")
    llm.add_argument("--llm-timeout", type=_seconds, help="seconds per LLM request (default 60)")
    llm.add_argument("--no-cache", action="store_true", default=None,
                     help="do not read or write the local cache of LLM answers")
    run = common.add_argument_group("run")
    run.add_argument("--budget", type=_budget, help="token budget of the log excerpt (default 2048)")
    run.add_argument("--output-dir", help="folder for summary.md, pr-comment.md, analysis.json")
    run.add_argument("--format", choices=("text", "markdown", "json"), help="what to print (default text)")
    run.add_argument("--publish", action=argparse.BooleanOptionalAction, default=None,
                     help="post tag, PR comment and summary (default: on in a pipeline, off elsewhere)")
    run.add_argument("--no-tag", action="store_true", default=None, help="do not add the build tag")
    run.add_argument("--no-pr-comment", dest="no_pr_thread", action="store_true", default=None,
                     help="do not comment on the pull request")
    run.add_argument("--no-summary", action="store_true", default=None, help="do not upload the summary tab")
    run.add_argument("--tag-prefix", help="build tag prefix (default azura)")
    run.add_argument("--no-history", action="store_true", default=None,
                     help="do not look at earlier builds")
    run.add_argument("--templates", help="folder of jinja2 templates that override the bundled ones by name")
    run.add_argument("--config", dest="config_path", help="azura.yml to read (default ./azura.yml if present)")
    run.add_argument("--env-file", help=".env file to read (default ./.env if present)")
    run.add_argument("--strict", action="store_true", default=None,
                     help="exit 1 when the analysis is impossible instead of warning")
    run.add_argument("--timeout", type=_seconds, help="deadline of the whole run in seconds (default 120)")
    return common


def _add_build_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Azure DevOps")
    group.add_argument("--build-url", help="a build results URL (dev.azure.com, *.visualstudio.com or Server)")
    group.add_argument("--org-url", help="organisation or collection URL (default AZURE_DEVOPS_ORG_URL)")
    group.add_argument("--project", help="project name or id")
    group.add_argument("--build-id", help="build id")


def _add_analyze(subparsers, common) -> None:
    parser = subparsers.add_parser(
        "analyze", parents=[common], allow_abbrev=False, help="analyse a failed run or log files",
        description="In a pipeline (no arguments): analyse the current run and publish. Elsewhere: "
                    "--build-url / --build-id, or --log FILE for local logs.")
    parser.add_argument("--log", nargs="+", metavar="FILE", help="local log files; '-' reads standard input")
    _add_build_flags(parser)
    parser.set_defaults(program=_cmd_analyze)


def _add_ask(subparsers, common) -> None:
    parser = subparsers.add_parser("ask", parents=[common], allow_abbrev=False,
                                   help="ask a question about your pipelines")
    parser.add_argument("question", help='e.g. "why did the last build of pipeline X fail?"')
    parser.add_argument("--max-rounds", type=int, help="tool rounds the LLM may use (default 5)")
    _add_build_flags(parser)
    parser.set_defaults(program=_cmd_ask)


def _add_serve(subparsers, common) -> None:
    parser = subparsers.add_parser("serve", parents=[common], allow_abbrev=False,
                                   help="run the REST API and web chat")
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 8080)")
    _add_build_flags(parser)
    parser.set_defaults(program=_cmd_serve)


def _add_demo(subparsers, common) -> None:
    parser = subparsers.add_parser("demo", parents=[common], allow_abbrev=False,
                                   help="analyse the bundled example failures, offline")
    parser.set_defaults(program=_cmd_demo)


# ---------------------------------------------------------------- programs (no error handling below)

def _cmd_analyze(args, settings, stdout: TextIO, stderr: TextIO, stdin) -> int:
    import time

    from azura import engine, publish, report
    from azura.models import Deadline

    deadline = Deadline.after(settings.timeout, time.monotonic())
    publish.check_output_dir(settings.output_dir)
    if settings.llm_provider != "none":
        from azura.analyze.llm import check_llm_settings

        check_llm_settings(settings)
    if settings.mode == "local":
        analysis = engine.analyze_local(settings, stdin=stdin, deadline=deadline)
    else:
        analysis = engine.analyze_run(settings, deadline=deadline)
    rendered = report.render(analysis, settings.templates_dir)
    commands = stderr if settings.format == "json" else stdout
    outcomes = publish.publish(analysis, rendered, settings, commands, deadline=deadline)
    _print_report(rendered, settings.format, stdout)
    for outcome in outcomes:
        _report_outcome(outcome, stderr, settings.in_pipeline, settings.publish)
    failed = [o for o in outcomes if o.status == "failed"]
    return ExitCode.ANALYSIS_IMPOSSIBLE if (failed and settings.strict) else ExitCode.OK


def _print_report(rendered, output_format: str, stdout: TextIO) -> None:
    text = {"json": rendered.analysis_json, "markdown": rendered.summary_md}.get(output_format, rendered.text)
    stdout.write(text if text.endswith("\n") else text + "\n")
    stdout.flush()


def _report_outcome(outcome, stderr: TextIO, in_pipeline: bool, publishing: bool) -> None:
    if outcome.status == "failed":
        _report_problem(f"{outcome.sink}: {outcome.detail}", stderr, in_pipeline)
    elif publishing and outcome.status == "skipped" and outcome.detail and outcome.detail != "disabled":
        stderr.write(f"azura: {outcome.sink} skipped: {outcome.detail}\n")


def _cmd_ask(args, settings, stdout: TextIO, stderr: TextIO, stdin) -> int:
    from azura.ask import ask

    answer = ask(args.question, settings)
    text = answer.to_json() if settings.format == "json" else answer.to_text()
    stream = stdout if (answer.understood or settings.format == "json") else stderr
    stream.write(text if text.endswith("\n") else text + "\n")
    return ExitCode.OK if answer.understood else ExitCode.USAGE


def _cmd_serve(args, settings, stdout: TextIO, stderr: TextIO, stdin) -> int:
    from azura.server import serve

    serve(settings, stderr)
    return ExitCode.OK


def _cmd_demo(args, settings, stdout: TextIO, stderr: TextIO, stdin) -> int:
    from dataclasses import replace

    from azura import engine, report
    from azura.examples import example_paths

    documents = []
    for path in example_paths():
        analysis = engine.analyze_local(replace(settings, mode="local", log_paths=(str(path),),
                                                llm_provider="none"))
        if settings.format == "json":
            documents.append(analysis.to_dict())
            continue
        stdout.write(f"=== {path.name} ===\n")
        _print_report(report.render(analysis, settings.templates_dir), settings.format, stdout)
    if settings.format == "json":
        import json

        stdout.write(json.dumps(documents, indent=2, ensure_ascii=False) + "\n")
    return ExitCode.OK


def main_entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
