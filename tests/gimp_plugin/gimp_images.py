"""Helpers for the scripts that run INSIDE GIMP (gimp_case.py, gimp_frames_case.py, gimp_gui_agent.py): pixels,
states, a procedure's config, the case loop. No pytest here."""
import hashlib
import json
import os

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp  # noqa: E402

RGBA8 = "R'G'B'A u8"


def pixels(drawable):
    rect = Gegl.Rectangle.new(0, 0, drawable.get_width(), drawable.get_height())
    return bytes(drawable.get_buffer().get(rect, 1.0, RGBA8, Gegl.AbyssPolicy.CLAMP))


def fill(layer, make_pixel):
    w, h = layer.get_width(), layer.get_height()
    data = bytearray()
    for y in range(h):
        for x in range(w):
            data += bytes(make_pixel(x, y))
    buffer = layer.get_buffer()
    buffer.set(Gegl.Rectangle.new(0, 0, w, h), RGBA8, bytes(data))
    buffer.flush()


def layer_state(layer, inner=None):
    """What a test compares of one layer: name, size, offsets and a digest of its pixels (and, with
    ``inner`` = (x, y, w, h) in layer coordinates, of that rectangle's pixels)."""
    state = {"name": layer.get_name(), "size": [layer.get_width(), layer.get_height()],
             "offsets": list(layer.get_offsets()[-2:]), "sha256": hashlib.sha256(pixels(layer)).hexdigest()}
    if inner:
        rect = Gegl.Rectangle.new(*inner)
        data = bytes(layer.get_buffer().get(rect, 1.0, RGBA8, Gegl.AbyssPolicy.CLAMP))
        state["inner_sha256"] = hashlib.sha256(data).hexdigest()
    return state


def image_state(image, inner=None):
    """The image as the artist could see it changed: layers, their pixels, the dirty flag, open images."""
    return {"layers": [layer_state(layer, inner) for layer in image.get_layers()], "dirty": image.is_dirty(),
            "undo_enabled": image.undo_is_enabled(), "images": len(Gimp.get_images()),
            "selected": [layer.get_name() for layer in image.get_selected_layers()]}


def procedure_config(name, image):
    """(procedure, config) for a non-interactive run of ``name`` on ``image``; None when it is not registered."""
    procedure = Gimp.get_pdb().lookup_procedure(name)
    if procedure is None:
        return None
    config = procedure.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    config.set_property("image", image)
    return procedure, config


def run_cases(run_case):
    """Every run of the case in $NST_CASE through ``run_case(run, opened)``; the reports go to its "report"."""
    with open(os.environ["NST_CASE"]) as f:
        case = json.load(f)
    opened = []
    reports = [run_case(item, opened) for item in case["runs"]]
    with open(case["report"], "w") as f:
        json.dump(reports, f)
    for image in opened:
        image.delete()
