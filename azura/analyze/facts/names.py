"""What the build was missing, which version it wanted against the one it found, and how the process ended.

Each table pairs a pattern of a tool's own message with the kind of fact it names.
"""
from __future__ import annotations

import re
from typing import List, Optional, Pattern, Sequence, Tuple

from azura.analyze.candidates import is_noise
from azura.models import ExitStatus, Line, MissingName, VersionMismatch

MAX_NAMES = 5

# (kind, pattern with a `name` group): modules a program imports, packages a package manager could not find,
# commands the shell could not find, files a step needed.
# (kind, fix, pattern with a `name` group): modules a program imports, packages a package manager could not find,
# commands the shell could not find, files a step needed. The fix is written with the name in it.
_ADD_PYTHON = "add the package that provides `{name}` to the requirements this step installs, or fix the import"
_ADD_NODE = "add `{name}` to package.json (`npm install {name}`) and check that install ran in this folder"
_CHECK_PACKAGE = "check the name and version of `{name}`, and that a feed or registry this build uses publishes it"
_INSTALL_COMMAND = "install `{name}` in an earlier step (or use an image that has it), or fix its name or PATH"
_CHECK_FILE = "check that `{name}` exists when this step runs: the step that creates it must run first, in the same folder"
MISSING: Tuple[Tuple[str, str, Pattern[str]], ...] = tuple((kind, fix, re.compile(pattern)) for kind, fix, pattern in (
    ("module", _ADD_PYTHON, r"No module named '(?P<name>[\w.]+)'"),
    ("module", "check that the installed version of the package still has `{name}`, or pin the version that does",
     r"cannot import name '(?P<name>\w+)'"),
    ("module", _ADD_NODE, r"Cannot find module '(?P<name>[^'.][^']*)'"),
    ("module", "check the path `{name}`: the file it names must exist (and be built) when this runs",
     r"Cannot find module '(?P<name>\.[^']*)'"),
    ("module", _ADD_NODE, r"Can't resolve '(?P<name>[^'.][^']*)'"),
    ("module", "add the gem that provides `{name}` to the Gemfile and run bundle install", r"cannot load such file -- (?P<name>\S+)"),
    ("module", "run `go get {name}` and `go mod tidy`, and commit go.mod and go.sum",
     r"cannot find package \"(?P<name>[^\"]+)\"|no required module provides package (?P<name2>[\w./-]+)"),
    ("module", "add the dependency that provides `{name}` to the build file (pom.xml, build.gradle)",
     r"package (?P<name>[\w.]+) does not exist"),
    ("package", "add `{name}` to the DESCRIPTION's Imports or install it in the job",
     r"there is no package called [‘'](?P<name>[^’']+)[’']|Package required but not available: [‘'](?P<name2>[^’']+)[’']"),
    ("module", "install the development package that provides `{name}` (a -dev or -devel package), or add its include path",
     r"fatal error: (?P<name>[\w./+-]+\.h(?:pp|h)?): No such file or directory"),
    ("package", "check the name and version pin of `{name}`, and that it has a release for this Python version and platform",
     r"No matching distribution found for (?P<name>\S+)"),
    ("package", _CHECK_PACKAGE, r"404 Not Found - GET https?://\S+?/(?P<name>(?:@[\w.-]+(?:/|%2[fF]))?[\w.-]+)(?: - |$)"),
    ("package", _CHECK_PACKAGE, r"No matching version found for (?P<name>\S+?)\.?$"),
    ("package", _CHECK_PACKAGE, r"Couldn't find any versions for \"(?P<name>[^\"]+)\""),
    ("package", _CHECK_PACKAGE, r"Unable to find package (?P<name>[\w.-]+)"),
    ("package", _CHECK_PACKAGE, r"Could not find artifact (?P<name>\S+)"),
    ("package", _CHECK_PACKAGE, r"Could not find (?P<name>[\w.-]+:[\w.-]+:[\w.+-]+?)\.?$"),
    ("package", _CHECK_PACKAGE, r"unresolved dependency: (?P<name>\S+?);"),
    ("package", _CHECK_PACKAGE, r"no matching package named `(?P<name>[^`]+)`"),
    ("package", "refresh the package archives and check that one of them publishes `{name}`",
     r"^(?:Debugger entered--Lisp error: |Error: )?(?:\(error \")?(?:Package [`‘'](?!emacs-\d)(?P<name>[^'’]+)[’'] is unavailable"
     r"|No version of (?P<name2>\S+) >= \S+ is available)"),
    ("package", "add the apt repository that has `{name}` (and run apt-get update first), or fix the package name",
     r"E: Unable to locate package (?P<name>\S+)"),
    ("package", _CHECK_PACKAGE, r"Could not find gem '(?P<name>[^']+)'|Could not find (?P<name2>[\w-]+-\d[\w.]*) in any of the sources"),
    ("command", _INSTALL_COMMAND, r"(?:^|: )(?P<name>[\w.+-]+): command not found$"),
    ("command", _INSTALL_COMMAND, r"^\S*sh: \d+: (?P<name>[\w.+/-]+): not found$"),
    ("command", _INSTALL_COMMAND, r"'(?P<name>[^']+)' is not recognized as an internal or external command"),
    ("command", _INSTALL_COMMAND, r"The term '(?P<name>[^']+)' is not recognized as (?:the )?(?:a )?name of a cmdlet"),
    ("command", _INSTALL_COMMAND, r"Unable to locate executable file: '(?P<name>[^']+)'"),
    ("command", _INSTALL_COMMAND, r"exec: \"(?P<name>[^\"]+)\": executable file not found"),
    ("command", _INSTALL_COMMAND, r"^The program '(?P<name>[^']+)' is currently not installed"),
    ("file", _CHECK_FILE, r"(?:cannot stat|cannot access|cannot open|can't open) '(?P<name>[^']+)': No such file or directory"),
    ("file", _CHECK_FILE, r"No such file or directory: '(?P<name>[^']+)'"),
    ("file", _CHECK_FILE, r"ENOENT: no such file or directory, \w+ '(?P<name>[^']+)'"),
    ("file", _CHECK_FILE, r"Could not find a part of the path '(?P<name>[^']+)'"),
    ("file", _CHECK_FILE, r"^(?:\S+: )?(?:line \d+: )?(?P<name>/[^\s:]+): No such file or directory$"),
    ("file", "run the command in the folder that holds `{name}`, or add it",
     r"No (?P<name>Rakefile) found|(?P<name2>Makefile|package\.json|pom\.xml|go\.mod|Cargo\.toml)(?: not found|: No such file)"),
))

