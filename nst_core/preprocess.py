"""Map images (RGB, 0..255, NCHW float) into the input space each weight source was trained on.

The optimized image always lives in RGB 0..255 so that learning rates and TV weights mean the same
for every source; only the network input differs.
"""
from __future__ import annotations

import torch

# Caffe VGG: BGR channel order, 0..255, minus the ImageNet mean pixel (given in BGR).
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
# torchvision: RGB, 0..1, normalized by ImageNet mean and std.
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)


class Preprocessing:
    """An affine, per-channel map ``net = (rgb255[perm] - shift) * scale`` and its inverse."""

    def __init__(self, name: str):
        self.name = name
        if name == "caffe":
            self.perm = [2, 1, 0]
            shift, scale = CAFFE_MEAN_BGR, (1.0, 1.0, 1.0)
        elif name == "torch":
            self.perm = [0, 1, 2]
            shift = tuple(255.0 * m for m in TORCH_MEAN)
            scale = tuple(1.0 / (255.0 * s) for s in TORCH_STD)
        else:
            raise ValueError(f"unknown preprocessing {name!r}")
        self._shift = torch.tensor(shift).view(1, 3, 1, 1)
        self._scale = torch.tensor(scale).view(1, 3, 1, 1)
        # The channel order as a tensor on the model's device: a Python list index would be copied from
        # the host on every call (a synchronizing transfer on CUDA, and one that CUDA graphs cannot hold).
        self._perm = torch.tensor(self.perm)

    def to(self, device) -> "Preprocessing":
        self._shift, self._scale, self._perm = (t.to(device) for t in (self._shift, self._scale, self._perm))
        return self

    def to_network(self, rgb255: torch.Tensor) -> torch.Tensor:
        return (rgb255.index_select(1, self._perm) - self._shift) * self._scale

    def from_network(self, net: torch.Tensor) -> torch.Tensor:
        inverse = [self.perm.index(i) for i in range(3)]
        return (net / self._scale + self._shift)[:, inverse]
