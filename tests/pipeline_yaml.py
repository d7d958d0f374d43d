"""Render Azure Pipelines YAML the way the service does at compile time, for the templates' tests.

Covers what the templates and their documented examples use: `${{ parameters.x }}` and the
expression functions iif, eq, ne, and, or, format, coalesce; `${{ if ... }}:` mapping keys; step and job
templates (`- template: path@alias` with `parameters:`), resolved in templates/pipelines; and runtime
macros `$(Name)` substituted from the agent's variables.
"""
from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List, Mapping

import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates" / "pipelines"
_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", flags=re.S)
_MACRO = re.compile(r"\$\(([\w.]+)\)")


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def parameters(template: dict) -> dict:
    return {p["name"]: p for p in template["parameters"]}


def evaluate(expression: str, values: Mapping[str, Any]) -> Any:
    """Return the value of one template expression, its syntax read as Python's."""
    functions = {
        "iif": lambda condition, yes, no: yes if condition else no,
        "eq": lambda a, b: str(a).lower() == str(b).lower(),
        "ne": lambda a, b: str(a).lower() != str(b).lower(),
        "and_": lambda *args: all(args),
        "or_": lambda *args: any(args),
        "format": lambda pattern, *args: pattern.format(*args),
        "coalesce": lambda *args: next((a for a in args if a != ""), ""),
        "parameters": SimpleNamespace(**values),
    }
    python = re.sub(r"\b(and|or)\(", r"\1_(", expression)
    return eval(python, {"__builtins__": {}}, functions)


def render(value: Any, values: Mapping[str, Any]) -> Any:
    """Return value with every template expression evaluated and every template reference expanded."""
    if isinstance(value, str):
        whole = _EXPRESSION.fullmatch(value.strip())
        if whole:  # a lone expression keeps its type: objects such as pool or dependsOn
            return evaluate(whole.group(1), values)
        return _EXPRESSION.sub(lambda m: str(evaluate(m.group(1), values)), value)
    if isinstance(value, list):
        rendered: List[Any] = []
        for item in value:
            if isinstance(item, dict) and "template" in item:
                rendered.extend(expand(item["template"], render(item.get("parameters") or {}, values)))
            else:
                rendered.append(render(item, values))
        return rendered
    if isinstance(value, dict):
        result: Dict[Any, Any] = {}
        for key, item in value.items():
            condition = re.fullmatch(r"\$\{\{\s*if (.*?)\s*\}\}", str(key), flags=re.S)
            if condition:
                if evaluate(condition.group(1), values):
                    result.update(render(item, values))
            else:
                result[key] = render(item, values)
        return result
    return value


def expand(reference: str, given: Mapping[str, Any]) -> list:
    """Return the steps or jobs a template reference stands for, with these parameters."""
    template = load(TEMPLATES / Path(reference.split("@")[0]).name)
    declared = parameters(template)
    unknown = set(given) - set(declared)
    assert not unknown, f"{reference} has no parameters {sorted(unknown)}"
    missing = [name for name, p in declared.items() if "default" not in p and name not in given]
    assert not missing, f"{reference} needs {missing}"
    values = {name: given.get(name, p.get("default", "")) for name, p in declared.items()}
    for name, value in values.items():
        allowed = declared[name].get("values")
        assert allowed is None or value in allowed, f"{reference}: {name}={value!r} is not one of {allowed}"
    return render(template.get("steps") or template.get("jobs"), values)


def substitute_macros(text: str, variables: Mapping[str, str]) -> str:
    """Return text with $(Name) macros replaced as the agent does; an unknown macro stays as written."""
    return _MACRO.sub(lambda m: variables.get(m.group(1), m.group(0)), text)


def readme_examples(readme: Path = TEMPLATES / "README.md") -> list:
    """Return the YAML examples of a README, parsed."""
    text = readme.read_text(encoding="utf-8")
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, flags=re.S)]


def azura_steps(example: dict, vm_image: str) -> list:
    """Return the steps of the job that runs Azura in a documented example, on one hosted agent OS.

    The steps example runs in the user's job, whatever its pool; the job example is given the pool.
    """
    if "steps" in example:
        return render(example["steps"], {})
    jobs = [dict(j) for j in example["jobs"]]
    (use,) = [j for j in jobs if "template" in j]
    use["parameters"] = {**use["parameters"], "pool": {"vmImage": vm_image}}
    (job,) = [j for j in render(jobs, {}) if j.get("displayName") == "Explain the failure with Azura"]
    assert job["pool"] == {"vmImage": vm_image}
    return job["steps"]
