"""What many tests share: repository paths, free local addresses, tiny images, polling, a server to start.

Imported as ``tests.helpers`` (the repository root is on the path under pytest).
"""
from __future__ import annotations

import contextlib
import io
import socket
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"

#: Tiny, single-scale jobs keep every test fast on a 2-core CPU.
SMALL = {"max_size": 32, "steps": 2, "multiscale": False}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_address() -> str:
    """A local address nothing listens on (for "unreachable" cases and servers started by the code under test)."""
    return f"127.0.0.1:{free_port()}"


@contextlib.contextmanager
def running_server(engine=None, **settings):
    """A real server on a free local port for one test; stopped at the end."""
    from server.service import start_server

    handle = start_server(engine, **{"address": "127.0.0.1:0", "warmup": False, **settings})
    try:
        yield handle
    finally:
        handle.stop(0)


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# -- tiny images -----------------------------------------------------------------------------------------

def png_bytes(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def content_image(size=(40, 30), mode="RGB"):
    """A gradient with some structure, so stylization visibly changes it."""
    from PIL import Image

    w, h = size
    gradient = Image.linear_gradient("L").resize((w, h))
    rgb = Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                              Image.new("L", (w, h), 90)))
    return rgb.convert(mode)


def style_image(seed: int, size=(32, 32)):
    """Coloured noise; a distinct seed gives distinct bytes (and so a distinct style-cache key)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def encoded(image):
    from server.client import ImageData

    return ImageData.encoded(png_bytes(image))


def plugin_options(**values):
    """The server options the GIMP plug-in sends for these arguments (by option name; the rest at their
    defaults), through the plug-in's own checks and the installer's argument table."""
    from gimp_plugin.installer import plugin_arguments
    from gimp_plugin.neural_style_transfer import nst_job

    table = plugin_arguments()
    given = {entry["name"]: values.pop(entry["option"], entry["default"]) for entry in table}
    assert not values, f"not plug-in arguments: {sorted(values)}"
    return nst_job.server_options(table, given)
