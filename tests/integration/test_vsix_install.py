"""The built .vsix is complete and small: Azura's core installs from the wheels inside it, in a fresh venv,
with no index, the task in it runs Azura against the Azure DevOps emulator, and the whole fits the
Marketplace's upload limit because the llm extra is left to the index.

The .vsix tests build nothing: run scripts/build_vsix.sh first (scripts/ci_task.sh does), or point
AZURA_VSIX at a .vsix. The install is the task's own command, with pip's configuration and index cut
off. The packaging scripts' own rules (which wheels a platform needs, what task.json must hold) are
checked without a .vsix.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

import azura
from packaging.requirements import Requirement
from tests.emulators import ado_scenarios as scenarios
from tests.emulators.ado import AdoEmulator
from tests.emulators.forward_proxy import ForwardProxy
from tests.integration.conftest import ADO_HOST, TOKEN
from tests.scripts import packaging_script

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")
DEADLINE = 300  # seconds for the venv, the install and the demo; past that the test fails, not hangs
MARKETPLACE_LIMIT = 26_214_400  # bytes: the Marketplace's upload limit for an extension
LLM_EXTRA_PACKAGES = ("openai", "pydantic", "pydantic_core", "jsonschema", "rpds_py")


def _vsix() -> Path | None:
    if os.environ.get("AZURA_VSIX"):
        return Path(os.environ["AZURA_VSIX"])
    built = REPO_ROOT / "dist" / f"azura-{azura.__version__}.vsix"
    return built if built.is_file() else None


VSIX = _vsix()
needs_vsix = pytest.mark.skipif(
    VSIX is None, reason=f"no dist/azura-{azura.__version__}.vsix: run scripts/build_vsix.sh (or set AZURA_VSIX)")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")


def _pip_offline_settings() -> dict:
    """Return pip settings that hide every configured source and point the index at a closed port."""
    return {
        "PIP_CONFIG_FILE": os.devnull,  # no user or site config (find-links, extra indexes)
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",  # refused at once if anything asked an index
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_RETRIES": "0",  # the closed port would be retried with back-off for seconds
    }


def _offline_environment() -> dict:
    """Return os.environ without pip's own settings, plus the offline ones."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("PIP_")}, **_pip_offline_settings()}


def _venv_executable(venv: Path, name: str) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / (name + (".exe" if os.name == "nt" else ""))


@dataclass(frozen=True)
class Install:
    """A venv and what pip printed while installing Azura into it."""

    venv: Path
    returncode: int
    output: str


@pytest.fixture(scope="module")
def extension(tmp_path_factory) -> Path:
    """Return a folder holding the unpacked .vsix."""
    folder = tmp_path_factory.mktemp("vsix")
    with zipfile.ZipFile(VSIX) as archive:
        archive.extractall(folder)
    return folder


@pytest.fixture(scope="module")
def install(extension, tmp_path_factory) -> Install:
    """Return the pip install of the bundled Azura wheel into a fresh venv, as the task runs it."""
    venv = tmp_path_factory.mktemp("agent-tools") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=DEADLINE)
    wheels = extension / "task" / "wheels"
    (azura_wheel,) = wheels.glob("azura_pipelines-*-py3-none-any.whl")
    result = subprocess.run(
        [str(_venv_executable(venv, "python")), "-m", "pip", "install", "--no-input", "--progress-bar", "off",
         "--no-index", "--find-links", str(wheels), str(azura_wheel)],
        capture_output=True, text=True, env=_offline_environment(), timeout=DEADLINE, check=False)
    return Install(venv, result.returncode, result.stdout + result.stderr)


@needs_vsix
def test_vsix_installs_azura_from_its_wheels_without_an_index(install):
    assert install.returncode == 0, install.output
    assert "Looking in indexes" not in install.output
    assert "Successfully installed" in install.output and f"{azura.DISTRIBUTION}-{azura.__version__}" in install.output


@needs_vsix
def test_vsix_install_must_not_bring_the_llm_extra(install):
    assert install.returncode == 0, install.output
    for name in ("openai", "jsonschema"):
        assert f" {name}-" not in install.output, name


