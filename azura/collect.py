"""The collect step: the failed steps of a run and their logs, as StepLogs.

Local files (`--log`) are read here too, so every later step sees the same StepLog whatever the source.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence, Tuple

from azura.errors import InputError
from azura.models import FailedStep, StepLog

CHUNK_BYTES = 1 << 20


def local_logs(paths: Sequence[str], stdin: BinaryIO = None) -> Tuple[StepLog, ...]:
    """Return one StepLog per path ('-' is standard input); missing files, folders and empty files are refused."""
    logs = []
    for path in paths:
        if path == "-":
            stream = stdin if stdin is not None else sys.stdin.buffer
            logs.append(StepLog(step=FailedStep(name="stdin", record_type="File"), chunks=_read_stream(stream)))
            continue
        logs.append(StepLog(step=FailedStep(name=os.path.basename(path), record_type="File"),
                            chunks=_read_file(_checked_path(path))))
    return tuple(logs)


def _checked_path(path: str) -> Path:
    target = Path(path)
    if not target.exists():
        raise InputError(f"log file not found: {path}")
    if target.is_dir():
        raise InputError(f"{path} is a directory; pass log files")
    if not os.access(target, os.R_OK):
        raise InputError(f"log file is not readable: {path}")
    if target.stat().st_size == 0:
        raise InputError(f"log file is empty: {path}")
    return target


def _read_file(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from _read_stream(handle)


def _read_stream(stream: BinaryIO) -> Iterator[bytes]:
    while True:
        chunk = stream.read(CHUNK_BYTES)
        if not chunk:
            return
        yield chunk
