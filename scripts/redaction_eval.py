"""Measure redaction on real logs: lines it changes (false redactions, when the corpus holds no secrets) and speed.

    python scripts/redaction_eval.py CORPUS_DIR [--show N] [--per-line]

Reads every LogChunks log under CORPUS_DIR/logchunks/logs as the excerpt reads it (timestamps and ANSI
stripped), redacts every line, and prints: lines read, lines changed, changed lines per 10k, and the
redaction throughput over all lines (lines/s and MB/s). `--show N` prints N changed lines, with what went,
so a reader can judge each one: a changed line that holds no real secret is a false redaction. `--per-line`
times `redact()` called line by line (the only way before `redact_lines`) instead of the batch the excerpt uses.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from azura.collect import local_logs  # noqa: E402
from azura.excerpt import read_lines  # noqa: E402
import azura.redact  # noqa: E402

_MARK = re.compile(r"«redacted:[a-z0-9-]+»")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="the shared corpus folder (holding logchunks/)")
    parser.add_argument("--show", type=int, default=0, help="print this many changed lines")
    parser.add_argument("--per-line", action="store_true", help="time redact() line by line, not the batch")
    args = parser.parse_args()
    logs = sorted((args.corpus / "logchunks" / "logs").rglob("*.log.gz"))
    if not logs:
        parser.error(f"no LogChunks logs under {args.corpus / 'logchunks' / 'logs'}")
    total = changed = chars = 0
    elapsed = 0.0
    shown = []
    for path in logs:
        texts = [line.text for line in read_lines(local_logs((str(path),))[0].chunks)]
        started = time.perf_counter()
        redacted = ([azura.redact.redact(text) for text in texts] if args.per_line
                    else azura.redact.redact_lines(texts))
        elapsed += time.perf_counter() - started
        total += len(texts)
        chars += sum(map(len, texts))
        for before, after in zip(texts, redacted):
            if before != after:
                changed += 1
                if len(shown) < args.show:
                    shown.append((path.relative_to(args.corpus), after))
    for where, after in shown:
        marks = "  ".join(f"…{after[max(0, m.start() - 60):m.end() + 20]}…" for m in _MARK.finditer(after))
        print(f"{where}: {marks}")
    print(f"logs: {len(logs)}  lines: {total:,}  changed: {changed}  per 10k lines: {changed * 10_000 / total:.2f}")
    print(f"redaction: {total / elapsed:,.0f} lines/s, {chars / elapsed / 1e6:.1f} M characters/s over all lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
