"""The plug-in's logic that needs no GIMP: config, argument checks, the job folder and the bridge.

Runs inside GIMP's own Python (no pip packages there), so it uses the standard library only. The GIMP side
(`neural_style_transfer.py`) reads and writes pixels; everything here is testable without GIMP.

Protocol with the bridge (`<python> -m server.plugin_bridge JOB_DIR`, which takes the file names below from
this module): this side writes ``job.json`` and
the pixel files into a private JOB_DIR, keeps the bridge's stdin open for as long as it wants the job, and
reads one JSON object per line from the bridge's stdout. Closing stdin (or dying: GIMP's Cancel kills this
process) tells the bridge to cancel the job, delete JOB_DIR and exit. ``Job.run`` blocks; the GIMP side runs
it in a thread and calls ``Job.cancel`` from its own Cancel button.
"""
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import zlib

CONFIG_FILE = "nst-config.json"
ARGUMENTS_FILE = "nst-options.json"  # the option arguments, written by the installer from the engine's options
JOB_FILE = "job.json"
CONTENT_FILE = "content.rgba"
STYLE_RAW_FILE = "style.rgba"
STYLE_ENCODED_FILE = "style.img"
RESULT_FILE = "result.rgba"
PREVIEW_FILE = "preview.png"  # the bridge replaces it with each new preview
OUTSIDE_STYLE_FILE = "style-outside"
#: How the selection and the saved channels steer the styles (the procedure's "regions" argument):
#: (nick, label, help).
REGION_MODES = (
    ("none", "No (a selection only clips the result)",
     "The whole selection's bounds are stylized with the style, and the selection cuts the result"),
    ("selection", "Style only inside the selection",
     "The style goes where the selection is (soft where it is feathered); the optimization itself blends "
     "the edge, and the rest of the layer comes back exactly as it was"),
    ("inside-outside", "One style inside the selection, another outside",
     "The style inside the selection, outside-style-file elsewhere"),
    ("channels", "Regions from the saved channels",
     "Each saved channel is a region with the style channel-styles names for it; the rest of the layer "
     "follows the style, or stays exactly as it was when no style is set (as do channels set to none)"),
)
PREVIEW_INTERVAL = 2.0  # seconds between the previews the server sends while the job runs

# File types the server decodes itself; other files are opened by GIMP and sent as pixels.
SERVER_DECODES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")


class PluginError(Exception):
    """A failure to show the user as is: the text says what went wrong and what to do."""


class Cancelled(Exception):
    """The user cancelled the job (the plug-in's own Cancel button)."""


# ----------------------------------------------------------------------------- config

