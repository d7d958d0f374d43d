"""The YAML step and job templates, and this project's own pipeline, say what the docs promise; the
documented examples, rendered as Azure Pipelines compiles them, give steps that each hosted agent's
shell runs as meant (tests/integration/test_template_steps.py runs them)."""
from __future__ import annotations

import re
import shlex
import subprocess

import pytest
import yaml

from tests.pipeline_yaml import (ROOT, TEMPLATES, azura_steps, expand, load, parameters, readme_examples,
                                 substitute_macros)

SUPPORTED_PYTHONS = ("3.10", "3.11", "3.12", "3.13", "3.14")
# The shell a `script:` step runs in on each hosted agent OS.
SHELLS = {"ubuntu-latest": "bash", "macOS-latest": "bash", "windows-latest": "cmd"}
AGENT_VARIABLES = {"Agent.TempDirectory": "/a/_temp", "Pipeline.Workspace": "/a", "System.AccessToken": "tok",
                   "AzureOpenAIKey": "key"}


def flat_env(step: dict) -> dict:
    """Return the step's env with `${{ if }}` branches flattened into one mapping."""
    env = {}
    for key, value in (step.get("env") or {}).items():
        if key.startswith("${{"):
            env.update(value)
        else:
            env[key] = value
    return env


@pytest.fixture(scope="module")
def steps_template() -> dict:
    return load(TEMPLATES / "azura-steps.yml")


@pytest.fixture(scope="module")
def job_template() -> dict:
    return load(TEMPLATES / "azura-job.yml")


def analyze_step(template: dict) -> dict:
    (step,) = [s for s in template["steps"] if "azura analyze" in s.get("script", "")]
    return step


def install_commands(**given: str) -> list:
    """Return the pip commands of the rendered install step, as argument lists (the fallback after ||)."""
    (install,) = [s for s in expand("azura-steps.yml", given) if "pip install" in s.get("script", "")]
    return [shlex.split(command) for command in install["script"].split(" || ")]


def outside_double_quotes(command: str) -> str:
    return "".join(command.split('"')[0::2])


def test_every_step_of_the_steps_template_runs_only_on_failure_by_default(steps_template):
    assert parameters(steps_template)["condition"]["default"] == "failed()"
    for step in steps_template["steps"]:
        assert step["condition"] == "${{ parameters.condition }}", step


def test_analyze_step_maps_the_job_token(steps_template):
    assert flat_env(analyze_step(steps_template))["SYSTEM_ACCESSTOKEN"] == "$(System.AccessToken)"


def test_analyze_step_runs_python_utf8_unbuffered_with_the_sdk_cache_in_agent_temp(steps_template):
    env = flat_env(analyze_step(steps_template))
    assert env["PYTHONUTF8"] == "1" and env["PYTHONUNBUFFERED"] == "1"
    assert env["AZURE_DEVOPS_CACHE_DIR"].startswith("$(Agent.TempDirectory)")


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "AZURE_OPENAI_API_KEY"])
def test_llm_keys_come_from_the_named_secret_variable(steps_template, name):
    assert flat_env(analyze_step(steps_template))[name] == "$(${{ parameters.apiKeyVariable }})"


def test_no_parameter_takes_a_secret_value(steps_template, job_template):
    for template in (steps_template, job_template):
        names = set(parameters(template))
        assert not {n for n in names if re.search(r"(?i)key|token|secret|password", n)} - {"apiKeyVariable"}


def test_llm_settings_are_parameters_of_both_templates(steps_template, job_template):
    llm = {"llmProvider", "model", "endpoint", "apiKeyVariable", "azureApiVersion", "budget"}
    assert llm <= set(parameters(steps_template)) and llm <= set(parameters(job_template))
    assert parameters(steps_template)["llmProvider"]["values"] == ["none", "openai", "azure_openai", "ollama"]


def test_install_takes_azura_from_the_templates_checkout_never_from_an_index_by_name():
    first, fallback = install_commands()
    assert first[-1] == "$(Pipeline.Workspace)/azura[re2]" and fallback[-1] == "$(Pipeline.Workspace)/azura"
    assert not any("azura-pipelines" in arg for arg in first + fallback)


def test_install_tries_re2_as_a_wheel_only_then_installs_without_it():
    first, fallback = install_commands()
    assert first[first.index("--only-binary") + 1] == "google-re2"
    assert "re2" not in fallback[-1]


def test_offline_analysis_must_not_install_the_llm_extra():
    assert all("llm" not in command[-1] for command in install_commands(llmProvider="none"))


@pytest.mark.parametrize("provider", ["openai", "azure_openai", "ollama"])
def test_llm_provider_installs_the_llm_extra_with_or_without_re2(provider):
    first, fallback = install_commands(llmProvider=provider)
    assert first[-1].endswith("/azura[re2,llm]") and fallback[-1].endswith("/azura[llm]")


def test_install_takes_a_given_source_and_pip_arguments():
    first, fallback = install_commands(azuraSource="/src/azura", pipArguments="--index-url https://feed/simple/")
    assert first[-1] == "/src/azura[re2]" and fallback[-1] == "/src/azura"
    assert all(c[c.index("--index-url") + 1] == "https://feed/simple/" for c in (first, fallback))


def test_source_is_checked_before_pip_runs(steps_template):
    scripts = [s.get("script", "") for s in steps_template["steps"]]
    check = next(i for i, s in enumerate(scripts) if "No Azura at" in s)
    assert "parameters.azuraSource" in scripts[check] and "checkout: azura" in scripts[check]
    assert check < next(i for i, s in enumerate(scripts) if "pip install" in s)


