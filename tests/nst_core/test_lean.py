"""The compact backward record: the same activations and input gradient as autograd, in far less memory."""
import pytest
import torch

from nst_core import lean
from nst_core.contract.layers import channels, downsample
from nst_core.contract.options import CONTENT_LAYERS, STYLE_LAYERS

LAYERS = sorted(set(STYLE_LAYERS) | set(CONTENT_LAYERS))


def through(network, x: torch.Tensor, names, weights) -> tuple[dict, torch.Tensor]:
    """Activations and the input gradient of ``Σ <weight, activation>``."""
    x = x.clone().requires_grad_(True)
    out = network(x, names)
    sum((out[n] * w).sum() for n, w in weights.items()).backward()
    return {n: v.detach() for n, v in out.items()}, x.grad


@pytest.mark.parametrize("pooling", ["max", "avg", "blur"])
@pytest.mark.parametrize("layout", [torch.channels_last, torch.contiguous_format])
@pytest.mark.parametrize("names", [LAYERS, ["conv1_2", "relu2_2", "pool3"]])
def test_the_input_gradient_is_autograds(engine, pooling, layout, names):
    model, device = engine.model, engine.torch_device
    g = torch.Generator().manual_seed(1)
    # 83 × 101: odd sizes at every pool, whose last row and column no output sees.
    x = ((torch.rand(1, 3, 83, 101, generator=g) * 255 - 120).to(device)).contiguous(memory_format=layout)
    with torch.no_grad():
        shapes = {n: v.shape for n, v in model(x, names, pooling).items()}
    weights = {n: torch.randn(shape, generator=g).to(device) for n, shape in shapes.items()}
    want_out, want_grad = through(lambda v, n: model(v, n, pooling), x, names, weights)
    got_out, got_grad = through(lambda v, n: lean.trunk(model, v, n, pooling), x, names, weights)
    for n in names:
        assert torch.equal(got_out[n], want_out[n]), n
    assert float((got_grad - want_grad).norm() / want_grad.norm()) <= 1e-5
    assert got_grad.is_contiguous(memory_format=layout)


def test_a_layer_without_a_gradient_is_skipped(engine):
    model, device = engine.model, engine.torch_device
    x = (torch.rand(1, 3, 64, 64) * 255).to(device)
    with torch.no_grad():
        deep = model(x, ["relu5_1"])["relu5_1"]
    weights = {"relu2_1": torch.ones(1, 128, 32, 32, device=device)}
    want_out, want_grad = through(lambda v, n: model(v, n), x, ["relu2_1", "relu5_1"], weights)
    got_out, got_grad = through(lambda v, n: lean.trunk(model, v, n), x, ["relu2_1", "relu5_1"], weights)
    assert torch.equal(got_out["relu5_1"], deep)
    assert float((got_grad - want_grad).norm() / want_grad.norm()) <= 1e-5


@pytest.mark.parametrize("pooling", ["max", "blur"])
def test_the_kept_bytes_are_what_the_record_holds(engine, pooling):
    """kept_bytes_per_pixel (what the planner reserves) against the tensors a forward really keeps."""
    model = engine.model
    x = (torch.rand(1, 3, 128, 96) * 255).to(engine.torch_device)
    outputs, record = lean._forward(model, x, LAYERS, pooling)
    held = sum(o.numel() * o.element_size() for o in outputs)
    kept = [t for s in record.steps if s[0] in ("relu", "max", "blur") and s[1] is not None
            for t in (s[1] if isinstance(s[1], tuple) else (s[1],))]
    held += sum(t.numel() * t.element_size() for t in kept)
    assert held == lean.kept_bytes_per_pixel(LAYERS, pooling) * 128 * 96
    if pooling == "blur":
        return
    autograd_saved = sum(4 * channels(n) / downsample(n) ** 2 for n in
                         ("relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2"))
    assert lean.kept_bytes_per_pixel(LAYERS) < autograd_saved  # below even a part of autograd's record


@pytest.mark.parametrize("pooling", ["max", "blur"])
def test_ties_are_won_by_the_pixels_autograd_names(engine, pooling):
    """Flat squares give equal activations side by side: the record must pick the same winners as autograd's
    max pooling (the first in the window), or the gradient lands a pixel off."""
    model, device = engine.model, engine.torch_device
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(1, 3, 12, 16, generator=g) * 255).repeat_interleave(6, 2).repeat_interleave(6, 3).to(device)
    with torch.no_grad():
        before_pool = model(x, ["relu1_2"])["relu1_2"]
    ties = (before_pool[..., :, 1:] == before_pool[..., :, :-1]) & (before_pool[..., :, 1:] > 0)
    assert int(ties.sum()) > 10_000  # the case this test is about
    weights = {"relu3_1": torch.randn(1, 256, 18, 24, generator=g).to(device)}
    _, want = through(lambda v, n: model(v, n, pooling), x, ["relu3_1"], weights)
    _, got = through(lambda v, n: lean.trunk(model, v, n, pooling), x, ["relu3_1"], weights)
    assert float((got - want).norm() / want.norm()) <= 1e-5
