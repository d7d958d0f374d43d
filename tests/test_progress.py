"""The progress line: shown to a person at a terminal during long work, never in a pipeline or a pipe."""
import io

import pytest

from azura.progress import CLEAR_LINE, DELAY, Progress, wanted


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_nothing_is_shown_while_the_work_is_young():
    progress = Progress(Terminal(), enabled=True, clock=lambda: 100.0)
    assert progress.line(100.0 + DELAY / 2) is None


def test_long_work_shows_its_phase_and_elapsed_seconds_on_one_redrawn_line():
    stream = Terminal()
    progress = Progress(stream, enabled=True, clock=lambda: 100.0)
    progress.phase("asking the LLM (openai gpt-4o)")

    progress.draw(112.3)

    assert stream.getvalue().startswith(CLEAR_LINE)
    assert stream.getvalue().endswith("asking the LLM (openai gpt-4o) · 12 s")
    assert "\n" not in stream.getvalue()


def test_the_line_is_cleared_when_the_work_ends_so_the_report_starts_clean():
    stream = Terminal()
    with Progress(stream, enabled=False, clock=lambda: 0.0) as progress:
        progress.draw(5.0)
    assert stream.getvalue().endswith(CLEAR_LINE)


def test_disabled_progress_writes_nothing_and_starts_no_thread():
    stream = Terminal()
    with Progress(stream, enabled=False) as progress:
        progress.phase("reading build.log")
    assert stream.getvalue() == "" and progress._thread is None


@pytest.mark.parametrize("stream, environ, expected", [
    (Terminal(), {}, True),
    (Terminal(), {"TF_BUILD": "True"}, False),  # the agent's log is the progress
    (Terminal(), {"TERM": "dumb"}, False),
    (io.StringIO(), {}, False),  # a pipe or a file
])
def test_progress_is_wanted_only_at_a_terminal_outside_a_pipeline(stream, environ, expected):
    assert wanted(stream, environ) is expected


def test_a_run_whose_stderr_is_a_pipe_carries_no_carriage_return(in_tmp, make_log):
    from tests.helpers import run_azura

    log = make_log(["##[error]Process completed with exit code 1."])
    assert "\r" not in run_azura("analyze", "--log", str(log)).stderr


def test_the_engine_says_what_it_is_reading(make_log):
    from azura import engine
    from azura.context import Settings

    log = make_log(["##[error]Process completed with exit code 1."])
    phases = []
    engine.analyze_local(Settings(log_paths=(str(log),)), progress=phases.append)

    assert phases == [f"reading {log}"]
