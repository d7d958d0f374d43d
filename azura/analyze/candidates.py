"""Candidates: the lines of an excerpt that could be the cause of its failure, with what they are and where.

What a line is: a *cause* (a knowledge-base signature of role cause matches it: a compiler error, a failing
test, a missing package), an *error* (no signature, but it reads like an error), or a *wrapper* (a wrapper
signature, or a line that only counts or reports a failure: "3 failed", "exited with 1"). Lines that only look
like errors are left out: passing tests, warnings, debug output, commands echoed by the shell, stack frames,
"0 errors".

Where it sits, from the excerpt's scan of the whole log: in the *failing* section (the output of the command
that failed: from the last command started before the first failing exit code, through that exit code), or
*before* it (commands that passed) or *after* it (clean-up, later commands).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Pattern, Sequence, Set, Tuple

from azura.analyze.patterns import KeywordPattern, LazyPattern
from azura.analyze.signatures import SignatureSet, signature_set_for
from azura.models import Excerpt, Line, Signature

CAUSE, ERROR, WRAPPER = 3, 2, 1  # kinds of candidate, the most specific first
FAILING, BEFORE, AFTER = "failing", "before", "after"

# A line that reads like an error: error words as words (not "-Werror", not "error.c", not "error_handler"),
# exception class names, test-runner failure marks, crashes, and the phrases a reason is written in.
# The words that start at a word boundary share one `\b`: `re` tries each alternative at every character, and the
# one boundary test turns most characters away before any of them is tried (twice as fast on a usual line).
_ERROR_LIKE = re.compile(
    r"(?<![-\w./])(?:error|ERROR|Error)s?(?![\w./-])|(?<![-\w])(?:fatal|FATAL|Fatal)\b"
    r"|\b(?:FAIL(?:ED|URE|S)?\b|[Ff]ail(?:ed|ure)\b|[A-Z]\w*(?:Exception|Error)\b|Exception\b|panic(?:ked)?\b"
    r"|Aborted\b|Killed\b|exceed(?:ed|s)\b|[Ee]xpected\b.*\b(?:but|got|received|actual|found|to be|to equal)\b"
    r"|(?i:(?:cannot|can't|could not|couldn't|unable to|not found|no such file|permission denied|timed out"
    r"|undefined (?:reference|method|symbol|variable|index|local)|is not defined|not recognized|unresolved)\b))"
    r"|Traceback \(most recent call last\)|Segmentation fault|core dumped|[✗✖×❌]|^not ok\b|^\s*\*\* \([\w.]+\)"
    # a tool's finding at a place in a file: "src/vhost.erl:91: field description undefined in record vhost"
    r"|^\S+\.[A-Za-z]\w{0,7}:\d+(?::\d+)?:(?!\s*(?:note|warning|info)\b)\s*\S")

# A line that reports or counts a failure without saying what failed: a wrapper when no signature knows it. Kept in
# parts, each tried only on a line holding one of its keywords and compiled when first tried (~7 M instructions all
# together, most of it for parts most logs never need): a line is found when one part finds it, as it would be by one
# alternation of them all.
_REPORT_ONLY = (
    KeywordPattern(r"\b[1-9]\d* (?:tests? )?(?:failed|failing|failures?|errors?)\b|\b[Bb]uild failed\b|\bCommand failed\b"
                   r"|\b[Tt]ests? failed\b|\b[Cc]ompilation failed\b|\bfailed with (?:exit )?(?:code|status)\b"
                   r"|\bfailed [1-9]\d* and passed \d+|\bpassed \d+, failed [1-9]|Test suite failure for"
                   r"|\b\d+ of \d+ [\w ]+ failed\b", "fail", "error"),
    KeywordPattern(r"\bexit(?:ed)? (?:with )?(?:code|status)?:? ?'?[1-9]|\bexit (?:code|status)[ :=]+[1-9]|non-zero exit"
                   r"|Your build exited with", "exit"),
    KeywordPattern(r"\bBUILD FAIL|\bFAILURES?!?$|^Failing tests:$|\*\* (?:TEST|BUILD|ARCHIVE)(?: EXECUTE| BUILD)? FAILED \*\*"
                   r"|FAILED TEST SUMMARY|^Test suite \S+: FAIL$", "FAIL", "Failing tests:"),
    # a verdict alone on its line: `go test` ends a failing package's output, and a failing run, with "FAIL";
    # R CMD check puts "ERROR" under the check that failed, and the reason under that (Minitest's "Error:" heads
    # the failure it reports, and stays an error line); make's "Error 2" at the end of its line
    KeywordPattern(r"^\s*(?:FAIL(?:ED)?|ERROR|[Ee]rror)[.!]?\s*$|\bError [1-9]\d*$", "FAIL", "ERROR", "rror"),
    # a short line of words that only says that something failed: "R CMD check failed", "Installation failed."
    KeywordPattern(r"^\W*(?:[A-Za-z]+\s+){0,4}(?:failed|FAILED)[.!]?\s*$", "failed", "FAILED"),
    KeywordPattern(r"\d+/\d+ passing", " passing"),
)
# One of these words, whatever its case, is in every line `_REPORT_ONLY` finds; most lines hold none, and `in` costs
# a thirtieth of the pattern on them.
_REPORT_WORDS = ("fail", "error", "exit", "passing")

# The patterns of lines that most excerpts never hold are compiled when first searched (`LazyPattern`), or tried
# only on a line holding their text (`KeywordPattern`): compiling them all costs about a millisecond on every run.

# Lua's runtime prints an uncaught error's message, then "stack traceback:" and the frames: whatever its words, the
# line above the traceback is an error ("fail: [string "bundle:libs/codec.lua"]:123: No such hash: 31b8c99")
_LUA_TRACEBACK = KeywordPattern(r"^stack traceback:\s*$", "stack traceback:")
# Python prints "Traceback (most recent call last):", the frames ('  File "x", line 3, in f' and the code under each),
# then the exception that ends the trace ("ValueError: bad value"): that line says what failed, the header only that
# something did.
_PY_TRACEBACK = KeywordPattern(r"^\s*Traceback \(most recent call last\):\s*$", "Traceback (most recent call last):")
_PY_TRACE_BODY = LazyPattern(r'^\s+\S|^\s*File "|^\s*\.\.\.')
_GO_FAIL = KeywordPattern(r"^\s*--- FAIL: (?P<name>\S+)", "--- FAIL: ")
# Lines that are never the cause, whatever words they hold.
_PASSING = LazyPattern(r"[✓✔]|\bPASS(?:ED)?\b|\b(?:SKIP(?:PED)?|[Ss]kip(?:ped|ping)?)\b|\bXFAIL\b|(?<!not )\bok\b"
                       r"|\bOK(?: \([\d.]+m?s\))?\s*$")
# a log record at debug level, wherever its logger puts the level: "DEBUG x", "[debug] x", "12:00:01.2 - 0m0s DEBUG x"
_DEBUG = LazyPattern(r"^(?:(?!error|fatal|fail).){0,40}?"
                     r"(?:\[(?:debug|trace|verbose)\]|(?<![\w-])(?:DEBUG|TRACE|VERBOSE)\b)", re.IGNORECASE)
_WARNING = re.compile(r"^\W{0,4}(?:\[warn(?:ing)?\]|warn(?:ing)?\b|npm WARN\b)", re.IGNORECASE)
# what failed nothing or says nothing: an error a tool says it ignored ("make: [x] Error 1 (ignored)"), a count of
# nothing but warnings ("✖ 1 problem (0 errors, 1 warning)"), an error marker with no text after it ("[error]"),
# what latexmk lists under "Summary of warnings" after a run that later runs resolve
_HARMLESS = re.compile(r"\(ignored\)$|\(0 errors?, \d+ warnings?\)|^\[(?:error|ERROR)\]\s*$"
                       r"|^\s*Latex failed to resolve \d+ (?:reference|citation)\(s\)")
# what the shell or a runner echoes before it runs a command: "$ make", "[command]/usr/bin/bash", "+ make" or, with
# a PS4 of "+", "+export X=y" (set -x),
# "> eslint ." (npm), "Run npm test" is not here: it is text GitHub Actions shows, not a command's output
_ECHOED_COMMAND = re.compile(r"^(?:\$ |\[command\]|\++ |\++[A-Za-z_][\w-]*(?:=|\s)|> \S)")
_NPM_ECHO = re.compile(r"^> \S")
# routine progress, and what a tool says on its way out: "Done in 6.20s.", "Updating logs/index.html ... done",
# "Wrote results to x.json", make's "make[1]: Leaving directory '/w/t'"
_PROGRESS = LazyPattern(r"^\s*(?:Done|Finished|Compiling|Downloading|Downloaded|Installing|Building|Running|Wrote)\b"
                        r"|^make(?:\[\d+\])?: (?:Entering|Leaving) directory|^.*?\.\.\. ?[Dd]one\.?$")
# a frame of a stack trace: Java/JS "at x", Python 'File "x"', gdb "#0 ", Rust "3: 0x...", Ruby "x.rb:92:in `y'"
_STACK_FRAME = re.compile(r'^\s*(?:at [\w$.<]|File "|#\d+ |\d+: +0x|(?:from )?\S+:\d+:in [`\'])')
# what npm prints under every failure, whatever failed: its environment ("npm ERR! node v0.12.18", "npm ERR! argv ...")
# and where to find its debug log or whom to tell (compiled when first needed: most logs hold no npm error)
_NPM_BOILERPLATE: Pattern[str] = LazyPattern(  # type: ignore[assignment] - it reads as the compiled pattern
    r"^npm ERR!(?:\s*$| (?:Linux|Darwin|Windows_NT|FreeBSD|SunOS) \S+$| argv | node v\d| npm {1,2}v\d| errno \d+$"
    r"| Please include the following file| A complete log of this run| Additional logging details"
    r"| This is (?:most likely|probably)| not with npm itself| Tell the author| You can get (?:their|information on how)"
    r"| Or if that isn't available"
    r"| There is likely additional logging| Make sure you have the latest| If you do, this is most likely"
    r"| +npm (?:owner ls|bugs) | +\S+(?:npm-debug\.log|-debug(?:-0)?\.log)$)")
_ZERO_COUNTS = re.compile(r"(?i)\b(?:errors?|failed|failures?|failing)\s*[:=]?\s*0\b|\b0 (?:errors?|failed|failures?|failing)\b")
# The marker Azure Pipelines and GitHub Actions put before a line they report as an issue ("##[error]x", cleaned
# by the excerpt to "[error] x"): a tool's own line follows it, which signatures anchored at "^" must see.
AGENT_MARKER = re.compile(r"^(?:##)?\[(?:error|warning)\]\s*")
# Where a CI system starts a step, as the excerpt shows it: GitHub Actions' "##[group]Run <command>", Azure
# Pipelines' "##[section]Starting: <task>". The failing step's output runs from the last one before the verdict.
_STEP_START = KeywordPattern(r"^\[(?:group\] Run |section\] Starting: )\S", "[group] Run ", "[section] Starting: ")
# GitHub Actions shows a `run:` step's script in that group before running it, then its "shell: <shell> {0}",
# then "env:" with the step's variables: the script's text is no output, whatever words it holds.
_GROUP_RUN = KeywordPattern(r"^\[group\] Run \S", "[group] Run ")
_SHELL_LINE = LazyPattern(r"^shell: \S")
SCRIPT_GAP = 3  # line numbers between two lines of one shown script: the excerpt leaves out its blank lines
_ENV_LINE = LazyPattern(r"^(?:env:|  [A-Za-z_][\w.-]*:(?: |$))")
# Azure Pipelines' script tasks (Bash, CmdLine) print "Script contents:" and the script, then the banner "=== Starting
# Command Output ===" (older versions: the "[command]/bin/bash ..." line straight away).
_SCRIPT_CONTENTS = KeywordPattern(r"^Script contents:\s*$", "Script contents:")
_SCRIPT_END = LazyPattern(r"^=+ Starting Command Output =+$|^\[command\]")


@dataclass(frozen=True)
class Candidate:
    """One line that could be the cause, with what it is and where it sits."""

    line: Line
    position: int  # index in the lines that were read
    kind: int  # CAUSE, ERROR or WRAPPER
    place: str  # FAILING, BEFORE or AFTER
    signature: Optional[Signature] = None  # the signature that names it: the first cause, else the first wrapper
    novel: Optional[bool] = None  # absent from the last green run's log; None when that is not known
    wrapper: Optional[Line] = None  # for the last output before a wrapper, quoted in its place: that wrapper

    @property
    def from_issue(self) -> bool:
        """Return whether the line is a timeline issue's message rather than a log line (line 0)."""
        return self.line.number == 0


