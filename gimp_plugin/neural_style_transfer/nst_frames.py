"""Filters ▸ Animation ▸ Neural Style Transfer (frames)…: the image's top-level layers are an animation's
frames (GIMP's order: the bottom layer is the first frame), stylized as one sequence so that what stays
still stays still (docs/animation.md).

The result is a new image, one layer per frame with the frame's own name, so its ``(NNNms)``,
``(combine)`` and ``(replace)`` tags still drive Filters ▸ Animation ▸ Playback and GIF/WebP export. A new
image rather than a group in this one: the animation filters and the exporters read an image's top-level
layers, so a group would need ungrouping by hand, and the user's image is never touched (Cancel or a kill
leaves it exactly as it was). Frames finished before a Cancel in the preview window arrive as a new image
named ``…-stylized-partial``. GObject introspection and the standard library only.
"""
import os

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, GimpUi, Gio, GLib  # noqa: E402

import nst_job  # noqa: E402
import nst_preview  # noqa: E402
import nst_procedure  # noqa: E402
from nst_frames_job import FramesJob, describe_frames_event  # noqa: E402
from nst_job import Cancelled, PluginError  # noqa: E402
from nst_procedure import RW  # noqa: E402

PROCEDURE = "plug-in-neural-style-transfer-frames"
RGBA8 = "R'G'B'A u8"
DEFAULT_TEMPORAL_WEIGHT = 100.0  # nst_core.contract.sequence_spec's default (its docs/animation.md gives the why)


def create(plugin, name, arguments, run):
    procedure = nst_procedure.new_procedure(
        plugin, name, run, "Neural Style Transfer (frames)…", "<Image>/Filters/Animation",
        "Stylize every layer as a frame of an animation, without flicker",
        "The image's top-level layers are the frames (bottom first). Frame t starts from frame t-1's result "
        "moved by the optical flow and holds it where the flow is certain (Ruder et al. 2016). The result is "
        "a new image whose layers keep the frames' names and timing tags.")
    procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE | Gimp.ProcedureSensitivityMask.DRAWABLES
                                   | Gimp.ProcedureSensitivityMask.NO_DRAWABLES)
    nst_procedure.add_style_arguments(procedure, arguments)
    procedure.add_double_argument("temporal-weight", "Steadiness (_temporal weight)", "How firmly a frame holds "
                                  "the previous one where the motion is certain (0: only start from it)",
                                  0.0, 10000.0, DEFAULT_TEMPORAL_WEIGHT, RW)
    procedure.add_boolean_argument("independent", "Each frame on its _own (flickers)", "Stylize every frame as a "
                                   "separate job: the baseline, for comparison", False, RW)
    nst_procedure.add_server_arguments(procedure)
    procedure.add_image_return_value("new-image", "New image", "The stylized frames, one layer each", True, RW)
    return procedure


def frame_layers(image):
    """The top-level layers, first frame first (GIMP lists the top layer first)."""
    layers = list(reversed(image.get_layers()))
    if not layers:
        raise PluginError("The image has no layers: each top-level layer is a frame of the animation.")
    for layer in layers:
        if layer.is_group():
            raise PluginError(f"The layer group {layer.get_name()!r} is no frame: every top-level layer must be a "
                              "pixel layer (Layer ▸ Merge Down, or ungroup it).")
    return layers


def canvas_pixels(layer, width, height):
    """The layer as it sits on the canvas: RGBA8 of the whole image, transparent where the layer is not."""
    ox, oy = layer.get_offsets()[-2:]
    rect = Gegl.Rectangle.new(-ox, -oy, width, height)
    return bytes(layer.get_buffer().get(rect, 1.0, RGBA8, Gegl.AbyssPolicy.NONE))


def new_image(source, layers, frames, partial):
    """A new image of the source's size and mode with one layer per finished frame, named as its frame."""
    width, height = source.get_width(), source.get_height()
    gray = source.get_base_type() == Gimp.ImageBaseType.GRAY
    image = Gimp.Image.new(width, height, Gimp.ImageBaseType.GRAY if gray else Gimp.ImageBaseType.RGB)
    image.undo_disable()  # built from nothing: no history to keep
    kind = Gimp.ImageType.GRAYA_IMAGE if gray else Gimp.ImageType.RGBA_IMAGE
    for layer, (data, w, h) in zip(layers, frames):
        new = Gimp.Layer.new(image, layer.get_name(), width, height, kind, 100.0, Gimp.LayerMode.NORMAL)
        buffer = new.get_buffer()
        buffer.set(Gegl.Rectangle.new(0, 0, w, h), RGBA8, data)
        buffer.flush()
        image.insert_layer(new, None, 0)  # each frame above the one before: the last frame ends on top
    image.undo_enable()
    base = os.path.splitext(source.get_file().get_basename())[0] if source.get_file() else "animation"
    image.set_file(Gio.File.new_for_path(f"{base}-stylized{'-partial' if partial else ''}.xcf"))
    return image


def stylize_frames(image, config, watch, read_style, arguments, plugin_dir):
    layers = frame_layers(image)
    width, height = image.get_width(), image.get_height()
    frames = [(canvas_pixels(layer, width, height), width, height) for layer in layers]
    style, _ = read_style(config)
    plugin_config = nst_job.load_config(plugin_dir)
    options = nst_job.server_options(arguments, nst_procedure.option_values(config, arguments))
    server = nst_procedure.server_address(config, plugin_config)
    sequence = {"temporal_weight": config.get_property("temporal-weight"),
                "independent": config.get_property("independent")}
    job = FramesJob(plugin_config, frames, style, options, server, config.get_property("auto-start"), sequence,
                    nst_preview.BOX if watch else 0)
    Gimp.progress_init("Neural style transfer (frames)")
    try:
        try:
            if watch:
                done = nst_procedure.run_watched(job, frames[0], layers[0].get_name(), describe_frames_event,
                                                 "nst-frames")
            else:
                done = job.run(lambda event: nst_procedure.show_progress(event, describe_frames_event))
        except Cancelled:
            finished = [job.frames[k] for k in range(len(frames)) if k in job.frames]
            if finished and watch:  # cancelled in the preview window: the finished frames are kept
                Gimp.Display.new(new_image(image, layers, finished, partial=True))
            raise
        result = new_image(image, layers, done, partial=False)
    finally:
        Gimp.progress_end()
    if watch:
        Gimp.Display.new(result)
    Gimp.displays_flush()
    return result


def run(procedure, run_mode, image, config, read_style, arguments, plugin_dir):
    watch = nst_procedure.watching(run_mode, PROCEDURE)
    if run_mode == Gimp.RunMode.INTERACTIVE:
        dialog = GimpUi.ProcedureDialog.new(procedure, config, "Neural Style Transfer (frames)")
        dialog.fill(None)
        accepted = dialog.run()
        dialog.destroy()
        if not accepted:
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    return nst_procedure.outcome(procedure, "Neural Style Transfer (frames)",
                                 lambda: stylize_frames(image, config, watch, read_style, arguments, plugin_dir))
