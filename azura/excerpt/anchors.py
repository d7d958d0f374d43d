"""Anchors: the lines an excerpt is built around, and how much context each kind wants.

Two stages keep the scan fast. `PREFILTER`, every rule's loose `scan` pattern in one alternation, is run
by a linear-time regex engine over raw bytes (colour codes, timestamps and all); each line it finds is
cleaned and classified with the precise patterns, the first rule that matches winning (`classify`; a
log's `Classifier` gives the same answer after one pass of all the patterns over the line).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Dict, FrozenSet, Optional, Pattern, Sequence, Tuple

from azura.analyze.patterns import LazyPattern, PatternSet, possible_patterns
from azura.analyze.signatures import compiled


@dataclass(frozen=True)
class Rule:
    """One kind of anchor: what it matches on a clean line, how much it matters, how much context it wants."""

    name: str
    pattern: Pattern[str]  # searched in one clean line
    weight: float
    before: int  # lines of context wanted before the anchor
    after: int  # and after it
    scan: str = ""  # a looser pattern for raw bytes (colour codes, timestamps), in syntax grep -E also reads


def _rule(name: str, scan: str, weight: float, before: int, after: int, pattern: str = "") -> Rule:
    # compiled when first searched: with RE2 the classifier's set answers for them and most runs never do
    return Rule(name, LazyPattern(pattern or scan), weight, before, after, scan)  # type: ignore[arg-type]


VERDICT_RULE = "exit-code"
REASON_RULE = "weak"

# "Process completed with exit code 1", "Bash exited with code '1'." (Azure Pipelines script tasks),
# "The command "make" exited with 2", "exit status 1", "The command "make" failed. Retrying, 2 of 3." (Travis):
# the step's verdict; the cause is in the lines before it.
_EXIT_CODE = r"[Ee]xit (code|status)[ :=]+[1-9]"
_VERDICT = (r"[Pp]rocess completed with exit code [1-9]|exited with (exit )?(code )?'?[1-9]|" + _EXIT_CODE
            + r"|non-zero exit|failed with exit code [1-9]|returned exit code [1-9]|\" failed\. Retrying"
            r"|\" failed [0-9]+ times")
# An exit code quoted in a message ("process didn't exit successfully: `x` (exit code: 101)", "got: exit code:
# 77") is about a sub-process, not the step's end.
_UNQUOTED_VERDICT = _VERDICT.replace(_EXIT_CODE, r"(?<![(:] )(?<!\()" + _EXIT_CODE)

# In order: the first match wins, so summary lines (exit codes) are tried before the words they contain.
RULES: Tuple[Rule, ...] = (
    _rule(VERDICT_RULE, _VERDICT, 5, 25, 4, pattern=_UNQUOTED_VERDICT),
    # make: *** [all] Error 2 -- an echo of the compiler error above it.
    _rule("make", r"make(\[[0-9]+\])?: \*\*\*", 4, 12, 1),
    _rule("traceback", r"Traceback \(most recent call last\)", 8, 2, 25),
    # Maven, Gradle, sbt, MSBuild and generic build tool verdicts, and warnings made fatal (gcc's "all
    # warnings being treated as errors", GHC's "Failing due to -Werror."): the warnings above are the cause.
    _rule("build-failure", r"BUILD FAILURE|BUILD FAILED|FAILURE: Build failed|What went wrong:"
          r"|[Bb]uild failed|[Cc]ompilation failed|COMPILATION ERROR|Failed to execute goal"
          r"|treated as errors|due to -Werror", 7, 6, 12),
    # Compilers and tools: "x.c:3:1: error: ...", "error TS2322:", "error CS1002:", "error[E0308]:",
    # "Error: ...", "ERROR: ...", "==12==ERROR: AddressSanitizer", "[error] ..." (sbt, and Azure
    # Pipelines' ##[error] once cleaned), "[ERROR] ..." (Maven). Not "-Werror=format", not "0 errors".
    _rule("error", r"(error|ERROR|Error)(\[[A-Za-z0-9_]+\]| [A-Z]{1,4}[0-9]{2,6})?:|\[(error|ERROR)\]", 8, 3, 10,
          pattern=r"(?:^|[\s:\]\)>=|])(?:error|ERROR|Error)(?:\[\w+\]| [A-Z]{1,4}\d{2,6})?:|^\[(?:error|ERROR)\]"),
    _rule("fatal", r"fatal:|FATAL|panic:|panicked at|Segmentation fault|Killed|[Oo]ut of memory|OutOfMemory"
          r"|core dumped|Aborted", 8, 3, 10,
          pattern=r"\bfatal:|\bFATAL\b|\bpanic:|panicked at|Segmentation fault|\bKilled\b|[Oo]ut of memory"
          r"|OutOfMemory|core dumped|\bAborted\b"),
    # Exceptions by class name: "java.lang.NullPointerException", "AssertionError: ...".
    _rule("exception", r"[a-zA-Z](Exception|Error)(:|$)|Exception in thread", 7, 2, 15,
          pattern=r"[a-zA-Z](?:Exception|Error)(?::|$)|Exception in thread"),
    _rule("npm", r"npm ERR!", 6, 2, 12, pattern=r"^npm ERR!"),
    # Test runners and their formatters: "FAILED", "--- FAIL:", "FAIL src/x.test.js", "Tests run: 5, Failures: 1",
    # "not ok 3", "3 failing", "✗ renders", "❌ x.swift:9: ..." (xcpretty), "[-] Adds two" (Pester),
    # "t1.sh .... Dubious, test returned 1", "Failed 1/13 subtests" (Perl's prove).
    _rule("test-failure", r"FAIL|Fail(ed|ure)?:|not ok [0-9]|(Failures|Errors): [1-9]|Dubious, test returned"
          r"|Failed [0-9]+/[0-9]+ (subtests|test programs)"
          r"|[1-9][0-9]* (failed|failing|failures?|errors?)|✗|✖|×|❌|\[-\] ", 7, 2, 12,
          pattern=r"\bFAIL(?:ED|URE)?\b|\bFail(?:ed|ure)?:|^not ok \d|\b(?:Failures|Errors): [1-9]"
          r"|Dubious, test returned|\bFailed [1-9]\d*/\d+ (?:subtests|test programs)"
          r"|\b[1-9]\d* (?:failed|failing|failures?|errors?)\b|[✗✖×❌]\s+\S|^\s*\[-\] \S"),
    # pytest's header of one failing test's report: "____ test_parse ____"; the report runs on below it.
    _rule("test-report", r"___ [^ ].* ___", 7, 1, 40, pattern=r"^_{3,} \S.* _{3,}$"),
    _rule("failed", r"[Ff]ail(ed|ure|ing)", 4, 3, 6, pattern=r"\b[Ff]ail(?:ed|ure|ing)\b"),
    # The words a reason is written in: clusters holding one explain the failure rather than count it.
    _rule(REASON_RULE, r"[Cc]annot|[Cc]ould not|couldn't|[Uu]nable to|not found|[Nn]o such file|[Pp]ermission denied"
          r"|undefined (reference|method|symbol|variable)|is not defined|command not found|[Tt]imed? ?out"
          r"|[Ee]xpected|[Aa]ssert", 2, 4, 10),
)

# A command starting, as a log shows it: Travis CI and shell prompts ("$ make test"), Azure Pipelines and GitHub
# Actions ("##[command]/usr/bin/bash ...", cleaned to "[command] ..."). `COMMAND_SCAN` finds them in raw bytes.
COMMAND = re.compile(r"^(?:\$ \S|\[command\])")
COMMAND_SCAN = r"\$ |##\[command\]"

# Every rule's raw-bytes pattern in one alternation: what the scan looks for (and `grep -E` in the benchmark).
PREFILTER = "|".join(rule.scan for rule in RULES)

# The zero-count, passing and warning patterns are compiled when first searched: with RE2 the classifier's set reads
# them, from their text, and `re` searches them only in lines that are not ASCII, and in the lines a set leaves open.

# "Errors: 0, Failed: 0", "0 failures", "failures=0": counts of nothing, said by every passing test run.
_ZERO_COUNTS = LazyPattern(r"(?i)\b(?:errors?|failed|failures?|failing)\s*[:=]\s*0\b"
                           r"|\b0 (?:errors?|failed|failures?|failing)\b")

# A test runner's report of a passing or skipped test: whatever words its name holds, it is no anchor.
_PASSING = LazyPattern(r"[✓✔]|\bPASS(?:ED)?\b|\b(?:SKIP(?:PED)?|[Ss]kip(?:ped|ping)?)\b|\bXFAIL\b|(?<!not )\bok\b"
                       r"|^\[\+\]")

# A line a tool marks as a warning ("[warn]" sbt, "[WARNING]" Maven, "npm WARN", Azure Pipelines' "##[warning]"):
# whatever words it holds, it did not fail the build.
_WARNING = LazyPattern(r"\s*(?:\[warn(?:ing)?\]|warn(?:ing)?:|npm WARN\b)", re.IGNORECASE)

# Progress a build prints whether it passes or not: "Compiling x", "[INFO] ...", "OK (0.2s)", "▸ Building".
_ROUTINE = re.compile(r"\bOK\b|^\[INFO\]|^\s*▸|\b(?:Compiling|Downloading|Downloaded|Installing|Fetching|Collecting"
                      r"|Requirement already)\b")

# A stack frame: "at com.x.Y(Y.java:3)", "File "x.py", line 3", "#0 0x4005d4 in main", "[C]: in function 'error'"
# (Lua), "x.lua:85: in function", "3: 0x55c3 - std::rt::lang_start" (Rust), "/src/Test.php:123" (PHPUnit).
_STACK_FRAME = re.compile(r'\s*(?:at \S|File "|#\d+ |\[C\]: in |\S+:\d+: in |\d+: +0x|(?:[A-Za-z]:)?[\\/]\S+:\d+\s*$)')

SIGNATURE = Rule("signature", re.compile(""), 10, 3, 10)  # a knowledge-base pattern the caller passed in
_VERDICT_PATTERN = next(rule.pattern for rule in RULES if rule.name == VERDICT_RULE)
ISSUE = Rule("issue", re.compile(""), 9, 4, 8)  # a timeline issue of the failed step


def classify(text: str, signatures: Sequence[str] = (), issue_texts: Sequence[str] = ()) -> Optional[Rule]:
    """Return the rule a clean line is an anchor for, or None; `signatures` are knowledge-base patterns."""
    if any(compiled(pattern).search(text) for pattern in signatures):
        return SIGNATURE
    if any(issue in text for issue in issue_texts):
        return ISSUE
    if is_passing(text) or _WARNING.match(text):
        return None
    text = _ZERO_COUNTS.sub("", text)
    if not _any_rule().search(text):  # one search to turn away the usual false alarm
        return None
    for rule in RULES:
        if rule.pattern.search(text):
            return rule
    return None


@functools.lru_cache(maxsize=1)
def _any_rule() -> Pattern[str]:
    """Return every rule's pattern in one alternation, compiled on first use: with RE2 the set does its work."""
    return re.compile("|".join(f"(?:{rule.pattern.pattern})" for rule in RULES))


