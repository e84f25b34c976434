"""The plug-in helper's side of Filters ▸ Animation ▸ Neural Style Transfer (frames): one sequence job.

``job.json`` lists ``frames`` (raw RGBA files, first frame first) instead of ``content``. Events, beside the
single job's (server/plugin_bridge.py):

    {"type": "progress", <the frame's Progress fields>, "frame": k, "frames": n, "eta_seconds": whole run}
    {"type": "frame", "index": i, "file", "width", "height"}     (each finished frame, 0-based, at once)
    {"type": "result", "frames": n, <the fields of server.events.Finished>}

The plug-in reads each frame's file as soon as its event arrives: a cancel deletes the job folder, and the
frames finished before it are what the plug-in keeps.
"""
from __future__ import annotations

import dataclasses
import os

from .client import Finished, Preview, Queued, Region, Started, Waiting
from .events import Frame, SequenceProgress


def stylize_frames(helper, job: dict) -> None:
    from .plugin_bridge import HelperError

    frames = [helper._image(entry) for entry in job["frames"]]
    styles = [helper._image(job["style"])] if job.get("style") else []
    regions = [Region(helper._image(r["mask"]), tuple(helper._image(s) for s in r.get("styles", ())))
               for r in job.get("regions") or ()]
    preview = job.get("preview") or {}
    sequence = job.get("sequence") or {}
    helper.emit(type="status", text=f"Sending {len(frames)} frames to the style server…")
    stream = helper.client.stylize_sequence(
        frames, styles, options=job.get("options") or {}, output_format="rgba", preview=bool(preview),
        preview_interval=float(preview.get("interval", 0)), preview_max_size=int(preview.get("max_size", 0)),
        regions=regions, temporal_weight=sequence.get("temporal_weight"),
        independent=bool(sequence.get("independent", False)))
    done = finished = 0
    for event in stream:
        if isinstance(event, Queued):
            helper.job_id = event.job_id or helper.job_id
            helper.emit(type="queued", position=event.position)
        elif isinstance(event, Waiting):
            helper.emit(type="status", text=f"All {event.servers} style servers are busy; waiting for a free one…")
        elif isinstance(event, Started):
            helper.job_id = event.job_id
            helper.emit(type="started", job_id=event.job_id)
        elif isinstance(event, SequenceProgress):
            fields = dataclasses.asdict(event.progress)
            fields.update(frame=event.frame, frames=event.frames, eta_seconds=event.eta_seconds)
            helper.emit(type="progress", **fields)
        elif isinstance(event, Preview):
            helper._write_preview(event)
        elif isinstance(event, Frame):
            name = f"frame-{event.index:04d}.rgba"
            with open(os.path.join(helper.job_dir, name), "wb") as f:
                f.write(event.data)
            done += 1
            helper.emit(type="frame", index=event.index, file=name, width=event.width, height=event.height)
        elif isinstance(event, Finished):
            finished = event
    if done != len(frames):
        raise HelperError("INTERNAL", f"The style server ended the sequence after {done} of {len(frames)} frames; "
                                      "try again.")
    helper.done = True  # from here on, a closed stdin is the normal goodbye
    helper.emit(type="result", frames=done, **(dataclasses.asdict(finished) if finished else {}))
