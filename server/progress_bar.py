"""A one-line progress bar on stderr: stage, step/total, percentage and ETA (standard library only)."""
from __future__ import annotations

import sys
import time
from typing import Optional, TextIO


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class ProgressBar:
    """Redraws in place on a terminal; elsewhere (a pipe, a log) prints at most one line per second."""

    WIDTH = 24

    def __init__(self, stream: Optional[TextIO] = None):
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_line = 0.0
        self._drawn = False

    def message(self, text: str) -> None:
        self._clear()
        print(text, file=self.stream, flush=True)

    def update(self, stage: int, stages: int, step: int, total: int, overall_step: int, overall_total: int,
               eta: float) -> None:
        fraction = overall_step / overall_total if overall_total else (step / total if total else 0.0)
        filled = int(self.WIDTH * fraction)
        line = (f"stage {stage}/{stages}  step {step}/{total}  [{'#' * filled}{'-' * (self.WIDTH - filled)}] "
                f"{fraction * 100:3.0f}%  ETA {format_seconds(eta)}")
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K")
            self.stream.flush()
            self._drawn = True
        elif time.monotonic() - self._last_line >= 1.0 or overall_step == overall_total:
            self._last_line = time.monotonic()
            print(line, file=self.stream, flush=True)

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self._drawn = False

    def done(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
