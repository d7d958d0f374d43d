"""The command line: argparse, dispatch, and the one error shell. No analysis logic lives here.

Each sub-command takes only the flags that do something for it; the shared ones come from small parent
parsers. stdout carries the requested format and nothing else; what a command did goes to stderr.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from types import SimpleNamespace
from typing import Any, Dict, List, Mapping, Optional, Sequence, TextIO

from azura import __version__, extra_install_command
from azura.errors import AzuraError, ConfigError, ExitCode, InputError

PROG = "azura"
# The modules each optional extra brings; a command that needs a missing one names the extra to install.
EXTRAS = {"serve": ("flask", "werkzeug"), "llm": ("openai", "jsonschema"), "azure-identity": ("azure.identity",)}


def main(argv: Optional[Sequence[str]] = None, environ: Optional[Mapping[str, str]] = None,
         stdout: Optional[TextIO] = None, stderr: Optional[TextIO] = None, stdin: Any = None) -> int:
    """Run one command and return its exit code; every failure is reported here and nowhere else."""
    environ = os.environ if environ is None else environ
    io = SimpleNamespace(stdout=stdout or sys.stdout, stderr=stderr or sys.stderr, stdin=stdin, environ=environ)
    parser = build_parser(_command_named(argv))
    try:
        with contextlib.redirect_stdout(io.stdout), contextlib.redirect_stderr(io.stderr):
            args = _parse(parser, argv)
    except SystemExit as exc:  # argparse has printed the help, the version, or the usage and the problem
        return int(exc.code or 0)
    if not args.command:
        parser.print_help(io.stdout)
        return ExitCode.USAGE
    in_pipeline = str(environ.get("TF_BUILD", "")).lower() == "true"
    settings = None
    try:
        settings = _settings(args, environ)
        return args.program(args, settings, io)
    except ConfigError as exc:
        _report_problem(str(exc), io.stderr, in_pipeline)
        code = exc.exit_code
    except InputError as exc:
        _report_problem(str(exc), io.stderr, in_pipeline)
        code = exc.exit_code if (getattr(args, "log", None) or args.command != "analyze") else \
            _impossible(args, in_pipeline)  # the user's own input was refused, or Azure DevOps sent junk
    except AzuraError as exc:
        _report_problem(str(exc), io.stderr, in_pipeline)
        code = _impossible(args, in_pipeline)
    except KeyboardInterrupt:
        io.stderr.write("azura: interrupted\n")
        code = ExitCode.INTERRUPTED
    except BrokenPipeError:  # `azura demo | head`: the reader has all it wanted
        _silence_stdout()
        return ExitCode.OK
    except Exception as exc:  # a bug of ours must never turn a pipeline red unless --strict
        if _debug(environ):
            import traceback

            traceback.print_exc(file=io.stderr)
        _report_problem(f"internal error ({type(exc).__name__}): {_first_line(exc)}", io.stderr, in_pipeline)
        code = _impossible(args, in_pipeline)
    if settings is not None and args.command == "analyze":
        _discard_outputs(settings, io.stderr)
    return code


def _impossible(args: argparse.Namespace, in_pipeline: bool) -> int:
    """Return the exit code of a run that could not do its work: a pipeline step warns and goes on."""
    if args.command == "analyze" and in_pipeline and not args.strict:
        return ExitCode.OK
    return ExitCode.ANALYSIS_IMPOSSIBLE


def _discard_outputs(settings, stderr: TextIO) -> None:
    """Remove an earlier run's reports, so a failed run leaves nothing that looks like its own."""
    from azura.publish import remove_outputs

    removed = remove_outputs(settings.output_dir)
    if removed:
        stderr.write(f"azura: wrote no report; removed the earlier {', '.join(removed)} from "
                     f"{settings.output_dir}\n")


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

    flags: Dict[str, Any] = {k: v for k, v in vars(args).items() if k not in ("program", "command", "commands")}
    dotenv = read_dotenv(args.env_file, explicit=args.env_file is not None)
    config = read_config_file(args.config_path, explicit=args.config_path is not None)
    return load_settings(flags, environ, dotenv, config)


