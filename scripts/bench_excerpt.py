"""Benchmark the excerpt on a large generated log, beside `grep -E` with the same anchor words.

    python scripts/bench_excerpt.py [--size-mb 500] [--dir DIR] [--keep]

Writes a log of realistic noise (timestamps, progress bars with bare CR, compiler and test output,
downloads) with one compiler error near the middle, then runs, each in its own process: `grep -E -c`
with the excerpt's prefilter words, and the excerpt (build_excerpts at the default budget). Prints
throughput in MB/s and each process's peak RSS (ru_maxrss from wait4), and whether the excerpt kept the
error line.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from azura.excerpt.anchors import COMMAND_SCAN, PREFILTER  # noqa: E402

ERROR_LINE = "src/net/http_client.c:412:17: error: 'struct request' has no member named 'timeout_ms'"
BLOCK_BYTES = 1 << 20
VARIANTS = 32  # distinct noise blocks, cycled: enough variety, cheap to write

_CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[2])
from azura.collect import local_logs
from azura.excerpt import build_excerpts

started = time.perf_counter()
excerpt = build_excerpts(local_logs([sys.argv[1]]), 2048)[0]
elapsed = time.perf_counter() - started
print(json.dumps({"elapsed": elapsed, "lines": [[l.number, l.text] for l in excerpt.lines],
                  "tokens": excerpt.tokens, "total_lines": excerpt.total_lines}))
"""


def noise_block(rng: random.Random, stamp: int) -> str:
    """Return about BLOCK_BYTES of build noise, each line with an Azure Pipelines timestamp."""
    lines: List[str] = []
    size = 0
    while size < BLOCK_BYTES:
        kind = rng.random()
        ts = f"2024-05-01T12:{stamp % 60:02d}:{rng.randrange(60):02d}.{rng.randrange(10**7):07d}Z "
        n = rng.randrange(100000)
        if kind < 0.35:
            line = (f"{ts}[{n}/98304] gcc -O2 -g -Wall -Werror=format -Isrc/include -c src/mod{n % 97}/file{n}.c"
                    f" -o build/obj/mod{n % 97}/file{n}.o")
        elif kind < 0.5:
            line = f"{ts}src/mod{n % 97}/file{n}.c:{n % 900}:{n % 80}: warning: unused variable 'tmp{n}' [-Wunused-variable]"
        elif kind < 0.65:
            line = f"{ts}Downloading https://pkgs.example.org/npm/pkg{n % 400}/-/pkg{n % 400}-{n % 9}.{n % 13}.0.tgz ({n % 900} kB)"
        elif kind < 0.8:
            progress = "".join(f"\r{ts}Receiving objects: {p}% ({p * 97}/9700), {p * 31} KiB | 2.1 MiB/s" for p in range(0, 100, 20))
            line = progress.lstrip("\r")
        elif kind < 0.999:
            line = f"{ts}tests/test_mod{n % 97}.py::test_case_{n} PASSED{' ' * (n % 5)}[{n % 100:3d}%]"
        else:
            line = f"{ts}============ {n % 500} passed, 0 failed, 0 errors in {n % 60}.{n % 100}s ============"
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines) + "\n"


def write_log(path: Path, size_mb: int) -> int:
    """Write the benchmark log and return the 1-based line number of its one error."""
    rng = random.Random(20240501)
    blocks = [noise_block(rng, i).encode() for i in range(VARIANTS)]
    total = size_mb * (1 << 20)
    written = 0
    line = 0
    error_line = 0
    with open(path, "wb") as out:
        index = 0
        while written < total:
            block = blocks[index % VARIANTS]
            out.write(block)
            written += len(block)
            line += block.count(b"\n") + block.count(b"\r")
            index += 1
            if not error_line and written >= total // 2:
                out.write(f"2024-05-01T12:30:00.0000000Z {ERROR_LINE}\n".encode())
                line += 1
                error_line = line
                written += len(ERROR_LINE) + 30
    return error_line


def write_log_in_child(path: Path, size_mb: int) -> int:
    """Write the benchmark log from a child process, so this one stays small (see run_measured); return its error line."""
    return int(subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(REPO / 'scripts')!r}); import bench_excerpt as b;"
         f" print(b.write_log(b.Path({str(path)!r}), {size_mb}))"],
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


def main() -> int:
    """Generate the log, run both scanners, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=500)
    parser.add_argument("--dir", type=Path, default=None, help="where to write the log (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated log")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "bench.log"
        error_line = write_log_in_child(path, args.size_mb)
        size_mb = path.stat().st_size / (1 << 20)
        print(f"log: {size_mb:.0f} MB, error at line {error_line:,}")
        run_measured(["cat", str(path)])  # warm the page cache for both contenders
        grep_time, grep_rss, grep_out = run_measured(["grep", "-E", "-c", f"{PREFILTER}|{COMMAND_SCAN}", str(path)])
        wall, rss, out = run_measured([sys.executable, "-c", _CHILD, str(path), str(REPO)])
        result = json.loads(out)
        kept = any(number == error_line and ERROR_LINE in text for number, text in result["lines"])
        print(f"grep -E -c     : {size_mb / grep_time:7.1f} MB/s  peak RSS {grep_rss:4d} MB  ({grep_out.strip()} lines matched)")
        print(f"excerpt        : {size_mb / result['elapsed']:7.1f} MB/s  peak RSS {rss:4d} MB"
              f"  (process wall time incl. start-up: {size_mb / wall:.1f} MB/s)")
        print(f"excerpt/grep   : {grep_time / result['elapsed']:.2f}")
        print(f"error line kept: {kept}; excerpt {len(result['lines'])} lines, {result['tokens']} tokens,"
              f" {result['total_lines']:,} lines read")
        if args.keep:
            kept_path = Path(args.dir or ".") / "bench.log"
            path.replace(kept_path)
            print(f"log kept at {kept_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
