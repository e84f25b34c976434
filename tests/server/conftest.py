"""Shared fixtures: one real server on 127.0.0.1:0 around the root conftest's CPU-pinned ``engine``."""
from __future__ import annotations

import pytest

from server.client import StyleClient
from server.service import start_server


def pytest_configure(config):
    config.addinivalue_line("markers", "large: moves a 256 MiB image through the server (a few seconds)")


@pytest.fixture(scope="session")
def server(engine):
    handle = start_server(engine=engine, address="127.0.0.1:0", queue_size=8)
    yield handle
    handle.stop(grace=2)


@pytest.fixture
def client(server):
    with StyleClient(server.address, timeout=120) as c:
        yield c