def _require_extra(extra: str, needed_by: str) -> None:
    """Raise ConfigError naming the extra and its install command when a module it brings is missing."""
    import importlib.util

    def importable(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a missing parent package, or a module blocked in sys.modules
            return False

    missing = [name for name in EXTRAS[extra] if not importable(name)]
    if missing:
        raise ConfigError(f"{needed_by} needs {' and '.join(missing)}, which the {extra} extra installs: "
                          + extra_install_command(extra))


def _check_llm(settings) -> None:
    if settings.llm_provider == "none":
        return
    from azura.analyze.llm import check_llm_settings

    _require_extra("llm", f"LLM_PROVIDER={settings.llm_provider}")
    if settings.llm_provider == "azure_openai" and not settings.azure_openai_api_key and \
            settings.azure_openai_endpoint and settings.model:
        _require_extra("azure-identity", "Azure OpenAI without AZURE_OPENAI_API_KEY (Entra ID sign-in)")
    check_llm_settings(settings)


# ---------------------------------------------------------------- parser

def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """Return the parser: one sub-command per verb, each with only the flags that apply to it.

    Given the `command` a run names, only that sub-command's parser is made: the others would parse nothing.
    """
    parser = argparse.ArgumentParser(
        prog=PROG, allow_abbrev=False,
        description="Why did the pipeline fail, and what do I do now? Analyses failed Azure Pipelines runs.",
        epilog="`azura COMMAND --help` lists the flags of one command. Start with `azura demo`.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    common = _common_parsers()
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, add_command in _ADD_COMMAND.items():
        if command in (None, name):
            add_command(subparsers, common)
    parser.set_defaults(commands=subparsers.choices)
    return parser


def _command_named(argv: Optional[Sequence[str]]) -> Optional[str]:
    """Return the sub-command `argv` runs, when its first word names one; else None (help, version or a mistake)."""
    words = sys.argv[1:] if argv is None else argv
    return words[0] if words and words[0] in _ADD_COMMAND else None


def _parse(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]]) -> argparse.Namespace:
    """Return the parsed arguments; a flag the chosen command does not take is a usage error naming both."""
    args, extras = parser.parse_known_args(argv)
    if not extras:
        return args
    command = args.commands.get(args.command) if args.command else None
    if command is None:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    flag = next((e.split("=", 1)[0] for e in extras if e.startswith("-")), None)
    if flag is None:
        command.error(f"unrecognized arguments: {' '.join(extras)}")
    # argparse offers no public list of a parser's option strings
    elsewhere = [f"{PROG} {name}" for name, other in build_parser().get_default("commands").items()
                 if flag in other._option_string_actions]  # noqa: SLF001
    if not elsewhere:
        command.error(f"unrecognized arguments: {' '.join(extras)}")
    command.error(f"{flag} does not apply to {command.prog} (it is a flag of {' and '.join(elsewhere)})")
    raise AssertionError("unreachable: ArgumentParser.error exits")


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


def _parent() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(add_help=False, allow_abbrev=False)


