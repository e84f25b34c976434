"""The filter's dialog in a real GIMP 3 window (the GUI `gimp-3.0` under Xvfb in the trixie root).

gimp_gui_driver.py runs inside the root and works GIMP like a person (xdotool): action search, the dialog,
OK, the preview window, Cancel in that window and in GIMP's status bar, then a second GIMP on the same
profile for the remembered values and Reset. gimp_gui_agent.py, inside GIMP, reports the image's state.
The server is a real one here on the host. The screenshots land in build/gimp-gui/ (README pictures).
"""
import json
import os
import shutil

import pytest

from gimp_root import in_root, install_plugin
from tests.helpers import REPO

SCREENSHOTS = os.path.join(REPO, "build", "gimp-gui")
PICTURE_SIZE = (240, 160)
LAYER = "Chelsea"
RESULT = "Chelsea · starry_night"
GIMP_WINDOW = (0, 0, 802, 622)  # the image window on the 1024x720 screen, for the README's crops
CHANNEL = ["Eyes", 64, 40, 132, 52]  # a saved channel over the cat's eyes (image coordinates)
INNER = [72, 48, 116, 36]  # inside it, away from the edge the optimization blends (layer coordinates)
STEPS = 40  # the first run overrides Draft's steps with this (long enough for 3 previews in bf16)
DRIVER_FILES = ("gimp_gui_driver.py", "gimp_gui_x.py", "gimp_gui_agent.py", "gimp_images.py", "server_probe.py")


@pytest.fixture
def gui_case(gimp_work, server):
    from PIL import Image

    host_dir, root_dir = gimp_work
    install_plugin(gimp_work, server.address)
    Image.open(os.path.join(REPO, "samples", "chelsea.png")).convert("RGB").resize(PICTURE_SIZE).save(
        os.path.join(host_dir, "chelsea.png"))
    shutil.copy(os.path.join(REPO, "samples", "starry_night.jpg"), host_dir)
    for name in DRIVER_FILES:
        shutil.copy(os.path.join(REPO, "tests", "gimp_plugin", name), host_dir)
    with open(os.path.join(host_dir, "case.json"), "w") as f:
        json.dump({"profile": f"{root_dir}/profile", "picture": f"{root_dir}/chelsea.png", "layer": LAYER,
                   "style": f"{root_dir}/starry_night.jpg", "server": server.address, "channel": CHANNEL,
                   "inner": INNER, "steps": STEPS}, f)
    return host_dir, root_dir


def keep_screenshots(host_dir, crops):
    """The driver's PNGs, cropped to the dialog (``crops``) or else GIMP's window, as small JPEGs in
    build/gimp-gui/."""
    from PIL import Image

    os.makedirs(SCREENSHOTS, exist_ok=True)
    for name in os.listdir(host_dir):
        if name.endswith(".png") and name not in ("chelsea.png",):
            with Image.open(os.path.join(host_dir, name)) as shot:
                shot.convert("RGB").crop(crops.get(name[:-4], GIMP_WINDOW)).save(
                    os.path.join(SCREENSHOTS, name[:-4] + ".jpg"), quality=82, optimize=True)


def layers(state):
    return [(layer["name"], layer["sha256"]) for layer in state["layers"]]


def test_dialog_preview_cancel_and_remembered_values_in_the_gimp_window(gui_case):
    host_dir, root_dir = gui_case
    done = in_root("python3", f"{root_dir}/gimp_gui_driver.py", root_dir, timeout=900)
    logs = "".join(open(os.path.join(host_dir, n), errors="replace").read()
                   for n in sorted(os.listdir(host_dir)) if n.startswith("gimp-") and n.endswith(".log"))
    assert os.path.exists(os.path.join(host_dir, "report.json")), done.stderr[-4000:]
    with open(os.path.join(host_dir, "report.json")) as f:
        report = json.load(f)
    keep_screenshots(host_dir, report.get("crops", {}))
    assert done.returncode == 0, f"{done.stderr[-4000:]}\n{logs[-3000:]}"
    timings = {k: v for k, v in report.items() if isinstance(v, (int, float))}
    timings.update({f"{how}.{k}": v for how in ("cancel_preview", "cancel_status_bar")
                    for k, v in report[how].items() if k.endswith("_s")})
    print("GUI test timings (s):", json.dumps(timings))

    # OK with Draft, its steps overridden, a style file and the channel kept as it is: the new layer sits
    # above the source, named after both; one change; painted everywhere but inside the channel.
    (source_name, source_sha), = layers(report["initial"])
    assert source_name == LAYER and not report["initial"]["dirty"]
    ok = report["after_ok"]
    assert [name for name, _ in layers(ok)] == [RESULT, LAYER]
    result_sha = layers(ok)[0][1]
    assert layers(ok)[1] == (LAYER, source_sha) and result_sha != source_sha
    assert ok["layers"][0]["inner_sha256"] == report["initial"]["layers"][0]["inner_sha256"]
    assert ok["dirty"] and ok["undo_enabled"] and ok["images"] == 1
    first = report["last_values_1"]
    for saved in ('(preset "draft")', "starry_night.jpg", f"(steps {STEPS})", "(adjust-preset yes)",
                  '(regions "channels")', f'(channel-styles "{CHANNEL[0]}=none")', "(max-size 240)"):
        assert saved in first, (saved, first)

    # Cancel mid-job, in the plug-in's window and in GIMP's status bar (GIMP kills the plug-in): the image
    # is exactly as before (layers, pixels, dirty flag, selection of layers, no extra image), no preview
    # window, no helper, no job folder, and the server is free again at once, not after 2000 steps.
    for how in ("cancel_preview", "cancel_status_bar"):
        run = report[how]
        assert run["after"] == run["before"], how
        assert not [w for w in run["windows"] if w.startswith("Neural Style Transfer")], how
        assert run["job_dirs"] == [], how
        assert run["helper_gone_s"] < 15 and run["server_free_s"] < 20, (how, run)
    assert "inconsistent state" not in logs and "Traceback" not in logs

    # A new GIMP on the same profile: the dialog shows the last values, so OK alone repeats the first run
    # (same style, preset and seed: the same pixels).
    assert layers(report["initial_2"]) == [(LAYER, source_sha)]
    assert layers(report["after_remembered"]) == [(RESULT, result_sha), (LAYER, source_sha)]
    assert report["last_values_2"] == report["last_values_1"]

    # Reset ▸ Factory Defaults: back to the defaults (Balanced, size and steps the preset's, no regions); with
    # the style chosen again, a new result.
    for default in ('(preset "balanced")', "(max-size 0)", "(steps 0)", "(adjust-preset no)", '(regions "none")',
                    "(tile-size 0)"):
        assert default in report["last_values_3"], (default, report["last_values_3"])
    reset = layers(report["after_reset"])
    assert [name for name, _ in reset] == [f"{RESULT} · starry_night", RESULT, LAYER]
    assert reset[0][1] not in (result_sha, source_sha)

    # Load Saved Settings: what the first GIMP saved (before its OK) comes back whole, channel choice included
    # (the run goes to the selected layer, the last result: its eyes kept as they are there).
    assert report["last_values_4"] == first
    loaded = report["after_loaded"]["layers"]
    assert [layer["name"] for layer in loaded[:2]] == [f"{RESULT} · starry_night · starry_night", reset[0][0]]
    assert loaded[0]["inner_sha256"] == loaded[1]["inner_sha256"] and loaded[0]["sha256"] != loaded[1]["sha256"]
