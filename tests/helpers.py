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
SHARED_IMAGES = REPO.parent / "shared" / "images"  # beside the checkout here and in CI; users have none

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


def tiff_bytes(width: int, height: int, *, samples: int = 1, bits: int = 8, extra: int = 0, sample_format: int = 1,
               tile: int = 0, deflate: bool = False, fill: int = 0) -> bytes:
    """A little-endian TIFF written by hand, for what Pillow will not write: associated alpha (``extra=1``
    with two samples is mode La), and tiles (``tile`` px square) larger than the image. Pixel data is
    ``fill`` bytes, deflated when ``deflate`` (which tiles of any declared size compress to almost nothing)."""
    import struct
    import zlib

    photometric = 2 if samples >= 3 else 1
    pixel_bytes = samples * bits // 8
    size = (tile * tile if tile else width * height) * pixel_bytes
    if deflate:  # in pieces: the test itself must not hold what the server is asked to allocate
        packer, chunk = zlib.compressobj(9), bytes([fill]) * 2**20
        data = b"".join(packer.compress(chunk[:min(2**20, size - done)]) for done in range(0, size, 2**20))
        data += packer.flush()
    else:
        data = bytes([fill]) * size
    tags = [(256, 4, [width]), (257, 4, [height]), (258, 3, [bits] * samples), (259, 3, [8 if deflate else 1]),
            (262, 3, [photometric]), (277, 3, [samples]), (284, 3, [1]), (339, 3, [sample_format] * samples)]
    if extra:
        tags.append((338, 3, [extra]))
    offset_tag, count_tag = (324, 325) if tile else (273, 279)
    if tile:
        tags += [(322, 4, [tile]), (323, 4, [tile])]
    else:
        tags.append((278, 4, [height]))
    tags += [(offset_tag, 4, [0]), (count_tag, 4, [len(data)])]
    tags.sort()
    header = 8
    ifd_size = 2 + 12 * len(tags) + 4
    extra_area = bytearray()
    entries = []
    base = header + ifd_size
    data_offset = None
    for tag, kind, values in tags:
        size = 2 if kind == 3 else 4
        packed = b"".join(struct.pack("<H" if kind == 3 else "<I", v) for v in values)
        if len(packed) <= 4:
            entries.append((tag, kind, len(values), packed.ljust(4, b"\0")))
        else:
            entries.append((tag, kind, len(values), struct.pack("<I", base + len(extra_area))))
            extra_area += packed + (b"\0" if len(packed) % 2 else b"")
        del size
    data_offset = base + len(extra_area)
    body = bytearray(b"II*\0" + struct.pack("<I", header) + struct.pack("<H", len(entries)))
    for tag, kind, count, value in entries:
        if tag == offset_tag:
            value = struct.pack("<I", data_offset)
        body += struct.pack("<HHI", tag, kind, count) + value
    body += struct.pack("<I", 0) + extra_area + data
    return bytes(body)
