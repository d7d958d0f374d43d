"""Download the wheels Azura's core needs on every agent platform, so the task installs with no index.

    python scripts/packaging/bundle_wheels.py AZURA_WHEEL DEST [--jobs N]

Resolves Azura's dependencies once for all platforms (``uv pip compile --universal``), then, for each
agent platform and Python version, downloads the wheels whose markers apply there with
``pip download --only-binary=:all: --platform ... --python-version ... --implementation cp``.
``pip download`` alone is not enough: it evaluates markers against the running interpreter, so it
would leave out ``exceptiongroup`` on Python < 3.11 and ``colorama`` on Windows. Finally it proves
the bundle complete: for each target, resolving from DEST alone, offline, must succeed. Prints
one JSON summary line; exits 1 when a target cannot be served from DEST.

Only Azura's core requirements are bundled: the ``llm`` extra (openai and pydantic's compiled core,
jsonschema) would multiply the size past the Marketplace's upload limit, and the task installs it
from the index only when a provider is configured.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement

PYTHON_VERSIONS = ("3.9", "3.10", "3.11", "3.12", "3.13")
# Oldest macOS an agent may run: wheels built for it or for older releases are taken. uv reads the
# same variable for its darwin targets. 13, because google-re2 publishes no macOS wheel for older
# releases; every hosted macOS image is 13 or later.
MACOS_DEPLOYMENT_TARGET = "13.0"
# Compiled by their authors for speed only; the pure wheel behaves the same. charset-normalizer's
# builds (15 wheels, about 4 MB) speed up the encoding guess requests makes for undeclared charsets.
PURE_ONLY = frozenset({"charset-normalizer"})
# Compiled for speed with no pure wheel published: built here from the index's sdist, without the
# extension, into one py3-none-any wheel. PyYAML's compiled wheels (20, about 6.5 MB, two thirds of
# the bundle) only add the C loaders, and Azura calls yaml.safe_load, which never uses them.
PURE_FROM_SOURCE = {"pyyaml": {"PYYAML_FORCE_LIBYAML": "0"}}


@dataclass(frozen=True)
class Platform:
    """An agent platform: its wheel tags for pip, its name for uv, and its marker values."""

    name: str
    wheel_tags: tuple[str, ...]
    uv_platform: str
    markers: tuple[tuple[str, str], ...]


PLATFORMS = (
    Platform(
        "linux-x64",
        ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"),
        "x86_64-manylinux_2_28",
        (("sys_platform", "linux"), ("platform_system", "Linux"), ("os_name", "posix"),
         ("platform_machine", "x86_64")),
    ),
    Platform(
        "windows-x64",
        ("win_amd64",),
        "x86_64-pc-windows-msvc",
        (("sys_platform", "win32"), ("platform_system", "Windows"), ("os_name", "nt"),
         ("platform_machine", "AMD64")),
    ),
    Platform(
        "macos-arm64",
        ("macosx_13_0_arm64",),
        "aarch64-apple-darwin",
        (("sys_platform", "darwin"), ("platform_system", "Darwin"), ("os_name", "posix"),
         ("platform_machine", "arm64")),
    ),
    Platform(
        "macos-x64",
        ("macosx_13_0_x86_64",),
        "x86_64-apple-darwin",
        (("sys_platform", "darwin"), ("platform_system", "Darwin"), ("os_name", "posix"),
         ("platform_machine", "x86_64")),
    ),
)


@dataclass(frozen=True)
class Target:
    """One platform with one Python version."""

    platform: Platform
    python: str

    @property
    def name(self) -> str:
        return f"{self.platform.name}-py{self.python}"

    def marker_environment(self) -> dict[str, str]:
        """Return the values PEP 508 markers see on this target."""
        return {
            **dict(self.platform.markers),
            "python_version": self.python,
            "python_full_version": f"{self.python}.0",
            "implementation_name": "cpython",
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_version": "",
            "extra": "",
        }


def all_targets() -> tuple[Target, ...]:
    """Return every platform paired with every supported Python version."""
    return tuple(Target(p, v) for p in PLATFORMS for v in PYTHON_VERSIONS)


def universal_lock(azura_wheel: Path) -> list[str]:
    """Return pinned requirement lines, with markers, for Azura on every platform."""
    with tempfile.TemporaryDirectory() as tmp:
        request = Path(tmp, "request.in")
        request.write_text(f"{azura_wheel}\n", encoding="utf-8")
        output = _run([
            sys.executable, "-m", "uv", "pip", "compile", str(request), "--universal", "--python-version", PYTHON_VERSIONS[0],
            "--only-binary", ":all:", "--no-header", "--no-annotate", "--quiet",
        ])
    return [line.strip() for line in output.splitlines() if line.strip() and not line.startswith("#")]


def requirements_for(lock: list[str], target: Target) -> list[str]:
    """Return the pinned requirements (name==version) that apply on the target, without Azura."""
    environment = target.marker_environment()
    selected = []
    for line in lock:
        if line.endswith(".whl"):
            continue  # Azura's own wheel, copied as it is
        requirement = Requirement(line)
        if requirement.marker is None or Marker(str(requirement.marker)).evaluate(environment):
            selected.append(f"{requirement.name.lower()}{requirement.specifier}")
    return selected


def download(requirements: list[str], target: Target, dest: Path) -> None:
    """Download the target's wheels for exactly these pins into dest (pure ones for PURE_ONLY)."""
    dest.mkdir(parents=True, exist_ok=True)
    pure = [r for r in requirements if Requirement(r).name in PURE_ONLY]
    compiled = [r for r in requirements if r not in pure]
    platform_args = [arg for tag in target.platform.wheel_tags for arg in ("--platform", tag)]
    if compiled:
        _pip_download(compiled, ["--implementation", "cp", "--python-version", target.python, *platform_args], dest)
    if pure:
        _pip_download(pure, ["--implementation", "py", "--abi", "none", "--platform", "any",
                             "--python-version", target.python], dest)


