"""Bundled example failures for `azura demo` and the server's `/api/examples`."""
from __future__ import annotations

from pathlib import Path
from typing import Tuple


def example_paths() -> Tuple[Path, ...]:
    """Return the bundled example logs, in name order."""
    return tuple(sorted(Path(__file__).parent.glob("*.log")))
