"""The wheels Azura's core needs on every agent platform, so the task installs with no index.

    python scripts/packaging/bundle_wheels.py lock PINS WHEELS_LOCK     # scripts/lock.sh runs this
    python scripts/packaging/bundle_wheels.py bundle AZURA_WHEEL DEST [--lock WHEELS_LOCK] [--jobs N]

Two committed files say what the .vsix holds. PINS (requirements/vsix.txt) is ``uv pip compile
--universal --generate-hashes`` of Azura's core: one version of each dependency, with markers, for
every platform. WHEELS_LOCK (requirements/vsix-wheels.json) is derived from it by ``lock``: for each
agent platform and Python version, the exact files (name and sha256) that target installs. ``lock``
finds them with ``pip download --platform ... --python-version ... --implementation cp``, which
evaluates markers for the target, not for the running interpreter (``pip download`` alone would
leave out ``exceptiongroup`` on Python < 3.11 and ``colorama`` on Windows).

``bundle`` downloads exactly those files, each under its one sha256, so nothing released since the
lock changes the .vsix; then it proves the bundle complete: for each target, resolving Azura from
DEST alone, offline, must succeed and give exactly the target's locked pins. Prints one JSON summary
line; exits 1 when a target cannot be served from DEST.

Only Azura's core requirements are bundled: the ``llm`` extra (openai and pydantic's compiled core,
jsonschema) would multiply the size past the Marketplace's upload limit, and the task installs it
from the index only when a provider is configured.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from packaging.markers import Marker
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

PYTHON_VERSIONS = ("3.10", "3.11", "3.12", "3.13", "3.14")
# Oldest macOS an agent may run: wheels built for it or for older releases are taken. uv reads the
# same variable for its darwin targets. 13, because google-re2 publishes no macOS wheel for older
# releases; every hosted macOS image is 13 or later.
MACOS_DEPLOYMENT_TARGET = "13.0"
# Compiled by their authors for speed only; the pure wheel behaves the same. charset-normalizer's
# builds (15 wheels, about 4 MB) speed up the encoding guess requests makes for undeclared charsets.
PURE_ONLY = frozenset({"charset-normalizer"})
# Compiled for speed with no pure wheel published: built here from the locked sdist, without the
# extension, into one py3-none-any wheel. PyYAML's compiled wheels (20, about 6.5 MB, two thirds of
# the bundle) only add the C loaders, and Azura calls yaml.safe_load, which never uses them.
PURE_FROM_SOURCE = {"pyyaml": {"PYYAML_FORCE_LIBYAML": "0"}}
# Optional extras bundled where their wheels exist: a target without one installs the core alone.
OPTIONAL_EXTRAS = {"re2": frozenset({"google-re2"})}
OPTIONAL = frozenset().union(*OPTIONAL_EXTRAS.values())
WHEELS_LOCK_NOTE = ("Written by scripts/lock.sh (bundle_wheels.py lock) from requirements/vsix.txt: the exact "
                    "files each agent target installs from the .vsix; an sdist is built into a pure wheel.")


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
        "linux-arm64",
        ("manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64"),
        "aarch64-manylinux_2_28",
        (("sys_platform", "linux"), ("platform_system", "Linux"), ("os_name", "posix"),
         ("platform_machine", "aarch64")),
    ),
    Platform(
        "windows-x64",
        ("win_amd64",),
        "x86_64-pc-windows-msvc",
        (("sys_platform", "win32"), ("platform_system", "Windows"), ("os_name", "nt"),
         ("platform_machine", "AMD64")),
    ),
    Platform(
        "windows-arm64",
        ("win_arm64",),
        "aarch64-pc-windows-msvc",
        (("sys_platform", "win32"), ("platform_system", "Windows"), ("os_name", "nt"),
         ("platform_machine", "ARM64")),
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


@dataclass(frozen=True)
class Pin:
    """One line of a hashed lock: a name, its one version, where it applies, and the files it may be."""

    name: str
    version: str
    marker: Optional[str]
    hashes: tuple[str, ...]

    def applies_to(self, target: Target) -> bool:
        return self.marker is None or Marker(self.marker).evaluate(target.marker_environment())

    def requirement(self, hashes: Iterable[str] = ()) -> str:
        """Return the line pip reads: name==version with the allowed hashes (all of them by default)."""
        return " ".join([f"{self.name}=={self.version}", *(f"--hash={h}" for h in (tuple(hashes) or self.hashes))])


def read_pins(text: str) -> list[Pin]:
    """Return the pins of a lock written by ``uv pip compile --generate-hashes``."""
    pins = []
    for entry in re.sub(r"\\\n", " ", text).splitlines():
        entry = entry.split("#", 1)[0].strip()
        if not entry:
            continue
        requirement, *options = re.split(r"\s+--hash=", entry)
        spec, _, marker = requirement.partition(";")
        name, _, version = spec.strip().partition("==")
        if not version:
            raise SystemExit(f"not a pinned, hashed lock line: {entry[:80]!r}")
        pins.append(Pin(canonicalize_name(name), version.strip(), marker.strip() or None,
                        tuple(h.strip() for h in options)))
    return pins


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def distribution_name(file_name: str) -> str:
    """Return the canonical project name of a wheel or sdist file."""
    if file_name.endswith(".whl"):
        return parse_wheel_filename(file_name)[0]
    return parse_sdist_filename(file_name)[0]


def download(requirements: list[str], tag_args: list[str], dest: Path, binary: bool = True,
             required: bool = True) -> bool:
    """Download exactly these hashed requirements, for the tags given, into dest; return whether pip could.

    A required download that fails ends the script with pip's message.
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp, "requirements.txt")
        listing.write_text("\n".join(requirements) + "\n", encoding="utf-8")
        command = [
            sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
            "--require-hashes", "--only-binary=:all:" if binary else "--no-binary=:all:", *tag_args,
            "--dest", str(dest), "-r", str(listing),
        ]
        if required:
            _run(command)
            return True
        return subprocess.run(command, capture_output=True, check=False).returncode == 0


