"""What the build was missing, which version it wanted against the one it found, and how the process ended.

Each table pairs a pattern of a tool's own message with the kind of fact it names.
"""
from __future__ import annotations

import re
from typing import List, Optional, Sequence, Tuple

from azura.analyze.candidates import is_noise
from azura.analyze.patterns import KeywordPattern, LazyPattern
from azura.models import ExitStatus, Line, MissingName, VersionMismatch

MAX_NAMES = 5

# (kind, fix, pattern with a `name` group, keywords): modules a program imports, packages a package manager could not
# find, commands the shell could not find, files a step needed. The fix is written with the name in it. The keywords
# are text every match holds (one of them, for an alternation): a line holding none is not searched (`KeywordPattern`).
_ADD_PYTHON = "add the package that provides `{name}` to the requirements this step installs, or fix the import"
_ADD_NODE = "add `{name}` to package.json (`npm install {name}`) and check that install ran in this folder"
_CHECK_PACKAGE = "check the name and version of `{name}`, and that a feed or registry this build uses publishes it"
_INSTALL_COMMAND = "install `{name}` in an earlier step (or use an image that has it), or fix its name or PATH"
_CHECK_FILE = "check that `{name}` exists when this step runs: the step that creates it must run first, in the same folder"
MISSING: Tuple[Tuple[str, str, KeywordPattern], ...] = tuple(
    (kind, fix, KeywordPattern(pattern, *keywords)) for kind, fix, pattern, *keywords in (
        ("module", _ADD_PYTHON, r"No module named '(?P<name>[\w.]+)'", "No module named '"),
        ("module", "check that the installed version of the package still has `{name}`, or pin the version that does",
         r"cannot import name '(?P<name>\w+)'", "cannot import name '"),
        ("module", _ADD_NODE, r"Cannot find module '(?P<name>[^'.][^']*)'", "Cannot find module '"),
        ("module", "check the path `{name}`: the file it names must exist (and be built) when this runs",
         r"Cannot find module '(?P<name>\.[^']*)'", "Cannot find module '"),
        ("module", _ADD_NODE, r"Can't resolve '(?P<name>[^'.][^']*)'", "Can't resolve '"),
        ("module", "add the gem that provides `{name}` to the Gemfile and run bundle install",
         r"cannot load such file -- (?P<name>\S+)", "cannot load such file -- "),
        ("module", "run `go get {name}` and `go mod tidy`, and commit go.mod and go.sum",
         r"cannot find package \"(?P<name>[^\"]+)\"|no required module provides package (?P<name2>[\w./-]+)",
         'cannot find package "', "no required module provides package "),
        ("module", "add the dependency that provides `{name}` to the build file (pom.xml, build.gradle)",
         r"package (?P<name>[\w.]+) does not exist", " does not exist"),
        ("package", "add `{name}` to the DESCRIPTION's Imports or install it in the job",
         r"there is no package called [‘'](?P<name>[^’']+)[’']"
         r"|Package required but not available: [‘'](?P<name2>[^’']+)[’']",
         "there is no package called ", "Package required but not available: "),
        ("module", "install the development package that provides `{name}` (a -dev or -devel package), or add its include path",
         r"fatal error: (?P<name>[\w./+-]+\.h(?:pp|h)?): No such file or directory", "fatal error: "),
        ("package", "check the name and version pin of `{name}`, and that it has a release for this Python version and platform",
         r"No matching distribution found for (?P<name>\S+)", "No matching distribution found for "),
        ("package", _CHECK_PACKAGE, r"404 Not Found - GET https?://\S+?/(?P<name>(?:@[\w.-]+(?:/|%2[fF]))?[\w.-]+)(?: - |$)",
         "404 Not Found - GET http"),
        ("package", _CHECK_PACKAGE, r"No matching version found for (?P<name>\S+?)\.?$", "No matching version found for "),
        ("package", _CHECK_PACKAGE, r"Couldn't find any versions for \"(?P<name>[^\"]+)\"", 'Couldn\'t find any versions for "'),
        ("package", _CHECK_PACKAGE, r"Unable to find package (?P<name>[\w.-]+)", "Unable to find package "),
        ("package", _CHECK_PACKAGE, r"Could not find artifact (?P<name>\S+)", "Could not find artifact "),
        ("package", _CHECK_PACKAGE, r"Could not find (?P<name>[\w.-]+:[\w.-]+:[\w.+-]+?)\.?$", "Could not find "),
        ("package", _CHECK_PACKAGE, r"unresolved dependency: (?P<name>\S+?);", "unresolved dependency: "),
        ("package", _CHECK_PACKAGE, r"no matching package named `(?P<name>[^`]+)`", "no matching package named `"),
        ("package", "refresh the package archives and check that one of them publishes `{name}`",
         r"^(?:Debugger entered--Lisp error: |Error: )?(?:\(error \")?"
         r"(?:Package [`‘'](?!emacs-\d)(?P<name>[^'’]+)[’'] is unavailable"
         r"|No version of (?P<name2>\S+) >= \S+ is available)", " is unavailable", "No version of "),
        ("package", "add the apt repository that has `{name}` (and run apt-get update first), or fix the package name",
         r"E: Unable to locate package (?P<name>\S+)", "E: Unable to locate package "),
        ("package", _CHECK_PACKAGE,
         r"Could not find gem '(?P<name>[^']+)'|Could not find (?P<name2>[\w-]+-\d[\w.]*) in any of the sources", "Could not find "),
        ("command", _INSTALL_COMMAND, r"(?:^|: )(?P<name>[\w.+-]+): command not found$", ": command not found"),
        ("command", _INSTALL_COMMAND, r"^\S*sh: \d+: (?P<name>[\w.+/-]+): not found$", ": not found"),
        ("command", _INSTALL_COMMAND, r"'(?P<name>[^']+)' is not recognized as an internal or external command",
         "' is not recognized as an internal or external command"),
        ("command", _INSTALL_COMMAND, r"The term '(?P<name>[^']+)' is not recognized as (?:the )?(?:a )?name of a cmdlet",
         "The term '"),
        ("command", _INSTALL_COMMAND, r"Unable to locate executable file: '(?P<name>[^']+)'", "Unable to locate executable file: '"),
        ("command", _INSTALL_COMMAND, r"exec: \"(?P<name>[^\"]+)\": executable file not found", '": executable file not found'),
        ("command", _INSTALL_COMMAND, r"^The program '(?P<name>[^']+)' is currently not installed", "' is currently not installed"),
        ("file", _CHECK_FILE, r"(?:cannot stat|cannot access|cannot open|can't open) '(?P<name>[^']+)': No such file or directory",
         "': No such file or directory"),
        ("file", _CHECK_FILE, r"No such file or directory: '(?P<name>[^']+)'", "No such file or directory: '"),
        ("file", _CHECK_FILE, r"ENOENT: no such file or directory, \w+ '(?P<name>[^']+)'", "ENOENT: no such file or directory, "),
        ("file", _CHECK_FILE, r"Could not find a part of the path '(?P<name>[^']+)'", "Could not find a part of the path '"),
        ("file", _CHECK_FILE, r"^(?:\S+: )?(?:line \d+: )?(?P<name>/[^\s:]+): No such file or directory$",
         ": No such file or directory"),
        ("file", "run the command in the folder that holds `{name}`, or add it",
         r"No (?P<name>Rakefile) found|(?P<name2>Makefile|package\.json|pom\.xml|go\.mod|Cargo\.toml)(?: not found|: No such file)",
         "No Rakefile found", " not found", ": No such file"),
    ))

