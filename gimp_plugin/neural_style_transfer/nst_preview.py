"""The window the artist watches while a job runs: the painting as it forms, the progress, a Cancel button.

It belongs to the plug-in's process, not to the image: when GIMP kills the plug-in (Cancel in the image
window's status bar) the window goes with the process, and the image never held a preview layer that
could stay behind. GObject introspection only.
"""
import gi

gi.require_version("Gtk", "3.0")
gi.require_version("GdkPixbuf", "2.0")
gi.require_version("GimpUi", "3.0")
from gi.repository import GdkPixbuf, GimpUi, GLib, Gtk  # noqa: E402

BOX = 360  # long side of the picture in the window, pixels (small layers are scaled up to it)
TITLE = "Neural Style Transfer"


def fit(width, height, box=BOX):
    """(w, h) with the aspect ratio of ``width`` x ``height`` and a long side of ``box``."""
    scale = box / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def pixbuf_from_rgba(data, width, height):
    return GdkPixbuf.Pixbuf.new_from_bytes(GLib.Bytes.new(data), GdkPixbuf.Colorspace.RGB, True, 8,
                                           width, height, width * 4)


def pixbuf_from_png(png):
    loader = GdkPixbuf.PixbufLoader.new_with_type("png")
    loader.write(png)
    loader.close()
    return loader.get_pixbuf()


class PreviewWindow:
    """Shows ``source`` (rgba, w, h) at first, then each preview the server sends, at the layer's aspect ratio."""

    def __init__(self, layer_name, source, on_cancel):
        data, width, height = source
        self.size = fit(width, height)
        self.on_cancel = on_cancel
        self.dialog = GimpUi.Dialog(title=f"{TITLE} — {layer_name}", role="nst-preview", modal=False)
        self.cancel_button = self.dialog.add_button("_Cancel", Gtk.ResponseType.CANCEL)
        self.dialog.connect("response", self._cancel)
        self.dialog.connect("delete-event", self._cancel)
        box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=8, border_width=8)
        self.picture = Gtk.Image()
        self.picture.set_size_request(*self.size)
        self.progress = Gtk.ProgressBar(show_text=True, text="Starting…")
        box.pack_start(self.picture, True, True, 0)
        box.pack_start(self.progress, False, False, 0)
        self.dialog.get_content_area().add(box)
        self._show(pixbuf_from_rgba(data, width, height))
        # Over the image window when GIMP tells us which one shows our progress; else the screen's centre.
        self.dialog.set_position(Gtk.WindowPosition.CENTER)
        GimpUi.window_set_transient(self.dialog)
        self.dialog.show_all()

    def _show(self, pixbuf):
        self.picture.set_from_pixbuf(pixbuf.scale_simple(*self.size, GdkPixbuf.InterpType.BILINEAR))

    def _cancel(self, *_):
        if self.cancel_button.get_sensitive():
            self.cancel_button.set_sensitive(False)
            self.progress.set_text("Cancelling…")
            self.on_cancel()
        return True  # keep the window until the job has ended

    def show_preview(self, png):
        try:
            self._show(pixbuf_from_png(png))
        except GLib.Error:
            pass  # a damaged preview: the next one comes in two seconds

    def show_progress(self, text, fraction):
        if not self.cancel_button.get_sensitive():
            return
        if text:
            self.progress.set_text(text)
        if fraction is not None:
            self.progress.set_fraction(fraction)

    def destroy(self):
        self.dialog.destroy()
