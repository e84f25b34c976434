"""Fixtures for the plug-in tests: the checkout on sys.path, a real style server with the real weights."""
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)  # test this checkout's plug-in and bridge, as the GIMP root gets them


@pytest.fixture(scope="session")
def style_server(engine):
    """A real server on a free local port around the session's real engine; yields its address."""
    from server.service import start_server

    handle = start_server(engine=engine, address="127.0.0.1:0")
    yield handle.address
    handle.stop(0)


@pytest.fixture
def style_png(tmp_path):
    """A tiny style image (diagonal stripes) as a PNG file."""
    from PIL import Image

    image = Image.new("RGB", (32, 32))
    image.putdata([(20, 30, 200) if (x + y) // 4 % 2 else (240, 120, 10) for y in range(32) for x in range(32)])
    path = tmp_path / "stripes.png"
    image.save(path)
    return path
