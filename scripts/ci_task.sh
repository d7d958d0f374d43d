#!/usr/bin/env bash
# CI for the Marketplace task: install and compile it, run its mock-runner (L0) tests, build the
# .vsix, then install Azura from the .vsix's wheels into a fresh venv with no index and run the demo.
# PYTHON: an interpreter with pytest and Azura's test requirements (default .venv/bin/python, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHON

echo "== task: npm ci, compile, L0 tests"
(cd task && npm ci --no-audit --no-fund --loglevel=error && npx tsc -p . && npx mocha Tests/L0.js)

scripts/build_vsix.sh

echo "== install from the .vsix"
version=$("$PYTHON" -c 'import re, pathlib; print(re.search(r"__version__ = \"(.+?)\"", pathlib.Path("azura/__init__.py").read_text()).group(1))')
AZURA_VSIX=dist/azura-$version.vsix "$PYTHON" -m pytest -q -p no:cacheprovider tests/integration/test_vsix_install.py
