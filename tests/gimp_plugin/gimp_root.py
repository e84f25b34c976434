"""The Debian trixie root with real GIMP 3.0 (scripts/gimp-rootfs.sh), for the tests that run GIMP itself."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.helpers import REPO

ROOTFS_SCRIPT = os.path.join(REPO, "scripts", "gimp-rootfs.sh")
ROOT_VENV_PYTHON = "/opt/nst-venv/bin/python"


def require_root_linux():
    if sys.platform.startswith("linux") and os.geteuid() == 0:
        return
    reason = "needs Linux and root (debootstrap, chroot)"
    if os.environ.get("CI"):
        pytest.fail(f"the GIMP integration test cannot run in CI here: {reason}")
    pytest.skip(reason)


def build_root():
    """Build or refresh the root (this checkout's code copied in); returns its path on the host."""
    require_root_linux()
    # Pin the root's grpcio/protobuf to this interpreter's, which generated the stubs.
    env = dict(os.environ, NST_HOST_PYTHON=sys.executable)
    built = subprocess.run([ROOTFS_SCRIPT], capture_output=True, text=True, timeout=3600, env=env)
    assert built.returncode == 0, f"gimp-rootfs.sh failed:\n{built.stderr[-3000:]}"
    return built.stdout.strip().splitlines()[-1]


def in_root(*argv, timeout=300):
    return subprocess.run([ROOTFS_SCRIPT, "exec", *argv], capture_output=True, text=True, timeout=timeout)


def install_plugin(work, server):
    """`nst install-gimp-plugin` inside the root, with the root's venv Python, into work's GIMP profile."""
    host_dir, root_dir = work
    done = in_root(ROOT_VENV_PYTHON, "-m", "gimp_plugin.installer", "--gimp-dir", f"{root_dir}/profile",
                   "--server", server)
    assert done.returncode == 0, done.stderr
    assert f"{root_dir}/profile/plug-ins/neural_style_transfer" in done.stdout
    with open(os.path.join(host_dir, "profile", "plug-ins", "neural_style_transfer", "nst-config.json")) as f:
        assert json.load(f)["python"] == [ROOT_VENV_PYTHON]


def run_case_script(work, script, runs):
    """``script`` (a gimp_*_case.py) inside gimp-console with ``runs`` as its case; (reports, GIMP's stderr)."""
    host_dir, root_dir = work
    for name in (script, "gimp_images.py"):
        shutil.copy(os.path.join(REPO, "tests", "gimp_plugin", name), host_dir)
    with open(os.path.join(host_dir, "case.json"), "w") as f:
        json.dump({"report": f"{root_dir}/report.json", "runs": runs}, f)
    done = in_root("sh", "-c", f"cd {root_dir} && NST_CASE={root_dir}/case.json GIMP3_DIRECTORY={root_dir}/profile "
                   f"gimp-console-3.0 -i --batch-interpreter=python-fu-eval -b - --quit < {script}")
    assert done.returncode == 0, done.stdout + done.stderr
    with open(os.path.join(host_dir, "report.json")) as f:
        return json.load(f), done.stderr
