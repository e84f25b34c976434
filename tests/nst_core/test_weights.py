"""Weight sources: the embedded original weights verify and give recorded features; errors are clear."""
import shutil

import pytest
import torch

from nst_core import Engine, InvalidInput, WeightsUnavailable
from nst_core import weights as weights_mod
from nst_core.contract.layers import CONV_NAMES, LAYER_INDEX


def gradient_image():
    x = torch.arange(32).float()
    r = x[None, :].expand(32, 32) * 8
    g = x[:, None].expand(32, 32) * 8
    b = (x[None, :] + x[:, None]) * 4
    return torch.stack([r, g, b]).unsqueeze(0)


def test_original_weights_verify_and_dequantize():
    state, info = weights_mod.load_original()
    assert info.source == "original" and info.preprocessing == "caffe"
    assert info.sha256 == weights_mod.ORIGINAL_SHA256
    first = state[f"features.{LAYER_INDEX['conv1_1']}.weight"]
    assert first.shape == (64, 3, 3, 3) and first.dtype == torch.float32
    assert len([k for k in state if k.endswith(".weight")]) == len(CONV_NAMES)
    # 8-bit codebook: at most 256 distinct values per layer.
    assert first.unique().numel() <= 256


def test_fixed_features_match_recorded_values(engine):
    """Recorded once from the original weights; catches channel-order, mean or de-quantization slips."""
    with torch.no_grad():
        f = engine.features(gradient_image().to(engine.torch_device), ["relu1_1", "relu3_1", "relu5_1"])
    assert f["relu1_1"].mean().item() == pytest.approx(27.71821, rel=1e-4)
    assert f["relu3_1"].mean().item() == pytest.approx(206.95737, rel=1e-4)
    assert f["relu3_1"][0, 3, 5, 7].item() == pytest.approx(388.24292, rel=1e-4)
    assert f["relu5_1"].mean().item() == pytest.approx(123.59466, rel=1e-4)
    assert f["relu5_1"].std().item() == pytest.approx(272.46381, rel=1e-4)


def test_corrupt_original_weights_are_refused(tmp_path, monkeypatch):
    bad = tmp_path / weights_mod.ORIGINAL_FILE
    shutil.copy(weights_mod._original_path(), bad)
    with open(bad, "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    monkeypatch.setattr(weights_mod, "_original_path", lambda: str(bad))
    with pytest.raises(WeightsUnavailable, match="SHA-256"):
        weights_mod.load_original()


def test_torchvision_weights_missing_offline_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # empty cache; downloads fail without internet
    try:
        weights_mod.load_torchvision()
    except WeightsUnavailable as exc:
        message = str(exc)
        assert "vgg19-dcbb9e9d.pth" in message and "original" in message
    else:  # pragma: no cover - only on a machine with internet access
        pytest.skip("torchvision weights could be downloaded here")


def test_local_file_needs_declared_preprocessing(tmp_path):
    state, _ = weights_mod.load_original()
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)
    with pytest.raises(InvalidInput, match="preprocessing"):
        weights_mod.load_weights(str(path))
    loaded, info = weights_mod.load_weights(str(path), preprocessing="caffe")
    assert info.preprocessing == "caffe" and torch.equal(loaded["features.0.weight"], state["features.0.weight"])


def test_local_file_engine_gives_same_features_as_original(tmp_path, engine):
    state, _ = weights_mod.load_original()
    path = tmp_path / "vgg19.pth"
    torch.save({k[len("features."):]: v for k, v in state.items()}, path)  # bare "N.weight" keys work too
    local = Engine(weights=str(path), preprocessing="caffe", device="cpu")
    img = gradient_image()
    with torch.no_grad():
        a = local.features(img, ["relu2_1"])["relu2_1"]
        b = engine.features(img.to(engine.torch_device), ["relu2_1"])["relu2_1"].cpu()
    assert torch.allclose(a, b, atol=1e-3)


def test_mixing_a_source_with_the_wrong_preprocessing_is_refused():
    with pytest.raises(InvalidInput, match="caffe preprocessing"):
        weights_mod.load_weights("original", preprocessing="torch")


def test_missing_local_file_is_weights_unavailable(tmp_path):
    with pytest.raises(WeightsUnavailable, match="does not exist"):
        weights_mod.load_weights(str(tmp_path / "nope.pth"), preprocessing="torch")


def test_local_file_that_is_not_vgg19_is_weights_unavailable(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(8, 3, 3, 3), "features.0.bias": torch.zeros(8)}, path)
    with pytest.raises(WeightsUnavailable, match="lack"):
        Engine(weights=str(path), preprocessing="torch", device="cpu")
    state, _ = weights_mod.load_original()
    state["features.0.weight"] = torch.zeros(64, 3, 5, 5)  # right names, wrong shape
    torch.save(state, path)
    with pytest.raises(WeightsUnavailable, match="do not fit"):
        Engine(weights=str(path), preprocessing="caffe", device="cpu")
