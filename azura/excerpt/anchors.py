"""Anchors: the lines an excerpt is built around, and how much context each kind wants.

Two stages keep the scan fast. `PREFILTER` is a plain alternation of literal words that a regex engine
scans through raw bytes at C speed (it must find every line a rule could match, colour codes and all);
each line it finds is then cleaned and classified by `classify`, the first rule that matches wins.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Pattern, Sequence, Tuple


@dataclass(frozen=True)
class Rule:
    """One kind of anchor: what it matches on a clean line, how much it matters, how much context it wants."""

    name: str
    pattern: Pattern[str]
    weight: float
    before: int  # lines of context wanted before the anchor
    after: int  # and after it


def _rule(name: str, pattern: str, weight: float, before: int, after: int) -> Rule:
    return Rule(name, re.compile(pattern), weight, before, after)


# In order: the first match wins, so summary lines (exit codes) are tried before the words they contain.
RULES: Tuple[Rule, ...] = (
    # "Process completed with exit code 1", "The command "make" exited with 2", "exit status 1": the
    # step's verdict; the cause is in the lines before it.
    _rule("exit-code", r"(?i)process completed with exit code [1-9]|exited with (?:exit )?(?:code )?[1-9]"
          r"|exit (?:code|status)[ :=]+[1-9]|returned (?:a )?non-zero exit|failed with exit code [1-9]"
          r"|returned exit code [1-9]|non-zero exit (?:code|status)", 5, 25, 2),
    # make: *** [all] Error 2 -- an echo of the compiler error above it.
    _rule("make", r"make(?:\[\d+\])?: \*\*\*", 4, 12, 1),
    _rule("traceback", r"Traceback \(most recent call last\)", 8, 2, 25),
    # Maven, Gradle, sbt, MSBuild and generic build tool verdicts.
    _rule("build-failure", r"BUILD FAILURE|BUILD FAILED|FAILURE: Build failed|What went wrong:"
          r"|[Bb]uild failed|[Cc]ompilation failed|COMPILATION ERROR|Failed to execute goal", 7, 6, 12),
    # Compilers and tools: "x.c:3:1: error: ...", "error TS2322:", "error CS1002:", "error[E0308]:",
    # "Error: ...", "ERROR: ...", "[error] ..." (sbt, Azure Pipelines' ##[error]), "[ERROR] ..." (Maven).
    _rule("error", r"(?:^|[\s:\]\)>])(?:error|ERROR|Error)(?:\[\w+\]| [A-Z]{1,4}\d{2,6})?:|^\[(?:error|ERROR)\]",
          8, 3, 10),
    _rule("fatal", r"\bfatal:|\bFATAL\b|\bpanic:|panicked at|Segmentation fault|\bKilled\b|[Oo]ut of memory"
          r"|OutOfMemory|core dumped|\bAborted\b", 8, 3, 10),
    # Exceptions by class name: "java.lang.NullPointerException", "AssertionError: ...".
    _rule("exception", r"\b[A-Z]\w*(?:Exception|Error)\b(?::|$|\s)", 7, 2, 15),
    _rule("npm", r"^npm ERR!", 6, 2, 12),
    # Test runners: "FAILED", "--- FAIL:", "FAIL src/x.test.js", "Tests run: 5, Failures: 1", "not ok 3",
    # "3 failing", "✗ renders".
    _rule("test-failure", r"\bFAIL(?:ED|URE)?\b|\bFail(?:ed|ure)?:|^not ok \d|\b(?:Failures|Errors): [1-9]"
          r"|\b[1-9]\d* (?:failed|failing|failures?|errors?)\b|[✗✖×] \S", 7, 2, 12),
    _rule("failed", r"\b[Ff]ail(?:ed|ure|ing)\b", 4, 3, 6),
    _rule("weak", r"(?i)\bcannot\b|could not|couldn't|unable to|not found|no such file|permission denied"
          r"|undefined (?:reference|method|symbol|variable)|is not defined|command not found|\btimed? ?out\b"
          r"|\bexpected\b.*\b(?:but|got|actual|was)\b|\bassert", 3, 2, 4),
)

# Literal words that every rule above needs; extended alternation syntax that grep -E also reads.
PREFILTER = (
    r"error|Error|ERROR|FAIL|[Ff]ail|Traceback|Exception|[Ee]xit|exited|npm ERR|fatal|FATAL|panic"
    r"|Segmentation|Killed|[Oo]ut of memory|OutOfMemory|core dumped|Aborted|\*\*\*|[Cc]annot|[Cc]ould not"
    r"|couldn't|[Uu]nable to|not found|[Nn]o such file|denied|undefined|not defined|[Tt]imed? ?out"
    r"|[Ee]xpected|[Aa]ssert|not ok|✗|✖|×"
)

SIGNATURE = Rule("signature", re.compile(""), 10, 3, 10)  # a knowledge-base pattern the caller passed in
ISSUE = Rule("issue", re.compile(""), 9, 4, 8)  # a timeline issue of the failed step


def classify(text: str, signatures: Sequence[Pattern[str]] = (), issue_texts: Sequence[str] = ()) -> Optional[Rule]:
    """Return the rule a clean line is an anchor for, or None."""
    if any(pattern.search(text) for pattern in signatures):
        return SIGNATURE
    if any(issue in text for issue in issue_texts):
        return ISSUE
    for rule in RULES:
        if rule.pattern.search(text):
            return rule
    return None


def issue_key(message: str) -> str:
    """Return the part of an issue message that is looked for in the log: its first line, 80 chars at most."""
    return message.strip().splitlines()[0][:80] if message.strip() else ""
