"""The committed locks agree with what they lock: a dependency added or raised without running
scripts/lock.sh fails here, offline, before any install could resolve it live."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, before it joined the standard library
    import tomli as tomllib

from tests.scripts import REPO_ROOT, packaging_script

REQUIREMENTS = REPO_ROOT / "requirements"
bundle = packaging_script("bundle_wheels")
TARGETS = bundle.all_targets()
CI_EXTRAS = ("re2", "llm", "tokenizer", "serve")  # the extras CI tests with (requirements/ci.txt)


def pins(lock: str) -> list:
    return bundle.read_pins((REQUIREMENTS / lock).read_text(encoding="utf-8"))


def wanted(lines: list[str]) -> list[Requirement]:
    requirements = (line.split("#", 1)[0].strip() for line in lines)
    return [Requirement(r) for r in requirements if r and not r.startswith("-")]


def azura_requirements(extras=()) -> list[tuple[Requirement, str]]:
    """Return the requirements pyproject.toml declares, for the core and these extras, with their extra."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = [(line, "") for line in project["dependencies"]]
    declared += [(line, extra) for extra in extras for line in project["optional-dependencies"][extra]]
    return [(Requirement(line), extra) for line, extra in declared]


def unmet(requirements: list[tuple[Requirement, str]], locked: list) -> list[str]:
    """Return 'requirement on target' for each requirement no applicable pin satisfies."""
    problems = []
    for target in TARGETS:
        for requirement, extra in requirements:
            environment = {**target.marker_environment(), "extra": extra}
            if requirement.marker is not None and not requirement.marker.evaluate(environment):
                continue
            versions = [p.version for p in locked
                        if p.name == canonicalize_name(requirement.name) and p.applies_to(target)]
            if not any(requirement.specifier.contains(v, prereleases=True) for v in versions):
                problems.append(f"{requirement} on {target.name} (locked: {versions or 'nothing'})")
    return problems


def test_ci_lock_pins_azura_with_the_extras_ci_installs_and_the_ci_tools():
    tools = [(r, "") for r in wanted((REQUIREMENTS / "ci.in").read_text(encoding="utf-8").splitlines())]
    assert unmet(azura_requirements(CI_EXTRAS) + tools, pins("ci.txt")) == [], "run scripts/lock.sh"


def test_packaging_lock_pins_every_packaging_tool():
    tools = [(r, "") for r in wanted((REQUIREMENTS / "packaging.in").read_text(encoding="utf-8").splitlines())]
    assert unmet(tools, pins("packaging.txt")) == [], "run scripts/lock.sh"


def test_vsix_lock_pins_azuras_core_and_the_re2_extra_only():
    locked = pins("vsix.txt")
    assert unmet(azura_requirements(("re2",)), locked) == [], "run scripts/lock.sh"
    assert not {"openai", "jsonschema", "flask", "tiktoken"} & {p.name for p in locked}


@pytest.mark.parametrize("lock", ["ci.txt", "packaging.txt", "vsix.txt"])
def test_every_locked_pin_names_the_hashes_of_its_files(lock):
    assert [p.name for p in pins(lock) if not p.hashes] == []


def test_wheels_lock_has_one_file_for_each_pin_of_each_target_optional_ones_where_they_exist():
    wheels_lock = json.loads((REQUIREMENTS / "vsix-wheels.json").read_text(encoding="utf-8"))
    assert set(wheels_lock["targets"]) == {t.name for t in TARGETS}
    for target in TARGETS:
        files = sorted(bundle._pin(f) for f in wheels_lock["targets"][target.name])
        applying = {f"{p.name}=={p.version}" for p in pins("vsix.txt") if p.applies_to(target)}
        required = {pin for pin in applying if pin.split("==")[0] not in bundle.OPTIONAL}
        assert len(files) == len(set(files)) and required <= set(files) <= applying, target.name


def test_wheels_lock_files_are_among_their_pins_hashes():
    hashes = {f"{p.name}=={p.version}": set(p.hashes) for p in pins("vsix.txt")}
    wheels_lock = json.loads((REQUIREMENTS / "vsix-wheels.json").read_text(encoding="utf-8"))
    assert [f for f, digest in wheels_lock["files"].items() if digest not in hashes[bundle._pin(f)]] == []