def is_verdict(text: str, rule: Rule) -> bool:
    """Return whether a clean anchor line of `rule` reports a failing exit code.

    A knowledge-base pattern may know the same line ("Bash exited with code '1'."); it is still the verdict.
    """
    # Every form of the verdict says "exit" or '" failed', and `in` costs a hundredth of the pattern: until a log's
    # verdict is found, each of its signature hits is asked (tens of thousands in an error-dense log).
    return rule.name == VERDICT_RULE or (rule is SIGNATURE and ("xit" in text or '" failed' in text)
                                         and bool(_VERDICT_PATTERN.search(text)))


class Classifier:
    """`classify` for one log's signatures and issue texts, in one pass over each line.

    One RE2 set of every pattern `classify` may try (the signatures, the rules, the passing, warning and
    zero-count patterns) says which of them match a line, and they are weighed in `classify`'s order, so the
    answer is `classify`'s. A pattern in the set as written needs no second look: on an ASCII line RE2 reads it as
    `re` does (`PatternSet.add`). RE2 cannot run look-behinds: such a pattern joins the set in a looser form
    without them (a rule's `scan`), which still matches wherever the precise one does, and is confirmed with
    `re` where the looser form matched. A line that is not ASCII, and every pattern RE2 would read differently
    from `re`, take `classify`'s own path:
    RE2's \\w, \\b and \\s are ASCII-only (clean lines hold no control characters, the other difference).
    Without google-re2 every line does.

    Given the `lines` it will be asked about, the set holds only the signatures that may match one of those that are
    ASCII (`possible_patterns`): a few, whose automaton RE2 builds in a fraction of the time all of theirs takes.
    """

    def __init__(self, signatures: Sequence[str] = (), issue_texts: Sequence[str] = (),
                 lines: Optional[Sequence[str]] = None):
        self.signatures = tuple(signatures)
        self.issue_texts = tuple(issue_texts)
        self._slots = _slots(self.signatures if lines is None else possible_patterns(
            self.signatures, "\n".join(line for line in lines if line.isascii())))
        # The answer each set of matches gives alone (or _READ_THE_LINE): an error-dense log's lines match a few
        # dozen sets between them, and weighing a set again costs as much as RE2's reading of the line.
        self._answers: Dict[FrozenSet[int], object] = {}

    def __call__(self, text: str) -> Optional[Rule]:
        """Return the rule a clean line is an anchor for, or None: what `classify` returns."""
        slots = self._slots
        if slots is None or not text.isascii():
            return classify(text, self.signatures, self.issue_texts)
        found = slots.patterns.matching(text)
        answer = self._answers.get(found, _UNSEEN)
        if answer is _UNSEEN:
            if len(self._answers) >= _MAX_ANSWERS:
                self._answers.clear()
            answer = self._answers[found] = self._answer_of(found)
        if answer is not _READ_THE_LINE:
            return answer  # type: ignore[return-value]

        def hit(slot: Optional[int]) -> bool:
            return slot is None or slot in found  # a pattern outside the set is always tried

        # a pattern in the set as written matches where RE2 says it does: only a looser form needs `re`'s word
        if not found.isdisjoint(slots.signatures) or \
                any(compiled(pattern).search(text) for pattern in slots.signatures_outside):
            return SIGNATURE
        if any(issue in text for issue in self.issue_texts):
            return ISSUE
        if (hit(slots.passing) and _PASSING.search(text)) or \
                (slots.warning in found if slots.warning is not None else _WARNING.match(text)):
            return None
        if hit(slots.zero_counts):  # the counts are cut out before the rules run: `classify` does that part
            return classify(text)
        if not found and slots.rules_in_set:
            return None
        return next((rule for slot, rule, exact in slots.rules
                     if hit(slot) and (exact or rule.pattern.search(text))), None)

    def _answer_of(self, found: FrozenSet[int]) -> object:
        """Return what `__call__` answers for a line whose matches are `found`, or _READ_THE_LINE when that
        depends on the line itself (a pattern outside the set or in a looser form, an issue's text)."""
        slots = self._slots
        if not found.isdisjoint(slots.signatures):
            return SIGNATURE
        if slots.signatures_outside or self.issue_texts or slots.passing in found or slots.warning is None:
            return _READ_THE_LINE
        if slots.warning in found:
            return None
        if slots.zero_counts is None or slots.zero_counts in found:
            return _READ_THE_LINE
        for slot, rule, exact in slots.rules:
            if slot is None or slot in found:
                return rule if exact else _READ_THE_LINE
        return None