def test_job_template_checks_out_the_templates_repository_where_the_steps_install_from(steps_template):
    steps = expand("azura-job.yml", {"dependsOn": ["Build"]})[0]["steps"]
    checkouts = [s for s in steps if "checkout" in s]
    assert checkouts == [{"checkout": "azura", "path": "azura", "fetchDepth": 1}]
    assert parameters(steps_template)["azuraSource"]["default"] == "$(Pipeline.Workspace)/azura"
    assert install_commands()[0][-1].startswith("$(Pipeline.Workspace)/" + checkouts[0]["path"])


def test_steps_template_adds_no_checkout(steps_template):
    # one checkout step anywhere in a job turns off the implicit checkout of the user's repository
    assert not [s for s in steps_template["steps"] if "checkout" in s]


def test_job_template_puts_failed_on_the_job_and_depends_on_the_watched_jobs(job_template):
    (job,) = job_template["jobs"]
    assert job["condition"] == "failed()"
    assert job["dependsOn"] == "${{ parameters.dependsOn }}"
    assert "default" not in parameters(job_template)["dependsOn"], "dependsOn must be required"


def test_job_template_steps_must_not_ask_for_failed(job_template):
    (job,) = job_template["jobs"]
    (use,) = [s for s in job["steps"] if "template" in s]
    assert use["template"] == "azura-steps.yml"
    assert use["parameters"]["condition"] == "succeeded()"
    assert all("failed()" not in str(step.get("condition", "")) for step in job["steps"])


def test_job_template_passes_every_steps_parameter_through(steps_template, job_template):
    (job,) = job_template["jobs"]
    (use,) = [s for s in job["steps"] if "template" in s]
    passed = {k for k, v in use["parameters"].items() if v == f"${{{{ parameters.{k} }}}}"}
    assert passed == set(parameters(steps_template)) - {"condition", "azuraSource"}


def test_readme_examples_parse_and_use_both_templates():
    text = (TEMPLATES / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    documents = [yaml.safe_load(block) for block in blocks]
    used = re.findall(r"template: (\S+)", "\n".join(blocks))
    assert len(documents) >= 2
    assert {"templates/pipelines/azura-steps.yml@azura", "templates/pipelines/azura-job.yml@azura"} <= set(used)


def test_own_pipeline_tests_three_systems_at_both_ends_of_the_python_range():
    pipeline = load(ROOT / "azure-pipelines.yml")
    test_job = pipeline["stages"][0]["jobs"][0]
    cells = {(c["vmImage"].split("-")[0].lower(), c["python"]) for c in test_job["strategy"]["matrix"].values()}
    ends = (SUPPORTED_PYTHONS[0], SUPPORTED_PYTHONS[-1])
    assert cells == {(os_, py) for os_ in ("ubuntu", "windows", "macos") for py in ends}


def test_own_pipeline_publishes_the_vsix_and_dogfoods_the_steps_template():
    pipeline = load(ROOT / "azure-pipelines.yml")
    steps = [step for stage in pipeline["stages"] for job in stage["jobs"] for step in job["steps"]]
    assert any(s.get("script") == "scripts/ci_task.sh" for s in steps)
    assert any(s.get("publish") == "dist" and s.get("artifact") == "dist" for s in steps)
    dogfood = [s for s in steps if s.get("template") == "templates/pipelines/azura-steps.yml"]
    assert len(dogfood) == len(pipeline["stages"])
    assert all("condition" not in s["parameters"] for s in dogfood), "keep the template's failed()"


def test_secrets_reach_scripts_only_through_env(steps_template, job_template):
    pipeline = load(ROOT / "azure-pipelines.yml")
    steps = steps_template["steps"] + job_template["jobs"][0]["steps"]
    steps += [step for stage in pipeline["stages"] for job in stage["jobs"] for step in job["steps"]]
    for step in steps:
        script = step.get("script", "")
        assert "System.AccessToken" not in script and "apiKeyVariable" not in script, script


def test_readme_examples_check_out_the_templates_repository_where_azura_installs_from():
    for example in readme_examples():
        steps = azura_steps(example, "ubuntu-latest")
        checkouts = {s["checkout"]: s.get("path") for s in steps if "checkout" in s}
        if "steps" in example:
            assert checkouts == {"self": None, "azura": "azura"}
        assert any(s.get("script", "").startswith("python -m pip install") and "$(Pipeline.Workspace)/azura[re2" in s["script"]
                   for s in steps)


@pytest.mark.parametrize("vm_image", sorted(SHELLS))
@pytest.mark.parametrize("example", range(2), ids=["steps-example", "job-example"])
def test_documented_example_renders_to_steps_the_agents_shell_runs(vm_image, example):
    steps = azura_steps(readme_examples()[example], vm_image)
    (use_python,) = [s for s in steps if s.get("task") == "UsePythonVersion@0"]
    assert use_python["inputs"]["versionSpec"] in SUPPORTED_PYTHONS
    scripts = [substitute_macros(s["script"], AGENT_VARIABLES) for s in steps if "script" in s and "condition" in s]
    assert len(scripts) == 3 and all("$(" not in script and "${{" not in script for script in scripts)
    for script in scripts:
        assert "\n" not in script, "a folded script is one command line on every shell"
        if SHELLS[vm_image] == "cmd":
            bare = outside_double_quotes(script)
            # cmd.exe groups arguments with double quotes only and expands no $VAR, `...` or \ continuation
            assert not re.search(r"['`$\\]", bare), script
            assert script.count('"') % 2 == 0, script
        else:
            assert subprocess.run(["bash", "-n", "-c", script], capture_output=True).returncode == 0, script