def _common_parsers() -> SimpleNamespace:
    """Return the parent parsers, one per family of flags that more than one command takes."""
    settings = _parent()
    files = settings.add_argument_group("settings files")
    files.add_argument("--config", dest="config_path", metavar="FILE", help="azura.yml to read (default ./azura.yml if present)")
    files.add_argument("--env-file", metavar="FILE", help=".env file to read (default ./.env if present)")

    report = _parent()
    shape = report.add_argument_group("report")
    shape.add_argument("--budget", type=_budget, metavar="TOKENS", help="token budget of the log excerpt (default 2048)")
    shape.add_argument("--tokenizer", choices=("estimate", "cl100k"),
                       help="what counts the budget: a calibrated estimate (default), or the exact cl100k tokenizer "
                            "(the tokenizer extra; loads in ~0.2 s)")
    shape.add_argument("--templates", metavar="DIR", help="folder of jinja2 templates that override the bundled ones by name")

    output = _parent()
    output.add_argument_group("output").add_argument(
        "--format", choices=("text", "markdown", "json"), help="what to print on stdout (default text)")

    llm = _parent()
    model = llm.add_argument_group("LLM (default: offline analysis only)")
    model.add_argument("--llm-provider", choices=("none", "openai", "azure_openai", "ollama"),
                       help="LLM to ask (default: LLM_PROVIDER or none)")
    model.add_argument("--model", metavar="NAME", help="model or Azure OpenAI deployment (default: LLM_MODEL_NAME)")
    model.add_argument("--endpoint", metavar="URL", help="base URL of the provider (OPENAI_BASE_URL, AZURE_OPENAI_ENDPOINT, "
                                          "OLLAMA_BASE_URL)")
    model.add_argument("--llm-timeout", type=_seconds, metavar="SECONDS", help="seconds per LLM request (default 60)")
    model.add_argument("--no-cache", action="store_true", default=None,
                       help="do not read or write the local cache of LLM answers")

    devops = _parent()
    organisation = devops.add_argument_group("Azure DevOps")
    organisation.add_argument("--org-url", metavar="URL", help="organisation or collection URL (default AZURE_DEVOPS_ORG_URL)")
    organisation.add_argument("--project", metavar="NAME", help="project name or id (default AZURE_DEVOPS_PROJECT)")
    organisation.add_argument("--no-history", action="store_true", default=None,
                              help="do not look at earlier builds")
    organisation.add_argument("--no-test-results", action="store_true", default=None,
                              help="do not read the build's failed tests from the Test Results API")
    organisation.add_argument("--no-source-lines", action="store_true", default=None,
                              help="do not read the source lines a failure names at the run's commit")
    organisation.add_argument("--timeout", type=_seconds, metavar="SECONDS", help="deadline of one analysis in seconds (default 120)")
    return SimpleNamespace(settings=settings, report=report, output=output, llm=llm, devops=devops)


def _add_analyze(subparsers, common) -> None:
    target = _parent()  # a parent of its own, so that these groups come first in --help
    what = target.add_argument_group("what to analyse")
    what.add_argument("--log", nargs="+", metavar="FILE", help="local log files; '-' reads standard input")
    what.add_argument("--build-url", metavar="URL",
                      help="a build results URL (dev.azure.com, *.visualstudio.com or Server)")
    what.add_argument("--build-id", metavar="N", help="build id (with --org-url and --project)")
    out = target.add_argument_group("reports and publishing")
    out.add_argument("--output-dir", metavar="DIR", help="folder for summary.md, pr-comment.md, analysis.json "
                                                         "(default ./azura-report; $AGENT_TEMPDIRECTORY/azura "
                                                         "in a pipeline)")
    out.add_argument("--publish", action=argparse.BooleanOptionalAction, default=None,
                     help="post tag, PR comment and summary (default: on in a pipeline, off elsewhere)")
    out.add_argument("--no-tag", action="store_true", default=None, help="do not add the build tag")
    out.add_argument("--no-pr-comment", dest="no_pr_thread", action="store_true", default=None,
                     help="do not comment on the pull request")
    out.add_argument("--no-summary", action="store_true", default=None, help="do not upload the summary tab")
    out.add_argument("--tag-prefix", metavar="PREFIX", help="build tag prefix (default azura)")
    out.add_argument("--strict", action="store_true", default=None,
                     help="in a pipeline, exit 1 when the analysis is impossible, a sink failed or the LLM's "
                          "answer was not used, instead of warning")
    parser = subparsers.add_parser(
        "analyze", parents=[target, common.output, common.devops, common.llm, common.report, common.settings],
        allow_abbrev=False, help="analyse a failed run or log files",
        description="In a pipeline (no arguments): analyse the current run and publish. Elsewhere: "
                    "--build-url / --build-id, or --log FILE for local logs.")
    parser.set_defaults(program=_cmd_analyze)


