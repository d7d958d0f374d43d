#!/usr/bin/env bash
# Build Azura's sdist and wheel into dist/ with the locked build backend, and check them as the
# package index will (twine check --strict: metadata, and a README that renders).
# Usage: scripts/build_dist.sh   (PYTHON picks the interpreter that creates build/packaging-venv)
set -euo pipefail
cd "$(dirname "$0")/.."

venv=build/packaging-venv
[ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --require-hashes -r requirements/packaging.txt

version=$("$venv/bin/python" -c 'import re, pathlib; print(re.search(r"__version__ = \"(.+?)\"", pathlib.Path("azura/__init__.py").read_text()).group(1))')
rm -f dist/azura_pipelines-"$version"*.whl dist/azura_pipelines-"$version".tar.gz
# --no-isolation: the backend is the pinned setuptools of the packaging venv, not the newest release.
# The wheel is built from the sdist, which proves the sdist complete.
"$venv/bin/python" -m build --quiet --no-isolation --outdir dist .
"$venv/bin/python" -m twine check --strict dist/azura_pipelines-"$version"*.whl dist/azura_pipelines-"$version".tar.gz