def tag_args(target: Target, pure: bool = False) -> list[str]:
    """Return pip's arguments selecting the target's wheels (its pure ones only, when asked)."""
    if pure:
        return ["--implementation", "py", "--abi", "none", "--platform", "any", "--python-version", target.python]
    platforms = [arg for tag in target.platform.wheel_tags for arg in ("--platform", tag)]
    return ["--implementation", "cp", "--python-version", target.python, *platforms]


def lock_files(pins: list[Pin], jobs: int) -> dict[str, object]:
    """Return the wheels lock: for each target, the files its pins resolve to, found by downloading them."""
    targets = all_targets()
    with tempfile.TemporaryDirectory() as tmp:
        sdists = Path(tmp, "sdists")
        from_source = sorted({p for t in targets for p in pins if p.applies_to(t) and p.name in PURE_FROM_SOURCE},
                             key=lambda p: p.name)
        if from_source:
            download([p.requirement() for p in from_source], [], sdists, binary=False)
        folders = {t: Path(tmp, t.name) for t in targets}

        def fetch(target: Target, known_pure: set[str]) -> None:
            wanted = [p for p in pins if p.applies_to(target) and p.name not in PURE_FROM_SOURCE
                      and f"{p.name}=={p.version}" not in known_pure]
            pure = [p.requirement() for p in wanted if p.name in PURE_ONLY]
            compiled = [p.requirement() for p in wanted if p.name not in PURE_ONLY | OPTIONAL]
            if compiled:
                download(compiled, tag_args(target), folders[target])
            if pure:
                download(pure, tag_args(target, pure=True), folders[target])
            for optional in (p for p in wanted if p.name in OPTIONAL):  # absent where no wheel fits the target
                download([optional.requirement()], tag_args(target), folders[target], required=False)

        # The first platform first, for every Python version: that fetches each pure wheel once and
        # tells which pins are pure. The other platforms then fetch only what is compiled or new to them.
        first = tuple(t for t in targets if t.platform is PLATFORMS[0])
        rest = tuple(t for t in targets if t.platform is not PLATFORMS[0])
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(lambda t: fetch(t, set()), first))
            pure_files = {w.name: w for t in first for w in folders[t].glob("*-none-any.whl")}
            pure_pins = {_pin(name): name for name in pure_files}
            list(pool.map(lambda t: fetch(t, set(pure_pins)), rest))

        files: dict[str, str] = {}
        per_target: dict[str, list[str]] = {}
        for target in targets:
            names = {w.name for w in folders[target].glob("*.whl")}
            names |= {pure_pins[f"{p.name}=={p.version}"] for p in pins
                      if p.applies_to(target) and f"{p.name}=={p.version}" in pure_pins}
            names |= {s.name for s in sdists.glob("*")
                      if any(_pin(s.name) == f"{p.name}=={p.version}" for p in from_source if p.applies_to(target))}
            per_target[target.name] = sorted(names)
            for name in names:
                if name not in files:
                    path = next(p for p in (folders[target] / name, sdists / name, pure_files.get(name)) if p and p.exists())
                    files[name] = sha256(path)
    return {"note": WHEELS_LOCK_NOTE, "files": dict(sorted(files.items())), "targets": per_target}


