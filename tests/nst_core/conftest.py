"""Fixtures the engine's tests share: the real network in true float32, taking and giving CPU tensors
wherever the engine runs (autograd carries the gradients across), so that the tiling and region arithmetic
itself is what the tests compare."""
import pytest

from nst_core.precision import backend_flags


def _on_cpu(engine, keep):
    network, device = engine.network(keep=keep), engine.torch_device

    def on_cpu(image, names):
        return {name: value.cpu() for name, value in network(image.to(device), names).items()}

    with backend_flags("float32", device):
        yield on_cpu


@pytest.fixture(scope="module")
def net(engine):
    yield from _on_cpu(engine, keep=False)


@pytest.fixture(scope="module")
def keep_net(engine):
    """The same network keeping the compact backward record of nst_core.lean (kept tiles)."""
    yield from _on_cpu(engine, keep=True)
