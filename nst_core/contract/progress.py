"""Progress reports and cancellation shared by the engine and its callers (no torch, no PIL at import).

``Progress`` has the field names of the proto's ``JobProgress`` and of ``server.events.Progress``: one shape
from the engine to the GIMP plug-in (``tests/server/test_events.py`` holds them together).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional

if TYPE_CHECKING:
    from PIL import Image


class CancelToken:
    """Thread-safe flag checked by the engine before every step and after every tile."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass(frozen=True)
class Progress:
    """One optimizer step, or one tile pass of a step on a tiled scale. ``step``/``total`` count within the
    current scale (stage). On a tiled scale a report comes after each tile pass: ``tile`` of ``tiles`` passes
    of ``step`` are done (each tile is visited twice, see nst_core.tiling), ``tile == tiles`` once the step
    is complete; an untiled scale reports once per step with ``tile = tiles = 1``. ``preview`` is set on
    complete steps only: the image at the working size, or a reduction of it to about 1 MP when larger.
    """

    stage: int  # 1-based scale index
    stages: int  # number of scales
    step: int  # 1-based step within the stage
    total: int  # steps in this stage
    overall_step: int  # 1-based step over all stages
    overall_total: int  # steps over all stages
    losses: dict[str, float]  # "content", "style", "tv", "total" (weighted)
    elapsed_seconds: float  # since the job started
    eta_seconds: float  # left in the whole job (EtaTracker)
    width: int  # size optimized at this stage
    height: int
    tile: int = 1  # tile passes done in this step
    tiles: int = 1  # tile passes in this step
    preview: Optional[Callable[[], "Image.Image"]] = field(repr=False, compare=False, default=None)


class EtaTracker:
    """Seconds left: the work still to do (in units of one pixel through forward+backward, from the job's plan)
    times the rate measured at the current scale after its first step, before that at the last scale (a
    scale's targets and first step pay one-time costs: new shapes, fresh memory). Rates per pixel vary
    little between sizes, but a machine shared with other work drifts, so the most recent rate counts."""

    def __init__(self, total_work: float):
        self.remaining = total_work
        self._scale_seconds = self._scale_work = 0.0
        self._scale_steps = 0
        self._rate: Optional[float] = None
        self._mark = time.perf_counter()

    def start_scale(self, remaining: float) -> None:
        if self._scale_work > 0:
            self._rate = self._scale_seconds / self._scale_work
        self._scale_seconds = self._scale_work = 0.0
        self._scale_steps = 0
        self._mark = time.perf_counter()
        self.remaining = remaining

    def step_done(self, remaining: float) -> None:
        self._scale_steps += 1
        self.remaining = remaining
        if self._scale_steps == 1:  # the targets and the first step pay one-time costs: measure from here
            if self._rate is None and self._scale_work > 0:
                self._rate = self._scale_seconds / self._scale_work
            self._scale_seconds = self._scale_work = 0.0

    def done(self, work: float) -> None:
        now = time.perf_counter()
        self._scale_seconds += now - self._mark
        self._mark = now
        self._scale_work += work
        self.remaining = max(0.0, self.remaining - work)

    def eta(self) -> float:
        current = self._scale_seconds / self._scale_work if self._scale_work > 0 else None
        rate = current if current is not None and (self._scale_steps > 0 or self._rate is None) else self._rate
        return self.remaining * (rate or 0.0)


ProgressCallback = Callable[[Progress], None]