def fetch_locked(wheels_lock: dict, dest: Path, jobs: int) -> None:
    """Download every file of the wheels lock into dest, each under its one locked sha256."""
    files: dict[str, str] = wheels_lock["files"]
    by_name = {t.name: t for t in all_targets()}
    unknown = set(wheels_lock["targets"]) ^ set(by_name)
    if unknown:
        raise SystemExit(f"the wheels lock and this script disagree on the targets ({', '.join(sorted(unknown))}): "
                         "run scripts/lock.sh")
    # Each file once, fetched for the first target that lists it; an sdist for no target.
    owner: dict[str, Optional[Target]] = {}
    for name, listed in wheels_lock["targets"].items():
        for file_name in listed:
            owner.setdefault(file_name, None if file_name.endswith(".tar.gz") else by_name[name])

    def fetch(target: Optional[Target]) -> None:
        mine = [f for f, t in owner.items() if t is target]
        pure = [f for f in mine if f.endswith("-none-any.whl") and distribution_name(f) in PURE_ONLY]
        rest = [f for f in mine if f not in pure]
        if target is None:
            download([_requirement(f, files[f]) for f in rest], [], dest, binary=False)
            return
        if rest:
            download([_requirement(f, files[f]) for f in rest], tag_args(target), dest)
        if pure:
            download([_requirement(f, files[f]) for f in pure], tag_args(target, pure=True), dest)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(fetch, set(owner.values())))
    got = {p.name for p in dest.iterdir()}
    if got != set(owner):
        raise SystemExit(f"downloaded files differ from the wheels lock: missing {sorted(set(owner) - got)}, "
                         f"unexpected {sorted(got - set(owner))}")


def _requirement(file_name: str, digest: str) -> str:
    return f"{_pin(file_name)} --hash={digest}"


def build_pure_wheel(sdist: Path, dest: Path) -> Path:
    """Build the pure wheel of a PURE_FROM_SOURCE sdist into dest, with the packaging venv's setuptools."""
    name = distribution_name(sdist.name)
    with tempfile.TemporaryDirectory() as tmp:
        _run([
            sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
            "--no-build-isolation", "--no-index", "--wheel-dir", tmp, str(sdist),
        ], env={**os.environ, **PURE_FROM_SOURCE[str(name)]})
        (wheel,) = Path(tmp).glob("*.whl")
        if not wheel.name.endswith("-none-any.whl"):
            raise SystemExit(f"{sdist.name}: the build without its extension gave {wheel.name}, not a pure wheel")
        dest.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy2(wheel, dest / wheel.name))


def offline_resolution(request: str, wheels: Path, target: Target) -> tuple[set[str], str]:
    """Return the pins uv resolves for a requirement from the wheels alone, offline, and its error ('' when none)."""
    command = [
        sys.executable, "-m", "uv", "pip", "compile", "-", "--offline", "--no-index", "--find-links", str(wheels),
        "--python-platform", target.platform.uv_platform, "--python-version", target.python,
        "--only-binary", ":all:", "--no-header", "--no-annotate", "--quiet",
    ]
    result = subprocess.run(
        command, input=f"{request}\n", capture_output=True, text=True, check=False,
        env={**os.environ, "MACOSX_DEPLOYMENT_TARGET": MACOS_DEPLOYMENT_TARGET},
    )
    if result.returncode:
        return set(), result.stderr.strip()
    pins = {line.split(";")[0].strip().lower() for line in result.stdout.splitlines()
            if "==" in line and not line.lstrip().startswith("#")}
    return pins, ""


