"""A process in the plug-in's role (not a test): starts the bridge for a long job and echoes its events.

    python plugin_stand_in.py SERVER_ADDRESS [regions]

Prints {"bridge_pid", "job_dir"} first, then every bridge event, one JSON per line, and keeps the bridge's
stdin open, as the plug-in does while GIMP runs it. With ``regions``: the style only in the left half
(a selection's mask) and none in the right (a saved channel without style), the job the regions modes send. The test kills this process like GIMP's Cancel does.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from gimp_plugin.neural_style_transfer import nst_job  # noqa: E402
from tests.helpers import REPO, plugin_options  # noqa: E402


def main(address, regions=False):
    config = {"python": [sys.executable], "pythonpath": str(REPO)}
    job_dir = nst_job.make_job_dir(config)
    size = 64
    content = bytes((x * 4 % 256, y * 4 % 256, 128, 255)[c] for y in range(size) for x in range(size) for c in range(4))
    style = bytes(((x + y) * 8 % 256, 40, 200, 255)[c] for y in range(size) for x in range(size) for c in range(4))
    options = plugin_options(preset="draft", max_size=64, steps=5000)  # far longer than the test waits
    if regions:
        left = bytes(255 if x < size // 2 else 0 for y in range(size) for x in range(size))
        right = bytes(255 - v for v in left)
        nst_job.write_job(job_dir, (content, size, size), None, options, address, False,
                          regions=[(left, [(style, size, size)]), (right, [])])
    else:
        nst_job.write_job(job_dir, (content, size, size), (style, size, size), options, address, False)
    bridge = nst_job.HelperProcess(config, job_dir)
    print(json.dumps({"bridge_pid": bridge.process.pid, "job_dir": job_dir}), flush=True)
    for event in bridge.events():
        print(json.dumps(event), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:] == ["regions"])