def build_pure_wheel(pin: str, dest: Path) -> None:
    """Build the pure wheel of a PURE_FROM_SOURCE pin from its sdist into dest."""
    name = Requirement(pin).name
    with tempfile.TemporaryDirectory() as tmp:
        _run([
            sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
            "--no-binary", name, "--wheel-dir", tmp, pin,
        ], env={**os.environ, **PURE_FROM_SOURCE[name]})
        (wheel,) = Path(tmp).glob("*.whl")
        if not wheel.name.endswith("-none-any.whl"):
            raise SystemExit(f"{pin}: the build without its extension gave {wheel.name}, not a pure wheel")
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(wheel, dest / wheel.name)


def _pip_download(requirements: list[str], tag_args: list[str], dest: Path) -> None:
    _run([
        sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
        "--only-binary=:all:", *tag_args, "--dest", str(dest), *requirements,
    ])


def unresolvable_offline(azura_wheel: Path, wheels: Path, target: Target) -> str:
    """Return uv's error when the target cannot install Azura from wheels alone, else ''."""
    command = [
        sys.executable, "-m", "uv", "pip", "compile", "-", "--offline", "--no-index", "--find-links", str(wheels),
        "--python-platform", target.platform.uv_platform, "--python-version", target.python,
        "--only-binary", ":all:", "--no-header", "--quiet",
    ]
    result = subprocess.run(
        command, input=f"{azura_wheel}\n", capture_output=True, text=True, check=False,
        env={**os.environ, "MACOSX_DEPLOYMENT_TARGET": MACOS_DEPLOYMENT_TARGET},
    )
    return result.stderr.strip() if result.returncode else ""


def bundle(azura_wheel: Path, dest: Path, jobs: int) -> dict[str, object]:
    """Fill dest with Azura's wheel and its dependencies' wheels; return a summary."""
    lock = universal_lock(azura_wheel)
    targets = all_targets()
    from_source = {r for t in targets for r in requirements_for(lock, t) if Requirement(r).name in PURE_FROM_SOURCE}
    # Linux first, for every Python version: that fetches each pure wheel once and tells which
    # pins are pure. The other platforms then fetch only what is compiled or new to them.
    first = tuple(t for t in targets if t.platform is PLATFORMS[0])
    rest = tuple(t for t in targets if t.platform is not PLATFORMS[0])
    with tempfile.TemporaryDirectory() as tmp:
        built = Path(tmp, "built-from-source")
        for pin in sorted(from_source):
            build_pure_wheel(pin, built)
        # One folder per target: parallel pip runs must not write the same file.
        folders = {t: Path(tmp, t.name) for t in targets}

        def fetch(target: Target, have: set[str]) -> None:
            download([r for r in requirements_for(lock, target) if r not in have], target, folders[target])

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(lambda t: fetch(t, from_source), first))
            pure = from_source | {_pin(w) for t in first for w in folders[t].glob("*-none-any.whl")}
            list(pool.map(lambda t: fetch(t, pure), rest))
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(azura_wheel, dest / azura_wheel.name)
        for folder in (built, *folders.values()):
            for wheel in folder.glob("*.whl"):
                if not (dest / wheel.name).exists():
                    shutil.copy2(wheel, dest / wheel.name)
    bundled = dest / azura_wheel.name
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        errors = dict(zip(targets, pool.map(lambda t: unresolvable_offline(bundled, dest, t), targets)))
    wheels = sorted(dest.glob("*.whl"))
    return {
        "wheels": len(wheels),
        "pure_wheels": sum(1 for w in wheels if w.name.endswith("-none-any.whl")),
        "bytes": sum(w.stat().st_size for w in wheels),
        "targets": len(targets),
        "targets_needing_index": {t.name: e for t, e in errors.items() if e},
    }


def _pin(wheel: Path) -> str:
    """Return 'name==version' of a wheel file, the name normalised as pip writes it."""
    name, version = wheel.name.split("-")[:2]
    return f"{name.replace('_', '-').lower()}=={version}"


def _run(command: list[str], env: dict[str, str] | None = None) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if result.returncode:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"failed ({result.returncode}): {' '.join(command[:6])} ...")
    return result.stdout


def main(argv: list[str] | None = None) -> int:
    """Bundle the wheels and print the summary as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("azura_wheel", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--jobs", type=int, default=4)
    args = parser.parse_args(argv)
    summary = bundle(args.azura_wheel.resolve(), args.dest, args.jobs)
    print(json.dumps(summary))
    return 1 if summary["targets_needing_index"] else 0


if __name__ == "__main__":
    sys.exit(main())
