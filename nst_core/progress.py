"""Progress reports and cancellation shared by the engine and its callers."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable

from PIL import Image


class CancelToken:
    """Thread-safe flag checked by the engine once per optimizer step."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass(frozen=True)
class Progress:
    """One optimizer step. ``step``/``total`` count within the current scale (stage)."""

    stage: int  # 1-based scale index
    stages: int  # number of scales
    step: int  # 1-based step within the stage
    total: int  # steps in this stage
    overall_step: int  # 1-based step over all stages
    overall_total: int  # steps over all stages
    losses: dict[str, float]  # "content", "style", "tv", "total" (weighted)
    elapsed: float  # seconds since the job started
    eta: float  # seconds left, estimated from pixels still to process
    size: tuple[int, int]  # (width, height) optimized at this stage
    preview: Callable[[], Image.Image] = field(repr=False, compare=False, default=None)  # type: ignore[assignment]


ProgressCallback = Callable[[Progress], None]
