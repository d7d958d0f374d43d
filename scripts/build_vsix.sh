#!/usr/bin/env bash
# Build the marketplace extension, dist/azura-<version>.vsix: the compiled task, its Node modules,
# and Azura's wheel with the locked wheels of its core dependencies for every agent platform
# (requirements/vsix-wheels.json; the llm extra is not bundled: the task installs it from the
# package index when a provider is set).
# Usage: scripts/build_vsix.sh   (Linux or macOS; PYTHON=python3.12 picks the interpreter of the packaging venv)
set -euo pipefail
cd "$(dirname "$0")/.."

build=build/vsix
stage=$build/stage
venv=build/packaging-venv

echo "== Azura's distributions"
scripts/build_dist.sh
version=$("$venv/bin/python" -c 'import re, pathlib; print(re.search(r"__version__ = \"(.+?)\"", pathlib.Path("azura/__init__.py").read_text()).group(1))')
wheel=dist/azura_pipelines-$version-py3-none-any.whl
vsix=dist/azura-$version.vsix

echo "== dependency wheels for every agent platform (requirements/vsix-wheels.json)"
mkdir -p "$build"
"$venv/bin/python" scripts/packaging/bundle_wheels.py bundle "$wheel" task/wheels | tee "$build/wheels.json"

echo "== task"
(cd task && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npx tsc -p .)

echo "== stage"
rm -rf "$stage"
mkdir -p "$stage/task"
cp vss-extension.json overview.md "$stage/"
cp -r images "$stage/images"
cp task/task.json task/main.js task/runazura.js task/icon.png task/package.json task/package-lock.json "$stage/task/"
cp -r task/wheels "$stage/task/wheels"
# The agent runs no npm install: the task ships its runtime modules, and only those.
(cd "$stage/task" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)

echo "== validate"
"$venv/bin/python" scripts/packaging/validate_task.py "$stage/task/task.json" "$stage/vss-extension.json" "$version"

echo "== package"
rm -f "$vsix"
task/node_modules/.bin/tfx extension create --no-prompt --root "$stage" \
    --manifest-globs vss-extension.json --output-path "$vsix"
bytes=$(wc -c < "$vsix")
echo "$vsix: $bytes bytes ($(( bytes / 1024 / 1024 )) MiB), $(ls task/wheels/*.whl | wc -l) wheels"
