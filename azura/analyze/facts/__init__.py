"""Facts: what the cause's lines say in named parts, read by small extractors per ecosystem.

Failing tests and compile errors are read from the whole failing section (a runner lists its failures apart
from its summary); missing names and versions from the cause's own block; the exit status from the section's
failing-exit line.
"""
from __future__ import annotations

from typing import Sequence

from azura.analyze.facts.compilers import compile_errors
from azura.analyze.facts.names import exit_status, missing_names, version_mismatches
from azura.analyze.facts.tests import failing_tests
from azura.models import Facts, Line

BLOCK_BEFORE = 6  # lines of the cause's block read before it (a test's name above its assertion)
BLOCK_AFTER = 20  # and after it (a Rust error's "-->" line, npm's "404 Not Found - GET" under "code E404")

__all__ = ["block_of", "read_facts"]


def read_facts(section: Sequence[Line], cause: int) -> Facts:
    """Return the facts of a failing section whose cause is `section[cause]`."""
    block = block_of(section, cause)
    tests, failed = failing_tests(section)
    errors, error_total = compile_errors(section)
    return Facts(failing_tests=tests, failed_test_count=failed,
                 compile_errors=errors, compile_error_count=error_total,
                 missing=missing_names(block), versions=version_mismatches(block), exit=exit_status(section))


def block_of(section: Sequence[Line], cause: int) -> Sequence[Line]:
    """Return the lines around the cause that belong to it: near it in the log, with no gap in the excerpt."""
    start = cause
    while start > 0 and cause - start < BLOCK_BEFORE and _adjacent(section[start - 1], section[start]):
        start -= 1
    end = cause
    while end + 1 < len(section) and end - cause < BLOCK_AFTER and _adjacent(section[end], section[end + 1]):
        end += 1
    return section[start:end + 1]


def _adjacent(before: Line, after: Line) -> bool:
    # the excerpt leaves out blank lines, so two lines a few numbers apart may still be neighbours
    return 0 < after.number - before.number <= 3 or after.number == before.number == 0
