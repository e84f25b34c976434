"""The plug-in's GIMP-free logic: config, argument checks, progress text, job files."""
import json
import math
import os

import pytest

from gimp_plugin.installer import plugin_arguments
from gimp_plugin.neural_style_transfer import nst_job
from gimp_plugin.neural_style_transfer.nst_job import PluginError
from tests.helpers import plugin_options
from nst_core.contract.limits import MAX_STEPS
from nst_core.contract.options import PRESETS


def test_config_is_read_and_the_python_becomes_a_command(tmp_path):
    (tmp_path / nst_job.CONFIG_FILE).write_text(json.dumps({"python": "/opt/venv/bin/python", "server": "h:1"}))
    config = nst_job.load_config(str(tmp_path))
    assert config["python"] == ["/opt/venv/bin/python"] and config["server"] == "h:1"


@pytest.mark.parametrize("content", [None, "{not json", json.dumps({"server": "x"})])
def test_missing_or_broken_config_says_to_reinstall(tmp_path, content):
    if content is not None:
        (tmp_path / nst_job.CONFIG_FILE).write_text(content)
    with pytest.raises(PluginError, match="nst install-gimp-plugin"):
        nst_job.load_config(str(tmp_path))


def test_arguments_map_to_server_options():
    assert plugin_options(preset="fine", max_size=300, steps=50, style_strength=2.5, preserve_colors="luminance",
                          seed=7) == {
        "preset": "fine", "max_size": 300, "steps": 50, "style_strength": 2.5,
        "pooling": "max", "preserve_colors": "luminance", "seed": 7, "precision": "auto", "output_size": "content"}
    # 0 means "the preset's": left to the server.
    assert plugin_options(preset="draft") == {
        "preset": "draft", "style_strength": 1.0, "pooling": "max", "preserve_colors": "none", "seed": 0,
        "precision": "auto", "output_size": "content"}


def test_argument_table_follows_the_engine_options():
    table = {entry["name"]: entry for entry in plugin_arguments()}
    assert list(table) == ["preset", "max-size", "steps", "style-strength", "pooling", "preserve-colors", "seed",
                           "tile-size", "precision"]
    assert [c[0] for c in table["preset"]["choices"]] == list(PRESETS)
    assert [c[0] for c in table["precision"]["choices"]][0] == "auto"  # the dialog lists Auto first
    # What each preset decides for the arguments at "the preset's": the dialog shows these numbers.
    assert table["preset"]["values"]["draft"] == {"max-size": PRESETS["draft"].max_size,
                                                  "steps": PRESETS["draft"].steps}
    assert [c[1] for c in table["preset"]["choices"]] == [p.label for p in PRESETS.values()]
    assert table["steps"]["max"] == MAX_STEPS and table["steps"]["unset"] == 0


@pytest.mark.parametrize("values, named", [
    (dict(preset="ultra"), "preset"),
    (dict(max_size=-1), "max-size"),
    (dict(max_size=8), "max-size"),
    (dict(steps=-5), "steps"),
    (dict(style_strength=0.0), "style-strength"),
    (dict(style_strength=math.nan), "style-strength"),
    (dict(preserve_colors="sepia"), "preserve-colors"),
    (dict(pooling="stochastic"), "pooling"),
    (dict(seed=-2), "seed"),
])
def test_bad_arguments_name_the_argument(values, named):
    with pytest.raises(PluginError, match=named):
        plugin_options(**values)


def test_layer_name_comes_from_the_style():
    assert nst_job.style_name("/art/The Starry Night.jpg") == "The Starry Night"
    assert nst_job.style_name("C:\\art\\wave.TIFF") == "wave"
    assert nst_job.style_name("/art/v1.2/sketch") == "sketch"
    # "<source layer> · <style>": several runs on one layer stay apart in the Layers dialog.
    assert nst_job.layer_name("Portrait", "The Starry Night") == "Portrait · The Starry Night"


def test_progress_text_shows_stage_steps_and_eta():
    text, fraction = nst_job.describe_event({"type": "progress", "stage": 2, "stages": 3, "step": 5,
                                             "total": 10, "eta_seconds": 75.4, "overall_step": 45,
                                             "overall_total": 90})
    assert text == "Scale 2/3 · step 5/10 · 1:15 left" and fraction == 0.5
    _, fraction = nst_job.describe_event({"type": "progress", "stage": 2, "stages": 2, "step": 5, "total": 10})
    assert fraction == 0.75
    assert nst_job.describe_event({"type": "status", "text": "Starting style server…"})[0] == "Starting style server…"
    assert nst_job.describe_event({"type": "queued", "position": 2})[0] == "Queued: 2 job(s) ahead"


