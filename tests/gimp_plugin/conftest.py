"""Fixtures for the plug-in tests: a tiny style picture as a file."""
import pytest


@pytest.fixture
def style_png(tmp_path):
    """A tiny style image (diagonal stripes) as a PNG file."""
    from PIL import Image

    image = Image.new("RGB", (32, 32))
    image.putdata([(20, 30, 200) if (x + y) // 4 % 2 else (240, 120, 10) for y in range(32) for x in range(32)])
    path = tmp_path / "stripes.png"
    image.save(path)
    return path
