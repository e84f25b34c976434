"""`nst install-gimp-plugin`: files, executable bit, recorded interpreter, uninstall, default folders."""
import json
import os
import stat
import sys

import pytest

from gimp_plugin import installer
from gimp_plugin.neural_style_transfer import nst_job


def test_install_copies_the_plugin_and_records_the_interpreter(tmp_path, capsys):
    assert installer.main(["--gimp-dir", str(tmp_path), "--server", "127.0.0.1:6000"]) == 0
    target = tmp_path / "plug-ins" / "neural_style_transfer"
    assert str(target) in capsys.readouterr().out
    main_file = target / "neural_style_transfer.py"
    assert os.stat(main_file).st_mode & stat.S_IXUSR  # GIMP skips a plug-in that is not executable
    assert (target / "nst_job.py").is_file()
    config = nst_job.load_config(str(target))
    assert config["python"] == [sys.executable] and config["server"] == "127.0.0.1:6000"
    # The option arguments, from the engine's declarations, for GIMP's Python which cannot import them.
    assert nst_job.load_arguments(str(target)) == installer.plugin_arguments()
    assert nst_job.load_arguments(str(tmp_path)) == []  # no table: the procedure still registers


def test_reinstall_replaces_and_uninstall_removes(tmp_path):
    target = tmp_path / "plug-ins" / "neural_style_transfer"
    installer.main(["--gimp-dir", str(tmp_path)])
    (target / "stale.py").write_text("")
    installer.main(["--gimp-dir", str(tmp_path)])
    assert not (target / "stale.py").exists()
    assert installer.main(["--gimp-dir", str(tmp_path), "--uninstall"]) == 0
    assert not target.exists() and (tmp_path / "plug-ins").is_dir()


def test_flatpak_install_runs_the_helper_on_the_host(tmp_path):
    installer.main(["--gimp-dir", str(tmp_path), "--flatpak"])
    config = json.loads((tmp_path / "plug-ins" / "neural_style_transfer" / nst_job.CONFIG_FILE).read_text())
    assert config["python"][:2] == ["flatpak-spawn", "--host"] and config["work_dir"]


def test_interpreter_without_the_project_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="cannot"):
        installer.main(["--gimp-dir", str(tmp_path), "--python", str(tmp_path / "missing-python")])
    assert not (tmp_path / "plug-ins").exists()


def test_default_profile_folders():
    env = {"HOME": "/home/ada"}
    assert installer.default_gimp_dir(env=env, platform="linux") == "/home/ada/.config/GIMP/3.0"
    assert installer.default_gimp_dir(env=dict(env, GIMP3_DIRECTORY="/p"), platform="linux") == "/p"
    assert installer.default_gimp_dir(env=env, platform="darwin") == "/home/ada/Library/Application Support/GIMP/3.0"
    assert installer.default_gimp_dir(env=dict(env, APPDATA="C:/Users/ada/AppData/Roaming"),
                                      platform="win32") == os.path.join("C:/Users/ada/AppData/Roaming", "GIMP", "3.0")
    assert installer.default_gimp_dir(flatpak=True, env=env) == \
        "/home/ada/.var/app/org.gimp.GIMP/config/GIMP/3.0"
