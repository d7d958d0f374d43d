"""Locate the shared corpus of real logs; tests that need it skip, saying why, when it is absent.

The corpus lives beside the repository (`<repo>/../shared/corpus`) unless AZURA_CORPUS points elsewhere.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, Iterable, List

import pytest

from azura.collect import local_logs

REPO = Path(__file__).resolve().parents[1]


def corpus_dir() -> Path:
    """Return the corpus directory, or skip the calling test when it is not there."""
    path = Path(os.environ.get("AZURA_CORPUS") or REPO.parent / "shared" / "corpus")
    if not (path / "logchunks" / "labels.derived.jsonl").is_file():
        pytest.skip(f"the shared corpus is not at {path} (set AZURA_CORPUS to its folder)")
    return path


def log_chunks(path: Path) -> Iterable[bytes]:
    """Return a corpus log's bytes in chunks, gunzipping `.gz` files, as collect streams them."""
    return local_logs((str(path),))[0].chunks


def logchunks_label(log: str) -> Dict[str, object]:
    """Return the LogChunks label of one log (its path under logs/, without .gz)."""
    with open(corpus_dir() / "logchunks" / "labels.derived.jsonl", encoding="utf-8") as labels:
        for row in map(json.loads, labels):
            if row["log"] == log:
                return row
    raise LookupError(log)


def logchunks_log(log: str) -> Path:
    """Return the path of one LogChunks log."""
    return corpus_dir() / "logchunks" / "logs" / f"{log}.gz"


def cidiff_case(name: str) -> Path:
    """Return the folder of one CiDiff breakage case (fail.log, groundtruth)."""
    return corpus_dir() / "other-ci-corpora" / "cidiff-breakages" / "data" / name


def cidiff_error_lines(case: Path) -> List[int]:
    """Return the 1-based fail.log line numbers a CiDiff groundtruth marks as the error (`E` rows)."""
    lines: List[int] = []
    for row in (case / "groundtruth").read_text(encoding="utf-8").splitlines()[1:]:
        if row.startswith("E "):
            first, _, last = row[2:].strip().partition("-")
            lines.extend(range(int(first), int(last or first) + 1))
    return lines
