"""The flow's deadline: reading the logs stops in time for the report to be published, saying so."""
import pytest

from azura.context import Settings
from azura.engine import analysis_deadline, analyze_logs
from azura.excerpt import build_excerpts
from azura.models import Deadline, FailedStep, StepLog

ERROR = "src/app/main.c:42:7: error: 'count' undeclared (first use in this function)"
SEGMENT = 1 << 20  # the excerpt reads a log a segment at a time; the deadline is looked at between segments


class Clock:
    """A clock that moves on `step` seconds each time it is read."""

    def __init__(self, step: float):
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def log_of(megabytes: int, error_at_mb: float, name: str = "Build") -> StepLog:
    """Return a log of build noise in 1 MB chunks with the error line after `error_at_mb` MB."""
    noise = b"gcc -O2 -c src/mod/file.c -o obj/file.o\n" * (SEGMENT // 40)
    chunks = [noise] * megabytes
    chunks.insert(int(error_at_mb), f"{ERROR}\n".encode())
    return StepLog(FailedStep(name=name), chunks)


@pytest.mark.parametrize("timeout, publish, left", [
    (120.0, True, 90.0),   # publishing keeps a quarter
    (30.0, True, 20.0),    # but at least 10 s
    (16.0, True, 8.0),     # and never more than half
    (120.0, False, 119.0),  # a run that only writes files keeps a second
])
def test_the_analysis_deadline_leaves_publishing_its_time(timeout, publish, left):
    run = Deadline.after(timeout, 1000.0)
    deadline = analysis_deadline(run, Settings(timeout=timeout, publish=publish), 1000.0)
    assert deadline.remaining(1000.0) == left


def test_an_excerpt_read_within_its_deadline_is_complete():
    excerpt, = build_excerpts([log_of(3, 1.5)], deadline=Deadline(1000.0), clock=Clock(1.0))
    assert excerpt.complete and ERROR in [line.text for line in excerpt.lines]


def test_reading_stops_at_the_deadline_and_keeps_what_was_read():
    excerpt, _ = build_excerpts([log_of(40, 1), log_of(3, 1, name="Test")], deadline=Deadline(5.0), clock=Clock(1.0))
    assert not excerpt.complete
    assert ERROR in [line.text for line in excerpt.lines]
    assert excerpt.total_lines < 10 * SEGMENT // 40  # far less than the 40 MB of the log


def test_logs_after_the_deadline_are_not_read():
    first, second = build_excerpts([log_of(40, 1), log_of(3, 1, name="Test")], deadline=Deadline(5.0),
                                   clock=Clock(1.0))
    assert not second.complete and second.lines == () and second.step.name == "Test"


def test_a_run_out_of_time_answers_from_what_was_read_and_says_so():
    settings = Settings(timeout=30.0)
    analysis = analyze_logs([log_of(40, 1)], settings, deadline=Deadline.after(30.0, 0.0), clock=Clock(10.0))
    assert analysis.failures[0].evidence
    assert any("--timeout of 30 s ran out while the logs were read" in warning for warning in analysis.warnings)


def test_a_run_within_its_time_has_no_time_warning():
    analysis = analyze_logs([log_of(3, 1)], Settings(), deadline=Deadline.after(120.0, 0.0), clock=Clock(0.001))
    assert not [warning for warning in analysis.warnings if "--timeout" in warning]