# (subject, pattern with `wanted` and optionally `found` and `subject`): a version wanted against the one found.
VERSIONS: Tuple[Tuple[str, Pattern[str]], ...] = tuple((subject, re.compile(pattern)) for subject, pattern in (
    ("node", r'The engine "node" is incompatible with this module\. Expected version "(?P<wanted>[^"]+)"\. Got "(?P<found>[^"]+)"'),
    ("node", r'Required: \{[^}]*"node":\s*"(?P<wanted>[^"]+)"'),
    ("node", r'Actual: \{[^}]*"node":\s*"(?P<found>[^"]+)"'),
    ("Java", r"class file version (?P<wanted>[\d.]+)\), this version of the Java Runtime only recognizes class file "
             r"versions up to (?P<found>[\d.]+)"),
    ("Java", r"Unsupported class file major version (?P<wanted>\d+)"),
    # package.el names the Emacs a package needs as a package: "Package `emacs-25.1' is unavailable"
    ("Emacs", r"Package [`‘']emacs-(?P<wanted>\d[\d.]*)[’'] is unavailable"),
    ("Java", r"invalid target release: (?P<wanted>[\d.]+)|release version (?P<wanted2>\d+) not supported"),
    ("python", r"requires a different Python: (?P<found>[\d.]+) not in '(?P<wanted>[^']+)'"),
    ("go", r"requires go >= ?(?P<wanted>[\d.]+) \(running go (?P<found>[\d.]+)"),
    ("go", r"note: module requires Go (?P<wanted>[\d.]+)"),
    (".NET", r"does not support targeting \.NET (?:Core )?(?P<wanted>[\d.]+)"),
    (".NET SDK", r"Requested SDK version: (?P<wanted>\S+)"),
    ("ruby", r"Your Ruby version is (?P<found>\S+), but your Gemfile specified (?P<wanted>\S+)"),
    ("tool", r"Version spec (?P<wanted>\S+) for architecture \w+ did not match"),
    ("package", r"Detected package downgrade: (?P<subject>\S+) from (?P<wanted>\S+) to (?P<found>\S+)"),  # NuGet
    ("package", r"Could not find a version that satisfies the requirement (?P<subject>[\w.\[\],-]+?)(?P<wanted>[<>=!~]=?[^\s(]+)"
                r"(?: \(from versions: (?P<found>[^)]*)\))?"),  # pip
    ("package", r'(?:Could not resolve dependency:|Conflicting peer dependency:)\n.*?peer (?P<subject>@?[^@\s"]+)@"(?P<wanted>[^"]+)"'),  # npm
    ("package", r"Found: (?P<subject>@?[^@\s]+)@(?P<found>\S+)"),  # npm ERESOLVE
))

