"""Progress reports and cancellation shared by the engine and its callers (no torch, no PIL at import).

``Progress`` has the field names of the proto's ``JobProgress`` and of ``server.events.Progress``: one shape
from the engine to the GIMP plug-in (``tests/server/test_progress_shape.py`` holds them together).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional

if TYPE_CHECKING:
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
    elapsed_seconds: float  # since the job started
    eta_seconds: float  # left, estimated from the pixels still to process
    width: int  # size optimized at this stage
    height: int
    preview: Optional[Callable[[], "Image.Image"]] = field(repr=False, compare=False, default=None)


ProgressCallback = Callable[[Progress], None]
