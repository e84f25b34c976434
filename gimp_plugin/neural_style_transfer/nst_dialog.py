"""The filter's dialog, laid out for an artist: the style, the preset and its numbers, strength, colours and
regions on top; the expert settings folded under "Advanced".

Built from GimpProcedureDialog's own containers (frames whose title checkbox governs their contents, an
expander); only the per-channel style list is hand-built, because the image's channels are not arguments.
The procedure's arguments keep their script meaning ("0 = the preset's", the channel-styles text): the
dialog shows the preset's numbers while they are not overridden, and writes the zeros and the text back
when it closes (see ``finish``).
"""
from gi.repository import Gimp, GimpUi, GObject, Gtk

import nst_job

ADJUST = "adjust-preset"  # aux boolean: the artist sets size and steps instead of the preset
FIXED_TILE = "fixed-tile-size"  # aux boolean: a fixed tile size instead of the planner's
FROM_PRESET = ("max-size", "steps")
TOP_OPTIONS = ("preset", "max-size", "steps", "style-strength", "preserve-colors")
SHOWN_TILE = 512  # what the tile field shows before the artist fixes one (it is not used until then)
CHOOSE, KEEP, OTHER = "", "none", "other"


def add_aux_arguments(procedure):
    """Dialog-only state, saved with the dialog's settings but not part of the procedure's signature."""
    procedure.add_boolean_aux_argument(ADJUST, "Ad_just size and steps (override the preset)",
                                       "Set the size and the steps yourself instead of taking the preset's",
                                       False, GObject.ParamFlags.READWRITE)
    procedure.add_boolean_aux_argument(FIXED_TILE, "Fi_xed tile size", "Use this tile size instead of the "
                                       "one planned from the server's memory budget", False,
                                       GObject.ParamFlags.READWRITE)


def preset_numbers(arguments, preset, layer):
    """{"max-size": …, "steps": …} the preset decides for ``layer`` (the size never above the layer's)."""
    entry = next((a for a in arguments if a["name"] == "preset"), None)
    values = dict(((entry or {}).get("values") or {}).get(preset) or {})
    if "max-size" in values and layer is not None:
        values["max-size"] = min(values["max-size"], max(layer.get_width(), layer.get_height()))
    return values


class Dialog:
    def __init__(self, procedure, config, image, layer, arguments, server_default):
        self.config, self.image, self.layer, self.arguments = config, image, layer, arguments
        self.dialog = GimpUi.ProcedureDialog.new(procedure, config, "Neural Style Transfer")
        names = [a["name"] for a in arguments]
        if not names:  # not installed properly: the run explains; show what there is
            self.dialog.fill(None)
            self.picker, self.handlers = None, []
            return
        self._build(names, server_default)
        self.handlers = [config.connect("notify", self._on_notify)]
        self._show_preset()

    def _build(self, names, server_default):
        d = self.dialog
        d.fill_box("preset-numbers", [n for n in FROM_PRESET if n in names])
        d.fill_frame("preset-frame", ADJUST, False, "preset-numbers")
        if "tile-size" in names:
            d.fill_frame("tile-frame", FIXED_TILE, False, "tile-size")
        server = d.get_widget("server", GObject.TYPE_NONE)
        server = server.get_entry() if hasattr(server, "get_entry") else server
        if isinstance(server, Gtk.Entry):  # what an empty field means, in it
            server.set_placeholder_text(server_default or "127.0.0.1:50051")
        advanced = ["tile-frame" if n == "tile-size" else n for n in names if n not in TOP_OPTIONS]
        d.fill_box("advanced-box", advanced + ["server", "auto-start"])
        d.get_label("advanced-title", "_Advanced", False, True)
        d.fill_expander("advanced", "advanced-title", False, "advanced-box")
        values = Gimp.ValueArray.new(1)
        values.append(GObject.Value(GObject.TYPE_STRING, "inside-outside"))
        regions = d.fill_box("regions-box", ["regions", "outside-style-file"])
        d.set_sensitive_if_in("outside-style-file", None, "regions", values, True)
        outside = d.get_widget("outside-style-file", GObject.TYPE_NONE)  # the binding acts on changes only
        outside.set_sensitive(self.config.get_property("regions") == "inside-outside")
        self.picker = ChannelPicker(d, self.config, self.image)
        regions.pack_start(self.picker.widget, False, False, 0)
        top = ["style-file", "style-drawable", "preset", "preset-frame"]
        top += [n for n in TOP_OPTIONS[3:] if n in names] + ["regions-box", "advanced"]
        d.fill(top)
        self._set_lower_bounds()

    def _set_lower_bounds(self):
        """While overridden, 0 ("the preset's") is no choice the fields offer: they start at the real minimum."""
        for entry in self.arguments:
            if "unset" in entry and entry["name"] in FROM_PRESET + ("tile-size",):
                self._show(entry["name"])
                spin = self.dialog.get_widget(entry["name"], GObject.TYPE_NONE)
                spin.get_spin_button().get_adjustment().set_lower(max(entry["min"], 1))

    def _show(self, name):
        """Fill a field that is not in use with what will be used: the preset's number, or a tile size."""
        if name == "tile-size":
            if not self.config.get_property(FIXED_TILE) and self.config.get_property(name) == 0:
                self.config.set_property(name, SHOWN_TILE)
            return
        if self.config.get_property(ADJUST):
            return
        value = preset_numbers(self.arguments, self.config.get_property("preset"), self.layer).get(name)
        if value is not None and self.config.get_property(name) != value:
            self.config.set_property(name, value)

    def _show_preset(self):
        for name in FROM_PRESET + ("tile-size",):
            self._show(name)

    def _on_notify(self, config, pspec):
        # A new preset, Reset, Load Saved Settings or a toggle: the fields follow what decides them.
        if pspec.name in ("preset", ADJUST, FIXED_TILE) + FROM_PRESET + ("tile-size",):
            self._show_preset()
        elif pspec.name == "channel-styles" and self.picker:
            self.picker.show_text()
        elif pspec.name == "style-file" and self.picker:
            self.picker.offer_style_file()

    def run(self):
        accepted = self.dialog.run()
        channel_styles = self.picker.text() if self.picker else None
        for handler in self.handlers + (self.picker.handlers if self.picker else []):
            self.config.disconnect(handler)
        self.dialog.destroy()  # first: the fields' lower bounds would undo the zeros below
        if accepted:
            finish(self.config, channel_styles)
        return accepted