def load_config(plugin_dir):
    """The installer's record: which Python runs the bridge, and the default server address."""
    path = os.path.join(plugin_dir, CONFIG_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except FileNotFoundError:
        raise PluginError(f"The plug-in is not configured ({path} is missing). Reinstall it with "
                          "`nst install-gimp-plugin`, run by the Python that has the project installed.")
    except (OSError, ValueError) as exc:
        raise PluginError(f"Cannot read {path} ({exc}). Reinstall the plug-in with `nst install-gimp-plugin`.")
    command = config.get("python")
    if isinstance(command, str):
        command = [command]
    if not command or not all(isinstance(part, str) and part for part in command):
        raise PluginError(f"{path} names no Python interpreter. Reinstall the plug-in with "
                          "`nst install-gimp-plugin`.")
    config["python"] = command
    return config


# ----------------------------------------------------------------------------- arguments

def load_arguments(plugin_dir):
    """The option arguments the installer recorded (see ``installer.plugin_arguments``); [] if missing, so the
    procedure still registers and its run explains how to reinstall."""
    try:
        with open(os.path.join(plugin_dir, ARGUMENTS_FILE), encoding="utf-8") as f:
            table = json.load(f)
    except (OSError, ValueError):
        return []
    return table if isinstance(table, list) else []


def server_options(arguments, values):
    """Check the procedure's option arguments (``values`` by argument name) and name them as the server's
    options; an argument at its ``unset`` value is left to the preset."""
    options = {"output_size": "content"}  # the layer gets a result of its own size
    for entry in arguments:
        name, value = entry["name"], values[entry["name"]]
        if entry["kind"] == "choice":
            allowed = [choice[0] for choice in entry["choices"]]
            if value not in allowed:
                raise PluginError(f"{name} must be one of {', '.join(allowed)}; got {value!r}.")
        elif "unset" in entry and value == entry["unset"]:
            continue
        elif not (isinstance(value, (int, float)) and math.isfinite(value) and entry["min"] <= value <= entry["max"]):
            unset = f" or {entry['unset']} (the preset's)" if "unset" in entry else ""
            raise PluginError(f"{name} must be from {entry['min']} to {entry['max']}{unset}; got {value!r}.")
        options[entry["option"]] = int(value) if entry["kind"] == "int" else value
    return options


def style_name(path):
    """The style's name for the new layer: the file's name without its extension (either separator style)."""
    base = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return os.path.splitext(base)[0] or base or "style"


def layer_name(source, style):
    """"<source layer> · <style>": several runs on one layer stay distinguishable in the Layers dialog."""
    return f"{source} · {style}"


# ----------------------------------------------------------------------------- progress text

def _clock(seconds):
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


def describe_event(event):
    """(text for GIMP's progress bar or None, fraction done or None) for one bridge event."""
    kind = event.get("type")
    if kind == "status":
        return event.get("text", ""), None
    if kind == "queued":
        ahead = event.get("position", 0)
        return (f"Queued: {ahead} job(s) ahead" if ahead else "Queued: starts next"), 0.0
    if kind == "started":
        return "Stylizing…", 0.0
    if kind == "progress":
        stage, stages = event.get("stage", 1), event.get("stages", 1)
        step, total = event.get("step", 0), max(1, event.get("total", 1))
        text = f"Scale {stage}/{stages} · step {step}/{total}"
        if event.get("eta_seconds") is not None:
            text += f" · {_clock(event['eta_seconds'])} left"
        overall, overall_total = event.get("overall_step", 0), event.get("overall_total", 0)
        if overall_total:
            fraction = overall / overall_total
        else:
            fraction = (stage - 1 + step / total) / max(1, stages)
        return text, min(1.0, max(0.0, fraction))
    if kind == "result":
        return "Adding the stylized layer…", 1.0
    return None, None


# ----------------------------------------------------------------------------- job folder

def make_job_dir(config):
    """A private folder (mode 0700) for this job's pixel files. Flatpak setups name one both sides see."""
    parent = config.get("work_dir") or None
    if parent:
        os.makedirs(parent, exist_ok=True)
    return tempfile.mkdtemp(prefix="nst-gimp-", dir=parent)


def grey_png(data, width, height):
    """An 8-bit grey PNG of ``data`` (one byte per pixel, rows top to bottom): how a mask travels."""
    if width <= 0 or height <= 0 or len(data) != width * height:
        raise PluginError(f"Internal error: the mask does not match {width}x{height}.")
    rows = b"".join(b"\0" + data[y * width:(y + 1) * width] for y in range(height))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 6))
            + chunk(b"IEND", b""))


def _write_style(job_dir, name, style):
    """Write one style (``(rgba, w, h)`` or ``("encoded", bytes)``) as ``name``; its job.json entry."""
    if style[0] == "encoded":
        entry = {"file": name + ".img", "encoded": True}
        payload = style[1]
    else:
        payload, style_w, style_h = style
        _check_rgba("style", payload, style_w, style_h)
        entry = {"file": name + ".rgba", "encoded": False, "width": style_w, "height": style_h}
    with open(os.path.join(job_dir, entry["file"]), "wb") as f:
        f.write(payload)
    return entry


def write_job(job_dir, content, style, options, server, auto_start, preview_size=0, regions=()):
    """Write the pixel files and job.json.

    ``content``: (rgba_bytes, width, height). ``style``: the same, or ("encoded", file_bytes), or None (only
    regions are styled). ``preview_size``: long side of the previews to stream (0: none). ``regions``:
    (mask as one byte per content pixel, [styles]) pairs; an empty list of styles keeps the content there.
    """
    data, width, height = content
    _check_rgba("content", data, width, height)
    with open(os.path.join(job_dir, CONTENT_FILE), "wb") as f:
        f.write(data)
    style_entry = _write_style(job_dir, "style", style) if style is not None else None
    region_entries = []
    for r, (mask, styles) in enumerate(regions):
        name = f"region-{r}-mask.png"
        with open(os.path.join(job_dir, name), "wb") as f:
            f.write(grey_png(mask, width, height))
        region_entries.append({"mask": {"file": name, "encoded": True},
                               "styles": [_write_style(job_dir, f"region-{r}-style-{i}", s)
                                          for i, s in enumerate(styles)]})
    write_job_file(job_dir, {"content": {"file": CONTENT_FILE, "width": width, "height": height},
                             "style": style_entry, "regions": region_entries, "options": options,
                             "result": RESULT_FILE}, server, auto_start, preview_size)