def find_candidates(excerpt: Excerpt, lines: Sequence[Line], signatures: Sequence[Signature]) -> List[Candidate]:
    """Return the candidates among `lines` (the excerpt's lines, or the issue messages of a record without a log)."""
    matcher = signature_set_for(signatures, [line.text for line in lines])
    novel = None if excerpt.novel_lines is None else frozenset(excerpt.novel_lines)
    bounds = failing_bounds(excerpt)
    script = script_lines(lines)
    parents = go_parent_lines(lines)
    traced = _lua_error_lines(lines)
    raised = _python_exception_lines(lines)
    traced |= set(raised.values())
    # a trace whose exception line was kept is told by that line: the header and the frames' code are not causes
    in_trace = {inside for header, exception in raised.items() for inside in range(header, exception)}
    found: List[Candidate] = []
    for position, line in enumerate(lines):
        if line.number in script and line.number or position in in_trace:
            continue
        kind, signature = _what(line.text, _matching(matcher, line.text))
        if kind < ERROR and signature is None and position in traced and not is_noise(line.text):
            kind = ERROR  # the error an uncaught exception ends with, whatever words it holds
        if kind == CAUSE and line.number in parents:
            kind = WRAPPER
        if kind:
            found.append(Candidate(line, position, kind, place_of(line.number, bounds), signature,
                                   None if novel is None or line.number == 0 else line.number in novel))
    return found


