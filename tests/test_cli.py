"""The command line as a user meets it: exit codes, messages that name the problem, nothing half-written."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from azura import extra_install_command
from azura.errors import ExitCode
from azura.cli import build_parser, main
from tests.helpers import run_azura

REPO_ROOT = Path(__file__).resolve().parents[1]
DOTNET_FAILURE = [
    "2024-05-02T10:00:00.0000000Z ##[section]Starting: Build",
    "2024-05-02T10:00:01.0000000Z ##[command]dotnet build --configuration Release",
    "2024-05-02T10:00:02.0000000Z   Determining projects to restore...",
    "2024-05-02T10:00:03.0000000Z   All projects are up-to-date for restore.",
    "2024-05-02T10:00:09.0000000Z /src/Api/OrderService.cs(42,17): error CS0103: The name 'orderTotal' "
    "does not exist in the current context [/src/Api/Api.csproj]",
    "2024-05-02T10:00:09.1000000Z Build FAILED.",
    "2024-05-02T10:00:09.2000000Z ##[error]Process completed with exit code 1.",
]


def test_version_prints_the_version():
    run = run_azura("--version")
    assert run.stdout.startswith("azura ")


def test_unknown_flag_exits_2_naming_the_flag(in_tmp):
    run = run_azura("analyze", "--no-such-flag", expect=ExitCode.USAGE)
    assert "--no-such-flag" in run.stderr


@pytest.mark.parametrize("budget", ["zero", "0", "-5", "10000000"])
def test_bad_budget_exits_2_naming_budget(in_tmp, make_log, budget):
    log = make_log(DOTNET_FAILURE)
    run = run_azura("analyze", "--log", str(log), "--budget", budget, expect=ExitCode.USAGE)
    assert "--budget" in run.stderr


def test_missing_log_file_exits_2_naming_the_file(in_tmp):
    run = run_azura("analyze", "--log", "nowhere.log", expect=ExitCode.USAGE)
    assert "nowhere.log" in run.stderr and "not found" in run.stderr


def test_directory_as_log_exits_2(in_tmp):
    (in_tmp / "logs").mkdir()
    run = run_azura("analyze", "--log", "logs", expect=ExitCode.USAGE)
    assert "directory" in run.stderr


def test_log_whose_file_name_is_not_utf8_is_analysed_under_a_name_with_a_replacement_character(in_tmp):
    name = os.fsdecode(b"build-\xff.log")  # Python keeps the undecodable byte as a lone surrogate
    (in_tmp / name).write_bytes("\n".join(DOTNET_FAILURE).encode())
    run = run_azura("analyze", "--log", name, "--format", "json")
    written = json.loads((in_tmp / "azura-report" / "analysis.json").read_text(encoding="utf-8"))
    assert written["failures"][0]["task"] == json.loads(run.stdout)["failures"][0]["task"] == "build-\ufffd.log"
    assert "CS0103" in written["failures"][0]["root_cause"]


def test_empty_log_exits_2_saying_it_is_empty(in_tmp, make_log):
    log = make_log(b"")
    run = run_azura("analyze", "--log", str(log), expect=ExitCode.USAGE)
    assert "empty" in run.stderr


def test_binary_file_exits_2_saying_it_is_binary(in_tmp, make_log):
    log = make_log(bytes(range(256)) * 64, name="core.dump")
    run = run_azura("analyze", "--log", str(log), expect=ExitCode.USAGE)
    assert "binary" in run.stderr and "core.dump" in run.stderr


def test_invalid_utf8_log_is_analysed(in_tmp, make_log):
    content = "\n".join(DOTNET_FAILURE).encode() + b"\n\xff\xfe broken \xc3\x28 bytes\n"
    log = make_log(content)
    run = run_azura("analyze", "--log", str(log), "--format", "json")
    assert run.json["failures"][0]["category"] == "compile"


def test_fifty_megabyte_single_line_is_analysed_with_the_error_after_it(in_tmp, make_log):
    content = b"x" * (50 * 1024 * 1024) + b"\n" + "\n".join(DOTNET_FAILURE).encode() + b"\n"
    log = make_log(content)
    run = run_azura("analyze", "--log", str(log), "--format", "json")
    failure = run.json["failures"][0]
    assert failure["category"] == "compile"
    assert max(len(line["text"]) for line in failure["excerpt"]) < 10_000


def test_log_without_error_answers_unknown_and_exits_0(in_tmp, make_log):
    log = make_log([f"2024-05-02T10:00:0{i}.0000000Z step {i} done" for i in range(8)])
    run = run_azura("analyze", "--log", str(log), "--format", "json")
    assert run.json["failures"][0]["category"] == "unknown"


def test_stdin_is_read_when_log_is_dash(in_tmp):
    run = run_azura("analyze", "--log", "-", "--format", "json", stdin="\n".join(DOTNET_FAILURE).encode())
    assert run.json["failures"][0]["task"] == "stdin"
    assert run.json["failures"][0]["category"] == "compile"


def test_analyze_writes_the_three_output_files(in_tmp, make_log):
    log = make_log(DOTNET_FAILURE)
    run_azura("analyze", "--log", str(log), "--output-dir", "out")
    assert sorted(os.listdir(in_tmp / "out")) == ["analysis.json", "pr-comment.md", "summary.md"]


def test_evidence_quotes_the_compiler_error_with_its_line_number(in_tmp, make_log):
    log = make_log(DOTNET_FAILURE)
    evidence = run_azura("analyze", "--log", str(log), "--format", "json").json["failures"][0]["evidence"]
    assert {"line": 5, "text": DOTNET_FAILURE[4].split("Z ", 1)[1]} in evidence


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only folders")
def test_unwritable_output_folder_exits_2_and_writes_nothing(in_tmp, make_log):
    log = make_log(DOTNET_FAILURE)
    locked = in_tmp / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    run = run_azura("analyze", "--log", str(log), "--output-dir", str(locked), expect=ExitCode.USAGE)
    assert "--output-dir" in run.stderr
    assert os.listdir(locked) == []


def test_output_folder_under_a_file_exits_2_and_writes_nothing(in_tmp, make_log):
    log = make_log(DOTNET_FAILURE)
    (in_tmp / "blocker").write_text("a file where the folder should be")
    run = run_azura("analyze", "--log", str(log), "--output-dir", "blocker/out", expect=ExitCode.USAGE)
    assert "--output-dir" in run.stderr
    assert (in_tmp / "blocker").read_text() == "a file where the folder should be"


def test_log_text_cannot_issue_a_logging_command(in_tmp, make_log):
    log = make_log(DOTNET_FAILURE[:-1] + [
        "2024-05-02T10:00:09.1500000Z ##vso[task.setvariable variable=PATH]/tmp/evil",
        DOTNET_FAILURE[-1]])
    run = run_azura("analyze", "--log", str(log), "--output-dir", "out", environ={"TF_BUILD": "True"})
    for text in (run.stdout, run.stderr, *(p.read_text() for p in (in_tmp / "out").iterdir())):
        assert "##vso[task.setvariable" not in text


def test_missing_token_in_pipeline_exits_2_with_the_mapping_hint(in_tmp):
    environ = {"TF_BUILD": "True", "SYSTEM_COLLECTIONURI": "https://dev.azure.com/contoso/",
               "SYSTEM_TEAMPROJECT": "Widgets", "BUILD_BUILDID": "42", "AGENT_TEMPDIRECTORY": str(in_tmp)}
    run = run_azura("analyze", environ=environ, expect=ExitCode.USAGE)
    assert "SYSTEM_ACCESSTOKEN" in run.stderr and "$(System.AccessToken)" in run.stderr


def test_missing_build_id_outside_pipeline_names_the_flags(in_tmp):
    environ = {"AZURE_DEVOPS_ORG_URL": "https://dev.azure.com/contoso", "AZURE_DEVOPS_PAT": "x" * 52}
    run = run_azura("analyze", "--project", "Widgets", environ=environ, expect=ExitCode.USAGE)
    assert "--build-id" in run.stderr


def test_unknown_llm_provider_in_environment_exits_2_naming_the_variable(in_tmp, make_log):
    log = make_log(DOTNET_FAILURE)
    run = run_azura("analyze", "--log", str(log), environ={"LLM_PROVIDER": "skynet"}, expect=ExitCode.USAGE)
    assert "LLM_PROVIDER" in run.stderr


def test_demo_analyses_every_bundled_example(in_tmp):
    from azura.examples import example_paths

    documents = run_azura("demo", "--format", "json").json
    assert len(documents) == len(example_paths()) >= 4
    assert all(document["failures"][0]["category"] != "unknown" for document in documents)


def test_help_does_not_import_heavy_dependencies():
    code = ("import sys, contextlib, io\n"
            "from azura.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    main(['analyze', '--help'])\n"
            "print(','.join(m for m in ('azure.devops', 'openai', 'flask', 'jinja2', 'yaml') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_gzipped_log_is_read_through_gzip(in_tmp, make_log):
    import gzip

    log = make_log(gzip.compress("\n".join(DOTNET_FAILURE).encode()), name="build.log.gz")
    run = run_azura("analyze", "--log", str(log), "--format", "json")
    assert run.json["failures"][0]["category"] == "compile"


# ---------------------------------------------------------------- what each command did, and where

def test_analyze_says_on_stderr_where_it_wrote_the_reports(in_tmp, make_log):
    log = make_log(DOTNET_FAILURE)
    run = run_azura("analyze", "--log", str(log), "--output-dir", "out")
    assert run.stderr.splitlines()[-1] == f"azura: wrote {os.path.join('out', 'summary.md')}, pr-comment.md, " \
                                          "analysis.json"
    assert "wrote" not in run.stdout


def test_json_on_stdout_stays_one_document_while_stderr_says_what_was_done(in_tmp, make_log):
    log = make_log(DOTNET_FAILURE)
    run = run_azura("analyze", "--log", str(log), "--format", "json")
    assert run.json["schema_version"] == 1
    assert "azura: wrote azura-report" in run.stderr


def test_a_failed_run_removes_the_reports_an_earlier_run_left(in_tmp, make_log):
    log = make_log(DOTNET_FAILURE)
    run_azura("analyze", "--log", str(log), "--output-dir", "out")
    log.unlink()

    run = run_azura("analyze", "--log", str(log), "--output-dir", "out", expect=ExitCode.USAGE)

    assert os.listdir(in_tmp / "out") == []
    assert "removed the earlier summary.md, pr-comment.md, analysis.json" in run.stderr


def test_a_failed_run_leaves_other_files_in_the_output_folder_alone(in_tmp):
    (in_tmp / "out").mkdir()
    (in_tmp / "out" / "notes.txt").write_text("mine")
    run = run_azura("analyze", "--log", "missing.log", "--output-dir", "out", expect=ExitCode.USAGE)
    assert os.listdir(in_tmp / "out") == ["notes.txt"] and "removed" not in run.stderr


def test_demo_says_what_it_analysed_and_that_it_wrote_no_report(in_tmp):
    from azura.examples import example_paths

    run = run_azura("demo")
    assert f"azura: analysed the {len(example_paths())} example logs in {example_paths()[0].parent} offline" \
        in run.stderr and "no report was written" in run.stderr
    assert os.listdir(in_tmp) == []


# ---------------------------------------------------------------- each command takes only its own flags

@pytest.mark.parametrize("args, command, flag", [
    (("demo", "--publish"), "demo", "--publish"),
    (("demo", "--output-dir", "out"), "demo", "--output-dir"),
    (("demo", "--llm-provider", "openai"), "demo", "--llm-provider"),
    (("serve", "--no-tag"), "serve", "--no-tag"),
    (("serve", "--format", "json"), "serve", "--format"),
    (("ask", "--strict", "why did build 1 fail?"), "ask", "--strict"),
    (("ask", "--build-url=https://dev.azure.com/o/p/_build/results?buildId=1", "why?"), "ask", "--build-url"),
])
def test_a_flag_of_another_command_is_a_usage_error_naming_both(in_tmp, args, command, flag):
    run = run_azura(*args, expect=ExitCode.USAGE)
    assert f"azura {command}: error: {flag} does not apply to azura {command} (it is a flag of azura analyze" \
        in run.stderr


@pytest.mark.parametrize("command, absent", [
    ("demo", ("--publish", "--output-dir", "--llm-provider", "--org-url", "--strict", "--timeout")),
    ("serve", ("--publish", "--no-tag", "--format", "--output-dir", "--strict", "--log")),
    ("ask", ("--publish", "--no-summary", "--output-dir", "--strict", "--log", "--build-url")),
])
def test_help_of_a_command_lists_only_the_flags_that_apply(command, absent):
    help_text = run_azura(command, "--help").stdout
    assert [flag for flag in absent if flag in help_text] == []


@pytest.mark.parametrize("command", ["analyze", "ask", "serve", "demo"])
def test_a_command_run_gets_only_its_own_parser_and_the_same_help_and_parsing(command):
    only, every = build_parser(command).get_default("commands"), build_parser().get_default("commands")
    argv = {"analyze": ["--log", "a.log", "--budget", "512"], "ask": ["why?", "--max-rounds", "2"],
            "serve": ["--port", "9000"], "demo": ["--format", "json"]}[command]

    assert list(only) == [command]
    assert only[command].format_help() == every[command].format_help()
    assert only[command].parse_args(argv) == every[command].parse_args(argv)


def test_analyze_keeps_every_documented_flag():
    help_text = run_azura("analyze", "--help").stdout
    documented = ("--llm-provider", "--model", "--endpoint", "--llm-timeout", "--no-cache", "--budget",
                  "--output-dir", "--format", "--publish", "--no-publish", "--no-tag", "--no-pr-comment",
                  "--no-summary", "--tag-prefix", "--no-history", "--templates", "--config", "--env-file",
                  "--strict", "--timeout", "--log", "--build-url", "--org-url", "--project", "--build-id")
    assert [flag for flag in documented if flag not in help_text] == []


# ---------------------------------------------------------------- exit codes

class InterruptedStdin:
    def read(self, *args):
        raise KeyboardInterrupt

    readline = read1 = readinto = read

    def __iter__(self):
        raise KeyboardInterrupt


def test_interrupted_run_exits_130(in_tmp):
    import io

    stderr = io.StringIO()
    code = main(["analyze", "--log", "-"], environ={}, stdout=io.StringIO(), stderr=stderr, stdin=InterruptedStdin())
    assert code == ExitCode.INTERRUPTED == 130 and "interrupted" in stderr.getvalue()


def test_a_run_that_cannot_reach_azure_devops_exits_1_outside_a_pipeline(in_tmp):
    environ = {"AZURE_DEVOPS_PAT": "x" * 52, "AZURE_DEVOPS_ORG_URL": "http://127.0.0.1:9"}  # discard port: closed
    run = run_azura("analyze", "--project", "Widgets", "--build-id", "7", "--timeout", "3", environ=environ,
                    expect=ExitCode.ANALYSIS_IMPOSSIBLE)
    assert "could not read build 7" in run.stderr


# ---------------------------------------------------------------- missing extras

@pytest.mark.parametrize("blocked, args, environ, extra", [
    (("flask",), ("serve",), {}, "serve"),
    (("werkzeug",), ("serve",), {}, "serve"),
    (("openai",), ("ask", "list pipelines"), {"LLM_PROVIDER": "openai", "OPENAI_API_KEY": "sk-test-123456"}, "llm"),
    (("jsonschema",), ("analyze", "--log", "-"), {"LLM_PROVIDER": "ollama"}, "llm"),
    (("azure.identity",), ("analyze", "--log", "-"),
     {"LLM_PROVIDER": "azure_openai", "AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com", "LLM_MODEL_NAME": "d"},
     "azure-identity"),
])
def test_a_missing_extra_is_named_with_its_install_command_and_exits_2(in_tmp, monkeypatch, blocked, args, environ,
                                                                       extra):
    for module in blocked:
        monkeypatch.setitem(sys.modules, module, None)  # `import module` now fails as if it were not installed
    run = run_azura(*args, environ={"AZURA_JOBS_DB": str(in_tmp / "jobs.db"), **environ},
                    stdin="\n".join(DOTNET_FAILURE).encode(), expect=ExitCode.USAGE)
    assert extra_install_command(extra) in run.stderr and "internal error" not in run.stderr


class _Installed:
    """A distribution's metadata as pip left it: `direct_url` is its direct_url.json, None for an index install."""

    def __init__(self, direct_url):
        self.direct_url = direct_url

    def read_text(self, name):
        return None if self.direct_url is None else json.dumps(self.direct_url)


