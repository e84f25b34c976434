"""Helpers for the server tests: tiny images, encodings and polling (imported as ``server_helpers``)."""
from __future__ import annotations

import io
import time

from PIL import Image

from server.client import ImageData

#: Tiny, single-scale jobs keep every test fast on a 2-core CPU.
SMALL = {"max_size": 32, "steps": 2, "multiscale": False}


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def content_image(size=(40, 30), mode="RGB") -> Image.Image:
    """A gradient with some structure, so stylization visibly changes it."""
    w, h = size
    gradient = Image.linear_gradient("L").resize((w, h))
    rgb = Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                              Image.new("L", (w, h), 90)))
    return rgb.convert(mode)


def style_image(seed: int, size=(32, 32)) -> Image.Image:
    """Coloured noise; a distinct seed gives distinct bytes (and so a distinct style-cache key)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def encoded(image: Image.Image) -> ImageData:
    return ImageData.encoded(png_bytes(image))


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