def test_job_folder_holds_the_pixels_and_the_job(tmp_path):
    job_dir = nst_job.make_job_dir({"work_dir": str(tmp_path / "work")})
    content = bytes(range(24))  # 3 x 2 RGBA
    nst_job.write_job(job_dir, (content, 3, 2), ("encoded", b"PNGDATA"), {"preset": "draft"}, "h:1", False)
    job = json.loads((tmp_path / "work" / job_dir.rsplit("/", 1)[-1] / nst_job.JOB_FILE).read_text())
    assert job["content"] == {"file": nst_job.CONTENT_FILE, "width": 3, "height": 2}
    assert job["style"] == {"file": nst_job.STYLE_ENCODED_FILE, "encoded": True}
    assert job["server"] == "h:1" and job["auto_start"] is False and job["options"] == {"preset": "draft"}
    assert "preview" not in job  # scripts (non-interactive runs) get no previews
    with open(f"{job_dir}/{nst_job.CONTENT_FILE}", "rb") as f:
        assert f.read() == content
    nst_job.write_job(job_dir, (content, 3, 2), ("encoded", b"PNGDATA"), {}, "", True, preview_size=360)
    job = json.loads(open(f"{job_dir}/{nst_job.JOB_FILE}").read())
    assert job["preview"] == {"interval": nst_job.PREVIEW_INTERVAL, "max_size": 360}


def test_pixel_sizes_are_checked(tmp_path):
    with pytest.raises(PluginError):
        nst_job.write_job(str(tmp_path), (bytes(10), 3, 2), ("encoded", b""), {}, "", True)
    (tmp_path / "result.rgba").write_bytes(bytes(12))
    with pytest.raises(PluginError, match="try again"):
        nst_job.read_result(str(tmp_path), {"file": "result.rgba", "width": 2, "height": 2})
    assert nst_job.read_result(str(tmp_path), {"file": "result.rgba", "width": 3, "height": 1}) == (bytes(12), 3, 1)


def test_helper_command_sets_the_environment():
    argv, env = nst_job.helper_command({"python": ["/venv/bin/python"], "pythonpath": "/src"}, "/jobs/1",
                                       {"PYTHONPATH": "/gimp/lib", "PYTHONHOME": "/gimp", "NST_TOKEN": "t"})
    assert argv == ["/venv/bin/python", "-m", "server.plugin_bridge", "/jobs/1"]
    assert env["PYTHONPATH"].split(os.pathsep) == ["/src", "/gimp/lib"] and "PYTHONHOME" not in env
    assert env["PYTHONUNBUFFERED"] == "1" and env["NST_TOKEN"] == "t"


def test_flatpak_spawn_gets_the_environment_as_arguments():
    # flatpak-spawn --host does not pass our environment to the host's Python.
    config = {"python": ["flatpak-spawn", "--host", "/usr/bin/python3"], "pythonpath": "/home/ada/src"}
    argv, _ = nst_job.helper_command(config, "/jobs/1", {"PYTHONPATH": "/app/lib/python3", "NST_TOKEN": "s3cret"})
    assert argv[0] == "flatpak-spawn" and argv[-4:] == ["/usr/bin/python3", "-m", "server.plugin_bridge", "/jobs/1"]
    options = argv[1:-4]
    # Only the project's path, not the sandbox's; never the token (job.json carries it, privately).
    assert set(options) == {"--host", "--env=PYTHONPATH=/home/ada/src", "--env=PYTHONUNBUFFERED=1"}
    argv, _ = nst_job.helper_command({"python": ["flatpak-spawn", "--host", "python3"]}, "/j", {})
    assert argv[:3] == ["flatpak-spawn", "--env=PYTHONUNBUFFERED=1", "--host"]


def test_masks_travel_as_grey_pngs_and_regions_in_the_job(tmp_path):
    import io

    from PIL import Image

    mask = bytes(range(0, 240, 10)) * 2  # 8 x 6
    png = nst_job.grey_png(mask, 8, 6)
    image = Image.open(io.BytesIO(png))
    assert image.mode == "L" and image.size == (8, 6) and image.tobytes() == mask
    content = bytes(8 * 6 * 4)
    nst_job.write_job(str(tmp_path), (content, 8, 6), None, {}, "", True,
                      regions=[(mask, [("encoded", b"PNGDATA")]), (mask, [])])
    job = json.loads((tmp_path / nst_job.JOB_FILE).read_text())
    assert job["style"] is None and len(job["regions"]) == 2 and job["regions"][1]["styles"] == []
    assert (tmp_path / job["regions"][0]["mask"]["file"]).read_bytes() == png
    assert (tmp_path / job["regions"][0]["styles"][0]["file"]).read_bytes() == b"PNGDATA"
    with pytest.raises(PluginError):
        nst_job.grey_png(mask, 8, 5)


def test_channel_styles_are_parsed_and_bad_entries_named():
    assert nst_job.channel_styles("sky=/art/starry.jpg; sea = none ;") == {"sky": "/art/starry.jpg", "sea": None}
    assert nst_job.channel_styles("") == {}
    with pytest.raises(PluginError, match="channel-styles"):
        nst_job.channel_styles("sky")
