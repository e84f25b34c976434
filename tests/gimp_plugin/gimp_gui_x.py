"""X for the GUI test, INSIDE the trixie root (its python3): Xvfb, openbox, xdotool, screenshots.

Imported by gimp_gui_driver.py, which lies in the same folder. Windows are found by title with Python
regular expressions (xdotool's own cannot match UTF-8 titles such as GIMP's "… – GIMP").
"""
import os
import re
import subprocess
import sys
import time

import gi

gi.require_version("Gdk", "3.0")
from gi.repository import Gdk  # noqa: E402

SCREEN = (1024, 720)
STEP_TIMEOUT = 60  # seconds for one window to appear or one thing to happen
T0 = time.monotonic()


class DriverError(Exception):
    pass


def log(*parts):
    print(f"[{time.monotonic() - T0:7.1f}s]", *parts, file=sys.stderr, flush=True)


def wait_for(what, check, timeout=STEP_TIMEOUT, every=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise DriverError(f"timed out after {timeout} s waiting for {what}")


# ----------------------------------------------------------------------------- X

def xdotool(*args, check=True):
    done = subprocess.run(["xdotool", *map(str, args)], capture_output=True, text=True)
    if check and done.returncode:
        raise DriverError(f"xdotool {' '.join(map(str, args))}: {done.stderr.strip()}")
    return done.stdout.strip()


def windows(pattern):
    """Visible windows whose title matches ``pattern`` (a Python regex; xdotool's own cannot do UTF-8)."""
    found = []
    for wid in xdotool("search", "--onlyvisible", "--name", ".", check=False).split():
        name = xdotool("getwindowname", wid, check=False)
        if re.search(pattern, name):
            found.append(wid)
    return found


def wait_window(pattern, timeout=STEP_TIMEOUT):
    return wait_for(f"a window named /{pattern}/", lambda: (windows(pattern) or [None])[0], timeout)


def focus(wid):
    xdotool("windowactivate", "--sync", wid, check=False)  # openbox may refuse "activate"; focus always works
    xdotool("windowfocus", "--sync", wid)
    time.sleep(0.3)


def keys(*names):
    for name in names:
        xdotool("key", "--clearmodifiers", name)
        time.sleep(0.25)


def type_text(text):
    xdotool("type", "--delay", 40, text)
    time.sleep(0.3)


def geometry(wid):
    out = xdotool("getwindowgeometry", "--shell", wid)
    values = dict(line.split("=", 1) for line in out.splitlines())
    return {k: int(values[k]) for k in ("X", "Y", "WIDTH", "HEIGHT")}


def screenshot(folder, name):
    root = Gdk.get_default_root_window()
    pixbuf = Gdk.pixbuf_get_from_window(root, 0, 0, root.get_width(), root.get_height())
    path = os.path.join(folder, name + ".png")
    pixbuf.savev(path, "png", [], [])
    log("screenshot", path)
    return path


class Display:
    """Xvfb on a free display number plus openbox."""

    def __enter__(self):
        read, write = os.pipe()
        self.xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "%dx%dx24" % SCREEN,
                                      "-nolisten", "tcp"], pass_fds=(write,), stderr=subprocess.DEVNULL)
        os.close(write)
        with os.fdopen(read) as f:
            number = f.readline().strip()
        if not number:
            raise DriverError("Xvfb did not start")
        os.environ["DISPLAY"] = ":" + number
        Gdk.init([])
        self.wm = subprocess.Popen(["openbox"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        for process in (self.wm, self.xvfb):
            process.terminate()
            process.wait(10)
