#!/usr/bin/env bash
# Install everything the tests need into .venv (and the task's Node modules), then run every test.
# Usage: ./scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[tokenizer,serve]' -r requirements-test.txt

.venv/bin/python -m pytest "$@"