# (subject, pattern with `wanted` and optionally `found` and `subject`, keywords): a version wanted against the one
# found. Searched on a line joined to the one before it, keywords too.
VERSIONS: Tuple[Tuple[str, KeywordPattern], ...] = tuple(
    (subject, KeywordPattern(pattern, *keywords)) for subject, pattern, *keywords in (
        ("node", r'The engine "node" is incompatible with this module\. Expected version "(?P<wanted>[^"]+)"\. '
                 r'Got "(?P<found>[^"]+)"', "is incompatible with this module"),
        ("node", r'Required: \{[^}]*"node":\s*"(?P<wanted>[^"]+)"', "Required: {"),
        ("node", r'Actual: \{[^}]*"node":\s*"(?P<found>[^"]+)"', "Actual: {"),
        ("Java", r"class file version (?P<wanted>[\d.]+)\), this version of the Java Runtime only recognizes class file "
                 r"versions up to (?P<found>[\d.]+)", "class file version"),
        ("Java", r"Unsupported class file major version (?P<wanted>\d+)", "Unsupported class file major version "),
        # package.el names the Emacs a package needs as a package: "Package `emacs-25.1' is unavailable"
        ("Emacs", r"Package [`‘']emacs-(?P<wanted>\d[\d.]*)[’'] is unavailable", " is unavailable"),
        ("Java", r"invalid target release: (?P<wanted>[\d.]+)|release version (?P<wanted2>\d+) not supported",
         "invalid target release: ", " not supported"),
        ("python", r"requires a different Python: (?P<found>[\d.]+) not in '(?P<wanted>[^']+)'", "requires a different Python: "),
        ("go", r"requires go >= ?(?P<wanted>[\d.]+) \(running go (?P<found>[\d.]+)", "requires go >="),
        ("go", r"note: module requires Go (?P<wanted>[\d.]+)", "note: module requires Go "),
        (".NET", r"does not support targeting \.NET (?:Core )?(?P<wanted>[\d.]+)", "does not support targeting .NET "),
        (".NET SDK", r"Requested SDK version: (?P<wanted>\S+)", "Requested SDK version: "),
        ("ruby", r"Your Ruby version is (?P<found>\S+), but your Gemfile specified (?P<wanted>\S+)", "Your Ruby version is "),
        ("tool", r"Version spec (?P<wanted>\S+) for architecture \w+ did not match", "Version spec "),
        ("package", r"Detected package downgrade: (?P<subject>\S+) from (?P<wanted>\S+) to (?P<found>\S+)",  # NuGet
         "Detected package downgrade: "),
        ("package", r"Could not find a version that satisfies the requirement (?P<subject>[\w.\[\],-]+?)(?P<wanted>[<>=!~]=?[^\s(]+)"
                    r"(?: \(from versions: (?P<found>[^)]*)\))?",
         "Could not find a version that satisfies the requirement "),  # pip
        ("package", r'(?:Could not resolve dependency:|Conflicting peer dependency:)\n'
                    r'.*?peer (?P<subject>@?[^@\s"]+)@"(?P<wanted>[^"]+)"',
         "Could not resolve dependency:", "Conflicting peer dependency:"),  # npm
        ("package", r"Found: (?P<subject>@?[^@\s]+)@(?P<found>\S+)", "Found: "),  # npm ERESOLVE
    ))