def anchor_candidates(excerpt: Excerpt) -> List[Candidate]:
    """Return the excerpt's anchor lines as error candidates (for an excerpt with no line that reads like one)."""
    anchors = frozenset(excerpt.anchors)
    bounds = failing_bounds(excerpt)
    script = script_lines(excerpt.lines)
    return [Candidate(line, position, ERROR, place_of(line.number, bounds))
            for position, line in enumerate(excerpt.lines)
            if line.number in anchors and line.number not in script and not is_noise(line.text)]


def _matching(matcher: SignatureSet, text: str) -> Tuple[Signature, ...]:
    """Return the signatures matching a line, as written and, behind an agent's issue marker, as the tool wrote it
    (sbt writes "[error]" itself, and signatures know that too)."""
    bare = AGENT_MARKER.sub("", text)
    found = matcher.matching(text)
    if bare == text:
        return found
    return found + tuple(s for s in matcher.matching(bare) if s not in found)


def failing_bounds(excerpt: Excerpt) -> Tuple[Optional[int], Optional[int]]:
    """Return (first line, verdict) of the failing section: from the failing command the scan found, or the
    later start of the CI step that holds the verdict, through the verdict (None: not known)."""
    start, verdict = excerpt.failing_command, excerpt.verdict
    if verdict is not None:
        steps = [line.number for line in excerpt.lines if line.number <= verdict and _STEP_START.match(line.text)]
        if steps and (start is None or steps[-1] > start):
            start = steps[-1]
    return start, verdict


