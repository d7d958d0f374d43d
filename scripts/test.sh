#!/usr/bin/env bash
# Install everything the tests need from the committed locks, then run every test: the task's mocha
# tests, the distributions and the .vsix with its offline install (scripts/ci_task.sh), then pytest.
# Every stage runs even when an earlier one failed; each prints its name and its time, and the
# summary at the end names what failed (exit 1).  Usage: ./scripts/test.sh [pytest arguments]
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/stages.sh
source scripts/ci_task.sh

python_env() {
    python3 -m venv .venv
    # Hashes required: exactly the locked files, whatever was released since (requirements/ci.txt).
    .venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r requirements/ci.txt
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
    .venv/bin/python -m pip check
}

chromium() {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
}

stage "python: .venv from requirements/ci.txt, Azura editable" python_env
# The web chat is tested in Debian's headless Chromium; without it that test skips and says why.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    stage "chromium (Debian package) for the web chat test" chromium
fi
PYTHON=.venv/bin/python
task_stages
stage "pytest" .venv/bin/python -m pytest --ignore=tests/integration/test_vsix_install.py "$@"
finish_stages
