"""StylizeSequence on the server: read and check a request, queue it as one job, run its frames in order and
stream each finished frame at once (nst_core.sequence). A sequence is one job on one server: its frames
depend on each other, so a fleet spreads whole sequences like single jobs.

The request is checked before it is queued, like a Stylize request: counts first, then every frame's
header (one size, the limits on frames and pixels), then the first frame's job through server.job_input
(styles, options, regions), then every frame's pixels (an undecodable one is named ``frames[k]``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from nst_core.contract.errors import InvalidInput
from nst_core.contract.sequence_spec import DEFAULT_LATER_STEPS, DEFAULT_TEMPORAL_WEIGHT, SequenceOptions, check_frames, \
    check_options
from protos.nst.v1 import style_pb2

from . import job_input
from .config import RESULT_CHUNK_BYTES
from .jobs import _encode, _preview_message, _progress_message
from .limits import ServerLimits

_SHARED_FIELDS = ("styles", "style_blend", "options", "preview", "preview_interval_seconds", "preview_max_size",
                  "output_format", "regions")


@dataclass
class SequenceInput:
    """A checked sequence: the first frame's job input (styles, options, regions) and every frame as sent."""

    first: job_input.JobInput
    frames: list  # job_input.ImageSource, frames[0] included
    sequence: SequenceOptions
    is_sequence = True  # JobManager runs it with run_sequence

    @property
    def held_bytes(self) -> int:
        return self.first.held_bytes + sum(f.held_bytes for f in self.frames[1:])

    def describe(self) -> str:
        w, h = self.frames[0].size
        return f"sequence of {len(self.frames)} frames {w}x{h}, {len(self.first.spec.style_fields())} style(s)"


def _sequence_options(request: style_pb2.StylizeSequenceRequest) -> SequenceOptions:
    given = request.sequence
    return check_options(SequenceOptions(
        given.temporal_weight if given.HasField("temporal_weight") else DEFAULT_TEMPORAL_WEIGHT,
        given.later_steps if given.HasField("later_steps") else DEFAULT_LATER_STEPS,
        given.independent))


def build_sequence(request: style_pb2.StylizeSequenceRequest, limits: ServerLimits, room) -> SequenceInput:
    """Check everything before the job is queued; InvalidInput names the field at the first problem."""
    count = len(request.frames)
    if count == 0:
        raise InvalidInput("frames", "the sequence is empty: give at least one frame")
    if count > limits.max_frames:
        raise InvalidInput("frames", f"at most {limits.max_frames} frames per sequence, got {count}")
    sequence = _sequence_options(request)
    frames = [job_input._source(message, f"frames[{k}]", limits.max_pixels, limits.max_decoded_bytes)
              for k, message in enumerate(request.frames)]
    check_frames(frames, max_frames=limits.max_frames, max_pixels=limits.max_sequence_pixels)
    first_request = style_pb2.StylizeRequest(content=request.frames[0])
    for name in _SHARED_FIELDS:
        value = getattr(request, name)
        if hasattr(value, "CopyFrom"):
            getattr(first_request, name).CopyFrom(value)
        elif isinstance(value, (bool, int, float)):
            setattr(first_request, name, value)
        else:
            getattr(first_request, name).extend(value)
    room(sum(f.held_bytes for f in frames))
    first = job_input.build(first_request, limits, room)
    frames = [first.spec.content] + [f.checked() for f in frames[1:]]  # corrupt pixels: refused now, not later
    return SequenceInput(first, frames, sequence)


def as_sequence_message(item) -> style_pb2.StylizeSequenceResponse:
    """The manager's own events (queued, started) come as StylizeResponse: the same fields by name."""
    if isinstance(item, style_pb2.StylizeSequenceResponse):
        return item
    kind = item.WhichOneof("event")
    return style_pb2.StylizeSequenceResponse(**{kind: getattr(item, kind)})


def _frame_chunks(index: int, payload):
    fmt = style_pb2.OUTPUT_FORMAT_RGBA if payload.format == "rgba" else style_pb2.OUTPUT_FORMAT_PNG
    total, offset = len(payload.data), 0
    while True:
        end = min(offset + RESULT_CHUNK_BYTES, total)
        yield style_pb2.StylizeSequenceResponse(frame=style_pb2.FrameChunk(index=index, chunk=style_pb2.ResultChunk(
            data=payload.data[offset:end], offset=offset, total_bytes=total, width=payload.width,
            height=payload.height, format=fmt, last=end >= total)))
        offset = end
        if offset >= total:
            return


def run_sequence(manager, job) -> None:
    """Run a queued sequence on the manager's worker thread; each frame is pushed as soon as it is done."""
    from nst_core.sequence import stylize_sequence

    seq_input, job.input = job.input, None
    first = seq_input.first
    job.push(style_pb2.StylizeResponse(started=style_pb2.JobStarted(job_id=job.id, server_name=manager.server_name)))
    last_preview = [0.0]
    steps = [0]

    def on_progress(p) -> None:
        job.steps_done = steps[0] + p.progress.overall_step
        job.push(style_pb2.StylizeSequenceResponse(progress=style_pb2.SequenceProgress(
            frame=p.frame, frames=p.frames, progress=_progress_message(p.progress), eta_seconds=p.eta_seconds)))
        now = time.monotonic()
        if first.preview and p.progress.preview is not None and now - last_preview[0] >= first.preview_interval:
            last_preview[0] = now
            job.push(_preview_message(p.progress.preview(), first.preview_size))

    def on_frame(index: int, result) -> None:
        steps[0] += result.steps
        for message in _frame_chunks(index, _encode(result.image, first.output_format)):
            job.push(message)

    results = None
    try:
        spec = first.decode()
        frames = [spec.content] + [f.decode() for f in seq_input.frames[1:]]
        regions = [_region_input(r) for r in spec.regions]
        results = stylize_sequence(manager.engine, frames, [s.image for s in spec.styles], spec.options,
                                   sequence=seq_input.sequence, blend=[s.weight for s in spec.styles] or None,
                                   regions=regions, init_image=spec.init_image, progress=on_progress,
                                   cancel=job.token, style_cache=manager.style_cache, on_frame=on_frame)
    except Exception as exc:  # noqa: BLE001 - every failure must reach the client as a status
        manager.ended_early(job, exc)
        return
    finally:
        del seq_input
    hits = sum(r.style_cache_hits for r in results)
    manager.succeed(job, style_pb2.StylizeResponse(finished=style_pb2.JobFinished(
        wall_time_seconds=sum(r.wall_time for r in results), steps=steps[0], cache_hit=hits > 0,
        style_cache_hits=hits, queue_seconds=job.started - job.submitted, losses=results[-1].losses)))


def _region_input(region):
    """A checked region back as the engine's input (its blend already normalised, which keeps it)."""
    from nst_core.contract.spec import RegionInput

    return RegionInput(region.mask, [s.image for s in region.styles], [s.weight for s in region.styles] or None,
                       region.strength)
