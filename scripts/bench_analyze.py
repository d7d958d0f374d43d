"""Time `azura analyze --log` (offline) end to end on a large generated log.

    python scripts/bench_analyze.py [--size-mb 100] [--runs 5] [--dir DIR]

The log is `bench_excerpt.py`'s realistic noise with one compiler error near the middle. Each run is its own
process (`python -m azura analyze --log FILE --format json`); prints the median and the spread of the wall
times, the peak RSS, and whether the diagnosis rests on the error line.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from bench_excerpt import ERROR_LINE, run_measured  # noqa: E402


def main() -> int:
    """Generate the log, run the analysis `--runs` times, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None, help="where to write the log (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "bench.log"
        error_line = int(subprocess.run(
            [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(REPO / 'scripts')!r}); import bench_excerpt as b;"
             f" print(b.write_log(b.Path({str(path)!r}), {args.size_mb}))"],
            check=True, capture_output=True, text=True).stdout)
        print(f"log: {path.stat().st_size / (1 << 20):.0f} MB, error at line {error_line:,}")
        run_measured(["cat", str(path)])  # warm the page cache
        command = [sys.executable, "-m", "azura", "analyze", "--log", str(path), "--format", "json",
                   "--llm-provider", "none", "--output-dir", str(Path(tmp) / "out")]
        times, peaks = [], []
        document = {}
        for _ in range(args.runs):
            wall, rss, out = run_measured(command)
            times.append(wall)
            peaks.append(rss)
            document = json.loads(out)
        failure = document["failures"][0]
        first = failure["evidence"][0] if failure["evidence"] else {"line": None, "text": ""}
        print(f"azura analyze --log: median {statistics.median(times):.2f} s (min {min(times):.2f}, "
              f"max {max(times):.2f}, {args.runs} runs), peak RSS {max(peaks)} MB")
        print(f"diagnosis: {failure['category']}, rests on line {first['line']} "
              f"({'the error line' if first['line'] == error_line and ERROR_LINE in first['text'] else 'NOT the error line'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
