"""A progress line on stderr while long work runs, for a person at a terminal and nobody else.

In a pipeline the agent's log is the progress, and a pipe or a file must not collect carriage returns, so
the line is shown only when stderr is a terminal and the run is not a pipeline step.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Mapping, Optional, TextIO

FRAMES = "|/-\\"
DELAY = 1.0  # seconds of silence first: quick runs finish before any line appears
INTERVAL = 0.25
CLEAR_LINE = "\r\x1b[K"


def wanted(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """Return whether a progress line belongs on `stream`: a terminal, outside a pipeline, not TERM=dumb."""
    try:
        interactive = stream.isatty()
    except (AttributeError, ValueError):  # a closed or stream-less stand-in
        return False
    in_pipeline = str(environ.get("TF_BUILD", "")).lower() == "true"
    return interactive and not in_pipeline and environ.get("TERM") != "dumb"


class Progress:
    """The current phase of the work and how long it has run, redrawn in place; a no-op when disabled.

    Use as a context manager around the work; `phase(text)` names what runs now. The line is cleared on exit,
    so whatever is printed next starts on a clean line.
    """

    def __init__(self, stream: TextIO, enabled: bool, clock: Callable[[], float] = time.monotonic):
        self.stream, self.enabled, self.clock = stream, enabled, clock
        self.started = clock()
        self.current = "working"
        self.shown = False
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def phase(self, text: str) -> None:
        """Name the work running now."""
        self.current = text

    def line(self, now: float) -> Optional[str]:
        """Return the progress line at `now`, or None while the work is still young."""
        elapsed = now - self.started
        if elapsed < DELAY:
            return None
        frame = FRAMES[int(elapsed / INTERVAL) % len(FRAMES)]
        return f"{frame} {self.current} · {int(elapsed)} s"

    def draw(self, now: float) -> None:
        """Redraw the line for `now` (the thread calls this; tests call it with their own clock)."""
        text = self.line(now)
        if text is not None:
            self.stream.write(CLEAR_LINE + text)
            self.stream.flush()
            self.shown = True

    def __enter__(self) -> "Progress":
        if self.enabled:
            self._thread = threading.Thread(target=self._run, name="azura-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        if self.shown:
            self.stream.write(CLEAR_LINE)
            self.stream.flush()

    def _run(self) -> None:
        while not self._stop.wait(INTERVAL):
            self.draw(self.clock())
