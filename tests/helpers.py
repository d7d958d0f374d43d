"""Drive the real entry point in-process, the way a user runs it."""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Mapping, Optional

from azura.cli import main
from azura.errors import ExitCode


@dataclass
class CliRun:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict:
        return json.loads(self.stdout)


def run_azura(*args: str, environ: Optional[Mapping[str, str]] = None, stdin: bytes = b"",
              expect: Optional[int] = ExitCode.OK) -> CliRun:
    """Run `azura ARGS` in-process with a clean environment; fail unless it exits with `expect` (None: any)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(list(args), environ=dict(environ or {}), stdout=stdout, stderr=stderr, stdin=io.BytesIO(stdin))
    run = CliRun(int(code), stdout.getvalue(), stderr.getvalue())
    if expect is not None and run.exit_code != expect:
        raise AssertionError(f"azura {' '.join(args)} exited {run.exit_code}, expected {int(expect)}\n"
                             f"--- stdout\n{run.stdout}\n--- stderr\n{run.stderr}")
    return run
