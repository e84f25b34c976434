"""A sequence job's frames and options, checked before any frame runs (no torch: the server and the client
share it).

A sequence is N frames of one size, stylized with one style set, one set of regions and one set of options;
frame t starts from frame t−1's result moved along the optical flow and is held to it where the flow is
certain (nst_core.sequence, docs/animation.md). Frames are anything with ``size`` and ``mode`` (PIL images,
or the server's images still undecoded), like the images of nst_core.spec.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from .errors import InvalidInput, quote
from .limits import DEFAULT_MAX_PIXELS

MAX_FRAMES = 100  # frames per sequence (GIMP animations and animated GIFs are rarely longer)
MAX_SEQUENCE_PIXELS = DEFAULT_MAX_PIXELS  # all frames' pixels together: the decoded frames stay in memory
MAX_TEMPORAL_WEIGHT = 1e4
# Measured (docs/animation.md, benchmarks/bench_animation.py): see the figures there for why these values.
DEFAULT_TEMPORAL_WEIGHT = 100.0
DEFAULT_LATER_STEPS = 0.5  # frames after the first: this share of the final scale's steps, no coarse scales


@dataclass(frozen=True)
class SequenceOptions:
    """What a sequence adds to a job's options."""

    temporal_weight: float = DEFAULT_TEMPORAL_WEIGHT  # the temporal loss's weight (0: only the warped start)
    later_steps: float = DEFAULT_LATER_STEPS  # share of the final scale's steps for frames after the first
    independent: bool = False  # every frame as a plain job (the baseline): no flow, no temporal loss
    # The paper's long-term term: earlier frames held too (1 = the previous frame only). Measured and left
    # off by default (docs/animation.md); kept for benchmarks.
    earlier_frames: tuple[int, ...] = (1,)


def check_options(seq: SequenceOptions) -> SequenceOptions:
    for name, value, low, high in (("temporal_weight", seq.temporal_weight, 0.0, MAX_TEMPORAL_WEIGHT),
                                   ("later_steps", seq.later_steps, 0.0, 1.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidInput(name, f"must be a finite number, got {quote(value)}")
        if not low <= value <= high or (name == "later_steps" and value == 0):
            bound = "above 0 and at most 1" if name == "later_steps" else f"from {low:g} to {high:g}"
            raise InvalidInput(name, f"must be {bound}, got {quote(value)}")
    frames = seq.earlier_frames
    if (not frames or frames[0] != 1 or list(frames) != sorted(set(frames))
            or not all(isinstance(j, int) and 1 <= j <= 16 for j in frames)):
        raise InvalidInput("earlier_frames", f"must start with 1 and increase, each at most 16; got {quote(frames)}")
    if not isinstance(seq.independent, bool):
        raise InvalidInput("independent", f"must be true or false, got {quote(seq.independent)}")
    return seq


def check_frames(frames: Sequence[Any], *, max_frames: int = MAX_FRAMES,
                 max_pixels: int = MAX_SEQUENCE_PIXELS) -> tuple[int, int]:
    """The frames' common (w, h), or InvalidInput naming ``frames`` or ``frames[k]``. Count first, so a
    request with a million frames is refused before any is looked at."""
    if isinstance(frames, (str, bytes)) or not isinstance(frames, Sequence):
        raise InvalidInput("frames", "must be a list of images")
    if len(frames) == 0:
        raise InvalidInput("frames", "the sequence is empty: give at least one frame")
    if len(frames) > max_frames:
        raise InvalidInput("frames", f"at most {max_frames} frames per sequence, got {len(frames)}")
    size: Optional[tuple[int, int]] = None
    for k, frame in enumerate(frames):
        if frame is None or not hasattr(frame, "size") or not hasattr(frame, "mode"):
            raise InvalidInput(f"frames[{k}]", "must be an image")
        if size is None:
            size = tuple(frame.size)
        elif tuple(frame.size) != size:
            raise InvalidInput(f"frames[{k}]", f"is {frame.size[0]}×{frame.size[1]}, frames[0] is {size[0]}×"
                                               f"{size[1]}: all frames of a sequence must have one size")
    total = size[0] * size[1] * len(frames)
    if total > max_pixels:
        raise InvalidInput("frames", f"{len(frames)} frames of {size[0]}×{size[1]} are {total:,} pixels in all, "
                                     f"at most {max_pixels:,} per sequence")
    return size


__all__ = ["SequenceOptions", "check_options", "check_frames", "MAX_FRAMES", "MAX_SEQUENCE_PIXELS",
           "DEFAULT_TEMPORAL_WEIGHT", "DEFAULT_LATER_STEPS", "MAX_TEMPORAL_WEIGHT"]
