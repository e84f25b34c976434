"""The plug-in ↔ bridge protocol with real processes and a real server (no GIMP needed)."""
import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from gimp_plugin.neural_style_transfer import nst_job
from server.client import StyleClient
from server.events import Progress
from server import plugin_bridge
from tests.helpers import REPO, free_address, plugin_options, running_server, wait_for

HELPER_CONFIG = {"python": [sys.executable], "pythonpath": str(REPO)}


def gradient(size):
    return bytes((x * 5 % 256, y * 5 % 256, 90, 255 if x > 4 else 0)[c]
                 for y in range(size) for x in range(size) for c in range(4))


def process_gone(pid):
    """True once ``pid`` has exited (reaped, or a zombie nobody reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_job_through_the_bridge_returns_pixels_and_reports_progress(server, style_png, tmp_path):
    events = []
    options = plugin_options(preset="draft", max_size=24, steps=8)  # enough steps to move pixels on any device
    work = tmp_path / "jobs"
    data, width, height = nst_job.run_job(
        dict(HELPER_CONFIG, work_dir=str(work)), (gradient(20), 20, 20), ("encoded", style_png.read_bytes()),
        options, server.address, False, events.append)
    assert (width, height) == (20, 20) and len(data) == 20 * 20 * 4
    assert data[3::4] == gradient(20)[3::4]  # the server carries alpha through
    assert data != gradient(20)
    kinds = [e["type"] for e in events]
    assert "progress" in kinds and kinds[-1] == "result"
    assert kinds.index("started") < kinds.index("progress")
    progress = next(e for e in events if e["type"] == "progress")
    assert set(progress) == {"type"} | {f.name for f in dataclasses.fields(Progress)}
    assert os.listdir(work) == []  # the job folder is gone


def long_job(address, tmp_path, preview_size=0):
    """A job far longer than any test waits for (64 px, 5000 steps), through the plug-in's Job."""
    return nst_job.Job(dict(HELPER_CONFIG, work_dir=str(tmp_path)), (gradient(64), 64, 64), (gradient(64), 64, 64),
                       plugin_options(preset="draft", max_size=64, steps=5000), address, False, preview_size)


def run_until(job, stop_when):
    """Run ``job`` in a thread; ``stop_when(events so far)`` after each event; returns (events, outcome)."""
    events, outcome = [], {}

    def on_event(event):
        events.append(event)
        stop_when(events)

    def work():
        try:
            outcome["result"] = job.run(on_event)
        except Exception as exc:
            outcome["error"] = exc
    thread = threading.Thread(target=work)
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), "the job did not end"
    return events, outcome


def test_previews_reach_the_plugin_as_png_and_cancel_ends_the_job(engine, tmp_path):
    with running_server(engine) as handle:
        job = long_job(handle.address, tmp_path, preview_size=48)
        events, outcome = run_until(  # the plug-in's own Cancel button, once two previews were shown
            job, lambda events: len([e for e in events if e["type"] == "preview"]) == 2 and job.cancel())
        assert isinstance(outcome.get("error"), nst_job.Cancelled)
        previews = [e for e in events if e["type"] == "preview"]
        assert len(previews) >= 2 and all(e["png"].startswith(b"\x89PNG") for e in previews)
        assert max(previews[0]["width"], previews[0]["height"]) <= 48
        job_id = next(e["job_id"] for e in events if e["type"] == "started")
        client = StyleClient(handle.address)
        assert wait_for(lambda: client.job_state(job_id) == "cancelled")
        assert os.listdir(tmp_path) == []  # the helper deleted the job folder


def test_a_server_that_stops_mid_job_is_an_error_that_says_what_to_do(engine, tmp_path):
    from server.service import start_server

    handle = start_server(engine, address="127.0.0.1:0", warmup=False)
    try:
        job = long_job(handle.address, tmp_path)
        _, outcome = run_until(job, lambda events: events[-1]["type"] == "progress" and handle.stop(0))
    finally:
        handle.stop(0)
    error = outcome.get("error")
    assert isinstance(error, nst_job.PluginError), outcome
    assert f"nst serve --address {handle.address}" in str(error), str(error)
    assert os.listdir(tmp_path) == []


def test_unreachable_server_without_auto_start_names_the_fix(tmp_path):
    address = free_address()
    with pytest.raises(nst_job.PluginError) as caught:
        nst_job.run_job(dict(HELPER_CONFIG, work_dir=str(tmp_path)), (gradient(8), 8, 8), (gradient(8), 8, 8),
                        {"preset": "draft"}, address, False, lambda e: None)
    assert f"nst serve --address {address}" in str(caught.value) and "auto-start" in str(caught.value)
    assert os.listdir(tmp_path) == []