@needs_vsix
def test_azura_demo_runs_from_the_vsix_install(install, tmp_path):
    assert install.returncode == 0, install.output
    demo = subprocess.run(
        [str(_venv_executable(install.venv, "azura")), "demo"], capture_output=True, text=True,
        cwd=tmp_path, env={**_offline_environment(), "PYTHONUTF8": "1"}, timeout=DEADLINE, check=False)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "=== " in demo.stdout and "category:" in demo.stdout


@needs_vsix
def test_vsix_bundles_the_azura_wheel_of_this_source(extension):
    names = [w.name for w in (extension / "task" / "wheels").glob("azura*.whl")]
    assert names == [f"azura_pipelines-{azura.__version__}-py3-none-any.whl"]


@needs_vsix
def test_vsix_azura_wheel_holds_the_knowledge_base_and_what_its_patterns_need(extension):
    (wheel,) = (extension / "task" / "wheels").glob("azura*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {"azura/kb/signatures.yml", "azura/kb/needed-texts.json"} <= names


@needs_vsix
def test_vsix_fits_the_marketplace_upload_limit():
    assert VSIX.stat().st_size < MARKETPLACE_LIMIT


@needs_vsix
def test_vsix_bundles_pyyaml_as_one_pure_wheel_for_every_platform(extension):
    wheels = [w.name for w in (extension / "task" / "wheels").glob("pyyaml-*.whl")]
    assert len(wheels) == 1 and wheels[0].endswith("-py3-none-any.whl"), wheels


@needs_vsix
def test_vsix_bundles_no_wheel_of_the_llm_extra(extension):
    bundled = {w.name.split("-")[0].lower() for w in (extension / "task" / "wheels").glob("*.whl")}
    assert not bundled & set(LLM_EXTRA_PACKAGES)
    assert {"azure_devops", "msrest", "jinja2", "pyyaml", "python_dotenv", "google_re2"} <= bundled


@needs_vsix
def test_vsix_task_ships_its_runtime_modules_and_no_build_tools(extension):
    task = extension / "task"
    assert (task / "main.js").is_file() and (task / "task.json").is_file()
    assert (task / "node_modules" / "azure-pipelines-task-lib" / "task.js").is_file()
    for tool in ("typescript", "mocha", "tfx-cli"):
        assert not (task / "node_modules" / tool).exists(), tool
    assert not list(task.glob("*.ts")) and not (task / "Tests").exists()


def _run_task(extension: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([NODE, str(extension / "task" / "main.js")], env=env, capture_output=True, text=True,
                          timeout=DEADLINE, check=False)


@pytest.fixture
def task_env(emulator, agent_env, tmp_path):
    """Return the environment an agent gives the task: inputs, the job connection, no token variable."""
    return _task_environment(emulator, agent_env, tmp_path)


def _task_environment(emulator, agent_env, tmp_path) -> dict:
    scenario = scenarios.multi_stage_two_failed_jobs(emulator)
    env = agent_env(emulator, scenario, SYSTEM_ACCESSTOKEN=None, PYTHONPATH=None)
    env.update(_pip_offline_settings())
    env.update({
        # the interpreter running the tests is the one the task finds first
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "AGENT_TOOLSDIRECTORY": str(tmp_path / "tools"),
        "ENDPOINT_AUTH_SYSTEMVSSCONNECTION": json.dumps({"parameters": {"AccessToken": TOKEN}, "scheme": "OAuth"}),
        "INPUT_LLMPROVIDER": "none",
        "INPUT_PUBLISHTAG": "true",
        "INPUT_PUBLISHPRCOMMENT": "true",
        "INPUT_PUBLISHSUMMARY": "true",
        "INPUT_FAILONERROR": "false",
    })
    return env


@needs_vsix
@needs_node
def test_task_from_the_vsix_installs_offline_and_publishes(extension, task_env, emulator):
    run = _run_task(extension, task_env)

    assert run.returncode == 0, run.stdout + run.stderr
    assert emulator.tags(int(task_env["BUILD_BUILDID"])) == ["azura-test"]
    assert any(line.startswith("##vso[task.uploadsummary]") for line in run.stdout.splitlines())
    assert "##vso[task.complete result=Succeeded;]Azura analysed the run." in run.stdout
    assert "Looking in indexes" not in run.stdout
    assert TOKEN not in run.stdout and TOKEN not in run.stderr


@needs_vsix
@needs_node
def test_task_from_the_vsix_installs_re2_where_the_bundle_has_its_wheel(extension, task_env):
    run = _run_task(extension, task_env)

    assert run.returncode == 0, run.stdout + run.stderr
    tools = Path(task_env["AGENT_TOOLSDIRECTORY"])
    assert [p for p in tools.rglob("google_re2-*.dist-info") if p.parent.name == "site-packages"], run.stdout


@needs_vsix
def test_re2_extra_installs_offline_from_the_vsix_on_this_platform(extension, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=DEADLINE)
    wheels = extension / "task" / "wheels"
    (azura_wheel,) = wheels.glob("azura_pipelines-*-py3-none-any.whl")
    python = str(_venv_executable(venv, "python"))

    result = subprocess.run(
        [python, "-m", "pip", "install", "--no-input", "--no-index", "--find-links", str(wheels), f"{azura_wheel}[re2]"],
        capture_output=True, text=True, env=_offline_environment(), timeout=DEADLINE, check=False)

    assert result.returncode == 0, result.stdout + result.stderr
    assert subprocess.run([python, "-c", "import re2"], timeout=DEADLINE).returncode == 0


@needs_vsix
@needs_node
def test_task_behind_a_proxy_with_an_internal_ca_publishes_through_the_proxy(extension, agent_env, internal_ca,
                                                                              tmp_path):
    ca_file, server_context = internal_ca
    credentials = ("agent-svc", "p@ss:w/rd")
    with AdoEmulator(token=TOKEN, tls=server_context) as emulator, \
            ForwardProxy(hosts={ADO_HOST: "127.0.0.1"}, credentials=credentials) as proxy:
        env = _task_environment(emulator, agent_env, tmp_path)
        env.update({  # what the agent gives a task when it was configured with --proxyurl ... --sslcacert
            "SYSTEM_COLLECTIONURI": f"https://{ADO_HOST}:{emulator.port}/{emulator.org}/",
            "AGENT_PROXYURL": proxy.url,
            "AGENT_PROXYUSERNAME": credentials[0],
            "SECRET_AGENT_PROXYPASSWORD": credentials[1],
            "AGENT_PROXYBYPASSLIST": json.dumps(["127\\.0\\.0\\.1"]),
            "AGENT_CAINFO": str(ca_file),
        })

        run = _run_task(extension, env)

        assert run.returncode == 0, run.stdout + run.stderr
        assert "##vso[task.complete result=Succeeded;]" in run.stdout, run.stdout
        assert emulator.tags(int(env["BUILD_BUILDID"])) == ["azura-test"]
    tunnels = proxy.requests(host=ADO_HOST)
    assert tunnels and {(r.method, r.authorized) for r in tunnels} == {("CONNECT", True)}
    # task-lib itself debug-prints Agent.ProxyPassword when it loads, and again (as AGENT_PROXYPASSWORD) when the
    # task reads the secret variables for AZURA_SECRETS; the agent masks that secret variable in both.
    task_lib_prints = ("##vso[task.debug]Agent.ProxyPassword=", "##vso[task.debug]AGENT_PROXYPASSWORD=")
    leaks = [line for line in (run.stdout + run.stderr).splitlines()
             if credentials[1] in line and not line.startswith(task_lib_prints)]
    assert leaks == []


@needs_vsix
@needs_node
def test_task_reuses_its_environment_on_the_next_run(extension, task_env):
    first = _run_task(extension, task_env)
    assert first.returncode == 0, first.stdout + first.stderr

    second = _run_task(extension, task_env)

    assert "Reusing Azura" in second.stdout and "-m pip install" not in second.stdout
    assert "##vso[task.complete result=Succeeded;]" in second.stdout


@needs_vsix
@needs_node
def test_task_with_a_provider_and_no_index_warns_and_analyses_offline(extension, task_env, emulator):
    task_env.update({"INPUT_LLMPROVIDER": "openai", "INPUT_MODEL": "gpt-4o-mini"})

    run = _run_task(extension, task_env)

    lines = run.stdout.splitlines()
    assert any(line.startswith("##vso[task.issue type=warning") and "Could not install Azura's LLM extra" in line
               for line in lines), run.stdout + run.stderr
    assert any(line.startswith("[command]") and "-m azura analyze --output-dir " in line
               and "--llm-provider none" in line for line in lines)
    assert emulator.tags(int(task_env["BUILD_BUILDID"])) == ["azura-test"]
    assert "##vso[task.complete result=SucceededWithIssues;]" in run.stdout
    assert TOKEN not in run.stdout and TOKEN not in run.stderr


LOCK = """
anyio==4.12.1 ; python_full_version < '3.11' \\
    --hash=sha256:aaaa
colorama==0.4.6 ; sys_platform == 'win32' \\
    --hash=sha256:bbbb
    # via click
exceptiongroup==1.3.1 ; python_full_version < '3.11' \\
    --hash=sha256:cccc \\
    --hash=sha256:dddd
pyyaml==6.0.3 \\
    --hash=sha256:eeee
"""


def _selected(python: str, platform: str) -> set:
    bundle = packaging_script("bundle_wheels")
    (target,) = [t for t in bundle.all_targets() if t.python == python and t.platform.name == platform]
    return {pin.name for pin in bundle.read_pins(LOCK) if pin.applies_to(target)}


def test_bundle_serves_linux_windows_and_macos_on_x64_and_arm64_for_every_supported_python():
    targets = {(t.platform.name, t.python) for t in packaging_script("bundle_wheels").all_targets()}
    platforms = {f"{os_}-{arch}" for os_ in ("linux", "windows", "macos") for arch in ("x64", "arm64")}
    assert targets == {(p, v) for p in platforms for v in ("3.10", "3.11", "3.12", "3.13", "3.14")}


def test_bundle_takes_exceptiongroup_for_python_below_3_11_only():
    assert "exceptiongroup" in _selected("3.10", "linux-x64")
    assert "exceptiongroup" not in _selected("3.11", "linux-x64")


def test_bundle_takes_colorama_for_windows_only():
    assert "colorama" in _selected("3.12", "windows-x64")
    assert "colorama" not in _selected("3.12", "macos-arm64")


def test_bundle_reads_every_hash_of_a_locked_pin():
    pins = {pin.name: pin for pin in packaging_script("bundle_wheels").read_pins(LOCK)}
    assert pins["exceptiongroup"].hashes == ("sha256:cccc", "sha256:dddd")
    assert pins["exceptiongroup"].requirement() == "exceptiongroup==1.3.1 --hash=sha256:cccc --hash=sha256:dddd"


def test_bundle_downloads_a_locked_file_under_its_one_hash():
    bundle = packaging_script("bundle_wheels")
    requirement = bundle._requirement("markupsafe-3.0.4-cp313-cp313-win_amd64.whl", "sha256:ffff")
    assert requirement == "markupsafe==3.0.4 --hash=sha256:ffff"


def test_task_json_of_this_source_passes_the_published_schema(tmp_path):
    (tmp_path / "main.js").touch()
    task = json.loads((REPO_ROOT / "task" / "task.json").read_text(encoding="utf-8"))
    assert packaging_script("validate_task").task_problems(task, tmp_path) == []


def test_restricted_command_mode_is_refused(tmp_path):
    (tmp_path / "main.js").touch()
    task = json.loads((REPO_ROOT / "task" / "task.json").read_text(encoding="utf-8"))
    task["restrictions"] = {"commands": {"mode": "restricted"}}
    problems = packaging_script("validate_task").task_problems(task, tmp_path)
    assert problems == ["task.json restrictions: restricted mode blocks the summary command"]


def test_task_and_extension_of_this_source_carry_one_version():
    task = json.loads((REPO_ROOT / "task" / "task.json").read_text(encoding="utf-8"))
    manifest = json.loads((REPO_ROOT / "vss-extension.json").read_text(encoding="utf-8"))
    assert packaging_script("validate_task").version_problems(task, manifest) == []


def test_task_version_other_than_the_extension_is_refused():
    task = {"version": {"Major": 0, "Minor": 2, "Patch": 1}}
    problems = packaging_script("validate_task").version_problems(task, {"version": "0.2.0"})
    assert problems == ["task.json version: 0.2.1 is not the extension's 0.2.0; bump both"]
