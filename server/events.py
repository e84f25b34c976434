"""Typed events yielded by ``StyleClient.stylize`` (standard library only).

``Progress`` and ``Finished`` carry the field names of the proto's ``JobProgress`` and ``JobFinished``
(and the engine's ``nst_core.contract.progress.Progress``): one shape at every hop, converted by name.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields


@dataclass(frozen=True)
class Queued:
    position: int  # jobs ahead of this one, the running one included; 0 = starts next
    job_id: str = ""


@dataclass(frozen=True)
class Waiting:
    """A fleet's client only: every server is busy, and the job waits (in the client) for the first free one."""

    servers: int  # servers of the fleet


@dataclass(frozen=True)
class Started:
    job_id: str
    server_name: str = ""  # the server that runs the job (empty from older servers)


@dataclass(frozen=True)
class Progress:
    stage: int  # 1-based scale index
    stages: int
    step: int  # 1-based step within the stage
    total: int  # steps in the stage
    overall_step: int
    overall_total: int
    losses: dict[str, float]
    elapsed_seconds: float  # since the job started
    eta_seconds: float  # left in the whole job (estimate)
    width: int  # size optimized at this stage
    height: int
    tile: int  # tile passes done in this step (a tiled scale reports after each; 0 from older servers)
    tiles: int  # tile passes in the step: the step is complete when tile == tiles


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
    wall_time_seconds: float  # the job ran (not counting its wait in the queue)
    steps: int
    cache_hit: bool  # a style target came from the server's cache
    style_cache_hits: int
    queue_seconds: float
    losses: dict[str, float]


Event = Queued | Waiting | Started | Progress | Preview | Result | Finished


# -- sequences (StyleClient.stylize_sequence) --------------------------------------------------------------

@dataclass(frozen=True)
class SequenceProgress:
    frame: int  # the frame under way, 1-based
    frames: int
    progress: Progress  # that frame's own
    eta_seconds: float  # left in the whole sequence (estimate)


@dataclass(frozen=True)
class Frame:
    """A finished frame, as soon as it is done."""

    index: int  # 0-based
    data: bytes = field(repr=False)  # a PNG file, or raw RGBA when format == "rgba"
    width: int
    height: int
    format: str


def from_message(cls, message):
    """An event dataclass from the proto message (or any object) with the same field names."""
    values = {}
    for f in fields(cls):
        value = getattr(message, f.name)
        values[f.name] = dict(value) if f.name == "losses" else value
    return cls(**values)
