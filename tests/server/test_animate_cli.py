"""`nst animate`: animated files and folders in and out with their timing, through a real server and with
--local, and bad frames named before any runs."""
from __future__ import annotations

import pytest
from PIL import Image

from server.frames_io import encode_animation, read_clip
from tests.helpers import content_image, png_bytes, style_image
from tests.server.test_cli import _nst

TINY = ["--max-size", "32", "--steps", "4", "--no-multiscale"]
DURATIONS = [80, 120, 200]


def clip_frames(count=3):
    """A view moving 6 px a frame (GIF merges frames that are identical after quantization)."""
    tall = content_image((40, 30 + 6 * count))  # a vertical gradient: the view moves down it
    return [tall.crop((0, 6 * k, 40, 6 * k + 30)) for k in range(count)]


@pytest.fixture
def style(tmp_path):
    path = tmp_path / "style.png"
    path.write_bytes(png_bytes(style_image(43)))
    return path


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".png"])
def test_animated_files_keep_frames_durations_and_loop(tmp_path, suffix):
    path = tmp_path / f"clip{suffix}"
    path.write_bytes(encode_animation(clip_frames(), DURATIONS, 3, suffix))
    clip = read_clip(str(path), max_frames=10)
    assert len(clip.frames) == 3 and clip.durations == DURATIONS and clip.loop == 3
    assert clip.frames[0].size == (40, 30) and clip.frames[0].mode == "RGB"


def test_a_gif_through_the_server_becomes_a_webp_with_its_timing(server, tmp_path, style):
    source = tmp_path / "clip.gif"
    source.write_bytes(encode_animation(clip_frames(), DURATIONS, 3, ".gif"))
    out = tmp_path / "out.webp"
    run = _nst("animate", str(source), str(style), "-o", str(out), "--server", server.address, *TINY)
    assert run.returncode == 0, run.stderr
    result = read_clip(str(out), max_frames=10)
    assert len(result.frames) == 3 and result.durations == DURATIONS and result.loop == 3
    assert result.frames[0].size == (40, 30) and "frame 3 of 3" in run.stderr


def test_a_folder_locally_becomes_a_folder_of_pngs_independent_too(tmp_path, style):
    source = tmp_path / "frames"
    source.mkdir()
    for k, frame in enumerate(clip_frames()):
        frame.save(source / f"f{k}.png")
    for flag, out in (([], tmp_path / "linked"), (["--independent"], tmp_path / "alone")):
        run = _nst("animate", str(source), str(style), "-o", str(out), "--local", "--device", "cpu", *TINY, *flag)
        assert run.returncode == 0, run.stderr
        names = sorted(p.name for p in out.iterdir())
        assert names == ["frame-0001.png", "frame-0002.png", "frame-0003.png"]
        assert Image.open(out / names[2]).size == (40, 30)


def test_an_undecodable_frame_is_named(server, tmp_path, style):
    source = tmp_path / "frames"
    source.mkdir()
    clip_frames()[0].save(source / "a.png")
    (source / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n not a picture")
    run = _nst("animate", str(source), str(style), "-o", str(tmp_path / "o.gif"), "--server", server.address, *TINY)
    assert run.returncode == 2 and "frames[1]" in run.stderr and "b.png" in run.stderr
    assert not (tmp_path / "o.gif").exists()
