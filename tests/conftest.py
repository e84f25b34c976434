"""Shared fixtures: the real engine (original weights, loaded once), one real server around it, and the
bundled sample pictures. Helpers for single tests are in ``helpers.py``."""
from __future__ import annotations

import os

import pytest

from tests.helpers import SAMPLES


def pytest_configure(config):
    config.addinivalue_line("markers", "large: moves a 256 MiB image through the server (a few seconds)")


@pytest.fixture(scope="session")
def samples():
    return SAMPLES


@pytest.fixture(scope="session")
def engine():
    """The product engine with the real original VGG19 weights, on the CPU (tests must not need a GPU)."""
    import torch

    from nst_core import Engine

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    return Engine(weights="original", device=os.environ.get("NST_TEST_DEVICE", "cpu"))


@pytest.fixture(scope="session")
def server(engine):
    """One real server on 127.0.0.1:0 around the session's engine, for every test that needs a healthy one."""
    from server.service import start_server

    handle = start_server(engine=engine, address="127.0.0.1:0", queue_size=8)
    yield handle
    handle.stop(grace=2)


@pytest.fixture
def client(server):
    from server.client import StyleClient

    with StyleClient(server.address, timeout=120) as c:
        yield c


def _sample(name):
    from PIL import Image

    return Image.open(SAMPLES / name).convert("RGB")


@pytest.fixture(scope="session")
def cat():
    return _sample("chelsea.png")


@pytest.fixture(scope="session")
def starry():
    return _sample("starry_night.jpg")


@pytest.fixture(scope="session")
def scream():
    return _sample("the_scream.jpg")
