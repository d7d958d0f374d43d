"""Time `azura analyze --log` (offline) end to end on a large generated log, optionally against another checkout.

    python scripts/bench_analyze.py [--size-mb 100] [--runs 5] [--dir DIR] [--against CHECKOUT] [--corpus CORPUS]

The log is `bench_excerpt.py`'s realistic noise with one compiler error near the middle; with `--corpus`, real build
output instead: the corpus' LogChunks and CiDiff logs one after the other in a shuffled order (seeded), cut at
`--size-mb`, whose varied lines are what RE2's automata meet in a real large log. Each run is its own
process (`python -m azura analyze --log FILE --format json`, started in the checkout it measures). With
`--against`, runs of this checkout and of the other one alternate, so both see the same machine load. Prints the
median and minimum wall time of each, their ratio, the peak RSS, and whether the diagnosis rests on the error line.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from bench_excerpt import ERROR_LINE, run_measured, write_log_in_child  # noqa: E402

_CONTROL_BYTES = bytes(range(0, 9)) + bytes(range(14, 27)) + bytes(range(28, 32))


def write_real_log(path: Path, corpus: Path, size_mb: int, seed: int = 7) -> None:
    """Write `size_mb` MB of the corpus' logs, shuffled, as one log; without the control bytes a few of them hold
    (a log starting with them is refused as binary)."""
    import random

    from evaluate import chunks, cidiff_cases, logchunks_cases

    cases = list(logchunks_cases(corpus)) + list(cidiff_cases(corpus))
    random.Random(seed).shuffle(cases)
    left = size_mb * 1_000_000
    with path.open("wb") as out:
        for case in cases:
            data = b"".join(chunks(case.path)).translate(None, _CONTROL_BYTES)[:left]
            data = data if len(data) < left else data[:data.rfind(b"\n") + 1]
            out.write(data if data.endswith(b"\n") else data + b"\n")
            left -= len(data) + 1
            if left <= 0:
                break


def main() -> int:
    """Generate the log, run the analysis `--runs` times per checkout, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None, help="where to write the log (default: a temp dir)")
    parser.add_argument("--against", type=Path, help="another checkout of Azura to time the same way, alternating")
    parser.add_argument("--corpus", type=Path, help="the shared corpus: analyse its real logs, one after the other")
    args = parser.parse_args()
    checkouts = {"this": REPO} if args.against is None else {"this": REPO, "other": args.against.resolve()}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "bench.log"
        if args.corpus is None:
            error_line = write_log_in_child(path, args.size_mb, dense=False)
            print(f"log: {path.stat().st_size / (1 << 20):.0f} MB, error at line {error_line:,}")
        else:
            error_line = None
            write_real_log(path, args.corpus, args.size_mb)
            print(f"log: {path.stat().st_size / (1 << 20):.0f} MB of the corpus' logs")
        run_measured(["cat", str(path)])  # warm the page cache
        command = [sys.executable, "-m", "azura", "analyze", "--log", str(path), "--format", "json",
                   "--llm-provider", "none", "--output-dir", str(Path(tmp) / "out")]
        times: Dict[str, List[float]] = {name: [] for name in checkouts}
        peaks: Dict[str, List[int]] = {name: [] for name in checkouts}
        documents: Dict[str, dict] = {}
        for _ in range(args.runs):
            for name, checkout in checkouts.items():
                # `python -m azura` imports the package from the directory it starts in
                wall, rss, out = run_measured(["env", "-C", str(checkout)] + command)
                times[name].append(wall)
                peaks[name].append(rss)
                documents[name] = json.loads(out)
        for name, checkout in checkouts.items():
            failure = documents[name]["failures"][0]
            first = failure["evidence"][0] if failure["evidence"] else {"line": None, "text": ""}
            rests = first["line"] == error_line and ERROR_LINE in first["text"]
            verdict = f"evidence at line {first['line']}" if error_line is None else \
                ("rests on the error line" if rests else "does NOT rest on the error line")
            print(f"{name} ({checkout}): median {statistics.median(times[name]):.2f} s, min {min(times[name]):.2f} s "
                  f"({args.runs} runs), peak RSS {max(peaks[name])} MB; diagnosis {failure['category']}, {verdict}")
        if args.against is not None:
            same = documents["this"]["failures"] == documents["other"]["failures"]
            print(f"this/other: median {statistics.median(times['this']) / statistics.median(times['other']):.3f}, "
                  f"min {min(times['this']) / min(times['other']):.3f}; "
                  f"{'the same failures' if same else 'the failures DIFFER'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
