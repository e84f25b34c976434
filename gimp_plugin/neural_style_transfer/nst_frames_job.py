"""The frames entry's job without GIMP: every frame through the bridge as one sequence (standard library only).

Each finished frame is read from the job folder the moment its "frame" event arrives, so a cancel (which
makes the bridge delete the folder) keeps every frame finished before it: ``FramesJob.frames``.
"""
import os

from nst_job import BridgeJob, PluginError, _check_rgba, _write_style, describe_event, write_job_file


def describe_frames_event(event):
    """describe_event with "Frame k of n" in front while a frame runs."""
    text, fraction = describe_event(event)
    if event.get("type") == "progress" and event.get("frames"):
        k, n = event["frame"], event["frames"]
        text = f"Frame {k} of {n} · {text}"
        if fraction is not None:
            fraction = (k - 1 + fraction) / n
    elif event.get("type") == "frame":
        text = f"Frame {event['index'] + 1} finished"
    return text, fraction


def write_frames_job(job_dir, frames, style, options, server, auto_start, sequence, preview_size=0):
    """``frames``: [(rgba, w, h)], first frame first; ``sequence``: {"temporal_weight", "independent"}."""
    entries = []
    for k, (data, width, height) in enumerate(frames):
        _check_rgba(f"frame {k + 1}", data, width, height)
        name = f"input-{k:04d}.rgba"
        with open(os.path.join(job_dir, name), "wb") as f:
            f.write(data)
        entries.append({"file": name, "encoded": False, "width": width, "height": height})
    write_job_file(job_dir, {"frames": entries, "style": _write_style(job_dir, "style", style), "regions": [],
                             "options": options, "sequence": sequence}, server, auto_start, preview_size)


class FramesJob(BridgeJob):
    """``run`` returns every frame [(rgba, w, h)] in order; a cancel keeps the finished ones in ``frames``."""

    stopped = "The plug-in's helper stopped before every frame was back"
    stopped_hint = ""

    def __init__(self, config, frames, style, options, server, auto_start, sequence, preview_size=0):
        super().__init__(config)
        self._args = (frames, style, options, server, auto_start, sequence, preview_size)
        self.count = len(frames)
        self.frames = {}  # index -> (rgba, w, h): the finished ones

    def write(self, job_dir):
        write_frames_job(job_dir, *self._args)

    def read(self, job_dir, event):
        kind = event.get("type")
        if kind == "frame":
            self.frames[int(event["index"])] = self._read_frame(job_dir, event)
        if kind == "result" and len(self.frames) == self.count:
            return [self.frames[k] for k in range(self.count)]
        return None

    @staticmethod
    def _read_frame(job_dir, event):
        width, height = int(event["width"]), int(event["height"])
        with open(os.path.join(job_dir, os.path.basename(event["file"])), "rb") as f:
            data = f.read()
        if len(data) != width * height * 4:
            raise PluginError(f"The style server returned {len(data)} bytes for a {width}x{height} frame; try again.")
        return data, width, height