def place_of(number: int, bounds: Tuple[Optional[int], Optional[int]]) -> str:
    """Return where a line sits against `failing_bounds`: in the failing section, before it or after it (issue
    messages are in it)."""
    start, verdict = bounds
    if number == 0:
        return FAILING
    if verdict is not None and number > verdict:
        return AFTER
    if start is not None and number < start:
        return BEFORE
    return FAILING


def script_lines(lines: Sequence[Line]) -> Set[int]:
    """Return the numbers of the lines that show a step's script before it runs (GitHub Actions' `run:` group,
    Azure Pipelines' "Script contents:"): what the script says it would print is not what it printed."""
    found: Set[int] = set()
    pending: List[int] = []  # lines of a "Run" group, script lines until its "shell:" line confirms them
    state, previous = "", 0
    for line in lines:
        text, last, previous = line.text, previous, line.number
        if _GROUP_RUN.match(text):
            state, pending = "group", []
        elif _SCRIPT_CONTENTS.match(text):
            state, pending = "contents", []
        elif state == "group" and line.number - last > SCRIPT_GAP:
            state = ""  # the excerpt skipped part of the group: what follows may be any step's output
        elif state == "group":
            pending.append(line.number)
            if _SHELL_LINE.match(text):
                found.update(pending)
                state = "env"
        elif state == "env":
            # the group's "##[endgroup]" (a line the excerpt leaves out) ends the variables, whatever follows
            if _ENV_LINE.match(text) and line.number == last + 1:
                found.add(line.number)
            else:
                state = ""
        elif state == "contents":
            if _SCRIPT_END.match(text):
                found.update(pending)
                state = ""
            else:
                pending.append(line.number)
    return found


def go_parent_lines(lines: Sequence[Line]) -> Set[int]:
    """Return the lines where `go test` reports a test failing because its subtests failed.

    It prints "--- FAIL: TestA" above "    --- FAIL: TestA/case": the subtest is the failure, the parent's line only
    repeats that one of its subtests failed.
    """
    failed = [(match["name"], line.number) for line in lines if (match := _GO_FAIL.match(line.text))]
    return {number for name, number in failed if any(other.startswith(name + "/") for other, _ in failed)}


