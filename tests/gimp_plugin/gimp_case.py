"""Runs INSIDE gimp-console-3.0 (python-fu-eval), not under pytest.

Reads the case from $NST_CASE (JSON), builds a small image, calls plug-in-neural-style-transfer
non-interactively and writes what the test asserts on to the case's "report" path (JSON).

Image (RGB 8-bit, or with "gray" grayscale 16-bit): background 64x56 (opaque), the source layer 48x40 RGBA at offsets (8, 6) with an alpha pattern,
and a "top" layer above it; optionally a rectangular selection, and a temporary change to the plug-in's
config ("plugin_config").
"""
import base64
import contextlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.environ["NST_CASE"]))  # gimp_images.py lies next to the case
from gimp_images import fill, pixels, procedure_config, run_cases  # noqa: E402

from gi.repository import Gimp, Gio  # noqa: E402


def source_pixel(x, y):
    # A soft picture (gradients and a disc) and an alpha pattern: a transparent left strip, half alpha below
    # (both reach into the test's selection, so "alpha kept" is checked where the style lands).
    disc = (x - 24) ** 2 + (y - 20) ** 2 < 120
    r, g, b = (230, 200, 40) if disc else (40 + 4 * x, 60 + 3 * y, 160)
    alpha = 0 if x < 8 else (128 if y >= 20 else 255)
    return (r, g, b, alpha)


def build_image(gray):
    if gray:  # grayscale at 16 bits: the plug-in must convert both ways
        image = Gimp.Image.new_with_precision(64, 56, Gimp.ImageBaseType.GRAY, Gimp.Precision.U16_NON_LINEAR)
        opaque, with_alpha = Gimp.ImageType.GRAY_IMAGE, Gimp.ImageType.GRAYA_IMAGE
    else:
        image = Gimp.Image.new(64, 56, Gimp.ImageBaseType.RGB)
        opaque, with_alpha = Gimp.ImageType.RGB_IMAGE, Gimp.ImageType.RGBA_IMAGE
    background = Gimp.Layer.new(image, "background", 64, 56, opaque, 100, Gimp.LayerMode.NORMAL)
    image.insert_layer(background, None, 0)
    fill(background, lambda x, y: (250, 250, 250, 255))
    source = Gimp.Layer.new(image, "source", 48, 40, with_alpha, 100, Gimp.LayerMode.NORMAL)
    image.insert_layer(source, None, 0)
    source.set_offsets(8, 6)
    fill(source, source_pixel)
    top = Gimp.Layer.new(image, "top", 10, 10, with_alpha, 100, Gimp.LayerMode.NORMAL)
    image.insert_layer(top, None, 0)
    fill(top, lambda x, y: (0, 0, 0, 0))
    return image, source


def style_layer(opened):
    """A second open image whose layer serves as style-drawable: diagonal stripes."""
    image = Gimp.Image.new(40, 40, Gimp.ImageBaseType.RGB)
    opened.append(image)
    layer = Gimp.Layer.new(image, "stripes", 40, 40, Gimp.ImageType.RGB_IMAGE, 100, Gimp.LayerMode.NORMAL)
    image.insert_layer(layer, None, 0)
    fill(layer, lambda x, y: (20, 30, 200, 255) if (x + y) // 4 % 2 else (240, 120, 10, 255))
    return layer


@contextlib.contextmanager
def plugin_config(change):
    """Temporarily merge change["set"] into the installed plug-in's config at change["path"]."""
    if not change:
        yield
        return
    with open(change["path"]) as f:
        saved = f.read()
    with open(change["path"], "w") as f:
        json.dump({**json.loads(saved), **change["set"]}, f)
    try:
        yield
    finally:
        with open(change["path"], "w") as f:
            f.write(saved)


def run_case(case, opened):
    image, source = build_image(case.get("gray", False))
    opened.append(image)
    before = pixels(source)
    for name, (x, y, w, h) in case.get("channels", []):  # saved channels, made from rectangular selections
        image.select_rectangle(Gimp.ChannelOps.REPLACE, x, y, w, h)
        Gimp.Selection.save(image).set_name(name)
        Gimp.Selection.none(image)
    if case.get("selection"):
        x, y, w, h = case["selection"]
        image.select_rectangle(Gimp.ChannelOps.REPLACE, x, y, w, h)
        if case.get("feather"):
            Gimp.Selection.feather(image, case["feather"])
    found = procedure_config("plug-in-neural-style-transfer", image)
    if found is None:
        return {"error": "procedure not registered"}
    procedure, config = found
    config.set_core_object_array("drawables", [source])
    if case.get("style_file"):
        config.set_property("style-file", Gio.File.new_for_path(case["style_file"]))
    if case.get("style_drawable"):
        config.set_property("style-drawable", style_layer(opened))
    if case.get("outside_style_file"):
        config.set_property("outside-style-file", Gio.File.new_for_path(case["outside_style_file"]))
    for name, value in case.get("arguments", {}).items():
        config.set_property(name, value)
    image.clean_all()  # so "dirty" afterwards means the plug-in pushed an undo step
    with plugin_config(case.get("plugin_config")):
        result = procedure.run(config)
    status = result.index(0)
    report = {
        "status": status.value_nick if hasattr(status, "value_nick") else str(status),
        "message": result.index(1) if result.length() > 1 else None,
        "layers": [layer.get_name() for layer in image.get_layers()],
        "source_unchanged": pixels(source) == before,
        "source": base64.b64encode(before).decode(),
        # GIMP 3.0 has no API to undo a step or read the undo stack (only group start/end, enable/disable,
        # freeze/thaw, is-enabled, is-dirty, clean-all): "dirty" and "not frozen" are what a script can see.
        "dirty": image.is_dirty(),
        "undo_enabled": image.undo_is_enabled(),
        "channels": [channel.get_name() for channel in image.get_channels()],
        "selection_empty": Gimp.Selection.is_empty(image),
    }
    added = [layer for layer in image.get_layers() if layer.get_name() not in ("background", "source", "top")]
    if added:
        layer = added[0]
        report["new_layer"] = {
            "name": layer.get_name(),
            "size": [layer.get_width(), layer.get_height()],
            "offsets": list(layer.get_offsets()[-2:]),
            "parent": layer.get_parent().get_name() if layer.get_parent() else None,
            "pixels": base64.b64encode(pixels(layer)).decode(),
        }
    return report


run_cases(run_case)