def write_job_file(job_dir, job, server, auto_start, preview_size):
    """job.json: ``job``'s own entries and what every job tells the bridge (server, token, previews)."""
    job = dict(job, server=server or "", auto_start=bool(auto_start),
               token=os.environ.get("NST_TOKEN") or "")  # the token: for a server started with --token
    if preview_size:
        job["preview"] = {"interval": PREVIEW_INTERVAL, "max_size": int(preview_size)}
    with open(os.path.join(job_dir, JOB_FILE), "w", encoding="utf-8") as f:
        json.dump(job, f)


def _check_rgba(what, data, width, height):
    if width <= 0 or height <= 0 or len(data) != width * height * 4:
        raise PluginError(f"Internal error: the {what} pixels do not match {width}x{height} RGBA.")


def read_preview(job_dir, event):
    """The PNG bytes of a "preview" event, or None if the file went (a newer preview replaced it first)."""
    try:
        with open(os.path.join(job_dir, os.path.basename(event["file"])), "rb") as f:
            return f.read()
    except OSError:
        return None


def read_result(job_dir, event):
    """The result pixels named by the bridge's "result" event: (bytes, width, height)."""
    width, height = int(event["width"]), int(event["height"])
    with open(os.path.join(job_dir, os.path.basename(event["file"])), "rb") as f:
        data = f.read()
    if len(data) != width * height * 4:
        raise PluginError(f"The style server returned {len(data)} bytes for a {width}x{height} result; "
                          "try again, and report this if it repeats.")
    return data, width, height


# ----------------------------------------------------------------------------- the bridge process

class HelperProcess:
    """The helper (``server.plugin_bridge``) that talks to the server. Its stdin stays open until ``close``."""

    def __init__(self, config, job_dir):
        argv, env = helper_command(config, job_dir)
        self._stderr = tempfile.TemporaryFile()  # unlinked at once: nothing left behind if we are killed
        try:
            self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=self._stderr, env=env, cwd=job_dir,
                                            **_no_console_window())
        except OSError as exc:
            raise PluginError(f"Cannot start the plug-in's helper {argv[0]!r} ({exc}). Reinstall the plug-in "
                              "with `nst install-gimp-plugin` from the Python that has the project installed.")

    def events(self):
        """Yield the bridge's events until it stops writing."""
        for raw in self.process.stdout:
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue  # stray output (a library's warning): not part of the protocol
            if isinstance(event, dict):
                yield event

    def release(self):
        """Close the bridge's stdin: it cancels its job if one runs, deletes the job folder and exits."""
        try:
            self.process.stdin.close()
        except (OSError, ValueError):
            pass

    def close(self, timeout=30):
        """Release the bridge and wait for it; return its stderr tail ("" once closed)."""
        if self._stderr.closed:
            return ""
        self.release()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._stderr.seek(0)
        tail = self._stderr.read()[-2000:].decode("utf-8", "replace").strip()
        self._stderr.close()
        return tail


