#!/usr/bin/env python3
"""GIMP 3 plug-in: Filters ▸ Artistic ▸ Neural Style Transfer…

Reads the active layer through Gegl, hands the job to the project's helper process (GIMP's Python has
no grpcio; see nst_job.py), shows the painting as it forms in the plug-in's own window (nst_preview.py),
and adds the finished result as a new layer above the source in one undo step.
Imports only GObject introspection and the standard library.
"""
import os
import sys

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gegl", "0.4")
gi.require_version("GdkPixbuf", "2.0")
from gi.repository import GdkPixbuf, Gegl, Gimp, Gio, GLib  # noqa: E402

PLUGIN_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, PLUGIN_DIR)
import nst_dialog  # noqa: E402
import nst_job  # noqa: E402
import nst_preview  # noqa: E402
import nst_procedure  # noqa: E402
import nst_frames  # noqa: E402  (Filters ▸ Animation ▸ … (frames): its own procedure)
from nst_job import PluginError  # noqa: E402

PROCEDURE = "plug-in-neural-style-transfer"
ARGUMENTS = nst_job.load_arguments(PLUGIN_DIR)  # the job options, as recorded by the installer
RGBA8 = "R'G'B'A u8"  # 8-bit non-linear RGBA: what the server takes; Gegl converts any layer format to it
MASK8 = "Y u8"  # a selection or channel as 8-bit coverage (0 outside, 255 inside); masks are linear
RW = nst_procedure.RW


# ----------------------------------------------------------------------------- pixels

def read_pixels(drawable, x, y, width, height):
    rect = Gegl.Rectangle.new(x, y, width, height)
    return bytes(drawable.get_buffer().get(rect, 1.0, RGBA8, Gegl.AbyssPolicy.CLAMP))


def write_pixels(drawable, x, y, width, height, data):
    buffer = drawable.get_buffer()
    buffer.set(Gegl.Rectangle.new(x, y, width, height), RGBA8, data)
    buffer.flush()
    drawable.update(x, y, width, height)


def read_mask(channel, x, y, width, height):
    """A channel (the selection, a saved channel) over a layer's area in image coordinates: one byte per pixel,
    0 where the area leaves the image."""
    rect = Gegl.Rectangle.new(x, y, width, height)
    return bytes(channel.get_buffer().get(rect, 1.0, MASK8, Gegl.AbyssPolicy.NONE))


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


def read_style(config, required=True):
    """((rgba, w, h) or ("encoded", bytes), name) from style-drawable if set, else style-file; (None, None)
    when neither is set and ``required`` is false."""
    drawable = config.get_property("style-drawable")
    if drawable is not None:
        w, h = drawable.get_width(), drawable.get_height()
        return (read_pixels(drawable, 0, 0, w, h), w, h), drawable.get_name()
    gfile = config.get_property("style-file")
    path = gfile.get_path() if gfile is not None else None
    if not path and not required:
        return None, None
    if not path:
        raise PluginError("Choose a style: set style-file to an image of a painting, or style-drawable to a "
                          "layer of an open image.")
    return read_style_path(gfile, path)


def read_style_path(gfile, path):
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

def regions_of(image, source, config, mode, style):
    """(main style or None, [(mask, [styles])]) for a region mode: masks over the whole layer."""
    ox, oy = offsets(source)
    w, h = source.get_width(), source.get_height()
    if mode in ("selection", "inside-outside"):
        if Gimp.Selection.is_empty(image):
            raise PluginError("Select the part of the layer the style goes to first (regions: selection).")
        mask = read_mask(image.get_selection(), ox, oy, w, h)
        if not any(mask):
            raise PluginError("The selection does not cover any of this layer. Select part of the layer.")
        if mode == "selection":
            return None, [(mask, [style])]
        gfile = config.get_property("outside-style-file")
        path = gfile.get_path() if gfile is not None else None
        if not path:
            raise PluginError("Choose the style for outside the selection: set outside-style-file.")
        return read_style_path(gfile, path)[0], [(mask, [style])]
    table = nst_job.channel_styles(config.get_property("channel-styles"))
    channels = image.get_channels()
    if not channels:
        raise PluginError("The image has no saved channels (Select ▸ Save to Channel makes one from a selection).")
    regions = []
    for channel in channels:
        name = channel.get_name()
        if name not in table:
            raise PluginError(f"channel-styles names no style for the channel {name!r}: add '{name}=a style file "
                              "or none'.")
        regions.append((read_mask(channel, ox, oy, w, h), [] if table[name] is None else [channel_style(image,
                                                                                                        table[name])]))
    unknown = set(table) - {c.get_name() for c in channels}
    if unknown:
        raise PluginError(f"channel-styles names channels this image does not have: {', '.join(sorted(unknown))}.")
    return style, regions


def channel_style(image, text):
    """A channel's style: a layer of the image with that name, else a file."""
    for layer in image.get_layers():
        if layer.get_name() == text:
            w, h = layer.get_width(), layer.get_height()
            return read_pixels(layer, 0, 0, w, h), w, h
    return read_style_path(Gio.File.new_for_path(text), text)[0]