_UNSEEN = object()
_READ_THE_LINE = object()
_MAX_ANSWERS = 4096


@dataclass(frozen=True)
class _Slots:
    """Where each pattern `classify` tries sits in one RE2 set; None: outside it, always tried."""

    patterns: PatternSet
    signatures: FrozenSet[int]
    signatures_outside: Tuple[str, ...]
    passing: Optional[int]  # holds a looser form of _PASSING
    warning: Optional[int]  # holds _WARNING as written
    zero_counts: Optional[int]
    rules: Tuple[Tuple[Optional[int], Rule, bool], ...]  # True: the slot holds the rule's pattern, not its scan
    rules_in_set: bool


@functools.lru_cache(maxsize=8)
def _slots(signatures: Tuple[str, ...]) -> Optional[_Slots]:
    """Return the RE2 set for these signatures, built once per knowledge base; None without a usable RE2."""
    patterns = PatternSet()
    placed = [(patterns.add(pattern), pattern) for pattern in signatures]
    passing = patterns.add(_PASSING_LOOSE)
    warning = patterns.add(_WARNING_AT_START)
    zero_counts = patterns.add(_ZERO_COUNTS.pattern)
    rules = []
    for rule in RULES:
        slot = patterns.add(rule.pattern.pattern)
        rules.append((patterns.add(rule.scan), rule, False) if slot is None else (slot, rule, True))
    # RE2 answers "no match" when its automaton runs out of memory: check that it finds a known match
    if not patterns.compile() or passing is None or passing not in patterns.matching("PASSED"):
        return None
    return _Slots(patterns, frozenset(slot for slot, _ in placed if slot is not None),
                  tuple(pattern for slot, pattern in placed if slot is None), passing, warning, zero_counts, tuple(rules),
                  all(slot is not None for slot, _, _ in rules))


# `_PASSING` without its look-behind, and `_WARNING` anchored as `match` reads it: the forms the RE2 set holds.
_PASSING_LOOSE = _PASSING.pattern.replace("(?<!not )", "")
_WARNING_AT_START = r"(?i)^" + _WARNING.pattern


def is_passing(text: str) -> bool:
    """Return whether a clean line reports a passing or skipped test."""
    # one of these words is in every line the pattern finds, and `in` costs a tenth of the pattern on the usual line
    return ("ok" in text or "PASS" in text or "kip" in text or "SKIP" in text or "XFAIL" in text or "[+]" in text
            or "✓" in text or "✔" in text) and bool(_PASSING.search(text))


def is_stack_frame(text: str) -> bool:
    """Return whether a clean line is one frame of a stack trace."""
    return bool(_STACK_FRAME.match(text))


def is_routine(text: str) -> bool:
    """Return whether a clean line reports a passing test or routine progress: context of least value."""
    return is_passing(text) or bool(_ROUTINE.search(text))


def issue_key(message: str) -> str:
    """Return the part of an issue message that is looked for in the log: its first line, 80 chars at most."""
    return message.strip().splitlines()[0][:80] if message.strip() else ""
