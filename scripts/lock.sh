#!/usr/bin/env bash
# Refresh every lock from its inputs, on purpose: the one command to run after changing a dependency.
#
#   scripts/lock.sh                         # add what the inputs gained; every other pin stays
#   scripts/lock.sh --upgrade               # move every pin to the newest release
#   scripts/lock.sh --upgrade-package pyyaml
#
# Inputs: pyproject.toml (Azura's dependencies and extras), requirements/ci.in (test tools, build backend),
# requirements/packaging.in (the tools that build and check the .vsix and the distributions).
# Locks, all committed: requirements/ci.txt (CI's .venv), requirements/packaging.txt
# (build/packaging-venv), requirements/vsix.txt (the pins the .vsix bundles) and
# requirements/vsix-wheels.json (the exact wheel files per agent platform and Python version).
# Each pin carries the sha256 of every file it may install, and pip is run with --require-hashes, so
# a release made after the lock changes nothing until this script runs again.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
venv=build/packaging-venv
oldest_python=3.10

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --require-hashes -r requirements/packaging.txt

compile() {
    local output=$1
    shift
    echo "== $output"
    # --universal: one lock for every OS and Python version from the oldest supported one on.
    "$venv/bin/python" -m uv pip compile --quiet --universal --python-version "$oldest_python" --generate-hashes \
        --custom-compile-command scripts/lock.sh --output-file "$output" "$@"
}

compile requirements/ci.txt pyproject.toml --extra re2 --extra llm --extra tokenizer --extra serve requirements/ci.in "$@"
compile requirements/packaging.txt requirements/packaging.in "$@"
# Wheels only, as agents install with --only-binary; PyYAML's sdist is built into one pure wheel.
# The re2 extra is bundled for the targets it has wheels for.
compile requirements/vsix.txt pyproject.toml --extra re2 --only-binary :all: --no-binary pyyaml "$@"
echo "== requirements/vsix-wheels.json"
"$venv/bin/python" scripts/packaging/bundle_wheels.py lock requirements/vsix.txt requirements/vsix-wheels.json
