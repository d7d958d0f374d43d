"""The publish step: sinks that each fail alone (files, summary tab, build tag, PR thread).

Publish receives rendered strings and never renders; every sink returns a SinkOutcome and a failed sink
becomes a warning, never a skipped next sink.
"""
from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Optional, TextIO, Tuple

from azura.commands import vso
from azura.context import Settings
from azura.errors import AzuraError, ConfigError, PublishError
from azura.models import Analysis, Deadline, Rendered, SinkOutcome

OUTPUT_FILES = ("summary.md", "pr-comment.md", "analysis.json")
TAG_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,100}")  # build tags travel in the URL path; no colon allowed
FORK_READ_ONLY = ("this is a build of a pull request from a fork, and Azure Pipelines gives such builds a read-only "
                  "token; the summary tab and the report files are still published")
Clock = Callable[[], float]


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


def remove_outputs(path: str) -> Tuple[str, ...]:
    """Remove the output files an earlier run left in `path`; return the names removed (none when unwritable)."""
    removed = []
    for name in OUTPUT_FILES:
        try:
            (Path(path) / name).unlink()
        except OSError:  # absent, or not ours to remove: either way there is nothing more to do
            continue
        removed.append(name)
    return tuple(removed)


def publish(analysis: Analysis, rendered: Rendered, settings: Settings, stdout: TextIO,
            deadline: Optional[Deadline] = None, clock: Clock = time.monotonic,
            sleep: Callable[[float], None] = time.sleep) -> Tuple[SinkOutcome, ...]:
    """Run every enabled sink in order, each isolated; return what each did.

    Logging commands go to `stdout`, where the agent reads them. The files come first, because the summary
    command points at summary.md.
    """
    folder = Path(settings.output_dir)
    devops = _LazyDevOps(settings, deadline, clock, sleep)
    sinks: List[Tuple[str, Callable[[], str]]] = [
        ("files", lambda: _files_sink(rendered, folder)),
        ("summary", lambda: _summary_sink(analysis, rendered, settings, folder, stdout)),
        ("tag", lambda: _tag_sink(analysis, settings, devops)),
        ("pr-thread", lambda: _pr_thread_sink(analysis, rendered, settings, devops)),
    ]
    outcomes = []
    for name, sink in sinks:
        if name not in settings.sinks:
            outcomes.append(SinkOutcome(name, "skipped", "disabled"))
        elif name != "files" and not settings.publish:
            outcomes.append(SinkOutcome(name, "skipped", "publishing is off (pass --publish)"))
        else:
            outcomes.append(_run_sink(name, sink))
    return tuple(outcomes)


class Skipped(Exception):
    """A sink has nothing to do here; the message says why."""


class Withheld(Skipped):
    """A sink would have work, but this build's identity may not do it (a fork's pull request); worth a warning."""


def _run_sink(name: str, sink: Callable[[], str]) -> SinkOutcome:
    try:
        return SinkOutcome(name, "ok", sink())
    except Withheld as reason:
        return SinkOutcome(name, "withheld", str(reason))
    except Skipped as reason:
        return SinkOutcome(name, "skipped", str(reason))
    except AzuraError as exc:
        return SinkOutcome(name, "failed", str(exc))


class _LazyDevOps:
    """The Azure DevOps client, made only when a sink needs it, once for all sinks."""

    def __init__(self, settings: Settings, deadline: Optional[Deadline], clock: Clock,
                 sleep: Callable[[float], None]):
        self._args = (settings, deadline, clock, sleep)
        self._client = None

    def __call__(self):
        if self._client is None:
            from azura.devops import AzureDevOps

            settings, deadline, clock, sleep = self._args
            if not (settings.org_url and settings.token and settings.project):
                raise PublishError("no Azure DevOps organisation, project or token to publish with")
            self._client = AzureDevOps(settings, deadline, clock=clock, sleep=sleep)
        return self._client


def _files_sink(rendered: Rendered, folder: Path) -> str:
    first, *others = write_files(rendered, check_output_dir(str(folder)))
    return f"wrote {', '.join([str(first), *(path.name for path in others)])}"


def _pr_thread_sink(analysis: Analysis, rendered: Rendered, settings: Settings, devops: "_LazyDevOps") -> str:
    from azura.publish.pr_thread import pr_thread_sink  # most runs post no PR comment: its module stays unloaded

    return pr_thread_sink(analysis, rendered, settings, devops)


def _in_pipeline(settings: Settings) -> bool:
    return settings.in_pipeline and settings.mode == "pipeline"


def _summary_sink(analysis: Analysis, rendered: Rendered, settings: Settings, folder: Path, stdout: TextIO) -> str:
    if not _in_pipeline(settings):
        raise Skipped("not running as a step of the analysed build (the summary tab belongs to it)")
    if not analysis.failures:
        raise Skipped("nothing failed, so no summary")
    path = (folder / "summary.md").resolve()
    # The agent uploads the file after the command, from its own queue: it must exist before and stay after.
    if not path.is_file() or path.read_text(encoding="utf-8") != rendered.summary_md:
        _write_text(path, rendered.summary_md)
    _emit(stdout, vso("task.uploadsummary", str(path)))
    return f"summary tab: {path}"


def _tag_sink(analysis: Analysis, settings: Settings, devops: "_LazyDevOps") -> str:
    from azura.devops import TAG_PERMISSION_HINT

    tag = analysis.tag
    if not tag or not analysis.failures:
        raise Skipped("nothing failed, so no tag")
    if not TAG_PATTERN.fullmatch(tag):
        raise PublishError(f"tag {tag!r} may only hold letters, digits, '.', '_' and '-'")
    if settings.fork_pr:
        raise Withheld(f"no build tag: {FORK_READ_ONLY}")
    # Through the REST API, never `##vso[build.addbuildtag]`: the agent sends that command after Azura has
    # exited and marks the step failed when the service refuses it; a refused request here is one warning.
    project, build_id = settings.project, settings.build_id
    devops().call("build", f"tag build {build_id} of project {project} with {tag}",
                  lambda client: client.add_build_tag(project, build_id, tag), error=PublishError,
                  needs=TAG_PERMISSION_HINT)
    return f"tagged build {build_id} {tag}"


def _emit(stdout: TextIO, line: str) -> None:
    stdout.write(line + "\n")
    stdout.flush()


def _write_text(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="\n", dir=path.parent,
                                         prefix=f".{path.name}.", delete=False) as handle:
            handle.write(text)
        os.replace(handle.name, path)
    except OSError as exc:
        raise PublishError(f"could not write {path}: {exc.strerror or exc}") from None
