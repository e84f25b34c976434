"""`nst install-gimp-plugin`: copy the plug-in into GIMP 3's profile and record how to reach the project.

    nst install-gimp-plugin [--gimp-dir DIR] [--uninstall] [--server ADDR] [--python PATH] [--flatpak]

The plug-in runs inside GIMP's own Python, which has no grpcio; it starts ``PATH -m server.plugin_bridge``
for each job, so PATH (default: the Python running this installer) must import the project's ``server``.
Standard library and the torch-free option declarations (nst_core.contract.options) only.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import subprocess
import sys

from nst_core.contract.options import PRESETS, option_defaults, option_specs

from . import PLUGIN_NAME, PLUGIN_SOURCE
from .neural_style_transfer.nst_job import ARGUMENTS_FILE, CONFIG_FILE

FLATPAK_APP = "org.gimp.GIMP"
PLUGIN_FILES = (f"{PLUGIN_NAME}.py", "nst_procedure.py", "nst_dialog.py", "nst_job.py", "nst_preview.py",
                "nst_frames.py", "nst_frames_job.py")


def default_gimp_dir(flatpak: bool = False, env=None, platform: str | None = None) -> str:
    """GIMP 3's profile folder: $GIMP3_DIRECTORY, else where GIMP 3.0 keeps it on this platform."""
    env = os.environ if env is None else env
    platform = platform or sys.platform
    home = env.get("HOME") or os.path.expanduser("~")
    if env.get("GIMP3_DIRECTORY") and not flatpak:
        return env["GIMP3_DIRECTORY"]
    if flatpak:
        return os.path.join(home, ".var", "app", FLATPAK_APP, "config", "GIMP", "3.0")
    if platform == "win32":
        return os.path.join(env.get("APPDATA") or os.path.join(home, "AppData", "Roaming"), "GIMP", "3.0")
    if platform == "darwin":
        return os.path.join(home, "Library", "Application Support", "GIMP", "3.0")
    return os.path.join(env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"), "GIMP", "3.0")


def bridge_pythonpath(python: str) -> str | None:
    """None if ``python`` imports the bridge as installed; else this checkout's root, if that works."""
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for path in (None, checkout):
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        if path:
            env["PYTHONPATH"] = path
        try:
            probe = subprocess.run([python, "-c", "import server.plugin_bridge"], env=env, cwd=os.path.expanduser("~"),
                                   capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SystemExit(f"error: cannot run {python} ({exc}); pass --python with a working interpreter")
        if probe.returncode == 0:
            return path
    detail = probe.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
    raise SystemExit(f"error: {python} cannot import the project's client ({detail[0]}); install the project "
                     "into it (pip install gimp-neural-style) or pass --python with one that has it")


def plugin_arguments() -> list[dict]:
    """The filter's option arguments, derived from the engine's option declarations (those with a ``gimp``
    entry): GIMP's Python cannot import the project, so the installer writes this table beside the plug-in.

    Each entry: name (the option's, with '-'), option, kind (choice, int or float), label, help, default, and
    choices [[value, label, tooltip], …] or min/max; ``unset`` is the value that means "the preset's". The
    preset's entry adds ``values``: per preset, the numbers it decides for ``unset`` arguments (the dialog
    shows them)."""
    table = []
    for option, spec in option_specs().items():
        if spec.gimp is None:
            continue
        default = option_defaults()[option]
        entry = {"name": option.replace("_", "-"), "option": option, "kind": spec.kind,
                 "label": spec.gimp["label"], "help": spec.help[:1].upper() + spec.help[1:]}
        if spec.kind == "choice":
            entry["choices"] = [[value, label, hint] for value, label, hint in
                                zip(spec.choices, spec.labels or spec.choices, spec.hints or [""] * len(spec.choices))]
        else:
            low = spec.minimum + (1 if spec.exclusive_minimum and spec.kind == "int" else 0)
            entry.update(min=spec.gimp.get("min", low), max=spec.gimp.get("max", spec.maximum))
            if "unset" in spec.gimp:
                entry["unset"] = spec.gimp["unset"]
                entry["help"] += f" ({spec.gimp['unset']} = the preset's)"
        entry["default"] = entry.get("unset") if default is None else default
        table.append(entry)
    decided = [e for e in table if "unset" in e and hasattr(PRESETS[option_defaults()["preset"]], e["option"])]
    for entry in table:
        if entry["option"] == "preset":
            entry["values"] = {name: {e["name"]: getattr(preset, e["option"]) for e in decided}
                               for name, preset in PRESETS.items()}
    return table


def install(gimp_dir: str, python: str, server: str | None, flatpak: bool = False) -> str:
    pythonpath = bridge_pythonpath(python)
    target = os.path.join(gimp_dir, "plug-ins", PLUGIN_NAME)
    if os.path.isdir(target):
        shutil.rmtree(target)
    os.makedirs(target)
    for name in PLUGIN_FILES:
        shutil.copyfile(os.path.join(PLUGIN_SOURCE, name), os.path.join(target, name))
    main_file = os.path.join(target, f"{PLUGIN_NAME}.py")
    # GIMP silently skips a plug-in whose main file is not executable.
    os.chmod(main_file, os.stat(main_file).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    config = {"python": [os.path.abspath(python)] if os.sep in python else [python], "server": server or ""}
    if pythonpath:
        config["pythonpath"] = pythonpath
    if flatpak:
        # The sandbox cannot run the host's Python directly, and its /tmp is private. flatpak-spawn does not
        # pass the environment on: the plug-in adds --env=… for what the helper needs (nst_job.helper_command).
        config["python"] = ["flatpak-spawn", "--host"] + config["python"]
        config["work_dir"] = os.path.join(os.path.expanduser("~"), ".cache", "nst-gimp")
    with open(os.path.join(target, CONFIG_FILE), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(target, ARGUMENTS_FILE), "w", encoding="utf-8") as f:
        json.dump(plugin_arguments(), f, indent=2, ensure_ascii=False)
    return target


def uninstall(gimp_dir: str) -> str | None:
    target = os.path.join(gimp_dir, "plug-ins", PLUGIN_NAME)
    if not os.path.isdir(target):
        return None
    shutil.rmtree(target)
    return target


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nst install-gimp-plugin",
                                     description="Install the Neural Style Transfer filter into GIMP 3.")
    parser.add_argument("--gimp-dir", help="GIMP 3 profile folder (default: $GIMP3_DIRECTORY or the platform's)")
    parser.add_argument("--uninstall", action="store_true", help="remove the plug-in instead")
    parser.add_argument("--server", help="style server address the filter uses by default "
                                         "(default: $NST_SERVER or 127.0.0.1:50051 at run time)")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter that runs the plug-in's helper (default: this one)")
    parser.add_argument("--flatpak", action="store_true",
                        help=f"install for the {FLATPAK_APP} Flatpak (its profile, host helper via flatpak-spawn)")
    args = parser.parse_args(argv)
    gimp_dir = args.gimp_dir or default_gimp_dir(args.flatpak)
    if args.uninstall:
        removed = uninstall(gimp_dir)
        print(f"removed {removed}" if removed else f"nothing to remove in {gimp_dir}")
        return 0
    target = install(gimp_dir, args.python, args.server, args.flatpak)
    print(f"installed the GIMP plug-in into {target}")
    print(f"helper interpreter: {args.python}; server: {args.server or 'default (127.0.0.1:50051 or $NST_SERVER)'}")
    print("restart GIMP, then use Filters > Artistic > Neural Style Transfer...")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
