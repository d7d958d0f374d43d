"""Benchmark start-up: a 10 KB log analysed offline, beside `python -c pass`, in fresh processes.

    python scripts/bench_startup.py [--repeats 15]

Runs in turn, `--repeats` times: `python -c pass` (the yardstick), `python -m azura --help`, and
`python -m azura analyze --log <the bundled 10 KB pytest failure> --format json` with no LLM, twice: with the
user's cache folder kept from the runs before (parsed knowledge base, compiled templates), and with an empty one,
as on a hosted agent's first run. Prints the median wall time of each, and its CPU time (user + system: what the
machine's load moves least); then the analysis's time beyond `python -c pass` against the target (<= 120 ms),
and whether the analysis imported the tokenizer extra (it must not unless asked for).
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

REPO = Path(__file__).resolve().parents[1]
LOG = REPO / "azura" / "examples" / "pytest-failure.log"
TARGET_MS = 120.0

_IMPORTED = """
import sys
from azura.cli import main
main(["analyze", "--log", sys.argv[1], "--format", "json", "--output-dir", sys.argv[2]], stdout=open("/dev/null", "w"))
print(",".join(name for name in ("tiktoken", "openai", "flask", "jsonschema") if name in sys.modules))
"""


def environment(home: str) -> Dict[str, str]:
    """Return a clean environment: no LLM, no pipeline, no user settings."""
    return {"PATH": os.environ.get("PATH", ""), "HOME": home, "PYTHONPATH": str(REPO), "LLM_PROVIDER": "none",
            "AZURA_NO_CACHE": "1"}


def timed(argv: List[str], env: Dict[str, str], cwd: str, fresh_cache: bool = False) -> Tuple[float, float]:
    """Return the wall time and the CPU time (user + system) of one run of `argv`, which must succeed; with
    `fresh_cache`, in an empty cache folder."""
    if fresh_cache:
        env = {**env, "XDG_CACHE_HOME": tempfile.mkdtemp(prefix="cache-", dir=cwd)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    """Run the three commands in turn, print the medians and the target."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="azura-startup-") as home:
        env = environment(home)
        out = str(Path(home) / "report")
        analyze = [sys.executable, "-m", "azura", "analyze", "--log", str(LOG), "--format", "json", "--output-dir", out]
        commands = {  # name: (argv, with an empty cache folder)
            "python -c pass": ([sys.executable, "-c", "pass"], False),
            "azura --help": ([sys.executable, "-m", "azura", "--help"], False),
            f"azura analyze --log ({LOG.stat().st_size / 1024:.0f} KB)": (analyze, False),
            "  the same, fresh cache folder": (analyze, True),
        }
        for argv, _ in commands.values():  # one untimed round: the page cache and .pyc files, as on a warm agent
            timed(argv, env, home)
        times: Dict[str, List[Tuple[float, float]]] = {name: [] for name in commands}
        load = os.getloadavg()[0]
        for _ in range(args.repeats):
            for name, (argv, fresh_cache) in commands.items():
                times[name].append(timed(argv, env, home, fresh_cache))
        imported = subprocess.run([sys.executable, "-c", _IMPORTED, str(LOG), out], env=env, cwd=home, check=True,
                                  capture_output=True, text=True).stdout.strip()
    medians = {name: statistics.median(wall for wall, _ in values) * 1000 for name, values in times.items()}
    cpu = {name: statistics.median(used for _, used in values) * 1000 for name, values in times.items()}
    print(f"{os.cpu_count()} CPU(s), load average {load:.2f} -> {os.getloadavg()[0]:.2f}; "
          f"medians of {args.repeats} interleaved runs")
    base = medians["python -c pass"]
    for name, ms in medians.items():
        print(f"  {name:32s} {ms:7.1f} ms   {ms / base:5.1f}x python -c pass   CPU {cpu[name]:6.1f} ms")
    warm, fresh = list(medians.values())[-2:]
    beyond = warm - base
    print(f"10 KB log analysed in {beyond:.0f} ms beyond python -c pass, {list(cpu.values())[-2] - cpu['python -c pass']:.0f} "
          f"ms of CPU (target <= {TARGET_MS:g} ms: {'met' if beyond <= TARGET_MS else 'MISSED'}); "
          f"{fresh - base:.0f} ms with a fresh cache folder")
    print(f"optional modules imported by an offline analysis: {imported or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
