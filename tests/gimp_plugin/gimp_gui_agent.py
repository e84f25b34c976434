"""Runs INSIDE the GIMP 3 GUI (`gimp-3.0 --batch-interpreter=python-fu-eval -b -`), not under pytest.

Opens the test picture in an image window, as an artist would have it (with one saved channel), and then
answers the driver (gimp_gui_driver.py, outside GIMP) through files in $NST_GUI_DIR: for each ``cmd-N.json`` it writes
``state-N.json`` (the image's layers, pixel digests, dirty flag, …) until the command is "quit". The
filter itself is started by the driver through GIMP's menus, like a person does, not from here: so it
gets the image window's progress bar and its Cancel button.
"""
import json
import os
import sys
import time

GUI_DIR = os.environ["NST_GUI_DIR"]
sys.path.insert(0, GUI_DIR)  # gimp_images.py lies next to this script
from gimp_images import image_state  # noqa: E402

from gi.repository import Gimp, Gio  # noqa: E402


def write_json(name, value):
    partial = os.path.join(GUI_DIR, name + ".part")
    with open(partial, "w") as f:
        json.dump(value, f)
    os.replace(partial, os.path.join(GUI_DIR, name))  # the driver never reads half a file


def open_picture(case):
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(case["picture"]))
    layer = image.get_layers()[0]
    layer.set_name(case["layer"])
    name, x, y, w, h = case["channel"]  # a saved channel, as Select ▸ Save to Channel makes one
    image.select_rectangle(Gimp.ChannelOps.REPLACE, x, y, w, h)
    Gimp.Selection.save(image).set_name(name)
    Gimp.Selection.none(image)
    image.set_selected_layers([layer])  # saving made the channel the selected drawable
    image.clean_all()  # a freshly opened picture: "dirty" later means the filter changed it
    Gimp.Display.new(image)
    Gimp.displays_flush()
    return image


def serve(image):
    n = 0
    while True:
        path = os.path.join(GUI_DIR, f"cmd-{n}.json")
        if not os.path.exists(path):
            time.sleep(0.1)
            continue
        with open(path) as f:
            command = json.load(f)
        if command["do"] == "quit":
            return
        write_json(f"state-{n}.json", image_state(image, case["inner"]))
        n += 1


with open(os.path.join(GUI_DIR, "case.json")) as f:
    case = json.load(f)
picture = open_picture(case)
write_json("ready.json", image_state(picture, case["inner"]))
serve(picture)
