"""Compile errors, read from what compilers print: file, line, column, the error code and the message.

One pattern per compiler's documented diagnostic format; Rust, Python and Sass give the location on another line
than the message, so their location is looked for on the lines around it.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from azura.analyze.candidates import AGENT_MARKER
from azura.analyze.patterns import KeywordPattern, LazyPattern
from azura.models import CompileError, Line, SourceLocation

MAX_ERRORS = 5
_SOURCE = r"(?P<file>(?:[A-Za-z]:[\\/])?[^\s:()\[\]'\"]+?\.{ext})"  # Windows agents print a drive: D:\a\1\s\x.cs


def _diagnostic(pattern: str, ext: str = r"\w{1,6}", *keywords: str) -> KeywordPattern:
    return KeywordPattern(pattern.replace("{source}", _SOURCE.replace("{ext}", ext)), *keywords)


# Each with the text every match holds (one of them, for an alternation): a line holding none is not tried.
DIAGNOSTICS: Tuple[KeywordPattern, ...] = (
    # C# / F# / VB and MSBuild: "src/A.cs(42,17): error CS0246: The type ... [/path/A.csproj]"
    _diagnostic(r"^\s*{source}\((?P<line>\d+),(?P<col>\d+)\): error (?P<code>[A-Z]{2,4}\d{3,5}): (?P<message>.+?)(?: \[\S+\])?$",
                r"(?:cs|fs|vb|xaml|razor|cshtml|csproj|props|targets)", "): error "),
    # TypeScript: "src/a.ts(3,1): error TS2322: ..." and "src/a.ts:3:1 - error TS2322: ..."
    _diagnostic(r"^\s*{source}(?:\((?P<line>\d+),(?P<col>\d+)\):|:(?P<line2>\d+):(?P<col2>\d+) -) error (?P<code>TS\d+): "
                r"(?P<message>.+)$", r"[cm]?tsx?", " error TS"),
    # javac: "App.java:23: error: cannot find symbol"; Maven: "[ERROR] /w/App.java:[23,9] cannot find symbol"
    _diagnostic(r"^(?:\[ERROR\] )?{source}(?::(?P<line>\d+): error:|:\[(?P<line2>\d+),(?P<col2>\d+)\]) (?P<message>.+)$",
                r"(?:java|groovy)", ": error:", ":["),
    # Kotlin: "e: file:///w/Main.kt:12:5 Unresolved reference: x", older "e: /w/Main.kt: (12, 5): ..."
    _diagnostic(r"^e: (?:file://)?{source}(?::(?P<line>\d+):(?P<col>\d+)|: \((?P<line2>\d+), (?P<col2>\d+)\)):? (?P<message>.+)$",
                r"kts?", ".kt"),
    # sbt/scalac: "[error] /w/Foo.scala:12:5: type mismatch;" (the column is optional)
    _diagnostic(r"^\[error\] {source}:(?P<line>\d+):(?:(?P<col>\d+):)? (?P<message>.+)$", r"(?:scala|sc|java)",
                ".scala:", ".sc:", ".java:"),  # not "[error] ": every error line of Azure Pipelines' logs holds it
    # gcc, clang, swiftc, GHC and most others: "src/x.c:118:12: error: ...", "x.swift:41:17: error: ..."
    _diagnostic(r"^\s*{source}:(?P<line>\d+)(?::(?P<col>\d+))?: (?:fatal )?error:\s*(?P<message>.*?)(?: \[-W[\w-]+(?:=[\w-]+)?\])?$",
                r"\w{1,6}", "error:"),
    # MSVC: "D:\a\1\s\src\main.cpp(12): fatal error C1083: Cannot open include file: ..."
    KeywordPattern(r"^\s*(?P<file>(?:[A-Za-z]:)?[^\s:()]*?\.\w+)\((?P<line>\d+)(?:,(?P<col>\d+))?\): (?:fatal )?error "
                   r"(?P<code>C\d{4}): (?P<message>.+)$", "error C"),
    # xcpretty marks each error of xcodebuild with "❌": "❌  /w/Sources/Api.swift:97:2: unknown attribute 'x'"
    _diagnostic(r"^\S{0,3}❌\s+{source}:(?P<line>\d+):(?P<col>\d+): (?P<message>.+)$", r"(?:swift|mm?|h|c|cc|cpp)", "❌"),
    # Go: "./internal/server/handler.go:41:9: undefined: NewRouter"
    _diagnostic(r"^\s*{source}:(?P<line>\d+):(?P<col>\d+): (?P<message>(?!warning).+)$", r"go", ".go:"),
    # Erlang and Elixir: "src/vhost.erl:91: field description undefined in record vhost"
    _diagnostic(r"^\s*{source}:(?P<line>\d+): (?P<message>(?!Warning|warning).+)$", r"(?:erl|hrl|ex|exs)",
                ".erl:", ".hrl:", ".ex:", ".exs:"),
)

# A warning in the same shape as an error ("src/Ipynb.hs:94:10: Warning:", "x.c:3:5: warning: unused variable"):
# a compile error where the build says it treats warnings as errors (gcc's, clang's and GHC's words for it)
_WARNING = _diagnostic(r"^\s*{source}:(?P<line>\d+)(?::(?P<col>\d+))?: [Ww]arning:\s*(?P<message>.*?)(?: \[-W[\w-]+\])?$",
                       r"\w{1,6}", "arning:")
_WARNINGS_FAIL = KeywordPattern(r"warnings being treated as errors|Failing due to -Werror|warning treated as error",
                                "treated as error", "-Werror")
# GHC's and cabal's progress, which a parallel build prints between a diagnostic's header and its message
_INTERLEAVED = LazyPattern(r"^\[\s*\d+ of \d+\] Compiling ")
MESSAGE_LINES = 3  # lines of a message that comes under its header (GHC), joined

# Diagnostics whose location comes on a line of its own, after (Rust) or before (Python) the message.
_RUST_ERROR = KeywordPattern(r"^error(?:\[(?P<code>E\d{4})\])?: (?P<message>.+)$", "error")
_RUST_LOCATION = LazyPattern(r"^\s*--> (?P<file>[^\s:]+):(?P<line>\d+):(?P<col>\d+)")
_PYTHON_ERROR = KeywordPattern(r"^\s*(?:E\s+)?(?P<code>SyntaxError|IndentationError|TabError): (?P<message>.+)$",
                               "SyntaxError", "IndentationError", "TabError")
_PYTHON_LOCATION = LazyPattern(r'File "(?P<file>[^"]+)", line (?P<line>\d+)')
# Sass (Ruby Sass, LibSass/node-sass): "Error: Invalid CSS after ...", then "        on line 7 of bulma.sass"
_SASS_ERROR = KeywordPattern(r"^Error: (?P<message>.+)$", "Error: ")
_SASS_LOCATION = LazyPattern(r"^\s+on line (?P<line>\d+)(?::(?P<col>\d+))? of (?P<file>\S+\.s[ac]ss)\b")
# Rust's own summaries, which are no error of their own
_RUST_SUMMARY = LazyPattern(r"^(?:aborting due to|could not compile|Could not compile|build failed|test failed)")

# Totals: "3 errors generated.", "Found 4 errors.", "error: aborting due to 3 previous errors", "  3 Error(s)"
_TOTALS = KeywordPattern(r"\b(?P<n>\d+) errors? generated|^Found (?P<n2>\d+) errors?\b|aborting due to (?P<n3>\d+) previous errors"
                         r"|^\s*(?P<n4>\d+) Error\(s\)$|^(?P<n5>\d+) errors?$", " error", " Error(s)")


def compile_errors(lines: Sequence[Line]) -> Tuple[Tuple[CompileError, ...], Optional[int]]:
    """Return the first compile errors in the lines (in log order, each place once) and the total printed."""
    found: List[CompileError] = []
    seen = set()
    total: Optional[int] = None
    warnings_fail = any(_WARNINGS_FAIL.search(line.text) for line in lines)
    for index, line in enumerate(lines):
        error = _error_at(lines, index) or (_warning_at(lines, index) if warnings_fail else None)
        if error is not None:
            key = (str(error.location), error.message)
            if key not in seen:
                seen.add(key)
                found.append(error)
        counted = _TOTALS.search(line.text)
        if counted:
            total = int(next(v for v in counted.groupdict().values() if v))
    return tuple(found[:MAX_ERRORS]), total or (len(found) if found else None)


def _error_at(lines: Sequence[Line], index: int) -> Optional[CompileError]:
    text = lines[index].text
    number = lines[index].number or None
    # GitHub Actions' problem matchers and Azure Pipelines' issues show a compiler's line behind "##[error]"
    bare = AGENT_MARKER.sub("", text)
    for pattern in DIAGNOSTICS:
        found = pattern.match(text) or (bare != text and pattern.match(bare))
        if found:
            groups = found.groupdict()
            message = groups["message"].strip() or _message_under(lines, index)
            return CompileError(message=message, code=groups.get("code") or "", log_line=number,
                                location=_location(groups["file"], groups.get("line") or groups.get("line2"),
                                                   groups.get("col") or groups.get("col2")))
    rust = _RUST_ERROR.match(text)
    if rust and not _RUST_SUMMARY.match(rust.group("message")):
        place = next((m for m in (_RUST_LOCATION.match(l.text) for l in lines[index + 1:index + 4]) if m), None)
        return CompileError(message=rust.group("message").strip(), code=rust.group("code") or "", log_line=number,
                            location=_location(place["file"], place["line"], place["col"]) if place else None)
    sass = _SASS_ERROR.match(text)
    place = next((m for m in (_SASS_LOCATION.match(l.text) for l in lines[index + 1:index + 3]) if m), None) if sass else None
    if place is not None:  # an "Error: ..." line is Sass's only with Sass's location under it
        return CompileError(message=sass.group("message").strip(), code="", log_line=number,
                            location=_location(place["file"], place["line"], place["col"]))
    python = _PYTHON_ERROR.match(text)
    if python:
        place = next((m for m in (_PYTHON_LOCATION.search(l.text) for l in reversed(lines[max(0, index - 4):index]))
                      if m), None)
        return CompileError(message=python.group("message").strip(), code=python.group("code"), log_line=number,
                            location=_location(place["file"], place["line"], None) if place else None)
    return None


def _warning_at(lines: Sequence[Line], index: int) -> Optional[CompileError]:
    found = _WARNING.match(lines[index].text)
    if found is None:
        return None
    message = found.group("message").strip() or _message_under(lines, index)
    return CompileError(message=f"warning: {message}", code="", log_line=lines[index].number or None,
                        location=_location(found.group("file"), found.group("line"), found.group("col")))


def _message_under(lines: Sequence[Line], index: int) -> str:
    """Return the message GHC and others print under a header that holds none: its indented lines, joined, past the
    progress lines of other modules that a parallel build prints between them (or the next line, unindented)."""
    under = [line.text for line in lines[index + 1:index + 1 + 2 * MESSAGE_LINES] if not _INTERLEAVED.match(line.text)]
    indented = []
    for text in under:
        if not text.strip() or not text[:1].isspace() or len(indented) == MESSAGE_LINES:
            break
        indented.append(text.strip())
    return " ".join(indented) or (under[0].strip() if under else "")


def _location(file: str, line: Optional[str], column: Optional[str]) -> SourceLocation:
    return SourceLocation(file, int(line) if line else None, int(column) if column else None)
