"""Say: the summary, root cause, fix, confidence and evidence of a diagnosis, written from its cause and facts.

The specifics come first (the failing test and its message, the file:line and code of a compile error, the
missing name, the version wanted against the one found, the signal); the signature's sentence explains them.
Quotes of log text are cut on a word boundary.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional, Sequence

from azura.analyze.candidates import AGENT_MARKER, CAUSE, ERROR, FAILING, WRAPPER, Candidate, is_noise, is_progress
from azura.analyze.facts.names import TOOLCHAINS, missing_fix
from azura.analyze.patterns import LazyPattern
from azura.analyze.rank import CASCADE_GAP
from azura.checkout import within_agent_checkout
from azura.models import Facts, FailingTest, Line, Signature, SourceLocation

MAX_EVIDENCE = 6
FOLLOWING_LINES = 3  # lines right under the cause that belong to it, kept as evidence
HEADING_WORDS = 3  # a cause line of fewer words is a heading, cited with the line under it
LAST_WORDS = 3  # lines of what the failing command printed last, for a cause that does not say what failed
LAST_WORDS_READ = 12  # lines read back from the end of the failing section to find them
MAX_QUOTE = 160
MAX_NAMED_TESTS = 3
# Categories whose facts (failing tests, compile errors) say all that a signature's general sentence would.
NAMED_BY_FACTS = ("test", "compile", "lint")
# How the excerpt marks a line it cut: "… (1,234 chars cut)"; a quote says "…" and no more.
_CUT_MARK = re.compile(r" … \([\d,]+ chars cut\)")
_TRAILING_PROJECT = re.compile(r"\s+\[[^\]]*\]\s*$")  # MSBuild names the project at the end: " [/w/src/App.csproj]"
_PATH_PREFIX = re.compile(r"(?:[A-Za-z]:)?[\w.@~-]*(?:[\\/][\w.@~-]+)*[\\/](?=[\w.@~-])")
# A knowledge-base hint's opening that only says to fix what the line shows: "Fix the error at the file and line shown;"
# (this pattern, the verdict's end and the command line below are compiled when first needed: few causes ask for them)
_POINTS_AT_THE_LINE = LazyPattern(r"^Fix the errors? at the file and line shown[;.,]?\s*")
_PLACE = re.compile(r"\S+:\d+(?::\d+)?$")  # a piece of a line that is only a file:line[:column]
GIST = 60  # characters of a message that tell it from another
_WORDS = re.compile(r"\w{3,}")
HIGH, MEDIUM, LOW, GUESS, NOTHING = 0.8, 0.5, 0.35, 0.2, 0.05
INCIDENTAL_CEILING = 0.7

# Lines of a cause's block that say where or what exactly: Rust's "--> src/x.rs:3:5", a test's expected/actual
# values, npm's "404 Not Found - GET ...", a bare "file:line", a file `git status --short` lists as changed
# (" M src/app.js": what a check for uncommitted generated files found).
_DETAIL = re.compile(r'^\s*--> \S|^\s*(?:E\s+)?(?:[Ee]xpected|[Aa]ctual|[Rr]eceived'
                     r'|got|but was|but got)\b|\d{3} [A-Z][\w ]+ - (?:GET|PUT|POST) |^\s*\S+\.\w+:\d+(?::\d+)?:?\s*$'
                     r'|^[ MADRCU?][MADRCU?] [\w./-]+\.\w+$')
# The last line of a verdict that quotes a command of several lines: '" exited with 1.' under 'The command "case $X in'
_VERDICT_END = LazyPattern(r'^" (?:exited|failed)\b')
# A frame of a stack trace that names a file and line: Python prints its frames above the exception ('File "x", line 3'),
# Java and JavaScript below it ("    at f (src/x.js:3:5)"). The one nearest the error is where it was raised.
_FRAME_ABOVE = re.compile(r'File "[^"]+", line \d+')
_FRAME_BELOW = re.compile(r'^\s+at .*\S+:\d+')
# Where a log names the command that ran: "$ npm test", "[command]/usr/bin/dotnet test", npm's "> app@1.0 lint /w",
# "Failed at the app@1.0 lint script", Travis's "The command "make test" exited with 2.", GitHub Actions' "Run make"
_COMMAND_LINE = LazyPattern(r"^\$ (.+)|^\[command\](.+)|^> \S+@\S+ (\S+)|Failed at the \S+ (\S+) script"
                            r"|The command \"(.+?)\" (?:exited|failed)|^\[group\] Run (.+)")
# Words in the failing command that tell what kind of work it did, for a cause no signature knows. A word counts
# in any case and between underscores too: scripts and variables name the work as `run_tests.sh`, `do_test`, `${TEST}`.
# Compiled when first needed: most causes are told by a signature or the section's facts.
_COMMAND_KINDS = tuple((category, LazyPattern(rf"(?<![A-Za-z0-9])(?:{words})(?![A-Za-z0-9])", re.IGNORECASE))
                       for category, words in (
    ("test", r"test|tests|spec|specs|check|pytest|jest|mocha|karma|rspec|phpunit|ctest|tox|nox|vitest"
             r"|ava|prove|busted|bats|xcodebuild test"),
    ("lint", r"lint|eslint|flake8|pylint|rubocop|stylelint|tslint|checkstyle|ktlint|detekt|golangci-lint"
             r"|shellcheck|black|prettier|fmt|format|mdl|markdownlint|htmlproofer|awesome_bot|codespell|staticcheck|vet"
             r"|fmtcheck"),
    ("deploy", r"deploy|publish|release|upload"),
    ("dependency", r"install|restore|npm ci|bundle|pip|composer|dependencies|deps"),
    ("compile", r"build|compile|make|cmake|msbuild|tsc|javac|assemble|cargo|gradlew?|mvn|go build"),
))


# A line that announces what follows it: "Problem 1:", a test runner's verdict at the end of its line ("tables:
# FAIL (0.06s)", R CMD check's "* checking tests ... ERROR").
_INTRODUCES = re.compile(r":\s*$|\b(?:FAIL(?:ED)?|ERROR|[Ff]ailed)(?: \([\d.]+m?s\))?[.!]?\s*$")


@dataclass(frozen=True)
class Said:
    """What a diagnosis says about one failed step."""

    category: str
    summary: str
    root_cause: str
    suggested_fix: str
    confidence: float
    evidence: tuple


def say(cause: Candidate, section: Sequence[Line], candidates: Sequence[Candidate], facts: Facts,
        verdict: Optional[int] = None) -> Said:
    """Return the diagnosis resting on `cause`, with the facts read from its failing section (whose verdict, the
    failing exit code, is at line `verdict` when the excerpt's scan found it)."""
    signature = cause.signature
    category = _category(cause, facts, candidates, section)
    specific = _specifics(category, facts, section)
    evidence = _evidence(cause, section, candidates, facts, verdict)
    # a heading ("> Links") or a line that announces its message ("CMake Error at x.cmake:12 (message):") is told
    # with the line under it, in the summary and in the root cause's quote
    under = _told_with(cause.line, evidence, candidates)
    summary = _summary(_specifics(category, facts, section, short=True), cause, category, under)
    explanation = signature.summary if signature is not None else "" if specific else _generic_explanation(category)
    if specific and (category in NAMED_BY_FACTS or specific.rstrip(".") == explanation.rstrip(".")):
        explanation = ""  # "Test `x` failed: ..." says all that "Go tests failed." would
    cited = _cited(cause.line, under)
    if specific and cause.line.number and _said_already(specific, cause.line.text):
        cited = f"(line {cause.line.number})"
    if cause.wrapper is not None:
        cited = f"The last output before line {cause.wrapper.number} ({quote(cause.wrapper.text, 80)}): {cited}"
    root_cause = " ".join(part for part in (specific, explanation, cited) if part)
    return Said(category=category, summary=summary, root_cause=root_cause,
                suggested_fix=_fix(category, facts, signature, section),
                confidence=_confidence(cause, category, facts),
                evidence=evidence)


def quote(text: str, limit: int = MAX_QUOTE) -> str:
    """Return a log line fit to quote: agent markers gone, cut on a word boundary with "…" when too long."""
    text = AGENT_MARKER.sub("", " ".join(_CUT_MARK.sub("…", text).split()))
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:") + "…"


def _said_already(sentence: str, text: str) -> bool:
    """Return whether a sentence already quotes the gist of a log line (its longest run of words)."""
    words = " ".join(_TRAILING_PROJECT.sub("", _CUT_MARK.sub("", AGENT_MARKER.sub("", text))).split())
    pieces = [piece.strip() for piece in re.split(r"^\W*E\s+|[:|]\s", words)]
    # its longest piece, or its message rather than its place ("x.swift:97:2: unknown attribute 'y'" is said where
    # "unknown attribute 'y'" is); a sentence quotes a long message cut short, so its start is enough to know it
    gists = (max(pieces, key=len), max([p for p in pieces if not _PLACE.search(p)] or pieces, key=len))
    said = " ".join(sentence.split())
    if any(len(gist) >= 12 and gist[:GIST] in said for gist in gists):
        return True
    # a line that puts the test's name and its message on one line ("✗ test_x, Expected 1 but got 2") is said
    # when the sentence holds nearly all its words, whatever the punctuation between them
    line_words = _WORDS.findall(words)
    return len(line_words) >= 4 and sum(word in set(_WORDS.findall(said)) for word in line_words) >= 0.9 * len(line_words)


def _same_report(text: str) -> str:
    """Return what makes two log lines the same report: MSBuild's line and the agent's "##[error]" copy of it
    differ only in the marker, the path's prefix, the case of "error" and the project named at the end."""
    words = _TRAILING_PROJECT.sub("", AGENT_MARKER.sub("", text))
    return " ".join(_PATH_PREFIX.sub("", words).lower().split())


def command_kind(command: str) -> Optional[str]:
    """Return the category the words of a failing command point to (`npm test` -> test), or None."""
    for category, words in _COMMAND_KINDS:
        if words.search(command):
            return category
    return None


def _cited(line: Line, under: Optional[Line] = None) -> str:
    if line.number <= 0:
        return f"The agent reported: {quote(line.text)}"
    if under is not None:
        return f"Line {line.number}: {quote(line.text).rstrip(' :')}, then line {under.number}: {quote(under.text)}"
    return f"Line {line.number}: {quote(line.text)}"


def _category(cause: Candidate, facts: Facts, candidates: Sequence[Candidate], section: Sequence[Line]) -> str:
    if cause.signature is not None and cause.kind == CAUSE:
        return cause.signature.category
    # a wrapper or a plain error line: the facts of the section tell what failed, else the wrappers that name a
    # kind of work ("Compilation failed", "3 failed"), else the failing command's words ("npm run lint")
    if facts.compile_errors:
        return "compile"
    if facts.failing_tests or facts.failed_test_count:
        return "test"
    if facts.missing:
        return "script" if facts.missing[0].kind in ("command", "file") else "dependency"
    if facts.versions:
        return "configuration"
    if facts.exit is not None and facts.exit.signal == "SIGKILL":
        return "resource"
    named = [c.signature.category for c in candidates if c.kind == WRAPPER and c.signature is not None
             and c.signature.category != "script"]
    if named:
        return named[-1]
    commands = [facts.exit.command] if facts.exit is not None and facts.exit.command else []
    commands += [next(v for v in match.groups() if v) for match in map(_COMMAND_LINE.search, (l.text for l in section))
                 if match]
    return command_kind(" ".join(commands)) or (cause.signature.category if cause.signature is not None else "unknown")


def _specifics(category: str, facts: Facts, section: Sequence[Line], short: bool = False) -> str:
    """Return one or two sentences naming what failed, from the facts that fit the category, or "".

    `short`: the summary's form, which names the test, file:line or package and quotes no log text (the root
    cause, shown beside it, does)."""
    if category == "test" and facts.failing_tests:
        return _tests_sentence(facts, short)
    if category in ("compile", "lint") and facts.compile_errors:
        return _compile_sentence(facts, short)
    if facts.missing and category in ("dependency", "script", "configuration", "compile", "test", "unknown"):
        return _missing_sentence(facts)
    if facts.versions:
        return _version_sentence(facts)
    if facts.exit is not None and facts.exit.signal and category in ("resource", "script", "test", "unknown"):
        command = f"`{quote(facts.exit.command, 60)}` " if facts.exit.command else "The process "
        code = f" (exit code {facts.exit.code})" if facts.exit.code is not None else ""
        return f"{command}was killed by {facts.exit.signal}{code}."
    return ""


def _tests_sentence(facts: Facts, short: bool = False) -> str:
    first = facts.failing_tests[0]
    total = facts.failed_test_count or len(facts.failing_tests)
    where = f" at {_shown(first.location)}" if first.location else ""
    if short:
        return (f"Test `{first.name}` failed{where}." if total <= 1
                else f"{total} tests failed, the first `{first.name}`{where}.")
    message = f": {quote(first.message, 200).rstrip('.')}" if first.message else ""
    head = (f"Test `{first.name}` failed{where}{message}." if total <= 1
            else f"{total} tests failed. The first, `{first.name}`, failed{where}{message}.")
    others = [f"`{test.name}`" for test in facts.failing_tests[1:MAX_NAMED_TESTS]]
    more = total - 1 - len(others)
    if others:
        head += f" Also failing: {', '.join(others)}" + (f" and {more} more" if more > 0 else "") + "."
    # the excerpt may keep a test's report without its message (a long trace cut) and another's with it: the error
    # that failed the others is the lead for the first too
    told = next((test for test in facts.failing_tests[1:] if test.message), None) if not first.message else None
    if told is not None:
        head += f" `{told.name}` failed with: {quote(told.message, 200).rstrip('.')}"
        head += "" if head.endswith("…") else "."
    return head


def _compile_sentence(facts: Facts, short: bool = False) -> str:
    first = facts.compile_errors[0]
    where = f" at {_shown(first.location)}" if first.location else ""
    code = f" {first.code}" if first.code else ""
    total = facts.compile_error_count or len(facts.compile_errors)
    more = f" ({total - 1} more error{'s' if total > 2 else ''} follow{'s' if total == 2 else ''})" if total > 1 else ""
    if short:
        return f"Compile error{code}{where}{more}." if code or where else ""
    return f"Compile error{code}{where}: {quote(first.message, 200).rstrip('.')}{more}."


_MISSING_WORDS = {"module": "The module `{}` could not be found.", "package": "The package `{}` could not be found.",
                  "command": "The command `{}` was not found.", "file": "The file `{}` does not exist."}


def _missing_sentence(facts: Facts) -> str:
    first = facts.missing[0]
    return _MISSING_WORDS.get(first.kind, "`{}` is missing.").format(first.name)


def _version_sentence(facts: Facts) -> str:
    version = facts.versions[0]
    wanted, found = _readable_version(version.subject, version.wanted), _readable_version(version.subject, version.found)
    subject = version.subject if version.subject in TOOLCHAINS else f"`{version.subject}`"
    if found:
        return f"{subject} {wanted} is required, but {found} was found."
    return f"{subject} {wanted} is required."


def _readable_version(subject: str, version: str) -> str:
    """Return a version as people say it: Java class file 55.0 is Java 11."""
    if subject == "Java" and re.fullmatch(r"\d{2}(?:\.0)?", version or "") and float(version) >= 45:
        return f"{int(float(version)) - 44} (class file {version})"
    return version


def _summary(specific: str, cause: Candidate, category: str, under: Optional[Line] = None) -> str:
    """Return the one sentence a reader sees first: the facts when there are some, else what kind of failure it was
    and what the cause line says (a label such as "Tests failed." alone tells nothing the red run did not)."""
    if specific:
        return quote(specific, 200)
    signature = cause.signature
    lead = signature.summary if signature is not None and cause.kind == CAUSE else _generic_explanation(category)
    said = _gist(cause.line, under)
    if not said:
        return lead
    if cause.wrapper is not None:  # the line is what the failing command printed last, not an error it named
        return f"{lead.rstrip('.')}; its last output: {said}"
    return f"{lead.rstrip('.')}: {said}"


def _told_with(cause: Line, evidence: Sequence[Line], candidates: Sequence[Candidate]) -> Optional[Line]:
    """Return the evidence line a cause line is told with, or None: quoting it alone tells the reader nothing.

    Under a heading too short to say anything alone (a link checker's "> Links", composer's "Problem 1"), the first
    line right under it that says something; under a line that announces its message ("CMake Error at x.cmake:12
    (message):", "Found errors in Test_x():"), the first line of its block that says something (past a "Run 1:").
    """
    from azura.analyze.facts import BLOCK_AFTER

    if cause.number <= 0:
        return None
    wrappers = {c.line.number for c in candidates if c.kind == WRAPPER}
    saying = sorted((line for line in evidence if line.number > cause.number
                     and len(_WORDS.findall(line.text)) >= HEADING_WORDS), key=lambda line: line.number)
    if len(_WORDS.findall(cause.text)) < HEADING_WORDS:
        under = next((line for line in saying if line.number - cause.number <= FOLLOWING_LINES
                      and line.number not in wrappers and not (is_noise(line.text) or is_progress(line.text))), None)
        if under is not None:
            return under
    if not cause.text.rstrip().endswith(":"):
        return None
    said = next((line for line in saying if line.number - cause.number <= BLOCK_AFTER), None)
    return None if said is None or said.number in wrappers or is_noise(said.text) else said


def _gist(line: Line, under: Optional[Line] = None) -> str:
    """Return what a cause line says, short enough for a summary, with the line under a heading ("> Links")."""
    if line.number <= 0:
        return ""  # an issue the agent reported is quoted in the root cause
    text = " ".join(part for part in (line.text, under.text if under is not None else "") if part.strip())
    return quote(text).rstrip(" :")


def _generic_explanation(category: str) -> str:
    return {
        "test": "Tests failed.", "compile": "The build failed.", "lint": "A lint or format check failed.",
        "deploy": "The deployment failed.", "dependency": "Installing the dependencies failed.",
        "script": "A command failed.", "resource": "The process ran out of resources.",
        "configuration": "The build is configured for something the agent does not have.",
    }.get(category, "No known failure signature matched.")


def _shown(location: SourceLocation) -> str:
    """Return file:line[:column], the file from the repository's root when it lies in the agent's checkout."""
    return str(SourceLocation(within_agent_checkout(location.file) or location.file, location.line, location.column))


def _fix(category: str, facts: Facts, signature: Optional[Signature], section: Sequence[Line]) -> str:
    hint = signature.hint if signature is not None else ""
    if category == "test" and facts.failing_tests:
        rerun = _rerun(facts.failing_tests[0])
        if rerun:
            return f"Run {rerun} locally and read its assertion message; fix the code or the test."
    if category in ("compile", "lint") and facts.compile_errors and facts.compile_errors[0].location:
        first = facts.compile_errors[0]
        what = first.code or quote(first.message, 60)
        lead = f"Fix `{_shown(first.location)}` ({what}) first; later errors often follow from it."
        rest = _POINTS_AT_THE_LINE.sub("", hint)  # the lead already names the file and line
        return f"{lead} {rest[:1].upper()}{rest[1:]}".strip()
    if facts.missing:
        first = facts.missing[0]
        text = next((line.text for line in section if line.number == first.log_line), "")
        fix = missing_fix(first, text)
        if fix:
            return fix[0].upper() + fix[1:] + "."
    if facts.versions and facts.versions[0].subject in TOOLCHAINS:
        version = facts.versions[0]
        return (f"Use {version.subject} {_readable_version(version.subject, version.wanted)} in this step (a tool "
                f"installer task or image that has it), or change the requirement. {hint}").strip()
    if facts.versions:
        version = facts.versions[0]
        return f"Make the versions of `{version.subject}` agree ({version.wanted} is required). {hint}".strip()
    if hint:
        return hint
    return ("Read the evidence and the lines above it in the log; if this failure recurs, add a signature for it "
            "to azura.yml.")


def _rerun(test: FailingTest) -> str:
    """Return the command that runs one failing test again, for the runner that reported it, or ""."""
    name = test.name
    tail = re.split(r"::|#|\.", name.split("[")[0])[-1]  # not a dot in its parameters: "test_x[a.b]"
    file = (within_agent_checkout(test.location.file) or test.location.file) if test.location else ""  # run from the root
    line = test.location.line if test.location else None
    commands = {
        "pytest": f"`pytest \"{name}\"`" if "::" in name else f"`pytest -k {tail}`",
        "unittest": f"`python -m unittest {name}`",
        "jest": f"`npx jest {file + ' ' if file else ''}-t \"{name.split(' › ')[-1]}\"`",
        "mocha": f"`npx mocha --grep \"{name.split(':')[0].strip()}\"`",
        "junit": f"`mvn test -Dtest={_class_and_method(name, '#')}` (Gradle: `./gradlew test --tests "
                 f"'{_class_and_method(name, '.')}'`)",
        "dotnet": f"`dotnet test --filter \"FullyQualifiedName~{name.split('(')[0]}\"`",
        "go": f"`go test -run '{name}' ./...`",
        "cargo": f"`cargo test {name}`",
        "phpunit": f"`vendor/bin/phpunit --filter '{tail}'`",
        "rspec": f"`bundle exec rspec {file}:{line}`" if file and line else f"`bundle exec rspec -e \"{name}\"`",
        "minitest": f"`bin/rails test {file}:{line}`" if file and line else f"the test `{name}`",
        "exunit": f"`mix test {file}:{line}`" if file and line else f"`mix test` for `{name}`",
        "scalatest": f"`sbt \"testOnly -- -z \\\"{name}\\\"\"`",
        "tap": f"`prove -v {file}`" if file else f"the test `{name}`",
        "phpt": f"`php run-tests.php {file}`" if file else f"the test `{name}`",
        "pester": f"`Invoke-Pester -FullNameFilter '{name}'`",
    }
    commands["xunit"] = commands["nunit"] = commands["dotnet"]
    return commands.get(test.framework, f"the test `{name}`")


def _class_and_method(name: str, separator: str) -> str:
    parts = name.split(".")
    return f"{parts[-2]}{separator}{parts[-1]}" if len(parts) >= 2 else name


def _confidence(cause: Candidate, category: str, facts: Facts) -> float:
    """Return how sure the diagnosis is: high only for a specific signature with its specifics, in the failing section."""
    signature = cause.signature
    specifics = _has_specifics(category, facts)
    if cause.kind == CAUSE and signature is not None:
        if cause.place != FAILING and not cause.from_issue:
            return min(signature.confidence, MEDIUM)
        if signature.role == "incidental" and not cause.from_issue:
            # tools print these for problems they retry or work around: among the last errors they are the best
            # lead, not a certainty
            return min(signature.confidence, INCIDENTAL_CEILING)
        if specifics or cause.from_issue:
            return max(signature.confidence, HIGH)
        return min(signature.confidence, 0.75)
    if cause.kind == WRAPPER and signature is not None:
        return MEDIUM if specifics else min(signature.confidence, 0.4)
    if category != "unknown":
        return 0.45 if specifics else 0.3
    return GUESS if cause.kind >= ERROR else 0.1


def _has_specifics(category: str, facts: Facts) -> bool:
    return bool((category == "test" and facts.failing_tests) or (category in ("compile", "lint") and facts.compile_errors)
                or facts.missing or facts.versions or (category == "resource" and facts.exit is not None)
                or category not in ("test", "compile", "lint", "dependency", "script", "unknown"))


def _evidence(cause: Candidate, section: Sequence[Line], candidates: Sequence[Candidate], facts: Facts,
              verdict: Optional[int]) -> tuple:
    """Return the cause line, then the lines of its block that name the test, file or package, what the failing
    command printed last when the cause does not say what failed, and the other facts' lines (in log order, each
    once), then the section's summary lines."""
    from azura.analyze.facts import block_of

    chosen: List[Line] = []
    taken = {cause.line.number, 0} if cause.line.number else {0}
    index = next((i for i, line in enumerate(section) if line.number == cause.line.number), None)
    block = block_of(section, index) if index is not None else ()
    fact_lines = {n for n in _fact_lines(facts) if n}
    same = {c.line.number for c in candidates if c.signature is not None and c.signature == cause.signature}
    details = [line for line in block if _DETAIL.search(line.text) or line.number in fact_lines | same]
    details += _nearest_frame(cause.line, block)
    # the error's own next lines: its message under a line a signature knows ("rake aborted!", "error[E0308]: ..."),
    # or under a line that announces it (ends in ":" or in its verdict, "tables:   FAIL (0.06s)", "... ERROR"), or
    # indented under it (a failing test's diff, composer's "Problem 1")
    introduces = bool(_INTRODUCES.search(cause.line.text))
    following = [line for line in block if 0 < line.number - cause.line.number <= FOLLOWING_LINES
                 and not is_noise(line.text)]
    details += [line for line in following if cause.signature is not None]
    announced = [line for line in following if introduces or _indent(line.text) > _indent(cause.line.text)]
    # then the other errors of the same kind the section reports, each cascade by its first line
    alike = [c for c in candidates if c.kind == cause.kind and c.place == cause.place and c.line.number != cause.line.number]
    firsts = [c.line for i, c in enumerate(alike) if i == 0 or c.line.number - alike[i - 1].line.number > CASCADE_GAP]
    others = [line for line in section if line.number in fact_lines] + firsts
    last_words = _last_words(cause, section, candidates, verdict)
    summaries = [c.line for c in candidates if c.kind == WRAPPER and c.place == cause.place
                 and c.line.number not in taken and c.line.number > cause.line.number][-1:]
    if cause.wrapper is not None:
        details, others, announced, summaries = [line for line in section if cause.line.number < line.number
                                                 < cause.wrapper.number], [], [], [cause.wrapper]
    room = MAX_EVIDENCE - 1 - len(summaries)
    taken.update(line.number for line in summaries)
    reports = {_same_report(cause.line.text)}
    for line in sorted(details, key=lambda l: l.number) + others + announced + last_words:
        report = _same_report(line.text)
        if line.number not in taken and report not in reports and len(chosen) < room:
            chosen.append(line)
            taken.add(line.number)
            reports.add(report)
    chosen.sort(key=lambda line: line.number)
    return (cause.line, *chosen, *summaries)


def _nearest_frame(cause: Line, block: Sequence[Line]) -> List[Line]:
    """Return the stack frame of the cause's block nearest the error, or none: the rest of the trace is the way the
    runtime got there (and a Java frame above the error belongs to the trace before it)."""
    above = [line for line in block if line.number < cause.number and _FRAME_ABOVE.search(line.text)]
    below = [line for line in block if line.number > cause.number and _FRAME_BELOW.search(line.text)]
    return above[-1:] or below[:1]


def _last_words(cause: Candidate, section: Sequence[Line], candidates: Sequence[Candidate],
                verdict: Optional[int]) -> List[Line]:
    """Return the last lines the failing command printed before its verdict, the last first, when the cause does not
    say what failed.

    A wrapper ("The command "x" exited with 2."), a plain error line or an incidental error (a retried download)
    leaves the reader asking what the command said: a linter's complaint with no error word in it, a link checker's
    list of broken links, a formatter's diff. Those are its last lines, above the wrappers and routine lines it
    ends with, and below a cause that is no wrapper (what the cause's block holds is shown already).
    """
    says_what = cause.kind == CAUSE and not (cause.signature is not None and cause.signature.role == "incidental")
    if says_what or cause.place != FAILING or cause.from_issue or cause.wrapper is not None:
        return []
    from azura.excerpt import fold_span

    wrappers = {c.line.number for c in candidates if c.kind == WRAPPER}
    if not section or section[-1].number not in wrappers | {verdict}:
        return []  # the section does not end with a verdict: its last lines need not be the command's last words
    found: List[Line] = []
    for line in reversed(_before_verdict(section)[-LAST_WORDS_READ:]):
        if len(found) == LAST_WORDS or (line.number <= cause.line.number and cause.kind != WRAPPER):
            break
        text = line.text
        # a fold ("… 3 similar lines") stands for the line above it, which says more; "^" or "nl" says nothing
        said_nothing = not _WORDS.search(text) or fold_span(line) > 1
        if not (said_nothing or line.number in wrappers or is_noise(text) or is_progress(text)):
            found.append(line)
    return found


def _before_verdict(section: Sequence[Line]) -> Sequence[Line]:
    """Return the section without the lines of a verdict that quotes a command of several lines (Travis CI's
    'The command "case $X in' ... '" exited with 1.'): the script's text is no output. Where the excerpt left out
    the verdict's first line, its lines run back to that gap."""
    if not section or not _VERDICT_END.match(section[-1].text):
        return section
    start = len(section) - 1
    while start > 0 and section[start].number - section[start - 1].number == 1 \
            and not section[start].text.startswith('The command "'):
        start -= 1
    return section[:start]


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip())


def _fact_lines(facts: Facts) -> List[Optional[int]]:
    lines: List[Optional[int]] = [t.log_line for t in facts.failing_tests]
    lines += [e.log_line for e in facts.compile_errors]
    lines += [m.log_line for m in facts.missing] + [v.log_line for v in facts.versions]
    return lines