@pytest.mark.parametrize("direct_url, command", [
    (None, "pip install 'azura-pipelines[llm]'"),
    ({"url": "file:///home/me/azura", "dir_info": {}}, "pip install '/home/me/azura[llm]'"),
    ({"url": "file:///home/me/azura", "dir_info": {"editable": True}}, "pip install -e '/home/me/azura[llm]'"),
    ({"url": "https://github.com/o/azura", "vcs_info": {"vcs": "git", "commit_id": "4f2a"}},
     "pip install 'azura-pipelines[llm] @ git+https://github.com/o/azura@4f2a'"),
    ({"url": "file:///tmp/azura_pipelines-0.2.0-py3-none-any.whl", "archive_info": {}},
     "pip install 'azura-pipelines[llm] @ file:///tmp/azura_pipelines-0.2.0-py3-none-any.whl'"),
])
def test_the_install_command_for_an_extra_names_where_azura_was_installed_from(monkeypatch, direct_url, command):
    from importlib import metadata

    monkeypatch.setattr(metadata, "distribution", lambda name: _Installed(direct_url))
    assert extra_install_command("llm") == command


def test_without_the_tokenizer_extra_tokens_are_estimated_and_the_run_succeeds(in_tmp, monkeypatch, make_log):
    monkeypatch.setitem(sys.modules, "tiktoken", None)
    run = run_azura("analyze", "--log", str(make_log(DOTNET_FAILURE)), "--format", "json")
    assert run.json["usage"]["excerpt_tokens"] > 0


