"""Source lines at the run's commit: a few lines around each file:line a failure names.

The places come from the failure's facts: compile errors' file:line, failing tests' locations, and the frames
of their stack traces that lie in the repository's own code. Azure Repos files are read through the Git items
API at the build's commit (Code: Read); other repositories (GitHub) from the agent's checkout in pipeline mode,
and not at all elsewhere. Only files inside the repository are read: a path that leaves it, or lies in
installed packages, is never asked for.

Requests, not counting retries: 1 per window read from Azure Repos, MAX_WINDOWS at most, plus the SDK's
resource-area lookup for the client of the lookups after the offline analysis.
"""
from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Iterator, List, Optional, Sequence, Tuple

from azura.checkout import within_agent_checkout
from azura.context import Settings
from azura.errors import AzuraError, CollectError
from azura.models import Build, Failure, Line, SourceLocation, SourceWindow

if TYPE_CHECKING:
    from azura.devops import AzureDevOps

CONTEXT_LINES = 4  # lines shown before and after the named line
MAX_WINDOWS = 3
MAX_FILE_BYTES = 1 << 20  # a window further into a file than this is not read
MAX_LINE_CHARS = 200
BUDGET_SHARE = 0.25  # of --budget, what the windows may add to the LLM prompt

# Installed packages and tool caches: a frame there is not the repository's own code.
_NOT_OWN_CODE = frozenset({"node_modules", "site-packages", "dist-packages", "__pypackages__", ".venv", ".nuget",
                           ".m2", ".gradle", ".cargo"})
# One stack frame's place, by runtime. Each yields the file and line (and column when printed).
_FRAMES = (
    re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+)'),  # Python
    re.compile(r"\bin (?P<file>\S.*?):line (?P<line>\d+)"),  # .NET
    re.compile(r"\(?(?P<file>[^\s()'\"]+\.[A-Za-z]\w{0,5}):(?P<line>\d+)(?::(?P<column>\d+))?\)?"),  # JS, Go, Rust
)


def frame_locations(stack_trace: str) -> List[SourceLocation]:
    """Return the places a stack trace names, innermost first (Python tracebacks list it last)."""
    found = []
    for text in stack_trace.splitlines():
        for pattern in _FRAMES:
            match = pattern.search(text)
            if match:
                column = match.groupdict().get("column")
                found.append(SourceLocation(match["file"], int(match["line"]), int(column) if column else None))
                break
    if "Traceback (most recent call last)" in stack_trace or re.search(r'^\s*File "', stack_trace, re.MULTILINE):
        found.reverse()
    return found


def repository_path(path: str, sources_dir: Optional[str] = None) -> Optional[str]:
    """Return `path` relative to the repository root, or None when it lies outside the repository's own code.

    Absolute paths count only under the agent's checkout (`sources_dir`, or the agent's .../s/ folder);
    relative paths are taken as relative to the root. No result ever starts with '..' or '/'.
    """
    text = path.strip().strip("'\"").replace("\\", "/")
    if not text or "\x00" in text or len(text) > 400:
        return None
    root = (sources_dir or "").replace("\\", "/").rstrip("/")
    in_agent_checkout = within_agent_checkout(text)
    if root and text.lower().startswith(root.lower() + "/"):
        text = text[len(root) + 1:]
    elif in_agent_checkout is not None:
        text = in_agent_checkout
    elif text.startswith("/") or re.match(r"^[A-Za-z]:/", text) or "://" in text:
        return None  # the system's or a tool's file, or no file at all
    relative = posixpath.normpath(text)
    parts = relative.split("/")
    if relative in (".", "") or relative.startswith("/") or ".." in parts or re.match(r"^[A-Za-z]:", relative):
        return None
    if any(part in _NOT_OWN_CODE for part in parts):
        return None
    return relative


@dataclass(frozen=True)
class Place:
    """A file:line of the repository a failure names, and what named it."""

    path: str  # relative to the repository root
    line: int
    reason: str


def named_places(failures: Sequence[Failure], sources_dir: Optional[str] = None) -> List[Place]:
    """Return the repository places the failures' facts name, most telling first, each file:line once.

    Compile errors first, then each failing test's location and the first frame of its stack trace that lies
    in the repository.
    """
    places: List[Place] = []
    for failure in failures:
        for error in failure.facts.compile_errors:
            code = f" {error.code}" if error.code else ""
            places += _places([error.location], sources_dir, f"compile error{code}")
        for test in failure.facts.failing_tests:
            # A bare file name ("(OrdersTest.java:42)") does not say which folder holds it: it is not asked for.
            located = [loc for loc in [test.location, *frame_locations(test.stack_trace)]
                       if loc is not None and "/" in loc.file.replace("\\", "/")]
            places += _places(located, sources_dir, f"failing test {test.name}", first_only=True)
    unique: List[Place] = []
    for place in places:
        if not any(p.path == place.path and p.line == place.line for p in unique):
            unique.append(place)
    return unique


def _places(locations: Iterable[Optional[SourceLocation]], sources_dir: Optional[str], reason: str,
            first_only: bool = False) -> List[Place]:
    found = []
    for location in locations:
        path = repository_path(location.file, sources_dir) if location is not None and location.line else None
        if path is not None:
            found.append(Place(path, location.line, reason))
            if first_only:
                break
    return found


