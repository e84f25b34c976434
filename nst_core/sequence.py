"""Sequence jobs: N frames stylized so that what stays still stays still (Ruder, Dosovitskiy, Brox 2016).

Frame 1 is a plain job. Frame t starts from frame t−1's result moved by the optical flow of the content
frames (t → t−1), and from the content frame where that flow is not certain, and adds the temporal loss of nst_core.temporal, which holds the pixels the forward-backward
check vouches for; it starts near its answer, so it runs only the final scale, with a share of its steps
(``SequenceOptions.later_steps``). Every frame uses the same seed, so the same input gives the same frames.
Each finished frame goes to ``on_frame`` at once: a cancel or a failure later loses none of them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional, Sequence

import numpy as np
from PIL import Image

from . import images, temporal
from .contract import spec as spec_mod
from .contract.errors import InvalidInput
from .cache import TargetCache
from .engine import Engine, StyleResult
from .contract.options import StyleOptions, resolve
from .contract.progress import CancelToken, Progress
from .contract.sequence_spec import SequenceOptions, check_frames, check_options
from .contract.spec import RegionInput


@dataclass(frozen=True)
class SequenceProgress:
    """A frame's progress report with its place in the sequence. ``eta_seconds``: the whole sequence's."""

    frame: int  # 1-based
    frames: int
    progress: Progress  # the frame's own (steps, scales, preview)
    eta_seconds: float


FrameCallback = Callable[[int, StyleResult], None]  # (0-based index, the finished frame)


def stylize_sequence(engine: Engine, frames: Sequence[Image.Image], styles: Sequence[Any],
                     options: StyleOptions = StyleOptions(), *, sequence: SequenceOptions = SequenceOptions(),
                     blend: Optional[Sequence[float]] = None, regions: Sequence[RegionInput] = (),
                     init_image: Any = None, progress: Optional[Callable[[SequenceProgress], None]] = None,
                     cancel: Optional[CancelToken] = None, style_cache: Optional[TargetCache] = None,
                     on_frame: Optional[FrameCallback] = None, max_frames: Optional[int] = None,
                     max_pixels: Optional[int] = None) -> list[StyleResult]:
    """Check everything (frames, styles, options, regions) before any frame runs, then run the frames in
    order. ``init_image`` applies to frame 1 only."""
    limits = {k: v for k, v in (("max_frames", max_frames), ("max_pixels", max_pixels)) if v is not None}
    check_frames(frames, **limits)
    for k, frame in enumerate(frames):
        if not isinstance(frame, Image.Image):
            raise InvalidInput(f"frames[{k}]", "must be an image")
    check_options(sequence)
    first = spec_mod.build(frames[0], styles, options, blend=blend, regions=regions, init_image=init_image)
    later = _later_options(options, first.options.steps, sequence)
    return _Run(engine, frames, first, later, sequence, progress, cancel,
                style_cache if style_cache is not None else TargetCache(), on_frame).run()


def _later_options(options: StyleOptions, steps: int, sequence: SequenceOptions):
    """Frames after the first: the final scale only, a share of its steps, starting from the warped result."""
    if sequence.independent:
        return resolve(options)
    return resolve(replace(options, coarse_steps=0, steps=max(1, round(steps * sequence.later_steps)),
                           init="image"))


class _Run:
    def __init__(self, engine, frames, first, later, sequence, progress, cancel, cache, on_frame):
        self.engine, self.frames, self.first, self.later, self.seq = engine, frames, first, later, sequence
        self.progress, self.cancel, self.cache, self.on_frame = progress, cancel, cache, on_frame
        self.results: list[StyleResult] = []
        self.frame_seconds: list[float] = []  # later frames' wall times, for the sequence's ETA

    def run(self) -> list[StyleResult]:
        for t, frame in enumerate(self.frames):
            if t == 0 or self.seq.independent:
                job, term = (self.first if t == 0 else replace(self.first, content=frame, init_image=None)), None
            else:
                job, term = self._linked(t)
            start = time.perf_counter()
            result = self.engine.run(job, progress=self._reporter(t), cancel=self.cancel, style_cache=self.cache,
                                     extra_term=term)
            if t > 0:
                self.frame_seconds.append(time.perf_counter() - start)
            self.results.append(result)
            if self.on_frame is not None:
                self.on_frame(t, result)
        return self.results

    def _linked(self, t: int):
        """Frame t's job (init: the previous result warped) and its temporal term."""
        size = self._working_size()
        current = self._at(t, size)
        targets, certainties, covered = [], [], None
        for j in self.seq.earlier_frames:  # (1,): the previous frame; more: the paper's long-term term
            if t - j < 0:
                break
            before = self._at(t - j, size)
            backward = temporal.flow(current, before)  # t → t−j: where each pixel of frame t was
            forward = temporal.flow(before, current)
            certainty = temporal.certainty(forward, backward)
            if covered is not None:  # an earlier frame holds only what the nearer ones could not see
                certainty = np.maximum(certainty - covered, 0)
            covered = certainty if covered is None else np.minimum(covered + certainty, 1)
            target = temporal.warped_previous(self.results[t - j].image, backward, size)
            if j == 1:
                # Where the flow cannot vouch for a pixel (uncovered background, a new border), the warp
                # smears the occluder's strokes there, and the later frame's few steps leave a trail: start
                # those pixels from the content frame, as a plain job starts.
                c = temporal.to_certainty_tensor(certainty)
                init = images.to_image(c * target + (1 - c) * images.to_tensor(current))
            if self.later.preserve_colors == "luminance":  # the engine optimizes the luma there
                target = images.luminance(target)
            targets.append(target)
            certainties.append(temporal.to_certainty_tensor(certainty))
        job = replace(self.first, content=self.frames[t], options=self.later, init_image=init)
        return job, temporal.TemporalTerm(targets, certainties, self.seq.temporal_weight)

    def _at(self, t: int, size: tuple[int, int]) -> Image.Image:
        frame = self.frames[t]
        return frame if frame.size == size else frame.resize(size, Image.Resampling.LANCZOS)

    def _working_size(self) -> tuple[int, int]:
        """The final scale's (w, h): flows and targets are made there, where the optimization sees them."""
        if not hasattr(self, "_size"):
            plan = self.results[0].plan
            self._size = plan.scales[-1].size
        return self._size

    def _reporter(self, t: int):
        if self.progress is None:
            return None
        n = len(self.frames)

        def report(p: Progress) -> None:
            left = n - t - 1
            if self.frame_seconds:
                per_frame = sum(self.frame_seconds) / len(self.frame_seconds)
            else:  # before a later frame is done: this frame's own length, a share of it for linked frames
                share = 1.0 if self.seq.independent else self.seq.later_steps
                per_frame = (p.elapsed_seconds + p.eta_seconds) * (share if t == 0 else 1.0)
            self.progress(SequenceProgress(t + 1, n, p, p.eta_seconds + left * per_frame))

        return report


__all__ = ["stylize_sequence", "SequenceProgress", "SequenceOptions", "FrameCallback"]