def _lua_error_lines(lines: Sequence[Line]) -> Set[int]:
    """Return the positions of the lines just above a Lua "stack traceback:" (the messages of uncaught errors), when
    the excerpt kept the two together."""
    return {position - 1 for position, line in enumerate(lines)
            if position and _LUA_TRACEBACK.match(line.text) and 0 < line.number - lines[position - 1].number <= 2}


def _python_exception_lines(lines: Sequence[Line]) -> Dict[int, int]:
    """Return, for each Python "Traceback (most recent call last):" whose exception line the excerpt kept, the
    positions of the header and of that exception line (the first line under the frames, with no gap before it, and
    one that could be a cause: else the header stays the trace's error line)."""
    found: Dict[int, int] = {}
    for position, line in enumerate(lines):
        if not _PY_TRACEBACK.match(line.text):
            continue
        below = position + 1
        while below < len(lines) and lines[below].number - lines[below - 1].number == 1 \
                and _PY_TRACE_BODY.match(lines[below].text):
            below += 1
        if below < len(lines) and below > position + 1 and lines[below].number - lines[below - 1].number == 1 \
                and lines[below].text.strip() and not is_noise(lines[below].text):
            found[position] = below
    return found


def is_progress(text: str) -> bool:
    """Return whether a line reports routine progress ("Done in 6.20s.", "Compiling x", "Wrote x.json"): the end of a
    step's work, or a tool's way out of it."""
    return bool(_PROGRESS.match(text))


def _without_zero_counts(text: str) -> str:
    """Return the line without its counts of nothing ("0 errors", "failures=0")."""
    return _ZERO_COUNTS.sub("", text) if "0" in text else text  # every count of nothing holds a 0


def _reports_only(text: str) -> bool:
    """Return whether a line only reports or counts a failure ("3 failed", "exited with 1")."""
    lowered = text.lower()
    return any(word in lowered for word in _REPORT_WORDS) and any(part.search(text) for part in _REPORT_ONLY)


def is_noise(text: str) -> bool:
    """Return whether a line can never be the cause: a passing test, debug output, an echoed command, a frame, npm's
    boilerplate."""
    return bool(_passing(text) or _debug(text) or _ECHOED_COMMAND.match(text)
                or _STACK_FRAME.match(text) or _HARMLESS.search(text)
                or (text.startswith("npm ERR!") and _NPM_BOILERPLATE.match(text)))


def _passing(text: str) -> bool:
    """Return whether a line reports a passing or skipped test."""
    # one of these words is in every line the pattern finds, and `in` costs a tenth of the pattern on the usual line
    return ("ok" in text or "OK" in text or "PASS" in text or "kip" in text or "SKIP" in text or "XFAIL" in text
            or "✓" in text or "✔" in text) and bool(_PASSING.search(text))


def _debug(text: str) -> bool:
    """Return whether a line is a log record at debug level."""
    # one of these words is in every line the pattern finds; casefold() reads them as its IGNORECASE does ("ſ" is "s")
    folded = text.casefold()
    return ("debug" in folded or "trace" in folded or "verbose" in folded) and bool(_DEBUG.match(text))


def _output_shaped_like_an_echo(text: str, matches: Sequence[Signature]) -> bool:
    """Return whether a line shaped like npm's echo of a command ("> eslint .") is a tool's output that a cause
    signature names: awesome_bot heads its list of broken links "> Links"."""
    return bool(_NPM_ECHO.match(text)) and any(s.role != "wrapper" for s in matches) and not is_noise(text[2:])


def _what(text: str, matches: Sequence[Signature]):
    """Return (kind, signature) of a line, or (0, None) when it is no candidate."""
    if is_noise(text) and not _output_shaped_like_an_echo(text, matches):
        return 0, None
    warning = bool(_WARNING.match(text))
    # Linters report what they find as warnings, and fail the step for them; other warnings failed nothing.
    matches = [s for s in matches if not warning or s.category == "lint"]
    cause = next((s for s in matches if s.role != "wrapper"), None)
    if cause is not None:
        return CAUSE, cause
    if warning:
        return 0, None
    wrapper = next((s for s in matches if s.role == "wrapper"), None)
    if wrapper is not None:
        return WRAPPER, wrapper
    plain = _without_zero_counts(text)
    if _reports_only(plain):
        return WRAPPER, None
    if _ERROR_LIKE.search(plain):
        return ERROR, None
    return 0, None
