"""The YAML step and job templates, and this project's own pipeline, say what the docs promise."""
from __future__ import annotations

import re
import shlex
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

import azura

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates" / "pipelines"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def parameters(template: dict) -> dict:
    return {p["name"]: p for p in template["parameters"]}


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


def expand(text: str, template: dict, **values: str) -> str:
    """Return text with its ${{ }} expressions evaluated for these parameters (defaults for the rest).

    Covers the expression functions the templates use; their syntax is also Python's.
    """
    params = {name: p.get("default", "") for name, p in parameters(template).items()}
    functions = {
        "iif": lambda condition, yes, no: yes if condition else no,
        "eq": lambda a, b: str(a).lower() == str(b).lower(),
        "format": lambda pattern, *args: pattern.format(*args),
        "coalesce": lambda *args: next((a for a in args if a != ""), ""),
        "parameters": SimpleNamespace(**{**params, **values}),
    }
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: str(eval(m.group(1), {"__builtins__": {}}, functions)), text, flags=re.S)


def installed_requirement(template: dict, **values: str) -> str:
    """Return what the install step hands pip to install, for these parameters."""
    (install,) = [s for s in template["steps"] if "pip install" in s.get("script", "")]
    return shlex.split(expand(install["script"], template, **values))[-1]


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


def test_install_pins_the_version_of_this_source(steps_template):
    assert installed_requirement(steps_template) == f"{azura.DISTRIBUTION}=={azura.__version__}"
    assert parameters(steps_template)["azuraVersion"]["default"] == azura.__version__
    assert parameters(steps_template)["azuraVersion"]["default"] == parameters(load(TEMPLATES / "azura-job.yml"))["azuraVersion"]["default"]


def test_offline_analysis_must_not_install_the_llm_extra(steps_template):
    assert "[llm]" not in installed_requirement(steps_template, llmProvider="none")


@pytest.mark.parametrize("provider", ["openai", "azure_openai", "ollama"])
def test_llm_provider_installs_the_llm_extra_at_the_pinned_version(steps_template, provider):
    assert installed_requirement(steps_template, llmProvider=provider) == f"{azura.DISTRIBUTION}[llm]=={azura.__version__}"


def test_llm_provider_adds_the_llm_extra_to_a_given_package(steps_template):
    assert installed_requirement(steps_template, llmProvider="openai", azuraPackage="/src/azura") == "/src/azura[llm]"
    assert installed_requirement(steps_template, azuraPackage="/src/azura") == "/src/azura"


def test_installed_package_is_checked_to_be_azura_before_it_runs(steps_template):
    scripts = [s.get("script", "") for s in steps_template["steps"]]
    check = next(i for i, s in enumerate(scripts) if "'azura/cli.py' in files" in s)
    assert f"m.distribution('{azura.DISTRIBUTION}')" in scripts[check]
    assert check < scripts.index(analyze_step(steps_template)["script"])


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
    assert passed == set(parameters(steps_template)) - {"condition"}


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
    assert cells == {(os_, py) for os_ in ("ubuntu", "windows", "macos") for py in ("3.10", "3.13")}


def test_own_pipeline_publishes_the_vsix_and_dogfoods_the_steps_template():
    pipeline = load(ROOT / "azure-pipelines.yml")
    steps = [step for stage in pipeline["stages"] for job in stage["jobs"] for step in job["steps"]]
    assert any(s.get("script") == "scripts/ci_task.sh" for s in steps)
    assert any(s.get("publish") == "dist" and s.get("artifact") == "vsix" for s in steps)
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
