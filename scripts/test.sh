#!/usr/bin/env bash
# Install everything the tests need, then run every test: the task's mocha tests and .vsix build
# (scripts/ci_task.sh), then pytest. Usage: ./scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== python: .venv with Azura and the test requirements"
python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[llm,tokenizer,serve]' -r requirements-test.txt

# The web chat is tested in Debian's headless Chromium; without it that test skips and says why.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "== chromium (Debian package) for the web chat test"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

PYTHON=.venv/bin/python scripts/ci_task.sh

echo "== pytest"
.venv/bin/python -m pytest --ignore=tests/integration/test_vsix_install.py "$@"
