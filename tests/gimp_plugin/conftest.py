"""Fixtures for the plug-in tests: a tiny style picture as a file, the GIMP root and scratch folders in it."""
import os
import shutil
import tempfile

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


@pytest.fixture(scope="session")
def gimp_root():
    """The trixie root with GIMP 3 (built once, this checkout's code refreshed); its path on the host."""
    from gimp_root import build_root
    return build_root()


@pytest.fixture
def gimp_work(gimp_root, style_png):
    """A scratch folder inside the root, as (host path, path inside the root), with the style image in it."""
    path = tempfile.mkdtemp(prefix="nst-gimp-test-", dir=os.path.join(gimp_root, "tmp"))
    shutil.copy(style_png, os.path.join(path, "stripes.png"))
    yield path, "/tmp/" + os.path.basename(path)
    shutil.rmtree(path, ignore_errors=True)