def test_asking_for_cl100k_without_the_tokenizer_extra_exits_2_naming_the_extra(in_tmp, monkeypatch, make_log):
    monkeypatch.setitem(sys.modules, "tiktoken", None)
    run = run_azura("analyze", "--log", str(make_log(DOTNET_FAILURE)), "--tokenizer", "cl100k",
                    expect=ExitCode.USAGE)
    assert "pip install 'azura-pipelines[tokenizer]'" in run.stderr


def test_an_analysis_imports_the_tokenizer_only_when_asked_for(in_tmp, make_log):
    pytest.importorskip("tiktoken")
    code = ("import sys; from azura.cli import main; main(sys.argv[1:], stdout=open('/dev/null', 'w')); "
            "print('tiktoken' in sys.modules)")
    log = str(make_log(DOTNET_FAILURE))
    imported = [subprocess.run([sys.executable, "-c", code, "analyze", "--log", log, *extra], capture_output=True,
                               text=True, check=True, cwd=in_tmp).stdout.strip()
                for extra in ((), ("--tokenizer", "cl100k"))]
    assert imported == ["False", "True"]


def test_an_analysis_that_posts_no_pr_comment_leaves_the_pr_thread_module_unloaded(in_tmp, make_log):
    code = ("import sys; from azura.cli import main; main(sys.argv[1:], stdout=open('/dev/null', 'w')); "
            "print('azura.publish.pr_thread' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code, "analyze", "--log", str(make_log(DOTNET_FAILURE))],
                            capture_output=True, text=True, check=True, cwd=in_tmp)
    assert result.stdout.strip() == "False"