def finish(config, channel_styles):
    """Back to the procedure's meaning: numbers not overridden are left to the preset (0), and the channel
    list becomes the channel-styles text (only the image's channels, as the list shows them)."""
    if not config.get_property(ADJUST):
        for name in FROM_PRESET:
            config.set_property(name, 0)
    if not config.get_property(FIXED_TILE):
        config.set_property("tile-size", 0)
    if channel_styles is not None and config.get_property("regions") == "channels":
        config.set_property("channel-styles", channel_styles)


class ChannelPicker:
    """One row per saved channel of the image: a list of styles to pick from (keep as it is, a layer of the
    image, the style file, another file). Reads and writes the channel-styles argument."""

    def __init__(self, dialog, config, image):
        self.dialog, self.config, self.updating = dialog, config, False
        self.layers = [layer.get_name() for layer in image.get_layers()]
        self.channels = [channel.get_name() for channel in image.get_channels()]
        self.combos = {}
        self.widget = Gtk.Grid(row_spacing=4, column_spacing=12, margin_top=4)
        title = Gtk.Label.new_with_mnemonic("Style _by channel")
        title.set_xalign(0.0)
        self.widget.attach(title, 0, 0, 2, 1)
        if not self.channels:
            note = Gtk.Label(label="This image has no saved channels (Select ▸ Save to Channel makes one).")
            note.set_xalign(0.0)
            self.widget.attach(note, 0, 1, 2, 1)
        for row, name in enumerate(self.channels, 1):
            label = Gtk.Label(label=name, xalign=0.0, margin_start=12)
            combo = Gtk.ComboBoxText(hexpand=True)
            combo.append(CHOOSE, "Choose a style…")
            combo.append(KEEP, "Keep as it is")
            for layer in self.layers:
                combo.append("layer:" + layer, f"Layer “{layer}”")
            combo.append(OTHER, "Other file…")
            combo.connect("changed", self._on_changed, name)
            self.widget.attach(label, 0, row, 1, 1)
            self.widget.attach(combo, 1, row, 1, 1)
            self.combos[name] = combo
            if row == 1:
                title.set_mnemonic_widget(combo)
        self.offer_style_file()
        self.show_text()
        self.widget.show_all()
        self._follow_regions()
        self.handlers = [config.connect("notify::regions", lambda *_: self._follow_regions())]

    def _follow_regions(self):
        self.widget.set_sensitive(self.config.get_property("regions") == "channels")

    def _offer_file(self, path):
        key = "file:" + path
        for combo in self.combos.values():
            if not any(row[1] == key for row in combo.get_model()):
                combo.insert(len(combo.get_model()) - 1, key, f"File {nst_job.style_name(path)}")
        return key

    def offer_style_file(self):
        gfile = self.config.get_property("style-file")
        if gfile is not None and gfile.get_path():
            self._offer_file(gfile.get_path())

    def show_text(self):
        """Select in each row what the channel-styles text names for that channel; a channel it leaves out
        takes the layer of the same name when there is one (listed here before OK)."""
        try:
            table = nst_job.channel_styles(self.config.get_property("channel-styles"))
        except nst_job.PluginError:
            table = {}
        self.updating = True
        try:
            for name, combo in self.combos.items():
                style = table.get(name, CHOOSE)
                if style is None:
                    key = KEEP
                elif style == CHOOSE:
                    key = "layer:" + name if name in self.layers else CHOOSE
                elif style in self.layers:
                    key = "layer:" + style
                else:
                    key = self._offer_file(style)
                combo.set_active_id(key)
        finally:
            self.updating = False

    def text(self):
        """The rows as channel-styles text; rows still at "Choose a style…" are left out (the run says so)."""
        entries = []
        for name, combo in self.combos.items():
            key = combo.get_active_id() or CHOOSE
            if key == KEEP:
                entries.append(f"{name}=none")
            elif key.startswith(("layer:", "file:")):
                entries.append(f"{name}={key.split(':', 1)[1]}")
        return "; ".join(entries)

    def _on_changed(self, combo, name):
        if self.updating:
            return
        if combo.get_active_id() == OTHER:
            path = self._ask_file(name)
            self.updating = True
            combo.set_active_id(self._offer_file(path) if path else CHOOSE)
            self.updating = False
        self.config.set_property("channel-styles", self.text())

    def _ask_file(self, name):
        chooser = Gtk.FileChooserDialog(title=f"Style for the channel {name}", transient_for=self.dialog,
                                        action=Gtk.FileChooserAction.OPEN)
        chooser.add_buttons("_Cancel", Gtk.ResponseType.CANCEL, "_Open", Gtk.ResponseType.OK)
        try:
            return chooser.get_filename() if chooser.run() == Gtk.ResponseType.OK else None
        finally:
            chooser.destroy()
