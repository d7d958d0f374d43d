#!/usr/bin/env python3
"""Load-test `POST /api/analyze` under gunicorn: N concurrent requests, each carrying a large log.

Starts `gunicorn -w WORKERS 'azura.server:app_from_env()'` on 127.0.0.1 (a free port), sends every request
at once from a thread pool, checks each answer is a 200 holding the expected analysis, and prints the error
count and the latency distribution. Everything stays on loopback; the run ends by itself.

    python scripts/bench_serve.py                         # 200 requests of a 5 MB log, 2 workers
    python scripts/bench_serve.py --requests 20 --size-mb 1
"""
from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Optional, Tuple

REPO_ROOT = Path(__file__).resolve().parents[1]
EXPECTED_HEADLINE = "pytest"  # the cause planted at the end of the generated log
STARTUP_SECONDS = 30.0


def make_log(size_bytes: int, seed: int = 7) -> bytes:
    """Return a log of about `size_bytes`: build noise, then a failing pytest run at the end."""
    rnd = random.Random(seed)
    lines: List[str] = []
    total = 0
    while total < size_bytes - 400:
        line = (f"2024-01-01T12:{len(lines) // 60 % 60:02d}:{len(lines) % 60:02d}.000Z [info] Compiling "
                f"module_{rnd.randint(1, 500)}.py ... ok ({rnd.randint(1, 999)} ms)")
        lines.append(line)
        total += len(line) + 1
    lines += ["FAILED tests/test_orders.py::test_total - AssertionError: assert 29.97 == 32.54",
              "========== 1 failed, 812 passed in 93.20s ==========",
              "##[error]Bash exited with code '1'."]
    return ("\n".join(lines) + "\n").encode()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(port: int, workers: int, state_dir: Path) -> subprocess.Popen:
    """Start gunicorn on 127.0.0.1:port and return once /health answers."""
    if importlib.util.find_spec("gunicorn") is None:
        sys.exit("gunicorn is not installed (pip install gunicorn)")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "LLM_PROVIDER": "none", "AZURA_NO_CACHE": "1",
           "AZURA_JOBS_DB": str(state_dir / "jobs.sqlite3"), "HOME": str(state_dir)}
    env.pop("AZURE_DEVOPS_PAT", None)
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}", "--timeout", "120",
                                "--backlog", "2048", "azura.server:app_from_env()"],
                               cwd=state_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    end = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < end:
        if process.poll() is not None:
            sys.exit(f"gunicorn exited: {process.stderr.read().decode(errors='replace')[-2000:]}")
        try:
            status, _ = call(port, "GET", "/health", None, timeout=2)
            if status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    sys.exit(f"gunicorn did not answer within {STARTUP_SECONDS:.0f} s")


def call(port: int, method: str, path: str, body: Optional[bytes], timeout: float) -> Tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "text/plain; charset=utf-8"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def one_request(port: int, log: bytes, timeout: float) -> Tuple[float, Optional[str]]:
    """Return (seconds, error or None) for one analysis request."""
    started = time.perf_counter()
    try:
        status, body = call(port, "POST", "/api/analyze", log, timeout)
    except OSError as exc:
        return time.perf_counter() - started, f"{type(exc).__name__}: {exc}"
    elapsed = time.perf_counter() - started
    if status != 200:
        return elapsed, f"HTTP {status}: {body[:200]!r}"
    headline = json.loads(body)["analysis"]["headline"]
    if EXPECTED_HEADLINE not in headline:
        return elapsed, f"unexpected headline {headline!r}"
    return elapsed, None


def percentile(values: List[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--size-mb", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one request may take")
    args = parser.parse_args(argv)

    log = make_log(int(args.size_mb * 1024 * 1024))
    with tempfile.TemporaryDirectory(prefix="azura-bench-") as state:
        port = free_port()
        server = start_gunicorn(port, args.workers, Path(state))
        try:
            print(f"{args.requests} concurrent POST /api/analyze of a {len(log) / 1e6:.1f} MB log, "
                  f"gunicorn -w {args.workers} on 127.0.0.1:{port}, {os.cpu_count()} CPU(s)")
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.requests) as pool:
                results = list(pool.map(lambda _: one_request(port, log, args.timeout), range(args.requests)))
            wall = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=30)
    latencies = [seconds for seconds, _ in results]
    errors = [error for _, error in results if error]
    print(f"errors: {len(errors)} of {len(results)}")
    for error in sorted(set(errors))[:5]:
        print(f"  {error}")
    print(f"latency p50 {statistics.median(latencies):.2f} s, p95 {percentile(latencies, 0.95):.2f} s, "
          f"max {max(latencies):.2f} s; wall {wall:.1f} s; {len(results) / wall:.2f} requests/s; "
          f"{len(results) * len(log) / wall / 1e6:.1f} MB/s analysed")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