def test_serve_on_a_port_in_use_exits_2_naming_the_port(in_tmp):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = run_azura("serve", "--port", str(port), environ={"AZURA_JOBS_DB": str(in_tmp / "jobs.db")},
                        expect=ExitCode.USAGE)
    assert f"127.0.0.1:{port}" in run.stderr and "--port" in run.stderr


def test_readme_shows_what_the_demo_really_prints(in_tmp):
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    shown = re.search(r"```\n(=== pytest-failure\.log ===\n.*?)```", readme, re.DOTALL).group(1)
    printed = run_azura("demo").stdout
    start = printed.index("=== pytest-failure.log ===")
    actual = printed[start:printed.index("\n===", start)]
    # the token count depends on whether the tokenizer extra is installed
    assert re.sub(r"[\d,]+-token", "N-token", shown).strip() == re.sub(r"[\d,]+-token", "N-token", actual).strip()


# ---------------------------------------------------------------------------------------------- unreadable input

def test_truncated_gzip_log_exits_2_saying_it_is_cut_short(in_tmp, make_log):
    import gzip

    whole = gzip.compress(("\n".join(DOTNET_FAILURE) * 50).encode())
    log = make_log(whole[:len(whole) // 2], name="build.log.gz")

    run = run_azura("analyze", "--log", str(log), expect=ExitCode.USAGE)

    assert "build.log.gz" in run.stderr and "not a complete gzip file" in run.stderr


def test_corrupt_gzip_log_exits_2(in_tmp, make_log):
    log = make_log(b"\x1f\x8b\x08\x00" + b"\xff" * 64, name="build.log.gz")

    run = run_azura("analyze", "--log", str(log), expect=ExitCode.USAGE)

    assert "build.log.gz" in run.stderr


def test_over_long_file_name_exits_2_without_repeating_the_whole_name(in_tmp):
    name = "x" * 5000 + ".log"

    run = run_azura("analyze", "--log", name, expect=ExitCode.USAGE)

    assert "too long" in run.stderr and len(run.stderr) < 1000


def test_empty_standard_input_exits_2_saying_it_is_empty(in_tmp):
    run = run_azura("analyze", "--log", "-", stdin=b"", expect=ExitCode.USAGE)

    assert "standard input is empty" in run.stderr


def test_a_fifo_is_read_as_a_stream(in_tmp):
    import threading

    fifo = in_tmp / "build.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text("\n".join(DOTNET_FAILURE) + "\n"))
    writer.start()
    try:
        run = run_azura("analyze", "--log", str(fifo), "--format", "json")
    finally:
        writer.join(timeout=30)

    assert run.json["failures"][0]["category"] == "compile"


def test_an_empty_fifo_exits_2_saying_it_is_empty(in_tmp):
    import threading

    fifo = in_tmp / "empty.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(b""))
    writer.start()
    try:
        run = run_azura("analyze", "--log", str(fifo), expect=ExitCode.USAGE)
    finally:
        writer.join(timeout=30)

    assert "empty.fifo is empty" in run.stderr


@pytest.mark.parametrize("log_argument", ["<(printf '%s\\n' \"$LOG\")", "/dev/stdin"],
                         ids=["process-substitution", "dev-stdin"])
def test_process_substitution_and_dev_stdin_are_read_as_streams(in_tmp, log_argument):
    script = f"printf '%s\\n' \"$LOG\" | {sys.executable} -m azura analyze --format json --log {log_argument}"
    env = {"PATH": os.environ.get("PATH", ""), "LOG": "\n".join(DOTNET_FAILURE), "HOME": str(in_tmp),
           "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "AZURA_NO_CACHE": "1"}

    completed = subprocess.run(["bash", "-c", script], env=env, cwd=in_tmp, capture_output=True, text=True, timeout=120)

    assert completed.returncode == 0, completed.stderr
    assert '"category": "compile"' in completed.stdout
