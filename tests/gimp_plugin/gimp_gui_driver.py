"""Drives the GIMP 3 GUI like a person, INSIDE the trixie root (its python3), not under pytest.

    python3 gimp_gui_driver.py DIR      (DIR holds case.json and the test's scripts)

Starts Xvfb, a window manager (openbox: focus and placement as on a desktop; see gimp_gui_x.py) and
`gimp-3.0` with the agent (gimp_gui_agent.py), then types and clicks with xdotool: the action search
opens the filter, the dialog is filled with the keyboard, OK starts the job, Cancel ends one. Screenshots (PNG) and report.json
land in DIR; the test on the host asserts on them. Each GIMP session is a fresh process on the same profile,
so the second one sees what GIMP remembered from the first.
"""
import json
import os
import re
import subprocess
import sys
import time

from gimp_gui_x import (SCREEN, Display, DriverError, focus, geometry, keys, log, screenshot, type_text,
                        wait_for, wait_window, windows, xdotool)

DIR = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.getcwd()
DIALOG = "^Neural Style Transfer$"
PREVIEW = "^Neural Style Transfer — "
STATUS_CANCEL = (281, 18)  # the status bar's Cancel button, from the image window's bottom-right corner
ROOT_VENV_PYTHON = "/opt/nst-venv/bin/python"
LONG_JOB_STEPS = 2000
JOB_TIMEOUT = 300


# ----------------------------------------------------------------------------- GIMP and the agent

