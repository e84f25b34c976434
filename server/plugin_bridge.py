"""The GIMP plug-in's helper: runs one job from a job folder against the style server.

    <python> -m server.plugin_bridge JOB_DIR

GIMP's bundled Python has no grpcio, so the plug-in writes its pixels and ``job.json`` into JOB_DIR and
starts this module with the interpreter recorded by the installer. Events go to stdout as one JSON object
per line (see ``gimp_plugin/neural_style_transfer/nst_job.py`` for the other side):

    {"type": "status", "text": ...}            {"type": "queued", "position": n}
    {"type": "started", "job_id": ...}         {"type": "progress", <the fields of server.events.Progress>}
    {"type": "preview", "file", "width", "height"}   (only when job.json asks for previews)
    {"type": "result", "file", "width", "height", <the fields of server.events.Finished>}
    {"type": "error", "code", "message"}       (message: what went wrong and what to do)

stdin is the plug-in's lifeline: EOF (the plug-in closed it, or died: GIMP's Cancel kills it) cancels the
job on the server, deletes JOB_DIR and exits. Standard library, ``server.client`` and the job folder's names
from the plug-in's own ``nst_job`` only: the plug-in's interpreter may hold just grpcio and protobuf
(tests/nst_core/test_contract.py imports it with torch, PIL and numpy blocked).
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from gimp_plugin.neural_style_transfer.nst_job import JOB_FILE, PREVIEW_FILE, RESULT_FILE

from .client import (ClientError, ImageData, Preview, Progress, Queued, Region, Result, Started, Finished,
                     StyleClient, Waiting)
from .config import default_address

# Windows: no console, and not in our process group, so the server outlives this helper and Ctrl+C in
# GIMP's terminal (DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP).
_DETACHED_ON_WINDOWS = 0x00000008 | 0x00000200
SERVER_START_TIMEOUT = 300.0  # first start loads VGG19 and warms up; slow disks take a while
PROBE_TIMEOUT = 2.0
# Request fields that are not options, as the plug-in's user knows them (options are the arguments of the
# same name with '-' for '_').
FIELD_NAMES = {"styles": "style-file / style-drawable", "content": "the layer", "options": "the arguments",
               "regions": "the regions (selection or channels)"}


class HelperError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class HelperJob:
    """One plug-in job: read the job folder, reach (or start) the server, stream events to stdout."""

    def __init__(self, job_dir: str, out=None):
        self.job_dir = job_dir
        self.out = out or sys.stdout
        self._out_lock = threading.Lock()
        self._exit_lock = threading.Lock()
        self.client: StyleClient | None = None
        self.job_id: str | None = None
        self.done = False

    # -- output ---------------------------------------------------------------------------------
    def emit(self, **event) -> None:
        line = json.dumps(event) + "\n"
        with self._out_lock:
            try:
                self.out.write(line)
                self.out.flush()
            except (BrokenPipeError, ValueError):
                pass  # the plug-in is gone; the stdin watcher ends us

    # -- lifeline -------------------------------------------------------------------------------
    def watch_stdin(self, stdin) -> None:
        """Block until the plug-in closes our stdin or dies, then cancel, clean up and exit."""
        try:
            while stdin.read(65536):
                pass
        except (OSError, ValueError):
            pass
        self.shutdown()

    def shutdown(self) -> None:
        with self._exit_lock:
            if not self.done and self.client is not None and self.job_id:
                try:
                    self.client.cancel(self.job_id)
                except ClientError:
                    pass  # already ended, or the server is gone: nothing left to stop
            shutil.rmtree(self.job_dir, ignore_errors=True)
            sys.stderr.flush()
            # Not sys.exit: the main thread may sit inside a blocking gRPC read.
            os._exit(0 if self.done else 3)

    # -- the job --------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            job = self._read_job()
            address = job.get("server") or default_address()
            try:
                self.client = StyleClient(address, token=job.get("token") or None)
            except ClientError as exc:
                raise HelperError(exc.code, f"The style server address cannot work: {exc.message}. Fix the "
                                            "plug-in's Server argument (or NST_SERVER).") from None
            self._ensure_server(address, job.get("auto_start", True))
            self._stylize(job)
        except HelperError as exc:
            self.emit(type="error", code=exc.code, message=exc.message)
        except ClientError as exc:
            self.emit(type="error", code=exc.code, message=explain(exc, self.client))
        except Exception as exc:  # a bug here must still reach the user as text, not a hang
            self.emit(type="error", code="INTERNAL", message=f"The plug-in's helper failed: {exc!r}")
        self.done = True

    def _read_job(self) -> dict:
        try:
            with open(os.path.join(self.job_dir, JOB_FILE), encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError) as exc:
            raise HelperError("INVALID_ARGUMENT", f"Cannot read the job from the plug-in ({exc}).") from None

    def _image(self, entry: dict) -> ImageData:
        with open(os.path.join(self.job_dir, os.path.basename(entry["file"])), "rb") as f:
            data = f.read()
        if entry.get("encoded"):
            return ImageData.encoded(data)
        return ImageData.rgba(data, entry["width"], entry["height"])

    def _ensure_server(self, address: str, auto_start: bool) -> None:
        if self.client.wait_ready(PROBE_TIMEOUT):
            return
        if answers(self.client):
            # Up but still loading (just started by the user, or by our previous run): another
            # `nst serve` could not even listen there. Wait for this one instead.
            def tick():
                self.emit(type="status", text="Waiting for the style server to load…")
            tick()
            wait_serving(address, self.client, tick)
            return
        if self.client.fleet:
            raise HelperError("UNAVAILABLE", f"No style server of the fleet {address} is ready. Start them with "
                                             "`nst serve` on each machine and run the filter again.")
        if not auto_start or not is_local(address):
            why = "auto-start is off" if not auto_start else "it is not a local address"
            raise HelperError("UNAVAILABLE",
                              f"No style server answers at {address} ({why}). Start one with "
                              f"`nst serve --address {address}` and run the filter again"
                              + (", or turn on auto-start." if not auto_start else "."))
        self.emit(type="status", text="Starting style server…")
        start_server(address, self.client, lambda: self.emit(type="status", text="Starting style server…"))

    def _stylize(self, job: dict) -> None:
        if job.get("frames"):  # Filters ▸ Animation: a sequence job (server/plugin_frames.py)
            from .plugin_frames import stylize_frames
            return stylize_frames(self, job)
        content = self._image(job["content"])
        self.emit(type="status", text="Sending the job to the style server…")
        stream = self.client.stylize(content, **self._job_arguments(job))
        result = finished = None
        for event in stream:
            if self._relay(event):
                continue
            if isinstance(event, Progress):
                self.emit(type="progress", **dataclasses.asdict(event))
            elif isinstance(event, Result):
                result = event
            elif isinstance(event, Finished):
                finished = event
        if result is None:
            raise HelperError("INTERNAL", "The style server ended the job without a result; try again.")
        name = os.path.basename(job.get("result") or RESULT_FILE)
        with open(os.path.join(self.job_dir, name), "wb") as f:
            f.write(result.data)
        self.done = True  # from here on, a closed stdin is the normal goodbye
        self.emit(type="result", file=name, width=result.width, height=result.height,
                  **(dataclasses.asdict(finished) if finished else {}))

    def _job_arguments(self, job: dict) -> dict:
        """The client's arguments shared by a single job and a sequence: styles, options, regions, previews."""
        preview = job.get("preview") or {}
        return dict(
            styles=[self._image(job["style"])] if job.get("style") else [], options=job.get("options") or {},
            output_format="rgba", preview=bool(preview), preview_interval=float(preview.get("interval", 0)),
            preview_max_size=int(preview.get("max_size", 0)),
            regions=[Region(self._image(r["mask"]), tuple(self._image(s) for s in r.get("styles", ())))
                     for r in job.get("regions") or ()])

    def _relay(self, event) -> bool:
        """Pass on the events a single job and a sequence share (queued, waiting, started, preview)."""
        if isinstance(event, Queued):
            self.job_id = event.job_id or self.job_id
            self.emit(type="queued", position=event.position)
        elif isinstance(event, Waiting):
            self.emit(type="status", text=f"All {event.servers} style servers are busy; waiting for a free one…")
        elif isinstance(event, Started):
            self.job_id = event.job_id
            self.emit(type="started", job_id=event.job_id)
        elif isinstance(event, Preview):
            self._write_preview(event)
        else:
            return False
        return True

    def _write_preview(self, preview: Preview) -> None:
        # Replaced atomically: the plug-in reads the file while the next preview may be on its way.
        partial = os.path.join(self.job_dir, PREVIEW_FILE + ".part")
        with open(partial, "wb") as f:
            f.write(preview.png)
        os.replace(partial, os.path.join(self.job_dir, PREVIEW_FILE))
        self.emit(type="preview", file=PREVIEW_FILE, width=preview.width, height=preview.height)