def helper_command(config, job_dir, environ=None):
    """(argv, env) that start the bridge on ``job_dir`` with the installer's interpreter."""
    env = dict(os.environ if environ is None else environ)
    if config.get("pythonpath"):
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [config["pythonpath"], env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    # GIMP's own Python settings must not leak into the project's interpreter.
    env.pop("PYTHONHOME", None)
    argv = list(config["python"]) + ["-m", "server.plugin_bridge", job_dir]
    if os.path.basename(argv[0]) == "flatpak-spawn":
        # `flatpak-spawn --host` runs the host's Python in the host session's environment, not ours: hand
        # over what the helper needs. Only the project's path: the sandbox's PYTHONPATH means nothing there.
        # The token travels in job.json (a private folder), never on a command line others can read.
        wanted = {"PYTHONPATH": config.get("pythonpath"), "PYTHONUNBUFFERED": "1",
                  "NST_SERVER": env.get("NST_SERVER")}
        argv[1:1] = [f"--env={name}={value}" for name, value in wanted.items() if value]
    return argv, env


def _no_console_window():
    # On Windows a console Python would flash a window for every run.
    if sys.platform == "win32":
        return {"creationflags": 0x08000000}  # CREATE_NO_WINDOW
    return {}


def channel_styles(text):
    """``"sky=/art/starry.jpg; sea=none"`` -> {"sky": "/art/starry.jpg", "sea": None} (the channel-styles
    argument: one ``channel name=style file, layer name or none`` per entry, separated by ``;``)."""
    table = {}
    for entry in (text or "").split(";"):
        if not entry.strip():
            continue
        name, sep, style = entry.partition("=")
        if not sep or not name.strip() or not style.strip():
            raise PluginError(f"channel-styles: expected 'channel name=style file or none; …', got {entry.strip()!r}.")
        table[name.strip()] = None if style.strip().lower() == "none" else style.strip()
    return table


class BridgeJob:
    """A job through the bridge. ``run`` blocks until the result; ``cancel`` (any thread) ends it early.
    A subclass writes its job folder (``write``) and reads its result from the events (``read``)."""

    stopped = "The plug-in's helper stopped without a result"  # then the helper's last words, then the hint
    stopped_hint = "\nCheck the interpreter recorded by `nst install-gimp-plugin`."

    def __init__(self, config):
        self.config = config
        self.bridge = None
        self.cancelled = False

    def cancel(self):
        """Close the bridge's stdin: it cancels the server job, deletes the job folder and exits."""
        self.cancelled = True
        bridge = self.bridge
        if bridge is not None:
            bridge.release()

    def write(self, job_dir):
        raise NotImplementedError

    def read(self, job_dir, event):
        """The result once ``event`` completes it, else None (it may keep what an event brings)."""
        raise NotImplementedError

    def run(self, on_event):
        """``on_event(event)`` sees every event (a "preview" event carries its PNG as ``event["png"]``).

        Returns what ``read`` made of the "result" event; raises PluginError or Cancelled.
        """
        job_dir = make_job_dir(self.config)
        try:
            self.write(job_dir)
            if self.cancelled:
                raise Cancelled()
            self.bridge = HelperProcess(self.config, job_dir)
            if self.cancelled:  # cancel() ran before the bridge existed
                self.bridge.release()
            result = error = None
            for event in self.bridge.events():
                kind = event.get("type")
                if kind == "preview":
                    event["png"] = read_preview(job_dir, event)
                elif kind != "error":
                    result = self.read(job_dir, event)
                on_event(event)
                if kind == "error":
                    error = event.get("message") or "The style server reported an error."
                    break
                if kind == "result":
                    break
            tail = self.bridge.close()
            if self.cancelled:
                raise Cancelled()
            if error:
                raise PluginError(error)
            if result is None:
                raise PluginError(self.stopped + (f":\n{tail}" if tail else ".") + self.stopped_hint)
            return result
        finally:
            if self.bridge is not None:
                self.bridge.close()
            _remove_tree(job_dir)


class Job(BridgeJob):
    """One layer's job; ``run`` returns (rgba_bytes, width, height) at the size the server returned."""

    def __init__(self, config, content, style, options, server, auto_start, preview_size=0, regions=()):
        super().__init__(config)
        self._args = (content, style, options, server, auto_start, preview_size, regions)

    def write(self, job_dir):
        write_job(job_dir, *self._args)

    def read(self, job_dir, event):
        return read_result(job_dir, event) if event.get("type") == "result" else None


def run_job(config, content, style, options, server, auto_start, on_event):
    """Run one job to its end (see ``Job.run``)."""
    return Job(config, content, style, options, server, auto_start).run(on_event)


def _remove_tree(path):
    # The bridge deletes the folder; this covers a bridge that never started.
    import shutil
    shutil.rmtree(path, ignore_errors=True)
