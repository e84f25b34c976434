"""`nst stylize` through a real server (and --local), overwrite protection, an unreachable server."""
from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from PIL import Image

from tests.helpers import REPO, content_image, free_address, png_bytes, style_image

SMALL_ARGS = ["--max-size", "32", "--steps", "2"]


def _nst(*args, env_extra=None, timeout=300):
    env = dict(os.environ)
    env.pop("NST_SERVER", None)
    env.pop("NST_TOKEN", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "server", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


@pytest.fixture
def files(tmp_path):
    content = tmp_path / "content.png"
    content.write_bytes(png_bytes(content_image((44, 33))))
    style = tmp_path / "style.png"
    style.write_bytes(png_bytes(style_image(41)))
    return content, style, tmp_path / "out.png"


def test_stylize_through_the_server_writes_a_png_with_progress(server, files):
    content, style, out = files
    previews = out.parent / "previews"
    run = _nst("stylize", str(content), str(style), "-o", str(out), "--server", server.address,
               "--preview-dir", str(previews), *SMALL_ARGS)
    assert run.returncode == 0, run.stderr
    image = Image.open(out)
    assert image.format == "PNG" and image.size == (44, 33)
    assert "step 2/2" in run.stderr and "ETA" in run.stderr and "stage 1/" in run.stderr
    assert sorted(p.name for p in previews.iterdir())[0] == "preview-0001.png"


def test_server_address_from_the_environment(server, files):
    content, style, out = files
    run = _nst("stylize", str(content), str(style), "-o", str(out), *SMALL_ARGS,
               env_extra={"NST_SERVER": server.address})
    assert run.returncode == 0, run.stderr
    assert out.exists()


def test_refuses_to_overwrite_without_force(server, files):
    content, style, out = files
    out.write_bytes(b"keep me")
    run = _nst("stylize", str(content), str(style), "-o", str(out), "--server", server.address, *SMALL_ARGS)
    assert run.returncode == 2 and "--force" in run.stderr
    assert out.read_bytes() == b"keep me"
    run = _nst("stylize", str(content), str(style), "-o", str(out), "--server", server.address, "--force",
               *SMALL_ARGS)
    assert run.returncode == 0, run.stderr
    assert Image.open(out).size == (44, 33)


def test_unreachable_server_names_the_command_that_starts_one(files):
    content, style, out = files
    run = _nst("stylize", str(content), str(style), "-o", str(out), "--server", free_address(), *SMALL_ARGS)
    assert run.returncode == 1
    assert "nst serve" in run.stderr and "Traceback" not in run.stderr
    assert not out.exists()


@pytest.mark.parametrize("address", ["127.0.0.1:\u00b2,127.0.0.1:1", "dns:///localhost:\u00b2", "ipv6:[::1]:\u00b9",
                                     "ipv4:127.0.0.1:\u2462"])
def test_a_port_in_other_digits_is_a_usage_error_naming_it(files, address):
    content, style, out = files
    run = _nst("stylize", str(content), str(style), "-o", str(out), "--server", address, *SMALL_ARGS)
    assert run.returncode == 2 and "--server" in run.stderr and "HOST:PORT" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_server_error_is_a_message_not_a_traceback(server, files, tmp_path):
    content, _, out = files
    bad_style = tmp_path / "bad.png"
    bad_style.write_bytes(b"this is no image")
    run = _nst("stylize", str(content), str(bad_style), "-o", str(out), "--server", server.address, *SMALL_ARGS)
    assert run.returncode == 1
    assert "styles[0]" in run.stderr and "Traceback" not in run.stderr


def test_local_runs_the_engine_in_process(files):
    content, style, out = files
    run = _nst("stylize", str(content), str(style), "-o", str(out), "--local", *SMALL_ARGS)
    assert run.returncode == 0, run.stderr
    assert Image.open(out).size == (44, 33)
    assert "step 2/2" in run.stderr


def test_install_gimp_plugin_forwards_its_arguments():
    installer = pytest.importorskip("gimp_plugin.installer")  # written with the GIMP plug-in
    run = _nst("install-gimp-plugin", "--help", timeout=60)
    assert run.returncode == 0, run.stderr
    assert "--gimp-dir" in run.stdout + run.stderr, installer.__file__


def test_every_option_is_a_flag_with_its_choices():
    from nst_core.contract.options import PRESETS, option_specs

    run = _nst("stylize", "--help", timeout=60)
    assert run.returncode == 0, run.stderr
    for name, spec in option_specs().items():
        assert (f"--{name.replace('_', '-')}" in run.stdout) == spec.cli, name
    assert "{" + ",".join(PRESETS) + "}" in run.stdout and "--no-multiscale" in run.stdout


def test_list_and_boolean_flags_reach_the_server(server, files):
    content, style, out = files
    run = _nst("stylize", str(content), str(style), str(style), "-o", str(out), "--server", server.address,
               "--no-multiscale", "--style-layers", "relu1_1,relu2_1", "--style-blend", "3,1", *SMALL_ARGS)
    assert run.returncode == 0, run.stderr
    assert Image.open(out).size == (44, 33)
    bad = _nst("stylize", str(content), str(style), "-o", str(out), "--force", "--server", server.address,
               "--style-layers", "relu1_1,relu9_9", *SMALL_ARGS)
    assert bad.returncode == 1 and "relu9_9" in bad.stderr and "style_layers" in bad.stderr


def test_full_preset_with_a_forced_tile_size(server, files):
    content, style, out = files
    run = _nst("stylize", str(content), str(style), "-o", str(out), "--server", server.address, "--preset", "full",
               "--tile-size", "32", "--steps", "2", "--precision", "float32")
    assert run.returncode == 0, run.stderr
    assert Image.open(out).size == (44, 33) and "step 2/2" in run.stderr
    run = _nst("stylize", str(content), str(style), "-o", str(out), "--server", server.address, "--force",
               "--tile-size", "8", *SMALL_ARGS)
    assert run.returncode == 1 and "tile_size" in run.stderr


def test_each_option_flag_states_its_default_once():
    from server.cli import build_parser

    stylize = build_parser()._subparsers._group_actions[0].choices["stylize"]
    helps = {action.dest: action.help or "" for action in stylize._actions}
    assert all(text.count("(default") <= 1 for text in helps.values()), helps
    assert "(default: equal)" in helps["style_blend"] and "(default: the preset's)" in helps["max_size"]


def test_the_docs_client_example_says_what_it_waits_for(tmp_path):
    readme = (REPO / "docs" / "server.md").read_text().split("\n## Python\n", 1)[1]
    example = readme.split("```python\n", 1)[1].split("```", 1)[0]
    address = free_address()
    process = subprocess.Popen([sys.executable, "-c", example], cwd=tmp_path, stdout=subprocess.PIPE, text=True,
                               env=dict(os.environ, NST_SERVER=address, PYTHONPATH=str(REPO)))
    try:
        timer = threading.Timer(15, process.kill)
        timer.start()
        first = process.stdout.readline()
        timer.cancel()
        assert "waiting" in first and address in first, first  # at once, not after the wait
    finally:
        process.kill()
        process.wait()
