"""The CLI's progress line on stderr, drawn by tqdm: stage, step/total, percentage, rate and ETA.

On a terminal tqdm redraws one line in place; elsewhere (a pipe, a log) a line is printed at most once a
second. The ETA is the engine's, which weighs the steps of every scale by their pixels; tqdm's own estimate
would assume all steps cost the same.
"""
from __future__ import annotations

import sys
import time
from typing import Optional, TextIO

from tqdm import tqdm

_FORMAT = "{desc}  {percentage:3.0f}%|{bar:24}| [{elapsed}, {rate_fmt}{postfix}]"


def format_seconds(seconds: float) -> str:
    return tqdm.format_interval(max(0.0, seconds))


class ProgressBar:
    def __init__(self, stream: Optional[TextIO] = None):
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._bar: Optional[tqdm] = None
        self._start = time.monotonic()
        self._last_line = 0.0

    def message(self, text: str) -> None:
        tqdm.write(text, file=self.stream)

    def update(self, progress) -> None:
        """``progress``: anything with the Progress fields (the engine's or ``server.events.Progress``)."""
        p = progress
        tiled = p.tiles > 1  # a tiled scale reports each tile pass of the step in progress
        done = p.overall_step - 1 + p.tile / p.tiles if tiled else p.overall_step
        desc = f"stage {p.stage}/{p.stages}  step {p.step}/{p.total}" + (f"  tile {p.tile}/{p.tiles}" if tiled else "")
        eta = f"ETA {format_seconds(p.eta_seconds)}"
        if self.tty:
            if self._bar is None:
                self._bar = tqdm(total=p.overall_total, file=self.stream, unit="step", bar_format=_FORMAT,
                                 leave=False)
            self._bar.set_description_str(desc, refresh=False)
            self._bar.set_postfix_str(eta, refresh=False)
            self._bar.update(done - self._bar.n)
        elif time.monotonic() - self._last_line >= 1.0 or done == p.overall_total:
            self._last_line = time.monotonic()
            line = tqdm.format_meter(done, p.overall_total, time.monotonic() - self._start, prefix=desc,
                                     unit="step", bar_format=_FORMAT, postfix=eta, ascii=True)
            print(line, file=self.stream, flush=True)

    def done(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
