"""Runs INSIDE gimp-console-3.0 (python-fu-eval), not under pytest: the frames entry on a 3-layer animation.

Reads the case from $NST_CASE (JSON): per run, a 48x40 RGB image whose three layers are frames named with
GIMP's animation tags (a disc moving over a gradient; the middle frame a smaller layer at an offset), calls
plug-in-neural-style-transfer-frames non-interactively, and writes what the test asserts on to "report".
"""
import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.environ["NST_CASE"]))  # gimp_images.py lies next to the case
from gimp_images import fill, layer_state, pixels, procedure_config, run_cases  # noqa: E402

from gi.repository import Gimp, Gio  # noqa: E402

NAMES = ["Frame 1 (80ms) (replace)", "Frame 2 (120ms) (combine)", "Frame 3 (200ms)"]


def frame_pixel(t):
    def pixel(x, y):
        disc = (x - 14 - 6 * t) ** 2 + (y - 20) ** 2 < 60
        return (230, 200, 40, 255) if disc else (40 + 4 * x, 60 + 3 * y, 160, 255)
    return pixel


def build_image():
    image = Gimp.Image.new(48, 40, Gimp.ImageBaseType.RGB)
    for t, name in enumerate(NAMES):  # inserted on top each time: the first frame ends at the bottom
        size = (40, 32) if t == 1 else (48, 40)
        layer = Gimp.Layer.new(image, name, *size, Gimp.ImageType.RGBA_IMAGE, 100, Gimp.LayerMode.NORMAL)
        image.insert_layer(layer, None, 0)
        fill(layer, frame_pixel(t))
        if t == 1:
            layer.set_offsets(4, 4)
    return image


def state(image):
    return [layer_state(layer) for layer in image.get_layers()]


def run_case(case, opened):
    image = build_image()
    opened.append(image)
    if case.get("group"):
        group = Gimp.GroupLayer.new(image, "a group")
        image.insert_layer(group, None, 0)
    before = state(image)
    images_before = {i.get_id() for i in Gimp.get_images()}
    found = procedure_config("plug-in-neural-style-transfer-frames", image)
    if found is None:
        return {"error": "procedure not registered"}
    procedure, config = found
    config.set_property("style-file", Gio.File.new_for_path(case["style_file"]))
    for name, value in case.get("arguments", {}).items():
        config.set_property(name, value)
    image.clean_all()
    result = procedure.run(config)
    status = result.index(0)
    report = {"status": status.value_nick if hasattr(status, "value_nick") else str(status),
              "message": result.index(1) if status != Gimp.PDBStatusType.SUCCESS and result.length() > 1 else None,
              "unchanged": state(image) == before, "dirty": image.is_dirty(),
              "new_images": len({i.get_id() for i in Gimp.get_images()} - images_before)}
    if status == Gimp.PDBStatusType.SUCCESS:
        new = result.index(1)
        opened.append(new)
        report["new"] = {"layers": state(new), "size": [new.get_width(), new.get_height()],
                         "file": new.get_file().get_basename() if new.get_file() else None,
                         "pixels": [hashlib.sha256(pixels(layer)).hexdigest() for layer in new.get_layers()]}
    return report


run_cases(run_case)
