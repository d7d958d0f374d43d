"""The steps template as the README documents it, rendered as Azure Pipelines compiles it and run as a Linux
or macOS agent runs script steps (bash, the agent's macros, the step's env): Azura installs from the
templates' checkout and explains a failed run of the Azure DevOps emulator."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import REPO_ROOT, STEP_TIMEOUT, TOKEN
from tests.emulators import ado_scenarios as scenarios
from tests.pipeline_yaml import azura_steps, readme_examples, substitute_macros

pytestmark = pytest.mark.slow
BASH = shutil.which("bash")
# The source files a checkout of this repository holds that building Azura reads.
SOURCE = ("pyproject.toml", "setup.py", "README.md", "LICENSE", "azura", "templates")


def documented_steps() -> list:
    """Return the steps of the README's pipeline example, as a user copies it, rendered."""
    (example,) = [e for e in readme_examples(REPO_ROOT / "README.md") if "steps" in e and "resources" in e]
    steps = [dict(step) for step in example["steps"]]
    (use,) = [step for step in steps if "template" in step]
    # The agent here has no index: the dependencies are the test interpreter's, the build backend too.
    use["parameters"] = {**(use.get("parameters") or {}), "pipArguments": "--no-index --no-build-isolation --no-deps"}
    return azura_steps({"steps": steps}, "ubuntu-latest")


def check_out_azura(workspace: Path, path: str) -> None:
    """Lay out the templates' repository where a `checkout: azura` step with this path puts it."""
    target = workspace / path
    for name in SOURCE:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def run_scripts(steps: list, env: dict, variables: dict, cwd: Path) -> list:
    """Run each Azura script step with bash as the agent would; return the completed processes."""
    runs = []
    for step in steps:
        if "script" not in step or "condition" not in step:
            continue
        step_env = {key: substitute_macros(str(value), variables) for key, value in (step.get("env") or {}).items()}
        runs.append(subprocess.run([BASH, "-c", substitute_macros(step["script"], variables)], cwd=cwd,
                                   env={**env, **step_env}, capture_output=True, text=True, timeout=STEP_TIMEOUT))
        if runs[-1].returncode:
            break
    return runs


@pytest.fixture
def agent(tmp_path, emulator, agent_env):
    """Return (env, variables, workspace) of a hosted Linux agent whose `python` is the test interpreter."""
    shims = tmp_path / "bin"
    shims.mkdir()
    python = shims / "python"
    # A wrapper, not a link: a link would lose the virtual environment that holds the dependencies.
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n', encoding="utf-8")
    python.chmod(0o755)
    scenario = scenarios.multi_stage_two_failed_jobs(emulator)
    env = agent_env(emulator, scenario, PYTHONPATH=None)
    env["PATH"] = os.pathsep.join([str(shims), env["PATH"]])
    workspace = tmp_path / "a"
    (workspace / "s").mkdir(parents=True)
    variables = {"Pipeline.Workspace": str(workspace), "Agent.TempDirectory": env["AGENT_TEMPDIRECTORY"],
                 "System.AccessToken": TOKEN}
    return env, variables, workspace


@pytest.mark.skipif(BASH is None, reason="bash is not installed")
def test_documented_steps_install_azura_from_the_checkout_and_explain_the_failure(agent):
    env, variables, workspace = agent
    steps = documented_steps()
    (checkout,) = [s for s in steps if s.get("checkout") == "azura"]
    check_out_azura(workspace, checkout["path"])

    runs = run_scripts(steps, env, variables, cwd=workspace / "s")

    assert [r.returncode for r in runs] == [0, 0, 0], "\n".join(r.stdout + r.stderr for r in runs)
    installed = Path(env["AGENT_TEMPDIRECTORY"]) / "azura-lib" / "azura" / "cli.py"
    assert installed.is_file()
    assert any(line.startswith("##vso[task.uploadsummary]") for line in runs[-1].stdout.splitlines())
    assert (Path(env["AGENT_TEMPDIRECTORY"]) / "azura" / "analysis.json").is_file()
    assert TOKEN not in runs[-1].stdout + runs[-1].stderr


@pytest.mark.skipif(BASH is None, reason="bash is not installed")
def test_documented_steps_without_the_checkout_stop_at_a_message_that_names_it(agent):
    env, variables, workspace = agent

    runs = run_scripts(documented_steps(), env, variables, cwd=workspace / "s")

    assert len(runs) == 1 and runs[0].returncode != 0
    assert "No Azura at" in runs[0].stderr and "checkout: azura" in runs[0].stderr