def read_source_windows(settings: Settings, build: Build, places: Sequence[Place],
                        ado: Optional["AzureDevOps"] = None) -> Tuple[Tuple[SourceWindow, ...], Tuple[str, ...]]:
    """Return up to MAX_WINDOWS windows around `places`, within the budget's share, and what could not be read.

    A file that does not exist at the commit (a generated file) is skipped without a warning.
    """
    reader = _window_reader(settings, build, ado)
    if reader is None:
        return (), ()
    windows: List[SourceWindow] = []
    warnings: List[str] = []
    for place in places:
        if len(windows) >= MAX_WINDOWS:
            break
        if any(w.location.file == place.path and abs((w.location.line or 0) - place.line) <= CONTEXT_LINES
               for w in windows):
            continue  # the window already read shows it
        try:
            lines = reader(place)
        except AzuraError as exc:
            warnings.append(f"source of {place.path}:{place.line} not read: {exc}")
            break  # a refused token or an unreachable service refuses the next file the same way
        if lines:
            # redacted whole, then cut: a cut through a secret would leave a piece no pattern recognises
            redacted = tuple(Line(line.number, _cut(_redacted(line.text, settings.secrets))) for line in lines)
            windows.append(SourceWindow(SourceLocation(place.path, place.line), redacted, build.source_version,
                                        place.reason))
    return fitted(windows, source_budget(settings.budget), settings.tokenizer), tuple(warnings)


def source_budget(budget: int) -> int:
    """Return the tokens the source windows may add to the LLM prompt for an excerpt budget."""
    return int(budget * BUDGET_SHARE)


def fitted(windows: Sequence[SourceWindow], budget: int, tokenizer: str = "estimate") -> Tuple[SourceWindow, ...]:
    """Return the windows that fit in `budget` tokens, in order; a window too large shrinks around its line."""
    from azura.tokens import count_tokens

    kept: List[SourceWindow] = []
    left = budget
    for window in windows:
        lines = list(window.lines)
        while lines and sum(count_tokens(line.text, tokenizer) + 4 for line in lines) > left:
            lines = _narrowed(lines, window.location.line or 0)
        if lines:
            left -= sum(count_tokens(line.text, tokenizer) + 4 for line in lines)
            kept.append(SourceWindow(window.location, tuple(lines), window.commit, window.reason))
    return tuple(kept)


def _narrowed(lines: List[Line], named: int) -> List[Line]:
    """Return the lines without the one furthest from the named line."""
    furthest = max(lines, key=lambda line: (abs(line.number - named), line.number))
    return [line for line in lines if line is not furthest]


def _window_reader(settings: Settings, build: Build, ado: Optional["AzureDevOps"]):
    """Return read(place) -> lines for this build's repository, or None when its files cannot be read here."""
    if not settings.source_lines:
        return None
    if build.repository_type == "TfsGit" and build.repository_id and build.source_version:
        if ado is None:
            return None
        return lambda place: _from_azure_repos(ado, build, place)
    if settings.mode == "pipeline" and settings.sources_dir and os.path.isdir(settings.sources_dir):
        return lambda place: _from_checkout(settings.sources_dir, place)
    return None


def _from_azure_repos(ado: "AzureDevOps", build: Build, place: Place) -> Tuple[Line, ...]:
    """Return the window around `place` in the file at the build's commit, read through the Git items API."""
    from azure.devops.v7_1.git.models import GitVersionDescriptor

    from azura.devops import CODE_PERMISSION_HINT

    project = build.project or ado.settings.project
    version = GitVersionDescriptor(version=build.source_version, version_type="commit")

    def read(client: Any) -> Tuple[Line, ...]:
        chunks = client.get_item_text(build.repository_id, "/" + place.path, project, version_descriptor=version)
        return _window(chunks, place.line)

    try:
        return ado.call("git", f"read {place.path} at commit {(build.source_version or '')[:8]}", read,
                        needs=CODE_PERMISSION_HINT)
    except CollectError as exc:
        if "not found" in str(exc):
            return ()
        raise


def _from_checkout(sources_dir: str, place: Place) -> Tuple[Line, ...]:
    """Return the window around `place` in the agent's checkout; a link that leads outside it is not followed."""
    root = os.path.realpath(sources_dir)
    target = os.path.realpath(os.path.join(root, *place.path.split("/")))
    if os.path.commonpath([root, target]) != root or not os.path.isfile(target):
        return ()
    try:
        with open(target, "rb") as handle:
            return _window(iter(lambda: handle.read(64 * 1024), b""), place.line)
    except OSError as exc:
        raise CollectError(f"could not read {place.path} in the checkout ({type(exc).__name__})") from None


def _window(chunks: Iterable[bytes], line: int) -> Tuple[Line, ...]:
    """Return lines line-CONTEXT_LINES .. line+CONTEXT_LINES of a file streamed as chunks; () for a binary file."""
    first, last = max(1, line - CONTEXT_LINES), line + CONTEXT_LINES
    kept: List[Line] = []
    for number, raw in enumerate(_lines(chunks), start=1):
        if raw is None:
            return ()
        if number > last:
            break
        if number >= first:
            kept.append(Line(number, raw.decode("utf-8", "replace").rstrip("\r\n")))
    return tuple(kept) if any(item.number == line for item in kept) else ()


def _lines(chunks: Iterable[bytes]) -> Iterator[Optional[bytes]]:
    """Yield the lines of a byte stream up to MAX_FILE_BYTES; None once it turns out to be binary."""
    pending = b""
    read = 0
    for chunk in chunks:
        if b"\x00" in chunk:
            yield None
            return
        read += len(chunk)
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from complete
        if read >= MAX_FILE_BYTES:
            return
    if pending:
        yield pending


def _cut(text: str) -> str:
    return text if len(text) <= MAX_LINE_CHARS else text[:MAX_LINE_CHARS - 1] + "…"


def _redacted(text: str, secrets: Sequence[str]) -> str:
    from azura.redact import redact

    return redact(text, secrets)