# How the process ended: a signal by name, or a code (137 = killed, 139 = segmentation fault, ...).
_SIGNALS = {134: "SIGABRT", 137: "SIGKILL", 139: "SIGSEGV", 143: "SIGTERM"}
_SIGNAL_WORDS = ((re.compile(r"Segmentation fault|SIGSEGV"), "SIGSEGV"), (re.compile(r"\bKilled\b|SIGKILL|OOMKilled"), "SIGKILL"),
                 (re.compile(r"\bAborted\b|SIGABRT"), "SIGABRT"), (re.compile(r"\bSIGTERM\b|\bTerminated\b"), "SIGTERM"),
                 (re.compile(r"\bSIGBUS\b|Bus error"), "SIGBUS"), (re.compile(r"\bSIGILL\b|Illegal instruction"), "SIGILL"))
_EXIT = re.compile(r"(?:exit(?:ed)? (?:with )?(?:exit )?(?:code|status)|exited with|returned a non-zero code|failed with "
                   r"(?:exit |return )?code|completed with exit code)[: ]+'?(?P<code>\d+)")
_COMMAND = re.compile(r"The command [\"'](?P<command>.+)[\"'] (?:exited with|returned a non-zero code|failed)"
                      r"|The process '(?P<command2>[^']+)' failed with exit code|process \"(?P<command3>.+?)\" did not complete")


def missing_names(lines: Sequence[Line]) -> Tuple[MissingName, ...]:
    """Return what the lines say was missing: modules, packages, commands, files (each name once)."""
    found: List[MissingName] = []
    for line in lines:
        for kind, _, pattern in MISSING:
            name = _name(pattern.search(line.text))
            if name:
                if all(m.name != name for m in found):
                    found.append(MissingName(kind, name, line.number or None))
                break
    return tuple(found[:MAX_NAMES])


def missing_fix(missing: MissingName, text: str) -> str:
    """Return what to do about a missing name, as the tool's message on `text` (its log line) suggests."""
    for kind, fix, pattern in MISSING:
        if kind == missing.kind and _name(pattern.search(text)) == missing.name:
            return fix.format(name=missing.name)
    return ""


def _name(match: Optional["re.Match[str]"]) -> str:
    if not match:
        return ""
    groups = match.groupdict()
    return (groups.get("name") or groups.get("name2") or "").replace("%2f", "/").replace("%2F", "/").rstrip(".,;:")


# Runtimes and tools installed on the agent, as opposed to packages a project depends on.
TOOLCHAINS = frozenset({"node", "Java", "python", "go", ".NET", ".NET SDK", "ruby", "Emacs", "tool"})


def version_mismatches(lines: Sequence[Line]) -> Tuple[VersionMismatch, ...]:
    """Return the versions the lines say were wanted and found, one per subject (wanted and found joined)."""
    by_subject = {}
    previous = ""
    for line in lines:
        # npm names the conflicting requirement on the line after "Could not resolve dependency:"
        text, previous = f"{previous}\n{line.text}", line.text
        for subject, pattern in VERSIONS:
            match = pattern.search(text)
            if match:
                # a version at the end of a sentence keeps none of its punctuation: "to 4.5.1." is 4.5.1
                groups = {k: v.rstrip(".,;:") for k, v in match.groupdict().items() if v}
                name = groups.get("subject", subject)
                wanted = groups.get("wanted") or groups.get("wanted2") or ""
                earlier = by_subject.get(name)
                by_subject[name] = VersionMismatch(
                    name, wanted or (earlier.wanted if earlier else ""),
                    groups.get("found") or (earlier.found if earlier else ""),
                    earlier.log_line if earlier else (line.number or None))
                break
    return tuple(v for v in by_subject.values() if v.wanted)[:MAX_NAMES]


def exit_status(lines: Sequence[Line]) -> Optional[ExitStatus]:
    """Return how the failing process ended: the first failing exit code (and its command), and the signal
    named on that line or before it (not by a line that never reports a failure: a skipped test's title "SKIP Bug
    #76348 (WSDL_CACHE_MEMORY causes Segmentation fault)" names a crash that did not happen)."""
    signal, signal_line = "", None
    for line in lines:
        named = next((name for pattern, name in _SIGNAL_WORDS if pattern.search(line.text)), "")
        named = "" if named and is_noise(line.text) else named
        if named and not signal:
            signal, signal_line = named, line.number or None
        code_match = _EXIT.search(line.text)
        if code_match and int(code_match.group("code")) != 0:
            code = int(code_match.group("code"))
            command = _COMMAND.search(line.text)
            return ExitStatus(code=code, signal=named or signal or _SIGNALS.get(code, ""),
                              command=next((v for v in command.groups() if v), "") if command else "",
                              log_line=line.number or None)
    return ExitStatus(signal=signal, log_line=signal_line) if signal else None
