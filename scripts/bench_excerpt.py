"""Benchmark the excerpt on large generated logs, beside `grep -E -c` with the same anchor words.

    python scripts/bench_excerpt.py [--ordinary-mb 100,500] [--dense-mb 20] [--repeats 3] [--dir DIR]

Two profiles, each a generated log with one compiler error near the middle:
  ordinary     realistic noise (timestamps, progress bars with bare CR, compiler and test output, downloads);
  error-dense  the same noise with 30% of its lines saying error, warning or FAILED (warnings of every
               compiler, failing tests, retried downloads, npm ERR!, Maven [ERROR]), as a broken build that
               keeps going prints them.
For each log the yardstick (`grep -E -c` with the excerpt's prefilter words) and the excerpt (build_excerpts
at the default budget, in a fresh process) run in turn, `--repeats` times, and the medians are printed:
throughput in MB/s, peak RSS, the ratio to grep, whether the excerpt kept the error line, and each target of
the issue beside it (error-dense >= 40 MB/s; ordinary >= 0.7x grep).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from azura.excerpt.anchors import COMMAND_SCAN, PREFILTER  # noqa: E402

ERROR_LINE = "src/net/http_client.c:412:17: error: 'struct request' has no member named 'timeout_ms'"
BLOCK_BYTES = 1 << 20
VARIANTS = 32  # distinct noise blocks, cycled: enough variety, cheap to write
DENSE_SHARE = 0.3
DENSE_TARGET_MBS = 40.0
ORDINARY_TARGET_RATIO = 0.7

_CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[2])
from azura.collect import local_logs
from azura.excerpt import build_excerpts

started = time.perf_counter()
cpu = time.process_time()
excerpt = build_excerpts(local_logs([sys.argv[1]]), 2048)[0]
elapsed = time.perf_counter() - started
print(json.dumps({"elapsed": elapsed, "cpu": time.process_time() - cpu,
                  "lines": [[l.number, l.text] for l in excerpt.lines],
                  "tokens": excerpt.tokens, "total_lines": excerpt.total_lines}))
"""


def _stamp(rng: random.Random, minute: int) -> str:
    return f"2024-05-01T12:{minute % 60:02d}:{rng.randrange(60):02d}.{rng.randrange(10**7):07d}Z "


def noise_line(rng: random.Random, ts: str) -> str:
    """Return one line of a build that goes well: compiling, warnings, downloads, progress, passing tests."""
    kind = rng.random()
    n = rng.randrange(100000)
    if kind < 0.35:
        return (f"{ts}[{n}/98304] gcc -O2 -g -Wall -Werror=format -Isrc/include -c src/mod{n % 97}/file{n}.c"
                f" -o build/obj/mod{n % 97}/file{n}.o")
    if kind < 0.5:
        return f"{ts}src/mod{n % 97}/file{n}.c:{n % 900}:{n % 80}: warning: unused variable 'tmp{n}' [-Wunused-variable]"
    if kind < 0.65:
        return f"{ts}Downloading https://pkgs.example.org/npm/pkg{n % 400}/-/pkg{n % 400}-{n % 9}.{n % 13}.0.tgz ({n % 900} kB)"
    if kind < 0.8:
        progress = "".join(f"\r{ts}Receiving objects: {p}% ({p * 97}/9700), {p * 31} KiB | 2.1 MiB/s" for p in range(0, 100, 20))
        return progress.lstrip("\r")
    if kind < 0.999:
        return f"{ts}tests/test_mod{n % 97}.py::test_case_{n} PASSED{' ' * (n % 5)}[{n % 100:3d}%]"
    return f"{ts}============ {n % 500} passed, 0 failed, 0 errors in {n % 60}.{n % 100}s ============"


def error_line(rng: random.Random, ts: str) -> str:
    """Return one line that says error, warning or FAILED, of the kinds a failing build prints by thousands."""
    n = rng.randrange(100000)
    kinds = (
        f"src/mod{n % 97}/file{n}.c:{n % 900}:{n % 80}: error: implicit declaration of function 'helper{n % 50}'",
        f"src/mod{n % 97}/file{n}.c:{n % 900}:{n % 80}: warning: comparison of integer expressions of different "
        f"signedness [-Wsign-compare]",
        f"FAILED tests/test_mod{n % 97}.py::test_case_{n} - AssertionError: assert {n % 7} == {n % 11}",
        f"[ERROR] /home/vsts/work/1/s/core/src/main/java/org/example/mod{n % 97}/Service{n}.java:[{n % 400},"
        f"{n % 60}] cannot find symbol",
        f"npm ERR! network request to https://registry.npmjs.org/pkg{n % 400} failed, reason: socket hang up",
        f"##[warning]The task 'Cache@2' retried {n % 5 + 1} times: Error: connect ETIMEDOUT 13.107.6.{n % 250}:443",
        f"error CS0246: The type or namespace name 'Widget{n % 300}' could not be found (are you missing a using "
        f"directive or an assembly reference?) [/home/vsts/work/1/s/src/App{n % 9}/App.csproj]",
        f"  Failed Widgets.Tests.Orders.TaxTests.Total_{n} [{n % 90} ms]",
        f"WARNING: Retrying (Retry(total={n % 4}, connect=None, read=None)) after connection broken by "
        f"'ReadTimeoutError' /simple/pkg{n % 400}/",
        f"Error: Cannot find module './generated/schema{n % 60}' from 'src/index.ts'",
    )
    return ts + kinds[n % len(kinds)]


