#!/usr/bin/env python3
"""GIMP 3 plug-in: Filters ▸ Artistic ▸ Neural Style Transfer…

Reads the active layer through Gegl, hands the job to the project's helper process (GIMP's Python has
no grpcio; see nst_job.py), and adds the stylized result as a new layer above the source in one undo step.
Imports only GObject introspection and the standard library.
"""
import os
import sys
import traceback

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, GimpUi, GLib, GObject  # noqa: E402

PLUGIN_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, PLUGIN_DIR)
import nst_job  # noqa: E402
from nst_job import PluginError  # noqa: E402

PROCEDURE = "plug-in-neural-style-transfer"
ARGUMENTS = nst_job.load_arguments(PLUGIN_DIR)  # the job options, as recorded by the installer
RGBA8 = "R'G'B'A u8"  # 8-bit non-linear RGBA: what the server takes; Gegl converts any layer format to it
RW = GObject.ParamFlags.READWRITE


# ----------------------------------------------------------------------------- pixels

def read_pixels(drawable, x, y, width, height):
    rect = Gegl.Rectangle.new(x, y, width, height)
    return bytes(drawable.get_buffer().get(rect, 1.0, RGBA8, Gegl.AbyssPolicy.CLAMP))


def write_pixels(drawable, x, y, width, height, data):
    buffer = drawable.get_buffer()
    buffer.set(Gegl.Rectangle.new(x, y, width, height), RGBA8, data)
    buffer.flush()
    drawable.update(x, y, width, height)


def with_alpha(rgba, alpha_source):
    """``rgba`` with its alpha channel taken from ``alpha_source`` (same size): the source's alpha is kept."""
    out = bytearray(rgba)
    out[3::4] = alpha_source[3::4]
    return bytes(out)


def offsets(drawable):
    values = drawable.get_offsets()
    return tuple(values[-2:])  # (x, y); some bindings prepend a success flag


# ----------------------------------------------------------------------------- inputs

def check_source(image, drawables):
    if image.get_base_type() == Gimp.ImageBaseType.INDEXED:
        raise PluginError("Neural Style Transfer works on RGB and grayscale images. Convert this one with "
                          "Image ▸ Mode ▸ RGB and run the filter again.")
    if len(drawables) != 1:
        raise PluginError("Select exactly one layer to stylize (the Layers dialog has several or none selected).")
    source = drawables[0]
    if not isinstance(source, Gimp.Layer) or isinstance(source, Gimp.LayerMask):
        raise PluginError("Select a layer to stylize, not a channel or a layer mask.")
    if source.is_group():
        raise PluginError("Select a pixel layer to stylize, not a layer group.")
    return source


def read_style(config):
    """((rgba, w, h) or ("encoded", bytes), name) from style-drawable if set, else style-file."""
    drawable = config.get_property("style-drawable")
    if drawable is not None:
        w, h = drawable.get_width(), drawable.get_height()
        return (read_pixels(drawable, 0, 0, w, h), w, h), drawable.get_name()
    gfile = config.get_property("style-file")
    path = gfile.get_path() if gfile is not None else None
    if not path:
        raise PluginError("Choose a style: set style-file to an image of a painting, or style-drawable to a "
                          "layer of an open image.")
    name = nst_job.style_name(path)
    if not os.path.isfile(path):
        raise PluginError(f"The style file {path} does not exist. Choose an existing image file.")
    if path.lower().endswith(nst_job.SERVER_DECODES):
        try:
            with open(path, "rb") as f:
                return ("encoded", f.read()), name
        except OSError as exc:
            raise PluginError(f"Cannot read the style file {path} ({exc.strerror}). Check its permissions "
                              "or choose another file.")
    return read_style_with_gimp(gfile, path), name


def read_style_with_gimp(gfile, path):
    """Formats the server does not decode (XCF, GIF, …): let GIMP open them and send the pixels."""
    try:
        style_image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, gfile)
    except GLib.Error as exc:
        style_image = None
        detail = exc.message
    else:
        detail = "no image"
    if style_image is None:
        raise PluginError(f"GIMP cannot open the style file {path} ({detail}). Export it as PNG or JPEG and "
                          "choose that file.")
    try:
        layer = style_image.merge_visible_layers(Gimp.MergeType.CLIP_TO_IMAGE)
        w, h = layer.get_width(), layer.get_height()
        return read_pixels(layer, 0, 0, w, h), w, h
    finally:
        style_image.delete()


# ----------------------------------------------------------------------------- output

def add_result_layer(image, source, result, region, content, name):
    """New layer right above ``source``: source's size and offsets, stylized pixels inside ``region``
    (the selection's bounds on the layer) with the source's alpha, transparent elsewhere."""
    data, rw, rh = result
    bx, by, bw, bh = region
    if image.get_base_type() == Gimp.ImageBaseType.GRAY:
        layer_type = Gimp.ImageType.GRAYA_IMAGE
    else:
        layer_type = Gimp.ImageType.RGBA_IMAGE
    layer = Gimp.Layer.new(image, name, rw, rh, layer_type, 100.0, Gimp.LayerMode.NORMAL)
    image.insert_layer(layer, source.get_parent(), image.get_item_position(source))
    if (rw, rh) == (bw, bh):
        write_pixels(layer, 0, 0, bw, bh, with_alpha(data, content))
    else:
        # The server worked at a smaller size: scale up, then put the source's alpha back.
        write_pixels(layer, 0, 0, rw, rh, data)
        layer.scale(bw, bh, True)
        write_pixels(layer, 0, 0, bw, bh, with_alpha(read_pixels(layer, 0, 0, bw, bh), content))
    sx, sy = offsets(source)
    layer.set_offsets(sx + bx, sy + by)
    if (bw, bh) != (source.get_width(), source.get_height()):
        layer.resize(source.get_width(), source.get_height(), bx, by)
    if not Gimp.Selection.is_empty(image):
        # Applying a selection mask keeps soft edges and non-rectangular shapes.
        mask = layer.create_mask(Gimp.AddMaskType.SELECTION)
        layer.add_mask(mask)
        layer.remove_mask(Gimp.MaskApplyMode.APPLY)
    return layer