def test_server_rejection_names_the_plugin_argument(server, tmp_path):
    with pytest.raises(nst_job.PluginError) as caught:
        nst_job.run_job(dict(HELPER_CONFIG, work_dir=str(tmp_path)), (gradient(8), 8, 8), (gradient(8), 8, 8),
                        {"preset": "draft", "max_size": -3}, server.address, False, lambda e: None)
    assert "max-size" in str(caught.value)


def test_helper_that_cannot_start_says_to_reinstall(tmp_path):
    config = {"python": [str(tmp_path / "no-such-python")], "work_dir": str(tmp_path / "jobs")}
    with pytest.raises(nst_job.PluginError, match="nst install-gimp-plugin"):
        nst_job.run_job(config, (gradient(8), 8, 8), (gradient(8), 8, 8), {}, "", False, lambda e: None)
    assert os.listdir(tmp_path / "jobs") == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to watch the processes")
@pytest.mark.parametrize("job", ["plain", "regions"])
def test_killing_the_plugin_cancels_the_job_and_leaves_nothing(server, job):
    stand_in = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "plugin_stand_in.py"),
                                 server.address] + (["regions"] if job == "regions" else []),
                                stdout=subprocess.PIPE, text=True)
    first = json.loads(stand_in.stdout.readline())
    job_id = None
    for line in stand_in.stdout:
        event = json.loads(line)
        job_id = event.get("job_id", job_id)
        if event["type"] == "progress":
            break
    assert job_id and os.path.isdir(first["job_dir"])
    stand_in.send_signal(signal.SIGKILL)  # what GIMP's Cancel does to a plug-in
    stand_in.wait()
    client = StyleClient(server.address)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (process_gone(first["bridge_pid"])
                                               and client.job_state(job_id) == "cancelled"):
        time.sleep(0.1)
    assert process_gone(first["bridge_pid"]), "the bridge outlived the plug-in"
    assert client.job_state(job_id) == "cancelled"
    assert not os.path.exists(first["job_dir"])


def test_auto_start_launches_a_server_that_stays_up(style_png, tmp_path):
    address = free_address()
    events = []
    try:
        data, width, height = nst_job.run_job(
            dict(HELPER_CONFIG, work_dir=str(tmp_path)), (gradient(16), 16, 16),
            ("encoded", style_png.read_bytes()), plugin_options(preset="draft", max_size=16, steps=2),
            address, True, events.append)
        assert (width, height) == (16, 16)
        assert {"type": "status", "text": "Starting style server…"} in events
        assert StyleClient(address).wait_ready(1.0)  # still serving for the next call
    finally:
        stop_server_at(address)
        os.remove(plugin_bridge.server_log_path(address))


def test_a_server_still_loading_is_waited_for_not_started_again(engine, style_png, tmp_path):
    loaded = threading.Event()

    def slow_load():
        loaded.wait(60)  # stands for the 5-60 s of a cold weights load
        return engine

    events = []

    def on_event(event):
        events.append(event)
        if event == {"type": "status", "text": "Waiting for the style server to load…"}:
            loaded.set()  # finish loading only once the bridge has seen NOT_SERVING

    with running_server(load=slow_load, address=free_address(), wait=False) as handle:
        try:
            data, width, height = nst_job.run_job(
                dict(HELPER_CONFIG, work_dir=str(tmp_path)), (gradient(16), 16, 16),
                ("encoded", style_png.read_bytes()), plugin_options(preset="draft", max_size=16, steps=2),
                handle.address, True, on_event)
        finally:
            loaded.set()
    assert (width, height) == (16, 16) and events[-1]["type"] == "result"
    # No second `nst serve`: it could not listen on the address and would have failed the job.
    assert {"type": "status", "text": "Starting style server…"} not in events
    assert not os.path.exists(plugin_bridge.server_log_path(handle.address))


def stop_server_at(address):
    """Stop the detached server the bridge started (found by its command line)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"serve" in argv and address.encode() in argv:
            os.kill(int(pid), signal.SIGTERM)


def test_local_addresses():
    assert plugin_bridge.is_local("127.0.0.1:50051") and plugin_bridge.is_local("localhost:1")
    assert plugin_bridge.is_local("[::1]:50051") and plugin_bridge.is_local("unix:/tmp/nst.sock")
    assert not plugin_bridge.is_local("gpu-box.example:50051")