# How the process ended: a signal by name, or a code (137 = killed, 139 = segmentation fault, ...).
_SIGNALS = {134: "SIGABRT", 137: "SIGKILL", 139: "SIGSEGV", 143: "SIGTERM"}
_SIGNAL_WORDS = ((KeywordPattern(r"Segmentation fault|SIGSEGV", "Segmentation fault", "SIGSEGV"), "SIGSEGV"),
                 (KeywordPattern(r"\bKilled\b|SIGKILL|OOMKilled", "Killed", "SIGKILL"), "SIGKILL"),
                 (KeywordPattern(r"\bAborted\b|SIGABRT", "Aborted", "SIGABRT"), "SIGABRT"),
                 (KeywordPattern(r"\bSIGTERM\b|\bTerminated\b", "SIGTERM", "Terminated"), "SIGTERM"),
                 (KeywordPattern(r"\bSIGBUS\b|Bus error", "SIGBUS", "Bus error"), "SIGBUS"),
                 (KeywordPattern(r"\bSIGILL\b|Illegal instruction", "SIGILL", "Illegal instruction"), "SIGILL"))
_EXIT = KeywordPattern(r"(?:exit(?:ed)? (?:with )?(?:exit )?(?:code|status)|exited with|returned a non-zero code|failed with "
                       r"(?:exit |return )?code|completed with exit code)[: ]+'?(?P<code>\d+)", "exit", "code")
# searched only on the line of a failing exit
_COMMAND = LazyPattern(r"The command [\"'](?P<command>.+)[\"'] (?:exited with|returned a non-zero code|failed)"
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
