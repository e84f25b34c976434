"""Loss terms of Gatys et al. Normalizations (stated so the preset weights mean something):

* content: mean squared error over all feature elements, ``mean((F - P)^2)``.
* Gram matrix: ``G = F Fᵀ / (C·H·W)`` for features F of shape (C, H·W), so G does not grow with size.
* style: ``Σ_l w_l · mean((G_l - A_l)^2)`` over the C² entries of each layer's Gram matrix.
* total variation: mean squared difference of neighbouring pixels (0..255 scale), both directions.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(features, target)


class _Gram(torch.autograd.Function):
    """``G = F Fᵀ / (C·H·W)`` with a one-product backward.

    Autograd's generic backward for ``bmm(F, Fᵀ)`` does two products plus a transpose and an add;
    since ``dL/dF = (dG + dGᵀ) F / (C·H·W)``, one product suffices. At 512² the Gram matrices of
    relu1_1…relu5_1 cost about as much as several convolutions, so this matters on CPU.
    """

    @staticmethod
    def forward(ctx, features: torch.Tensor) -> torch.Tensor:
        n, c, h, w = features.shape
        flat = features.reshape(n, c, h * w)  # a view for both NCHW and channels_last layouts
        ctx.save_for_backward(features)
        return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)

    @staticmethod
    def backward(ctx, grad_gram: torch.Tensor) -> torch.Tensor:
        (features,) = ctx.saved_tensors
        n, c, h, w = features.shape
        flat = features.reshape(n, c, h * w)
        sym = (grad_gram + grad_gram.transpose(1, 2)) / (c * h * w)
        grad = torch.bmm(sym, flat).reshape(n, c, h, w)
        if features.is_contiguous(memory_format=torch.channels_last):
            grad = grad.contiguous(memory_format=torch.channels_last)
        return grad


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    return _Gram.apply(features)


def style_loss(features: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor],
               layers: Sequence[str], weights: Sequence[float]) -> torch.Tensor:
    total = features[layers[0]].new_zeros(())
    for layer, weight in zip(layers, weights):
        total = total + weight * F.mse_loss(gram_matrix(features[layer]), targets[layer])
    return total


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    dy = image[:, :, 1:, :] - image[:, :, :-1, :]
    dx = image[:, :, :, 1:] - image[:, :, :, :-1]
    return dy.pow(2).mean() + dx.pow(2).mean()