class GimpSession:
    """One `gimp-3.0` process with the agent answering questions about the image."""

    def __init__(self, profile, name):
        self.profile, self.name, self.asked = profile, name, 0

    def __enter__(self):
        for stale in os.listdir(DIR):
            if re.match(r"(cmd|state)-\d+\.json|ready\.json", stale):
                os.remove(os.path.join(DIR, stale))
        env = dict(os.environ, GIMP3_DIRECTORY=self.profile, NST_GUI_DIR=DIR)
        self.log = open(os.path.join(DIR, f"gimp-{self.name}.log"), "w")
        started = time.monotonic()
        with open(os.path.join(DIR, "gimp_gui_agent.py")) as agent:
            # --console-messages: GIMP's messages (errors of the filter included) go to this log, not dialogs.
            self.process = subprocess.Popen(
                ["gimp-3.0", "--no-splash", "--console-messages", "--batch-interpreter=python-fu-eval",
                 "-b", "-", "--quit"], stdin=agent, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.initial = wait_for("GIMP and the agent", lambda: self._read("ready.json"), timeout=180)
        self.window = wait_window(r"\d+ layers?\) \d+x\d+")
        for welcome in windows("^Welcome to GIMP"):  # a new profile's first start
            focus(welcome)
            keys("Escape")
        self.startup_seconds = round(time.monotonic() - started, 1)
        log(f"GIMP {self.name} ready in {self.startup_seconds} s")
        return self

    def _read(self, name):
        try:
            with open(os.path.join(DIR, name)) as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def _command(self, command):
        with open(os.path.join(DIR, f"cmd-{self.asked}.json.part"), "w") as f:
            json.dump(command, f)
        os.replace(os.path.join(DIR, f"cmd-{self.asked}.json.part"), os.path.join(DIR, f"cmd-{self.asked}.json"))

    def state(self):
        self._command({"do": "state"})
        state = wait_for("the agent's answer", lambda: self._read(f"state-{self.asked}.json"))
        self.asked += 1
        return state

    def __exit__(self, *exc):
        self._command({"do": "quit"})
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def processes(match):
    """PIDs whose argument list (from /proc) satisfies ``match``."""
    found = []
    for pid in (int(name) for name in os.listdir("/proc") if name.isdigit()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if match(f.read().split(b"\0")):
                    found.append(pid)
        except OSError:
            pass  # ended while we looked
    return found


def plugin_processes():
    """The filter's plug-in process (GIMP starts one per run)."""
    return processes(lambda argv: any(arg.endswith(b"neural_style_transfer.py") for arg in argv))


def helpers():
    """The plug-in's helper processes (python -m server.plugin_bridge) still alive."""
    return processes(lambda argv: b"server.plugin_bridge" in argv)


def job_dirs():
    """The plug-in's job folders (the test's own scratch folder is nst-gimp-test-…)."""
    return [os.path.join("/tmp", n) for n in os.listdir("/tmp")
            if n.startswith("nst-gimp-") and not n.startswith("nst-gimp-test-")]


def previews_seen():
    """Previews the helper has handed to the plug-in so far in the running job (a file in its job folder)."""
    return [d for d in job_dirs() if os.path.exists(os.path.join(d, "preview.png"))]


# ----------------------------------------------------------------------------- the artist's steps

def open_filter(session):
    """Filters ▸ … through GIMP's action search ("/"), as a keyboard user does; returns the dialog."""
    xdotool("mousemove", SCREEN[0] - 4, SCREEN[1] - 4)  # no tooltips in the screenshots
    focus(session.window)
    keys("slash")
    focus(wait_window("^Search Actions$"))
    type_text("Neural Style Transfer")
    time.sleep(1.0)  # the list fills as one types
    keys("Return")
    dialog = wait_window(DIALOG)
    focus(dialog)
    return dialog


def choose_style_file(dialog, path):
    """Style file ▸ the file chooser ▸ type the path, as a keyboard user does."""
    keys("alt+f", "Return")
    chooser = wait_window("^Select a File$")
    focus(chooser)
    keys("ctrl+l")
    type_text(path)
    keys("Return")
    wait_for("the file chooser to close", lambda: not windows("^Select a File$"))
    focus(dialog)


def set_preset(first):
    """Preset combo (Alt+P): Home picks the first entry (Draft)."""
    keys("alt+p", "Home" if first else "End")


def override_steps(steps):
    """Adjust size and steps (Alt+J) makes the preset's numbers editable; Steps (Alt+T) gets ``steps``."""
    keys("alt+j", "alt+t", "ctrl+a")
    type_text(str(steps))
    keys("Tab")


def keep_channel_as_it_is():
    """Regions (Alt+G) ▸ the last entry, from the saved channels; the first channel's list (Alt+B) ▸ its
    second entry, "Keep as it is"."""
    keys("alt+g", "End", "alt+b", "Home", "Down")


def dialog_shot(dialog, name, crops):
    """A screenshot, and the dialog's frame as its crop for the README (the dialog outgrows GIMP's window)."""
    xdotool("mousemove", SCREEN[0] - 4, SCREEN[1] - 4)
    time.sleep(0.5)
    screenshot(DIR, name)
    box = geometry(dialog)  # under openbox, Y lies about 20 px below the client's top: the title bar is 20 more
    crops[name] = [max(0, box["X"] - 3), max(0, box["Y"] - 40), min(SCREEN[0], box["X"] + box["WIDTH"] + 3),
                   min(SCREEN[1], box["Y"] + box["HEIGHT"] - 18)]


def press_ok(dialog):
    focus(dialog)
    keys("alt+o")
    wait_for("the dialog to close", lambda: not windows(DIALOG))


def wait_previews(count):
    """Until ``count`` different previews reached the plug-in (the helper replaces one file each time)."""
    seen = set()

    def enough():
        for folder in previews_seen():
            try:
                seen.add(os.stat(os.path.join(folder, "preview.png")).st_mtime_ns)
            except FileNotFoundError:
                pass
        return len(seen) >= count
    wait_for(f"{count} previews", enough, timeout=JOB_TIMEOUT)
    time.sleep(0.5)  # the window paints it


def wait_job_end(what="the filter to finish", timeout=JOB_TIMEOUT):
    started = time.monotonic()
    wait_for(what, lambda: not plugin_processes(), timeout=timeout)
    return round(time.monotonic() - started, 1)


def reset_to_factory_defaults(dialog):
    """Reset ▸ Reset to Factory Defaults (the second entry of the Reset button's menu)."""
    focus(dialog)
    keys("alt+r")  # the dialog's only R mnemonic: it presses Reset, which opens the popover
    time.sleep(0.5)
    keys("Down", "Return")  # the popover's buttons: Initial Values (focused), Factory Defaults
    time.sleep(0.5)


def cancel_in_status_bar(session):
    """Click Cancel in the image window's status bar (next to GIMP's progress bar): GIMP then kills the
    plug-in. The button has no keyboard access; its place is fixed by the window's layout (fresh profile)."""
    box = geometry(session.window)
    xdotool("mousemove", "--window", session.window, box["WIDTH"] - STATUS_CANCEL[0], box["HEIGHT"] - STATUS_CANCEL[1])
    xdotool("click", 1)
    xdotool("mousemove", SCREEN[0] - 4, SCREEN[1] - 4)  # no tooltip in the next screenshot


def cancel_in_preview(preview):
    focus(preview)
    keys("alt+c")


def server_free_after(server):
    """Seconds until a one-step job starts on the server: it waits while a job still runs there."""
    probe = os.path.join(DIR, "server_probe.py")
    done = subprocess.run([ROOT_VENV_PYTHON, probe, server], capture_output=True, text=True, timeout=JOB_TIMEOUT)
    if done.returncode:
        raise DriverError(f"server probe failed: {done.stderr[-2000:]}")
    return float(done.stdout.strip())


def cancelled_run(session, case, how):
    """OK, watch two previews, cancel; report what the image, the helper and the server were left with."""
    before = session.state()
    dialog = open_filter(session)
    keys("alt+t", "ctrl+a")  # Steps: far more than the test waits, so only a cancel ends the job
    type_text(str(LONG_JOB_STEPS))
    keys("Tab")
    press_ok(dialog)
    preview = wait_window(PREVIEW)
    wait_previews(2)
    screenshot(DIR, f"cancel-{how}-before")
    pressed = time.monotonic()
    if how == "preview":
        cancel_in_preview(preview)
    else:
        cancel_in_status_bar(session)
    ended = wait_job_end(f"the plug-in to end after Cancel ({how}; for the status bar: is STATUS_CANCEL still "
                         "where GIMP draws its Cancel button?)", timeout=30)
    wait_for("the helper to exit", lambda: not helpers(), timeout=30)
    helper_gone = round(time.monotonic() - pressed, 1)
    server_free = round(time.monotonic() - pressed + server_free_after(case["server"]), 1)
    time.sleep(0.5)
    screenshot(DIR, f"cancel-{how}-after")
    return {"before": before, "after": session.state(), "plugin_gone_s": ended, "helper_gone_s": helper_gone,
            "server_free_s": server_free, "windows": [xdotool("getwindowname", w) for w in windows(".")],
            "job_dirs": job_dirs()}


def first_session(case, report):
    """Choose a style and Draft, override its steps, keep the saved channel as it is, look into Advanced,
    Save Settings, OK, watch the painting form; then cancel twice (the plug-in's own Cancel, GIMP's Cancel
    in the status bar)."""
    with GimpSession(case["profile"], "first") as gimp:
        report["startup_s"] = gimp.startup_seconds
        report["initial"] = gimp.initial
        dialog = open_filter(gimp)
        dialog_shot(dialog, "dialog-opened", report["crops"])
        choose_style_file(dialog, case["style"])
        set_preset(first=True)
        dialog_shot(dialog, "dialog-draft", report["crops"])
        override_steps(case["steps"])
        keep_channel_as_it_is()
        dialog_shot(dialog, "dialog", report["crops"])
        keys("alt+a")  # Advanced: open, photographed, closed again
        dialog_shot(dialog, "dialog-advanced", report["crops"])
        keys("alt+a", "alt+s")  # Save Settings, for the second GIMP's Load Saved Settings
        started = time.monotonic()
        press_ok(dialog)
        wait_window(PREVIEW)
        wait_previews(3)
        screenshot(DIR, "forming")
        wait_job_end()
        report["ok_job_s"] = round(time.monotonic() - started, 1)
        time.sleep(0.5)
        screenshot(DIR, "result")
        report["after_ok"] = gimp.state()
        report["last_values_1"] = last_values(case["profile"])
        report["cancel_preview"] = cancelled_run(gimp, case, "preview")
        report["cancel_status_bar"] = cancelled_run(gimp, case, "status-bar")


def second_session(case, report):
    """A new GIMP on the same profile: the dialog comes back with the last values; Reset clears them; Load
    Saved Settings brings back what the first GIMP saved."""
    with GimpSession(case["profile"], "second") as gimp:
        report["initial_2"] = gimp.initial
        dialog = open_filter(gimp)
        dialog_shot(dialog, "remembered", report["crops"])
        press_ok(dialog)
        wait_job_end()
        report["after_remembered"] = gimp.state()
        report["last_values_2"] = last_values(case["profile"])
        dialog = open_filter(gimp)
        reset_to_factory_defaults(dialog)
        dialog_shot(dialog, "reset", report["crops"])
        choose_style_file(dialog, case["style"])
        press_ok(dialog)
        wait_job_end()
        report["after_reset"] = gimp.state()
        report["last_values_3"] = last_values(case["profile"])
        dialog = open_filter(gimp)
        keys("alt+l")  # Load Saved Settings
        time.sleep(0.5)
        dialog_shot(dialog, "loaded", report["crops"])
        press_ok(dialog)
        wait_job_end()
        report["after_loaded"] = gimp.state()
        report["last_values_4"] = last_values(case["profile"])


def last_values(profile):
    """GIMP's own record of the filter's last used values (written after an interactive success)."""
    folder = os.path.join(profile, "plug-in-settings")
    names = [n for n in os.listdir(folder) if "neural" in n and n.endswith(".last")] if os.path.isdir(folder) else []
    if len(names) != 1:
        return None
    with open(os.path.join(folder, names[0])) as f:
        return f.read()


def main():
    with open(os.path.join(DIR, "case.json")) as f:
        case = json.load(f)
    report, started = {"crops": {}}, time.monotonic()
    try:
        with Display():
            try:
                first_session(case, report)
                second_session(case, report)
            except Exception as exc:
                report["error"] = f"{type(exc).__name__}: {exc}"
                screenshot(DIR, "failure")  # while the display is still there (without it Gdk exits at once)
                raise
    finally:
        report["seconds"] = round(time.monotonic() - started, 1)
        with open(os.path.join(DIR, "report.json"), "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
