"""Check task.json and vss-extension.json before packaging; tfx only warns about most of this.

    python scripts/packaging/validate_task.py TASK_JSON MANIFEST EXPECTED_VERSION

Prints one line per problem and exits 1 if there is any.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import jsonschema

SCHEMA = Path(__file__).with_name("tasks.schema.json")
NODE_HANDLERS = ("Node", "Node10", "Node16", "Node20_1", "Node24")
SECTIONS = ("execution", "prejobexecution", "postjobexecution")


def task_problems(task: dict, task_dir: Path) -> list[str]:
    """Return what is wrong with a task.json: schema errors and the checks tfx only warns about."""
    validator = jsonschema.Draft4Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    problems = [f"task.json {'/'.join(map(str, e.path)) or '(root)'}: {e.message}"
                for e in validator.iter_errors(task)]
    if not 1 <= len(task.get("friendlyName", "")) <= 40:
        problems.append("task.json friendlyName: must be 1 to 40 characters")
    if not task.get("instanceNameFormat"):
        problems.append("task.json instanceNameFormat: missing")
    if task.get("restrictions", {}).get("commands", {}).get("mode") == "restricted":
        problems.append("task.json restrictions: restricted mode blocks the summary command")
    for section in SECTIONS:
        for handler, spec in task.get(section, {}).items():
            target = spec.get("target", "")
            if handler in NODE_HANDLERS and not (task_dir / target).is_file():
                problems.append(f"task.json {section}.{handler}: target {target} does not exist (compile first)")
    if not set(task.get("execution", {})) & {"Node20_1", "Node24"}:
        problems.append("task.json execution: needs a Node20_1 or Node24 handler")
    return problems


def manifest_problems(manifest: dict, root: Path, expected_version: str) -> list[str]:
    """Return what is wrong with vss-extension.json: the rules tfx enforces plus our version rule."""
    problems = []
    if not re.fullmatch(r"[A-Za-z0-9_-]+", manifest.get("id", "")):
        problems.append("vss-extension.json id: letters, digits, '_' and '-' only")
    for key in ("publisher", "name", "version"):
        if not manifest.get(key):
            problems.append(f"vss-extension.json {key}: missing")
    if len(manifest.get("description", "")) > 200:
        problems.append("vss-extension.json description: longer than 200 characters")
    if not manifest.get("categories"):
        problems.append("vss-extension.json categories: at least one is needed")
    if manifest.get("version") != expected_version:
        problems.append(f"vss-extension.json version: {manifest.get('version')} is not Azura's {expected_version}")
    for entry in manifest.get("files", []):
        if not (root / entry.get("path", "")).exists():
            problems.append(f"vss-extension.json files: {entry.get('path')} does not exist")
    for icon in manifest.get("icons", {}).values():
        if not (root / icon).is_file():
            problems.append(f"vss-extension.json icons: {icon} does not exist")
    tasks = [c for c in manifest.get("contributions", []) if c.get("type") == "ms.vss-distributed-task.task"]
    if not tasks:
        problems.append("vss-extension.json contributions: no ms.vss-distributed-task.task")
    for contribution in tasks:
        folder = contribution.get("properties", {}).get("name", "")
        if not (root / folder / "task.json").is_file():
            problems.append(f"vss-extension.json contribution {contribution.get('id')}: {folder}/task.json missing")
    return problems


def version_problems(task: dict, manifest: dict) -> list[str]:
    """Return a problem when the task's version is not the extension's.

    Agents cache a task by its version and the Marketplace an extension by its own: a changed task needs both
    bumped, and one number for both makes forgetting one impossible.
    """
    version = task.get("version", {})
    task_version = ".".join(str(version.get(part)) for part in ("Major", "Minor", "Patch"))
    if task_version != manifest.get("version"):
        return [f"task.json version: {task_version} is not the extension's {manifest.get('version')}; bump both"]
    return []


def main(argv: list[str] | None = None) -> int:
    """Print every problem found; return 1 if there is any."""
    task_path, manifest_path, expected_version = (argv if argv is not None else sys.argv[1:])
    task_file, manifest_file = Path(task_path), Path(manifest_path)
    task = json.loads(task_file.read_text(encoding="utf-8"))
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    problems = task_problems(task, task_file.parent)
    problems += manifest_problems(manifest, manifest_file.parent, expected_version)
    problems += version_problems(task, manifest)
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
