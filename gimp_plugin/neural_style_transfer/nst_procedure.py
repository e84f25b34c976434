"""What the plug-in's two procedures (the layer filter and the frames filter) share: their common arguments,
a job run in a thread beside the preview window, and a run's outcome as GIMP's return values.
GObject introspection and the standard library only.
"""
import threading
import traceback

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
from gi.repository import Gimp, GimpUi, GLib, GObject  # noqa: E402

import nst_preview  # noqa: E402
from nst_job import Cancelled, PluginError  # noqa: E402

RW = GObject.ParamFlags.READWRITE


# ----------------------------------------------------------------------------- arguments

def new_procedure(plugin, name, run, menu_label, menu_path, blurb, help_text):
    """An image procedure of the project, with its menu entry and documentation."""
    procedure = Gimp.ImageProcedure.new(plugin, name, Gimp.PDBProcType.PLUGIN, run, None)
    procedure.set_image_types("RGB*, GRAY*")
    procedure.set_menu_label(menu_label)
    procedure.add_menu_path(menu_path)
    procedure.set_documentation(blurb, help_text, name)
    procedure.set_attribution("gimp-neural-style contributors", "MIT License", "2025")
    return procedure


def add_style_arguments(procedure, arguments):
    """The style (a file or any open layer) and the job options from the installer's table."""
    procedure.add_file_argument("style-file", "Style _file", "Image of the style (PNG, JPEG, WebP, TIFF, or "
                                "anything GIMP opens)", Gimp.FileChooserAction.OPEN, True, None, RW)
    procedure.add_drawable_argument("style-drawable", "Style la_yer", "A layer of any open image to use as the "
                                    "style; overrides style-file when set", True, RW)
    for entry in arguments:
        add_option_argument(procedure, entry)


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


def add_server_arguments(procedure):
    procedure.add_string_argument("server", "Server (blan_k: the installed one)", "Style server address "
                                  "(empty = the installed default)", "", RW)
    procedure.add_boolean_argument("auto-start", "Start a local server when none ans_wers", "Start a local "
                                   "style server when none answers", True, RW)


def server_address(config, plugin_config):
    """The server argument, else the installed one ("" lets the helper pick its default)."""
    return config.get_property("server") or plugin_config.get("server") or ""


def option_values(config, arguments):
    """The dialog's option values by argument name, as ``nst_job.server_options`` reads them."""
    return {a["name"]: config.get_property(a["name"]) for a in arguments}


# ----------------------------------------------------------------------------- running

def watching(run_mode, name):
    """Whether the artist watches the run (the menu, Repeat): then GIMP's UI is set up for the preview."""
    watch = run_mode in (Gimp.RunMode.INTERACTIVE, Gimp.RunMode.WITH_LAST_VALS)
    if watch:
        GimpUi.init(name)
    return watch


def show_progress(event, describe):
    """GIMP's progress bar from one event; (text, fraction) for the preview window."""
    text, fraction = describe(event)
    if text:
        Gimp.progress_set_text(text)
    if fraction is not None:
        Gimp.progress_update(fraction)
    return text, fraction


def run_watched(job, first, name, describe, thread_name="nst-job"):
    """``job.run`` in a thread while GTK keeps the preview window (``first``: the picture it opens on) alive;
    returns the job's result.

    The thread only reads the helper's pipe; every GIMP and GTK call stays on this thread (idle callbacks).
    """
    outcome = {}
    loop = GLib.MainLoop()
    window = nst_preview.PreviewWindow(name, first, job.cancel)

    def on_event(event):
        if event.get("type") == "preview":
            if event.get("png"):
                window.show_preview(event["png"])
        else:
            window.show_progress(*show_progress(event, describe))
        return False  # once

    def work():
        try:
            outcome["result"] = job.run(lambda event: GLib.idle_add(on_event, event))
        except BaseException as exc:  # handed to the GIMP thread as it is
            outcome["error"] = exc
        GLib.idle_add(loop.quit)  # after the events queued before it

    thread = threading.Thread(target=work, name=thread_name, daemon=True)
    thread.start()
    try:
        loop.run()
    finally:
        thread.join()
        window.destroy()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def outcome(procedure, title, action):
    """Run ``action()`` and answer GIMP: success (with the image ``action`` returns, if any), cancel, or an
    error message the user can act on — never a traceback."""
    try:
        result = action()
    except Cancelled:
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    except PluginError as exc:
        message = str(exc)
    except OSError as exc:  # the job folder or its files: usually a full disk or an unwritable folder
        message = (f"{title} could not write or read its temporary files ({exc}). Check the free disk space and "
                   "that the temporary folder is writable, then run the filter again.")
    except Exception as exc:  # GLib.Error from a layer operation, or a bug: still a message, never a traceback
        traceback.print_exc()  # the details for a report, in GIMP's terminal
        message = (f"{title} failed: {type(exc).__name__}: {exc}. Run the filter again; if it repeats, report "
                   "the problem with this message and GIMP's terminal output.")
    else:
        values = procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())
        if result is not None:  # the new image in place of the default return value
            values.remove(1)
            values.insert(1, GObject.Value(Gimp.Image, result))
        return values
    # GIMP shows this text to an interactive user; scripts get it with the error status.
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(message))
