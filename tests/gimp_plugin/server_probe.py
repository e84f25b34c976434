"""Runs with the GIMP root's venv (gimp_gui_driver.py starts it), not under pytest.

    python server_probe.py ADDRESS   → prints the seconds until a one-step job starts on that server

The server runs one job at a time, so a job still running there (one the plug-in was cancelled from, say)
delays this one's start by its remaining time.
"""
import sys
import time

from server.client import ImageData, Started, StyleClient

GRAY = bytes([128, 128, 128, 255]) * 32 * 32
started = time.monotonic()
stream = StyleClient(sys.argv[1]).stylize(ImageData.rgba(GRAY, 32, 32), [ImageData.rgba(GRAY, 32, 32)],
                                          options={"preset": "draft", "steps": 1, "max_size": 32},
                                          output_format="rgba")
for event in stream:
    if isinstance(event, Started):
        print(round(time.monotonic() - started, 2))
        break