# ----------------------------------------------------------------------------- the procedure

def show_progress(event):
    text, fraction = nst_job.describe_event(event)
    if text:
        Gimp.progress_set_text(text)
    if fraction is not None:
        Gimp.progress_update(fraction)


def stylize(image, drawables, config):
    source = check_source(image, drawables)
    plugin_config = nst_job.load_config(PLUGIN_DIR)
    options = nst_job.server_options(ARGUMENTS, {a["name"]: config.get_property(a["name"]) for a in ARGUMENTS})
    style, name = read_style(config)
    non_empty, bx, by, bw, bh = source.mask_intersect()
    if not non_empty or bw <= 0 or bh <= 0:
        raise PluginError("The selection does not cover any of this layer. Select part of the layer, or "
                          "Select ▸ None to stylize all of it.")
    content = read_pixels(source, bx, by, bw, bh)
    server = config.get_property("server") or plugin_config.get("server") or ""
    Gimp.progress_init("Neural style transfer")
    try:
        result = nst_job.run_job(plugin_config, (content, bw, bh), style, options, server,
                                 config.get_property("auto-start"), show_progress)
        image.undo_group_start()
        try:
            add_result_layer(image, source, result, (bx, by, bw, bh), content, name)
        finally:
            image.undo_group_end()  # even on failure: an open group would swallow the user's next edits
    finally:
        Gimp.progress_end()  # a failed run must not leave the progress bar busy
    Gimp.displays_flush()


def run(procedure, run_mode, image, drawables, config, data):
    if run_mode == Gimp.RunMode.INTERACTIVE:
        GimpUi.init(PROCEDURE)
        dialog = GimpUi.ProcedureDialog.new(procedure, config, "Neural Style Transfer")
        dialog.fill(None)
        accepted = dialog.run()
        dialog.destroy()
        if not accepted:
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    try:
        stylize(image, drawables, config)
    except PluginError as exc:
        message = str(exc)
    except OSError as exc:  # the job folder or its files: usually a full disk or an unwritable folder
        message = (f"Neural Style Transfer could not write or read its temporary files ({exc}). Check the free "
                   "disk space and that the temporary folder is writable, then run the filter again.")
    except Exception as exc:  # GLib.Error from a layer operation, or a bug: still a message, never a traceback
        traceback.print_exc()  # the details for a report, in GIMP's terminal
        message = (f"Neural Style Transfer failed: {type(exc).__name__}: {exc}. Run the filter again; if it "
                   "repeats, report the problem with this message and GIMP's terminal output.")
    else:
        return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())
    # GIMP shows this text to an interactive user; scripts get it with the error status.
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(message))


def add_option_argument(procedure, entry):
    """One option argument from the installer's table (see ``installer.plugin_arguments``)."""
    name, label, help_text, default = entry["name"], entry["label"], entry["help"], entry["default"]
    if entry["kind"] == "choice":
        values = Gimp.Choice.new()
        for index, (nick, choice_label, hint) in enumerate(entry["choices"]):
            values.add(nick, index, choice_label, hint)
        procedure.add_choice_argument(name, label, help_text, values, default, RW)
        return
    low = min(entry["min"], entry.get("unset", entry["min"]))  # the "preset's" value must be settable too
    add = procedure.add_int_argument if entry["kind"] == "int" else procedure.add_double_argument
    add(name, label, help_text, low, entry["max"], default, RW)


class NeuralStyleTransfer(Gimp.PlugIn):
    def do_query_procedures(self):
        return [PROCEDURE]

    def do_set_i18n(self, name):
        return False

    def do_create_procedure(self, name):
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run, None)
        procedure.set_image_types("RGB*, GRAY*")
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        procedure.set_menu_label("Neural Style Transfer…")
        procedure.add_menu_path("<Image>/Filters/Artistic")
        procedure.set_documentation(
            "Repaint the layer in the style of a painting (neural style transfer)",
            "Adds a new layer above the active one, stylized by the project's style server (VGG19, Gatys et "
            "al.). The style is style-drawable when set, else style-file. Within a selection only the "
            "selected part is stylized.", name)
        procedure.set_attribution("gimp-neural-style contributors", "MIT License", "2025")
        procedure.add_file_argument("style-file", "Style _file", "Image of the style (PNG, JPEG, WebP, TIFF, "
                                    "or anything GIMP opens)", Gimp.FileChooserAction.OPEN, True, None, RW)
        procedure.add_drawable_argument("style-drawable", "Style _layer", "A layer of any open image to use as "
                                        "the style; overrides style-file when set", True, RW)
        for entry in ARGUMENTS:
            add_option_argument(procedure, entry)
        procedure.add_string_argument("server", "Se_rver", "Style server address (empty = the installed "
                                      "default)", "", RW)
        procedure.add_boolean_argument("auto-start", "_Start the server if needed", "Start a local style "
                                       "server when none answers", True, RW)
        return procedure


Gimp.main(NeuralStyleTransfer.__gtype__, sys.argv)
