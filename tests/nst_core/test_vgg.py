"""The frozen VGG19 feature extractor: runs only as deep as asked, average pooling keeps magnitudes, blur
pooling does not alias."""
import os
import subprocess
import sys

import pytest
import torch

from nst_core.contract.errors import WeightsUnavailable
from nst_core.vgg import VGGFeatures, blur_pool


def test_returns_the_requested_layers_and_stops_after_the_deepest(engine):
    model = engine.model
    x = torch.rand(1, 3, 32, 32) * 255
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(m)) for m in model.layers]
    try:
        with torch.no_grad():
            out = engine.features(x.to(engine.torch_device), ["relu1_1", "conv2_1"])
    finally:
        for hook in hooks:
            hook.remove()
    assert set(out) == {"relu1_1", "conv2_1"} and out["conv2_1"].shape[1] == 128
    assert len(seen) <= 6  # conv1_1 … conv2_1 only (ReLUs run functionally)
    assert not any(p.requires_grad for p in model.parameters())


def test_average_pooling_keeps_activation_magnitudes(engine):
    x = (torch.rand(1, 3, 64, 64) * 255).to(engine.torch_device)
    with torch.no_grad():
        by_max = engine.features(x, ["relu4_1"], "max")["relu4_1"].mean()
        by_avg = engine.features(x, ["relu4_1"], "avg")["relu4_1"].mean()
    assert all(scale > 1.0 for scale in engine.model.avg_scales().values())
    assert 0.3 < float(by_avg / by_max) < 3.0  # plain average pooling would shrink them several-fold


def test_blur_pooling_keeps_max_poolings_sizes_and_does_not_follow_its_lattice():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(1, 8, 67, 50, generator=g)  # ≥ 0, as after a ReLU; odd and even sides
    assert blur_pool(x).shape == torch.nn.functional.max_pool2d(x, 2, 2).shape == (1, 8, 33, 25)

    def moved(pool):  # how much the pooled map changes when the picture moves by one pixel
        a, b = pool(x[:, :, 1:-1, 1:-1]), pool(x[:, :, 2:, 2:])
        return float((a - b).norm() / a.norm())
    # Max pooling samples a 2-px lattice: a one-pixel move shuffles its winners; the blur pool moves far less.
    assert moved(blur_pool) < 0.6 * moved(lambda v: torch.nn.functional.max_pool2d(v, 2, 2))
    flat = torch.full((1, 2, 8, 8), 3.0)
    assert torch.allclose(blur_pool(flat), torch.full((1, 2, 4, 4), 3.0))  # a flat map stays flat, edges too


def test_blur_pooled_features_have_max_poolings_sizes(engine):
    x = (torch.rand(1, 3, 83, 101) * 255).to(engine.torch_device)
    names = ["relu3_1", "relu5_1"]
    with torch.no_grad():
        by_max, by_blur = engine.features(x, names, "max"), engine.features(x, names, "blur")
    for name in names:
        assert by_blur[name].shape == by_max[name].shape
        assert 0.3 < float(by_blur[name].mean() / by_max[name].mean()) < 3.0


def test_weights_that_do_not_fit_are_refused():
    with pytest.raises(WeightsUnavailable):
        VGGFeatures({"features.0.weight": torch.zeros(1)})


def test_a_loaded_engine_holds_one_copy_of_the_weights_and_no_torchvision():
    """In a fresh process: loading keeps one float32 copy of the weights and gives the loading's temporaries
    back; torchvision (~160 MiB resident) is never imported; warm-up pays torch.optim's one-time imports
    (torch._dynamo), so the first job's plan sees what is really resident."""
    code = """if True:
        import sys
        from nst_core import memory
        from nst_core.engine import Engine
        before = memory.process_rss()
        engine = Engine()
        weights = sum(p.numel() * p.element_size() for p in engine.model.parameters())
        grown = memory.process_rss() - before
        assert grown < 1.5 * weights, (grown >> 20, weights >> 20)
        assert "torchvision" not in sys.modules
        engine.warm_up()
        assert "torch._dynamo" in sys.modules
    """
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
