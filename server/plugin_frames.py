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

from .client import Finished
from .events import Frame, SequenceProgress


def stylize_frames(helper, job: dict) -> None:
    from .plugin_bridge import HelperError

    frames = [helper._image(entry) for entry in job["frames"]]
    sequence = job.get("sequence") or {}
    helper.emit(type="status", text=f"Sending {len(frames)} frames to the style server…")
    stream = helper.client.stylize_sequence(frames, temporal_weight=sequence.get("temporal_weight"),
                                            independent=bool(sequence.get("independent", False)),
                                            **helper._job_arguments(job))
    done = finished = 0
    for event in stream:
        if helper._relay(event):
            continue
        if isinstance(event, SequenceProgress):
            fields = dataclasses.asdict(event.progress)
            fields.update(frame=event.frame, frames=event.frames, eta_seconds=event.eta_seconds)
            helper.emit(type="progress", **fields)
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