def block(rng: random.Random, minute: int, dense: bool) -> str:
    """Return about BLOCK_BYTES of log lines, each with an Azure Pipelines timestamp."""
    lines: List[str] = []
    size = 0
    while size < BLOCK_BYTES:
        ts = _stamp(rng, minute)
        line = error_line(rng, ts) if dense and rng.random() < DENSE_SHARE else noise_line(rng, ts)
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines) + "\n"


def write_log(path: Path, size_mb: int, dense: bool = False) -> int:
    """Write a benchmark log and return the 1-based line number of its one planted error."""
    rng = random.Random(20240501)
    blocks = [block(rng, i, dense).encode() for i in range(VARIANTS)]
    total = size_mb * (1 << 20)
    written = 0
    line = 0
    planted = 0
    with open(path, "wb") as out:
        index = 0
        while written < total:
            chunk = blocks[index % VARIANTS]
            out.write(chunk)
            written += len(chunk)
            line += chunk.count(b"\n") + chunk.count(b"\r")
            index += 1
            if not planted and written >= total // 2:
                out.write(f"2024-05-01T12:30:00.0000000Z {ERROR_LINE}\n".encode())
                line += 1
                planted = line
                written += len(ERROR_LINE) + 30
    return planted


def write_log_in_child(path: Path, size_mb: int, dense: bool) -> int:
    """Write the benchmark log from a child process, so this one stays small (see run_measured); return its error line."""
    return int(subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(REPO / 'scripts')!r}); import bench_excerpt as b;"
         f" print(b.write_log(b.Path({str(path)!r}), {size_mb}, {dense}))"],
        check=True, capture_output=True, text=True).stdout)


def run_measured(argv: List[str]) -> Tuple[float, int, str]:
    """Run a command; return its wall time, peak RSS in MB and stdout.

    The peak RSS comes from GNU time when installed: a forked child's ru_maxrss also counts the memory
    of the process that forked it, so measuring from this process would add its own size to both.
    """
    timer = ["/usr/bin/time", "-f", "%M"] if Path("/usr/bin/time").exists() else []
    started = time.perf_counter()
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(timer + argv, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        stdout.seek(0)
        stderr.seek(0)
        output, errors = stdout.read().decode(), stderr.read().decode()
    if os.waitstatus_to_exitcode(status) not in (0, 1):  # grep -c exits 1 when nothing matched
        raise SystemExit(f"{argv[0]} failed with status {status}: {errors[-500:]}")
    peak_kb = int(errors.strip().splitlines()[-1]) if timer else usage.ru_maxrss
    return elapsed, peak_kb // 1024, output


def measure(path: Path, repeats: int) -> Dict[str, object]:
    """Return the medians of grep and the excerpt on one log, run in turn `repeats` times."""
    run_measured(["cat", str(path)])  # warm the page cache for both contenders
    grep: List[float] = []
    excerpt: List[float] = []
    rss: List[int] = []
    result: dict = {}
    matched = ""
    for _ in range(repeats):
        seconds, _, matched = run_measured(["grep", "-E", "-c", f"{PREFILTER}|{COMMAND_SCAN}", str(path)])
        grep.append(seconds)
        _, peak, out = run_measured([sys.executable, "-c", _CHILD, str(path), str(REPO)])
        result = json.loads(out)
        excerpt.append(result["elapsed"])
        rss.append(peak)
    return {"grep": statistics.median(grep), "excerpt": statistics.median(excerpt), "rss": max(rss),
            "matched": matched.strip(), "result": result}


def report(profile: str, size_mb: float, planted: int, figures: Dict[str, object],
           target: Callable[[float, float], str]) -> None:
    """Print one log's figures and its target."""
    grep, excerpt, result = figures["grep"], figures["excerpt"], figures["result"]
    kept = any(number == planted and ERROR_LINE in text for number, text in result["lines"])
    print(f"{profile} log, {size_mb:.0f} MB ({result['total_lines']:,} lines, {figures['matched']} lines matched by grep)")
    print(f"  grep -E -c : {size_mb / grep:7.1f} MB/s")
    print(f"  excerpt    : {size_mb / excerpt:7.1f} MB/s  peak RSS {figures['rss']:4d} MB;"
          f" planted error kept: {kept}; {len(result['lines'])} lines, {result['tokens']} tokens")
    print(f"  excerpt/grep: {grep / excerpt:.2f}x   {target(size_mb / excerpt, grep / excerpt)}")


def _dense_target(mbs: float, ratio: float) -> str:
    return f"target >= {DENSE_TARGET_MBS:g} MB/s: {'met' if mbs >= DENSE_TARGET_MBS else 'MISSED'}"


def _ordinary_target(mbs: float, ratio: float) -> str:
    return f"target >= {ORDINARY_TARGET_RATIO:g}x grep: {'met' if ratio >= ORDINARY_TARGET_RATIO else 'MISSED'}"


def _sizes(text: str) -> List[int]:
    return [int(size) for size in text.split(",") if size.strip()]


def main() -> int:
    """Generate the logs, run grep and the excerpt on each, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ordinary-mb", type=_sizes, default=[100, 500], help="sizes of the ordinary logs")
    parser.add_argument("--dense-mb", type=_sizes, default=[20], help="sizes of the error-dense logs")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each contender per log (medians shown)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the logs (default: a temp dir)")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPU(s), load average {load:.2f} at the start; medians of {args.repeats} runs")
    plan = [("error-dense", size, True, _dense_target) for size in args.dense_mb] + \
           [("ordinary", size, False, _ordinary_target) for size in args.ordinary_mb]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for profile, size, dense, target in plan:
            path = Path(tmp) / f"{profile}-{size}.log"
            planted = write_log_in_child(path, size, dense)
            report(profile, path.stat().st_size / (1 << 20), planted, measure(path, args.repeats), target)
            path.unlink()
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
