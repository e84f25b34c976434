"""Typed events yielded by ``StyleClient.stylize`` (standard library only)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Queued:
    position: int  # jobs ahead of this one, the running one included; 0 = starts next
    job_id: str = ""


@dataclass(frozen=True)
class Started:
    job_id: str


@dataclass(frozen=True)
class Progress:
    stage: int  # 1-based scale index
    stages: int
    step: int  # 1-based step within the stage
    total: int  # steps in the stage
    losses: dict[str, float]
    elapsed: float  # seconds since the job started
    eta: float  # seconds left (estimate)
    overall_step: int = 0
    overall_total: int = 0
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class Preview:
    png: bytes = field(repr=False)
    width: int
    height: int


@dataclass(frozen=True)
class Result:
    data: bytes = field(repr=False)  # a PNG file, or raw RGBA when format == "rgba"
    width: int
    height: int
    format: str  # "png" or "rgba"


@dataclass(frozen=True)
class Finished:
    wall_time: float  # seconds the job ran (not counting its wait in the queue)
    steps: int
    cache_hit: bool  # a style target came from the server's cache
    style_cache_hits: int = 0
    queue_time: float = 0.0
    losses: dict[str, float] = field(default_factory=dict)


Event = Queued | Started | Progress | Preview | Result | Finished