def result_layer(image, source, result, region, content, name, clip=True):
    """The stylized layer, complete but not yet in the image: the source's size and offsets, the stylized
    pixels inside ``region`` (the selection's bounds on the layer) with the source's alpha, transparent
    elsewhere and outside a selection. Built detached, so one ``insert_layer`` (one undo step) adds it:
    a plug-in killed on the way leaves nothing half-made in the image."""
    data, rw, rh = result
    bx, by, bw, bh = region
    if (rw, rh) != (bw, bh):  # the server answers at the content's size; scale anything else to it
        data = scaled_rgba(data, rw, rh, bw, bh)
    if image.get_base_type() == Gimp.ImageBaseType.GRAY:
        layer_type = Gimp.ImageType.GRAYA_IMAGE
    else:
        layer_type = Gimp.ImageType.RGBA_IMAGE
    layer = Gimp.Layer.new(image, name, source.get_width(), source.get_height(), layer_type, 100.0,
                           Gimp.LayerMode.NORMAL)
    write_pixels(layer, bx, by, bw, bh, with_alpha(data, content))
    layer.set_offsets(*offsets(source))
    if clip and not Gimp.Selection.is_empty(image):
        # Applying a selection mask keeps soft edges and non-rectangular shapes.
        layer.add_mask(layer.create_mask(Gimp.AddMaskType.SELECTION))
        layer.remove_mask(Gimp.MaskApplyMode.APPLY)
    return layer


def scaled_rgba(data, width, height, new_width, new_height):
    pixbuf = nst_preview.pixbuf_from_rgba(data, width, height)
    pixbuf = pixbuf.scale_simple(new_width, new_height, GdkPixbuf.InterpType.HYPER)
    stride, pixels = pixbuf.get_rowstride(), pixbuf.get_pixels()
    return b"".join(pixels[y * stride:y * stride + new_width * 4] for y in range(new_height))


# ----------------------------------------------------------------------------- the procedure

def stylize(image, drawables, config, watch):
    source = check_source(image, drawables)
    plugin_config = nst_job.load_config(PLUGIN_DIR)
    options = nst_job.server_options(ARGUMENTS, nst_procedure.option_values(config, ARGUMENTS))
    mode = config.get_property("regions")
    style, style_name = read_style(config, required=mode != "channels")
    regions = ()
    if mode == "none":
        non_empty, bx, by, bw, bh = source.mask_intersect()
        if not non_empty or bw <= 0 or bh <= 0:
            raise PluginError("The selection does not cover any of this layer. Select part of the layer, or "
                              "Select ▸ None to stylize all of it.")
    else:  # the whole layer: the masks decide where each style goes, and nothing clips the result
        bx, by, bw, bh = 0, 0, source.get_width(), source.get_height()
        style, regions = regions_of(image, source, config, mode, style)
    content = read_pixels(source, bx, by, bw, bh)
    server = nst_procedure.server_address(config, plugin_config)
    name = nst_job.layer_name(source.get_name(), style_name or "regions")
    job = nst_job.Job(plugin_config, (content, bw, bh), style, options, server, config.get_property("auto-start"),
                      nst_preview.BOX if watch else 0, regions)
    Gimp.progress_init("Neural style transfer")
    try:
        if watch:
            result = nst_procedure.run_watched(job, (content, bw, bh), source.get_name(), nst_job.describe_event)
        else:
            result = job.run(lambda event: nst_procedure.show_progress(event, nst_job.describe_event))
        layer = result_layer(image, source, result, (bx, by, bw, bh), content, name, clip=mode == "none")
        image.insert_layer(layer, source.get_parent(), image.get_item_position(source))
    finally:
        Gimp.progress_end()  # a failed run must not leave the progress bar busy
    Gimp.displays_flush()


def run(procedure, run_mode, image, drawables, config, data):
    watch = nst_procedure.watching(run_mode, PROCEDURE)
    if run_mode == Gimp.RunMode.INTERACTIVE:
        try:
            server_default = nst_job.load_config(PLUGIN_DIR).get("server") or ""
        except PluginError:
            server_default = ""  # the run says how to reinstall
        layer = drawables[0] if len(drawables) == 1 else None
        if not nst_dialog.Dialog(procedure, config, image, layer, ARGUMENTS, server_default).run():
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    return nst_procedure.outcome(procedure, "Neural Style Transfer",
                                 lambda: stylize(image, drawables, config, watch))


def run_frames(procedure, run_mode, image, drawables, config, data):
    return nst_frames.run(procedure, run_mode, image, config, read_style, ARGUMENTS, PLUGIN_DIR)


class NeuralStyleTransfer(Gimp.PlugIn):
    def do_query_procedures(self):
        return [PROCEDURE, nst_frames.PROCEDURE]

    def do_set_i18n(self, name):
        return False

    def do_create_procedure(self, name):
        if name == nst_frames.PROCEDURE:
            return nst_frames.create(self, name, ARGUMENTS, run_frames)
        procedure = nst_procedure.new_procedure(
            self, name, run, "Neural Style Transfer…", "<Image>/Filters/Artistic",
            "Repaint the layer in the style of a painting (neural style transfer)",
            "Adds a new layer above the active one, stylized by the project's style server (VGG19, Gatys et "
            "al.). The style is style-drawable when set, else style-file. Within a selection only the "
            "selected part is stylized.")
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        nst_procedure.add_style_arguments(procedure, ARGUMENTS)
        modes = Gimp.Choice.new()
        for index, (nick, label, hint) in enumerate(nst_job.REGION_MODES):
            modes.add(nick, index, label, hint)
        procedure.add_choice_argument("regions", "Re_gions", "Where each style goes: the selection or the saved "
                                      "channels steer the optimization (guided Gram matrices)", modes, "none", RW)
        procedure.add_file_argument("outside-style-file", "Style o_utside the selection", "With regions "
                                    "inside-outside: the style for the rest of the layer",
                                    Gimp.FileChooserAction.OPEN, True, None, RW)
        procedure.add_string_argument("channel-styles", "C_hannel styles", "With regions channels: one "
                                      "'channel name=style file, layer name or none' per channel, separated by ;",
                                      "", RW)
        nst_procedure.add_server_arguments(procedure)
        nst_dialog.add_aux_arguments(procedure)
        return procedure


Gimp.main(NeuralStyleTransfer.__gtype__, sys.argv)
