#!/usr/bin/env bash
# CI for the Marketplace task: install and compile it, run its mock-runner (L0) tests, build the
# .vsix, then install Azura from the .vsix's wheels into a fresh venv with no index and run the demo.
# Every stage runs even when an earlier one failed; the summary at the end names what failed.
# PYTHON: an interpreter with pytest and Azura's test requirements (default .venv/bin/python, else python3).
# scripts/test.sh sources this file for the same stages.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHON

task_tests() {
    cd task
    npm ci --no-audit --no-fund --loglevel=error
    npx tsc -p .
    npx mocha Tests/L0.js
}

vsix_install() {
    local version
    version=$("$PYTHON" -c 'import re, pathlib; print(re.search(r"__version__ = \"(.+?)\"", pathlib.Path("azura/__init__.py").read_text()).group(1))')
    AZURA_VSIX=dist/azura-$version.vsix "$PYTHON" -m pytest -q -p no:cacheprovider tests/integration/test_vsix_install.py
}

task_stages() {
    stage "task: npm ci, compile, mocha (L0) tests" task_tests
    stage ".vsix: sdist, wheel, twine check, bundle for every platform, package" scripts/build_vsix.sh
    stage ".vsix: offline install, demo and task run from its wheels" vsix_install
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    source scripts/stages.sh
    task_stages
    finish_stages
fi
