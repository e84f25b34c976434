"""Shared fixtures: the real engine (original weights, loaded once) and the bundled sample pictures."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def engine():
    """The product engine with the real original VGG19 weights, on the CPU (tests must not need a GPU)."""
    import torch

    from nst_core import Engine

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    return Engine(weights="original", device=os.environ.get("NST_TEST_DEVICE", "cpu"))


@pytest.fixture(scope="session")
def cat(samples):
    from PIL import Image

    return Image.open(samples / "chelsea.png").convert("RGB")


@pytest.fixture(scope="session")
def starry(samples):
    from PIL import Image

    return Image.open(samples / "starry_night.jpg").convert("RGB")


@pytest.fixture(scope="session")
def scream(samples):
    from PIL import Image

    return Image.open(samples / "the_scream.jpg").convert("RGB")
