"""The publish step: sinks that each fail alone (files, summary tab, build tag, PR thread).

Publish receives rendered strings and never renders; every sink returns a SinkOutcome and a failed sink
becomes a warning, never a skipped next sink.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, List, TextIO, Tuple

from azura.context import Settings
from azura.errors import AzuraError, ConfigError, PublishError
from azura.models import Analysis, Rendered, SinkOutcome

OUTPUT_FILES = ("summary.md", "pr-comment.md", "analysis.json")


def check_output_dir(path: str) -> Path:
    """Return the output folder, created if needed; raise ConfigError when it cannot be written."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".azura-probe-"):
            pass
    except OSError as exc:
        raise ConfigError(f"--output-dir {path} is not writable ({exc.strerror or exc})") from None
    return folder


def write_files(rendered: Rendered, folder: Path) -> Tuple[Path, ...]:
    """Write the three output files atomically: all are replaced, or none is."""
    contents = dict(zip(OUTPUT_FILES, (rendered.summary_md, rendered.pr_comment_md, rendered.analysis_json)))
    staged: List[Tuple[str, Path]] = []
    try:
        for name, text in contents.items():
            handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="\n", dir=folder,
                                                 prefix=f".{name}.", delete=False)
            with handle:
                handle.write(text)
            staged.append((handle.name, folder / name))
        for temp, final in staged:
            os.replace(temp, final)
    except OSError as exc:
        for temp, _ in staged:
            Path(temp).unlink(missing_ok=True)
        raise PublishError(f"could not write to {folder}: {exc.strerror or exc}") from None
    return tuple(folder / name for name in OUTPUT_FILES)


def publish(analysis: Analysis, rendered: Rendered, settings: Settings, stdout: TextIO) -> Tuple[SinkOutcome, ...]:
    """Run every enabled sink in order, each isolated; return what each did."""
    folder = Path(settings.output_dir)
    sinks: List[Tuple[str, Callable[[], str]]] = [("files", lambda: _files_sink(rendered, folder))]
    outcomes = []
    for name, sink in sinks:
        if name not in settings.sinks:
            outcomes.append(SinkOutcome(name, "skipped", "disabled"))
            continue
        try:
            outcomes.append(SinkOutcome(name, "ok", sink()))
        except AzuraError as exc:
            outcomes.append(SinkOutcome(name, "failed", str(exc)))
    return tuple(outcomes)


def _files_sink(rendered: Rendered, folder: Path) -> str:
    paths = write_files(rendered, folder)
    return f"wrote {', '.join(str(p) for p in paths)}"