def target_problems(azura_wheel: Path, wheels: Path, target: Target, expected: set[str]) -> str:
    """Return why the target cannot install exactly its locked pins from the wheels offline, or ''.

    Azura's core must resolve on every target; each optional extra too where its wheels are bundled.
    """
    optional = {pin for pin in expected if pin.split("==")[0] in OPTIONAL}
    requests = {str(azura_wheel): expected - optional}
    for extra, names in OPTIONAL_EXTRAS.items():
        wanted = {pin for pin in optional if pin.split("==")[0] in names}
        if wanted:
            requests[f"azura-pipelines[{extra}] @ {azura_wheel.as_uri()}"] = (expected - optional) | wanted
    for request, pins in requests.items():
        resolved, error = offline_resolution(request, wheels, target)
        if error:
            return f"{request}: {error}"
        resolved = {p for p in resolved if not p.startswith("azura-pipelines")}
        if resolved != pins:
            return f"{request}: resolves {sorted(resolved - pins)} instead of {sorted(pins - resolved)}"
    return ""


def bundle(azura_wheel: Path, dest: Path, wheels_lock: dict, jobs: int) -> dict[str, object]:
    """Fill dest with Azura's wheel and the locked wheels of its dependencies; return a summary."""
    if dest.exists():
        shutil.rmtree(dest)
    with tempfile.TemporaryDirectory() as tmp:
        fetched = Path(tmp, "fetched")
        fetched.mkdir()
        fetch_locked(wheels_lock, fetched, jobs)
        dest.mkdir(parents=True)
        built = {}
        for file in sorted(fetched.iterdir()):
            if file.name.endswith(".tar.gz"):
                built[file.name] = build_pure_wheel(file, dest).name
            else:
                shutil.copy2(file, dest / file.name)
    shutil.copy2(azura_wheel, dest / azura_wheel.name)
    bundled = (dest / azura_wheel.name).resolve()
    targets = all_targets()

    def expected(target: Target) -> set[str]:
        names = (built.get(f, f) for f in wheels_lock["targets"][target.name])
        return {_pin(n) for n in names}

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        errors = dict(zip(targets, pool.map(lambda t: target_problems(bundled, dest, t, expected(t)), targets)))
    wheels = sorted(dest.glob("*.whl"))
    return {
        "wheels": len(wheels),
        "pure_wheels": sum(1 for w in wheels if w.name.endswith("-none-any.whl")),
        "bytes": sum(w.stat().st_size for w in wheels),
        "targets": len(targets),
        "targets_needing_index": {t.name: e for t, e in errors.items() if e},
        "targets_without_extra": {
            extra: [t.name for t in targets
                    if not any(distribution_name(f) in names for f in wheels_lock["targets"][t.name])]
            for extra, names in OPTIONAL_EXTRAS.items()},
    }


def _pin(file_name: str) -> str:
    """Return 'name==version' of a wheel or sdist file, the name canonical."""
    parse = parse_wheel_filename if file_name.endswith(".whl") else parse_sdist_filename
    name, version = parse(file_name)[:2]
    return f"{name}=={version}"


def _run(command: list[str], env: dict[str, str] | None = None) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if result.returncode:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"failed ({result.returncode}): {' '.join(command[:6])} ...")
    return result.stdout


def main(argv: list[str] | None = None) -> int:
    """Write the wheels lock, or fill the bundle and print its summary as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    lock = commands.add_parser("lock", help="derive the exact files per target from the hashed pins")
    lock.add_argument("pins", type=Path)
    lock.add_argument("wheels_lock", type=Path)
    make = commands.add_parser("bundle", help="download the locked files and prove every target installs offline")
    make.add_argument("azura_wheel", type=Path)
    make.add_argument("dest", type=Path)
    make.add_argument("--lock", type=Path, default=Path("requirements/vsix-wheels.json"))
    for command in (lock, make):
        command.add_argument("--jobs", type=int, default=4)
    args = parser.parse_args(argv)
    if args.command == "lock":
        wheels_lock = lock_files(read_pins(args.pins.read_text(encoding="utf-8")), args.jobs)
        args.wheels_lock.write_text(json.dumps(wheels_lock, indent=1) + "\n", encoding="utf-8")
        return 0
    summary = bundle(args.azura_wheel.resolve(), args.dest, json.loads(args.lock.read_text(encoding="utf-8")), args.jobs)
    print(json.dumps(summary))
    return 1 if summary["targets_needing_index"] else 0


if __name__ == "__main__":
    sys.exit(main())
