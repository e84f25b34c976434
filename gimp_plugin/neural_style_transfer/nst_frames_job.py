"""The frames entry's job without GIMP: every frame through the bridge as one sequence (standard library only).

Each finished frame is read from the job folder the moment its "frame" event arrives, so a cancel (which
makes the bridge delete the folder) keeps every frame finished before it: ``FramesJob.frames``.
"""
import json
import os

from nst_job import (JOB_FILE, PREVIEW_INTERVAL, Cancelled, HelperProcess, PluginError, _check_rgba, _remove_tree,
                     _write_style, describe_event, make_job_dir, read_preview)


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
    job = {"frames": entries, "style": _write_style(job_dir, "style", style), "regions": [],
           "options": options, "sequence": sequence, "server": server or "", "auto_start": bool(auto_start),
           "token": os.environ.get("NST_TOKEN") or ""}
    if preview_size:
        job["preview"] = {"interval": PREVIEW_INTERVAL, "max_size": int(preview_size)}
    with open(os.path.join(job_dir, JOB_FILE), "w", encoding="utf-8") as f:
        json.dump(job, f)


class FramesJob:
    """``run`` blocks until every frame is back; ``cancel`` (any thread) ends it, keeping ``frames``."""

    def __init__(self, config, frames, style, options, server, auto_start, sequence, preview_size=0):
        self._args = (frames, style, options, server, auto_start, sequence, preview_size)
        self.config = config
        self.count = len(frames)
        self.frames = {}  # index -> (rgba, w, h): the finished ones
        self.bridge = None
        self.cancelled = False

    def cancel(self):
        self.cancelled = True
        bridge = self.bridge
        if bridge is not None:
            bridge.release()

    def run(self, on_event):
        """Returns every frame [(rgba, w, h)] in order; raises PluginError or Cancelled (``frames`` holds what
        finished)."""
        job_dir = make_job_dir(self.config)
        try:
            write_frames_job(job_dir, *self._args)
            if self.cancelled:
                raise Cancelled()
            self.bridge = HelperProcess(self.config, job_dir)
            if self.cancelled:
                self.bridge.release()
            error, finished = None, False
            for event in self.bridge.events():
                kind = event.get("type")
                if kind == "preview":
                    event["png"] = read_preview(job_dir, event)
                elif kind == "frame":
                    self.frames[int(event["index"])] = self._read_frame(job_dir, event)
                on_event(event)
                if kind == "error":
                    error = event.get("message") or "The style server reported an error."
                    break
                if kind == "result":
                    finished = True
                    break
            tail = self.bridge.close()
            if self.cancelled:
                raise Cancelled()
            if error:
                raise PluginError(error)
            if not finished or len(self.frames) != self.count:
                raise PluginError("The plug-in's helper stopped before every frame was back"
                                  + (f":\n{tail}" if tail else "."))
            return [self.frames[k] for k in range(self.count)]
        finally:
            if self.bridge is not None:
                self.bridge.close()
            _remove_tree(job_dir)

    @staticmethod
    def _read_frame(job_dir, event):
        width, height = int(event["width"]), int(event["height"])
        with open(os.path.join(job_dir, os.path.basename(event["file"])), "rb") as f:
            data = f.read()
        if len(data) != width * height * 4:
            raise PluginError(f"The style server returned {len(data)} bytes for a {width}x{height} frame; try again.")
        return data, width, height
