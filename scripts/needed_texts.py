"""Write azura/kb/needed-texts.json: what text each bundled signature's pattern needs, read once here, not per run.

    python scripts/needed_texts.py [--check]

Run it after changing a pattern in azura/kb/signatures.yml; tests/test_patterns.py fails while the file is stale.
Working the texts out from the patterns takes ~50 ms, which every run would otherwise spend before reading a log.
`--check` writes nothing and exits 1 when the file differs from what it would write.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from azura.analyze.patterns import NEEDED_TEXTS_PATH, needed_texts_document  # noqa: E402 - after the path fix
from azura.analyze.signatures import bundled_signatures  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether the file is up to date")
    args = parser.parse_args()
    document = needed_texts_document(signature.pattern for signature in bundled_signatures())
    current = NEEDED_TEXTS_PATH.read_text(encoding="utf-8") if NEEDED_TEXTS_PATH.exists() else ""
    if args.check:
        print(f"{NEEDED_TEXTS_PATH}: {'up to date' if current == document else 'stale'}")
        return 0 if current == document else 1
    NEEDED_TEXTS_PATH.write_text(document, encoding="utf-8")
    print(f"wrote {NEEDED_TEXTS_PATH} ({document.count(chr(10)) - 2} patterns)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
