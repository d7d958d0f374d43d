#!/usr/bin/env python3
"""Load-test `azura serve`: concurrent `POST /api/analyze` of a 200 KB log, one process against the default.

    python scripts/bench_serve.py [--requests 200] [--clients 8] [--size-kb 200] [--repeats 3] [--compare 1,auto]

For each configuration (`1`: `azura serve --workers 1`, the single-process server Azura had before it used the
machine; `auto`: `azura serve` as installed, its worker count chosen for the machine; any number N:
`--workers N`) the server is started on 127.0.0.1 (a free port), `--clients` threads send `--requests` requests
between them, and every answer is checked to be a 200 holding the expected analysis. Configurations run in
turn, `--repeats` times, and the medians are printed: requests per second and the latency p50/p95, then the
ratio of each to the first configuration (the yardstick) and the target (>= 1.8x its requests per second).
Everything stays on loopback; the run ends by itself.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Tuple

REPO_ROOT = Path(__file__).resolve().parents[1]
EXPECTED_HEADLINE = "test"  # the cause planted at the end of the generated log is a failing pytest test
STARTUP_SECONDS = 60.0
TARGET_RATIO = 1.8


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


def start_server(port: int, workers: str, state_dir: Path) -> subprocess.Popen:
    """Start `azura serve` on 127.0.0.1:port (with --workers unless `auto`) and return once /health answers."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO_ROOT), "LLM_PROVIDER": "none",
           "AZURA_NO_CACHE": "1", "AZURA_JOBS_DB": str(state_dir / "jobs.sqlite3"), "HOME": str(state_dir)}
    argv = [sys.executable, "-m", "azura", "serve", "--port", str(port)]
    if workers != "auto":
        argv += ["--workers", workers]
    process = subprocess.Popen(argv, cwd=state_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    end = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < end:
        if process.poll() is not None:
            sys.exit(f"azura serve exited: {process.stderr.read().decode(errors='replace')[-2000:]}")
        try:
            status, _ = call(port, "GET", "/health", None, timeout=2)
            if status == 200:
                return process
        except OSError:
            pass
        time.sleep(0.2)
    stop_server(process)
    sys.exit(f"azura serve did not answer within {STARTUP_SECONDS:.0f} s")


def stop_server(process: subprocess.Popen) -> None:
    """Stop the server and every worker it started (its own process group)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


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
    if EXPECTED_HEADLINE not in headline.lower():
        return elapsed, f"unexpected headline {headline!r}"
    return elapsed, None


def percentile(values: List[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def load_test(workers: str, log: bytes, args: argparse.Namespace) -> Dict[str, float]:
    """Return requests/s, p50 and p95 of one configuration; exit when a request failed."""
    with tempfile.TemporaryDirectory(prefix="azura-bench-") as state:
        port = free_port()
        server = start_server(port, workers, Path(state))
        try:
            for _ in range(args.clients):  # warm every worker before the clock starts
                one_request(port, log, args.timeout)
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.clients) as pool:
                results = list(pool.map(lambda _: one_request(port, log, args.timeout), range(args.requests)))
            wall = time.perf_counter() - started
        finally:
            stop_server(server)
    errors = [error for _, error in results if error]
    if errors:
        sys.exit(f"--workers {workers}: {len(errors)} of {len(results)} requests failed, e.g. {errors[0]}")
    latencies = [seconds for seconds, _ in results]
    return {"rps": len(results) / wall, "p50": statistics.median(latencies), "p95": percentile(latencies, 0.95)}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8, help="requests in flight at once")
    parser.add_argument("--size-kb", type=float, default=200.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compare", default="1,auto",
                        help="configurations, the first being the yardstick: 1, auto or a worker count")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds one request may take")
    args = parser.parse_args(argv)

    log = make_log(int(args.size_kb * 1024))
    configs = [config.strip() for config in args.compare.split(",")]
    print(f"{args.requests} POST /api/analyze of a {len(log) / 1024:.0f} KB log from {args.clients} clients; "
          f"{os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.2f} at the start")
    runs: Dict[str, List[Dict[str, float]]] = {config: [] for config in configs}
    for _ in range(args.repeats):
        for config in configs:
            runs[config].append(load_test(config, log, args))
    medians = {config: {key: statistics.median(run[key] for run in results) for key in ("rps", "p50", "p95")}
               for config, results in runs.items()}
    base = medians[configs[0]]
    for config, figures in medians.items():
        name = "azura serve" + ("" if config == "auto" else f" --workers {config}")
        ratio = figures["rps"] / base["rps"]
        verdict = "" if config == configs[0] else \
            f"  (target >= {TARGET_RATIO:g}x: {'met' if ratio >= TARGET_RATIO else 'MISSED'})"
        print(f"  {name:28s} {figures['rps']:6.1f} req/s  p50 {figures['p50']:.2f} s  p95 {figures['p95']:.2f} s"
              f"   {ratio:.2f}x the req/s of {configs[0]!r}, p95 {figures['p95'] / base['p95']:.2f}x{verdict}")
    print(f"medians of {args.repeats} interleaved runs; load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