def _add_ask(subparsers, common) -> None:
    parser = subparsers.add_parser(
        "ask", parents=[common.output, common.devops, common.llm, common.report, common.settings],
        allow_abbrev=False, help="ask a question about your pipelines",
        description="Answer a question about the pipelines of an Azure DevOps organisation "
                    "(AZURE_DEVOPS_ORG_URL and AZURE_DEVOPS_PAT).")
    parser.add_argument("question", help='e.g. "why did the last build of pipeline X fail?"')
    parser.add_argument("--max-rounds", type=int, metavar="N", help="tool rounds the LLM may use (default 5)")
    parser.set_defaults(program=_cmd_ask)


def _add_serve(subparsers, common) -> None:
    parser = subparsers.add_parser(
        "serve", parents=[common.devops, common.llm, common.report, common.settings], allow_abbrev=False,
        help="run the REST API and web chat", description="Serve the REST API and the web page until Ctrl+C.")
    server = parser.add_argument_group("server")
    server.add_argument("--host", metavar="HOST", help="address to bind (default 127.0.0.1)")
    server.add_argument("--port", type=int, metavar="PORT", help="port (default 8080)")
    server.add_argument("--workers", type=int, metavar="N",
                        help="worker processes (default: one per CPU; 1 serves from this process)")
    parser.set_defaults(program=_cmd_serve)


def _add_demo(subparsers, common) -> None:
    parser = subparsers.add_parser(
        "demo", parents=[common.report, common.output, common.settings], allow_abbrev=False,
        help="analyse the bundled example failures, offline",
        description="Analyse the bundled example logs with the offline analyzer; nothing is written or posted.")
    parser.set_defaults(program=_cmd_demo)


_ADD_COMMAND = {"analyze": _add_analyze, "ask": _add_ask, "serve": _add_serve, "demo": _add_demo}


# ---------------------------------------------------------------- programs (no error handling below)

def _cmd_analyze(args, settings, io) -> int:
    import time

    from azura import engine, progress, publish, report
    from azura.models import Deadline

    deadline = Deadline.after(settings.timeout, time.monotonic())
    publish.check_output_dir(settings.output_dir)
    settings, llm_unusable = _usable_llm(settings)
    with progress.Progress(io.stderr, progress.wanted(io.stderr, io.environ)) as shown:
        if settings.mode == "local":
            analysis = engine.analyze_local(settings, stdin=io.stdin, deadline=deadline, progress=shown.phase)
        else:
            analysis = engine.analyze_run(settings, deadline=deadline, progress=shown.phase)
        if llm_unusable:
            _report_problem(llm_unusable, io.stderr, settings.in_pipeline)
            analysis = analysis.with_warning(llm_unusable, degraded=True)
        shown.phase("writing the reports" + (" and publishing" if settings.publish else ""))
        rendered = report.render(analysis, settings.templates_dir)
        commands = io.stderr if settings.format == "json" else io.stdout
        outcomes = publish.publish(analysis, rendered, settings, commands, deadline=deadline)
    _print_report(rendered, settings.format, io.stdout)
    llm_not_used = analysis.llm_status.startswith(("failed", "rejected"))
    if llm_not_used:
        _report_problem(f"LLM answer not used ({analysis.llm_status}); the report shows the offline analysis",
                        io.stderr, settings.in_pipeline)
    for outcome in outcomes:
        _report_outcome(outcome, io.stderr, settings)
    if settings.mode == "remote" and not settings.publish:
        io.stderr.write(f"azura: posted nothing to Azure DevOps (--publish tags build {settings.build_id} and "
                        f"comments on its pull request)\n")
    if any(o.sink == "files" and o.status == "failed" for o in outcomes):
        _discard_outputs(settings, io.stderr)  # some files may be this run's and some an earlier run's
    failed = [o for o in outcomes if o.status == "failed"]
    return ExitCode.ANALYSIS_IMPOSSIBLE if ((failed or llm_not_used) and settings.strict) else ExitCode.OK


def _usable_llm(settings):
    """Return the settings to run with, and why the configured LLM is left out (None when it is usable)."""
    from dataclasses import replace

    try:
        _check_llm(settings)
    except ConfigError as exc:
        if not settings.fork_pr:
            raise
        # Azure Pipelines gives builds of forks no secret variables: a missing key there is expected, not a mistake.
        return replace(settings, llm_provider="none"), (
            f"the LLM was not asked ({exc}): builds of pull requests from forks get no secret variables, "
            "so this analysis is offline")
    return settings, None