def is_local(address: str) -> bool:
    """Whether a server at ``address`` would run on this machine (so auto-start makes sense)."""
    if address.startswith("unix:"):
        return True
    host = address.rsplit(":", 1)[0].strip("[]").lower()
    return host in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "")


def server_log_path(address: str) -> str:
    safe = "".join(c if c.isalnum() else "-" for c in address)
    return os.path.join(tempfile.gettempdir(), f"nst-server-{safe}.log")


def answers(client: StyleClient) -> bool:
    """Whether a server answers at all (health in any state, e.g. NOT_SERVING while it loads)."""
    try:
        client.health(timeout=PROBE_TIMEOUT)
        return True
    except ClientError:
        return False


def start_server(address: str, client: StyleClient, tick) -> None:
    """Start `python -m server serve` detached (it outlives us, for the next call) and wait for SERVING."""
    log_path = server_log_path(address)
    with open(log_path, "ab") as log:
        kwargs = {"start_new_session": True} if os.name == "posix" else {"creationflags": _DETACHED_ON_WINDOWS}
        process = subprocess.Popen([sys.executable, "-m", "server", "serve", "--address", address],
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=log, close_fds=True, **kwargs)
    wait_serving(address, client, tick, process, log_path)


def wait_serving(address: str, client: StyleClient, tick, process=None, log_path: str | None = None) -> None:
    """Wait up to SERVER_START_TIMEOUT for SERVING; ``process``, if given, is the server we spawned."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if client.wait_ready(1.0):
            return
        if process is not None and process.poll() is not None:
            if answers(client):
                process = None  # another start (the user's, or a second filter run) won the address: wait for it
                continue
            raise HelperError("UNAVAILABLE",
                              f"The style server could not start (exit code {process.returncode}):\n"
                              f"{_tail(log_path)}\nFix the cause above, or start it yourself with "
                              f"`nst serve --address {address}`; full log: {log_path}")
        tick()
    raise HelperError("UNAVAILABLE", f"The style server at {address} did not become ready within "
                                     f"{SERVER_START_TIMEOUT:.0f} s; see the server's log ({server_log_path(address)} "
                                     f"if the plug-in started it), or restart it with `nst serve --address {address}`.")


def _tail(path: str, lines: int = 8) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "\n".join(f.read().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def explain(error: ClientError, client: StyleClient | None) -> str:
    """A ClientError as advice for a GIMP user."""
    address = client.address if client else default_address()
    if error.code == "INVALID_ARGUMENT":
        where = FIELD_NAMES.get(error.field or "", (error.field or "").replace("_", "-"))
        return (f"The style server rejected {where}: {error.message}. Change it and run the filter again."
                if where else f"The style server rejected the job: {error.message}.")
    if error.code == "UNAVAILABLE" and client is not None and client.fleet:
        return f"{error.message}. Start the fleet's servers with `nst serve` and run the filter again."
    if error.code == "UNAVAILABLE":
        return (f"{error.message}. Start the server with `nst serve --address {address}` "
                "(or turn on auto-start) and run the filter again.")
    if error.code == "UNAUTHENTICATED":
        return (f"The style server at {address} wants a token: {error.message}. Set NST_TOKEN for GIMP, "
                "or reinstall the plug-in with the server's token.")
    if error.code == "RESOURCE_EXHAUSTED":
        return f"The style server ran out of memory: {error.message}. Lower max-size or pick the draft preset."
    if error.code == "FAILED_PRECONDITION":
        return f"The style server is not ready: {error.message}. See the server's log for how to fix it."
    if error.code == "CANCELLED":
        return "The job was cancelled on the server."
    return f"The style server failed ({error.code}): {error.message}."


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not os.path.isdir(argv[0]):
        print("usage: python -m server.plugin_bridge JOB_DIR (started by the GIMP plug-in)", file=sys.stderr)
        return 2
    bridge = HelperJob(argv[0])
    threading.Thread(target=bridge.watch_stdin, args=(sys.stdin.buffer,), daemon=True).start()
    bridge.run()
    # Stay until the plug-in has read the result and closes stdin; the watcher then cleans up and exits.
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