def _print_report(rendered, output_format: str, stdout: TextIO) -> None:
    text = {"json": rendered.analysis_json, "markdown": rendered.summary_md}.get(output_format, rendered.text)
    stdout.write(text if text.endswith("\n") else text + "\n")
    stdout.flush()


def _report_outcome(outcome, stderr: TextIO, settings) -> None:
    """Say on stderr what one sink did: done, failed or withheld (warnings), or (when publishing) why it had
    nothing to do."""
    if outcome.status in ("failed", "withheld"):
        _report_problem(f"{outcome.sink}: {outcome.detail}", stderr, settings.in_pipeline)
    elif outcome.status == "ok":
        stderr.write(f"azura: {outcome.detail}\n")
    elif settings.publish and outcome.detail and outcome.detail != "disabled":
        stderr.write(f"azura: {outcome.sink} skipped: {outcome.detail}\n")


def _cmd_ask(args, settings, io) -> int:
    from azura import progress
    from azura.ask import ask

    _check_llm(settings)
    with progress.Progress(io.stderr, progress.wanted(io.stderr, io.environ)) as shown:
        shown.phase(f"asking {settings.org_url or 'Azure DevOps'}")
        answer = ask(args.question, settings)
    text = answer.to_json() if settings.format == "json" else answer.to_text()
    stream = io.stdout if (answer.understood or settings.format == "json") else io.stderr
    stream.write(text if text.endswith("\n") else text + "\n")
    if not answer.understood:
        return ExitCode.USAGE
    how = f"{answer.model or answer.provider}, {len(answer.tool_calls)} tool calls" if answer.provider != "none" \
        else "offline"
    io.stderr.write(f"azura: answered from {settings.org_url} ({how})\n")
    return ExitCode.OK


def _cmd_serve(args, settings, io) -> int:
    _require_extra("serve", "azura serve")
    _check_llm(settings)
    from azura.server import serve

    serve(settings, io.stderr)
    return ExitCode.OK


def _cmd_demo(args, settings, io) -> int:
    import json
    from dataclasses import replace

    from azura import engine, report
    from azura.examples import example_paths

    paths = example_paths()
    documents: List[dict] = []
    for path in paths:
        analysis = engine.analyze_local(replace(settings, mode="local", log_paths=(str(path),),
                                                llm_provider="none"))
        if settings.format == "json":
            documents.append(analysis.to_dict())
            continue
        io.stdout.write(f"=== {path.name} ===\n")
        _print_report(report.render(analysis, settings.templates_dir), settings.format, io.stdout)
    if settings.format == "json":
        io.stdout.write(json.dumps(documents, indent=2, ensure_ascii=False) + "\n")
    io.stderr.write(f"azura: analysed the {len(paths)} example logs in {_shown_path(paths[0].parent)} offline; "
                    f"no report was written and nothing was posted. Your own log: azura analyze --log FILE\n")
    return ExitCode.OK


def _shown_path(path) -> str:
    """Return `path` relative to the working folder when it is inside it, as a person would type it."""
    from pathlib import Path

    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def main_entry() -> None:
    """Console-script entry point (`python -m azura` too)."""
    # The collector looks for cycles each time 700 more objects live than it last saw: at start-up, where every
    # module, class and compiled pattern lives on, that is some 40 collections walking the same objects again,
    # 6 ms of a small log's run. Most of what a run makes is freed as soon as it is dropped (a log's bytes are not
    # even watched), so a higher threshold delays only the few cycles it makes (as mypy does for the same reason).
    gc.set_threshold(200_000, 30, 30)
    code = main()
    # The command is done and its output written and closed. At exit the interpreter would walk every object the
    # run made to collect cycles the process is about to drop anyway: 13-16 ms, a tenth of a small log's run.
    gc.freeze()
    sys.exit(code)
