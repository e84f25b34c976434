"""Loss terms of Gatys et al. Normalizations (stated so the preset weights mean something):

* content: mean squared error over all feature elements, ``mean((F - P)^2)``.
* Gram matrix: ``G = F Fᵀ / (C·H·W)`` for features F of shape (C, H·W), so G does not grow with size;
  at least float32, whatever the features' precision. A region's guided Gram matrix weighs each position
  by its mask there and divides by C times the mask's mass (nst_core.tiling).
* style: ``Σ_l w_l · mean((G_l - A_l)^2)`` over the C² entries of each layer's Gram matrix.
* total variation: mean squared difference of neighbouring pixels (0..255 scale), both directions.

A job weighs these relative to their targets (``nst_core.engine._weights``): each style layer's term by
``1 / mean(A_l²)`` and each content layer's by ``1 / mean(P²)``, TV by the content's own TV, so every term
is a relative distance, no layer drowns the others, and α, β mean the same for any picture and scale.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import torch
import torch.nn.functional as F


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(features, target)


#: Rows and columns ``(r0, r1, c0, c1)`` of a region of a feature map.
Box = tuple[int, int, int, int]


class _Gram(torch.autograd.Function):
    """``G = F Fᵀ / (C·H·W)`` of the features in a box, with a one-product backward.

    Autograd's generic backward for ``bmm(F, Fᵀ)`` does two products plus a transpose and an add;
    since ``dL/dF = (dG + dGᵀ) F / (C·H·W)``, one product suffices. At 512² the Gram matrices of
    relu1_1…relu5_1 cost about as much as several convolutions, so this matters on CPU. For a box inside
    the map (a tile's inner region, nst_core.tiling) the backward writes into one zeroed full-size gradient
    (slicing before the Gram would let autograd zero and copy one for each sliced dimension), and the box
    is flattened in the map's own layout: channels_last copies whole rows, not a transpose.
    """

    @staticmethod
    def forward(ctx, features: torch.Tensor, box: Box, weight: Optional[torch.Tensor]) -> torch.Tensor:
        ctx.save_for_backward(features, weight)
        ctx.box = box
        flat, count = _flat(features, box)
        last = _channels_last(features)
        weighted = flat
        if weight is not None:  # each position's outer product counts with its weight (guided Gram)
            weighted = flat * _pixel_weights(weight, last)
            count = features.shape[1] * float(weight.sum(dtype=torch.float64))
        if last:  # (n, pixels, c)
            return torch.bmm(weighted.transpose(1, 2), flat) / count
        return torch.bmm(weighted, flat.transpose(1, 2)) / count  # (n, c, pixels)

    @staticmethod
    def backward(ctx, grad_gram: torch.Tensor):
        features, weight = ctx.saved_tensors
        r0, r1, c0, c1 = ctx.box
        n, c, h, w = features[:, :, r0:r1, c0:c1].shape
        flat, count = _flat(features, ctx.box)
        last = _channels_last(features)
        if weight is not None:
            count = c * float(weight.sum(dtype=torch.float64))
        sym = (grad_gram + grad_gram.transpose(1, 2)) / count
        inner = torch.bmm(flat, sym) if last else torch.bmm(sym, flat)
        if weight is not None:
            inner = inner * _pixel_weights(weight, last)
        if last:
            inner = inner.reshape(n, h, w, c).permute(0, 3, 1, 2)  # channels_last strides
        else:
            inner = inner.reshape(n, c, h, w)
        inner = inner.to(features.dtype)
        if (h, w) == features.shape[2:]:
            return inner, None, None
        grad = torch.zeros_like(features)  # in features' own layout
        grad[:, :, r0:r1, c0:c1] = inner
        return grad, None, None


def _pixel_weights(weight: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """An (h, w) weight map shaped to multiply the flattened features of its box."""
    flat = weight.reshape(1, -1).float()
    return flat.unsqueeze(2) if channels_last else flat.unsqueeze(1)


def _channels_last(features: torch.Tensor) -> bool:
    return features.shape[1] > 1 and features.is_contiguous(memory_format=torch.channels_last)


def _flat(features: torch.Tensor, box: Box) -> tuple[torch.Tensor, int]:
    """The box's features, at least float32, as (n, pixels, c) for channels_last maps, else (n, c, pixels);
    and C·H·W."""
    r0, r1, c0, c1 = box
    part = features[:, :, r0:r1, c0:c1]
    n, c, h, w = part.shape
    flat = part.permute(0, 2, 3, 1).reshape(n, h * w, c) if _channels_last(features) else part.reshape(n, c, h * w)
    return (flat.float() if flat.element_size() < 4 else flat), c * h * w


def gram_matrix(features: torch.Tensor, box: Optional[Box] = None,
                weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The Gram matrix of ``features`` (N, C, H, W), or of the region ``box`` of them.

    ``weight`` (the box's (h, w) map, ≥ 0): the guided Gram matrix ``Σ_p w_p f_p f_pᵀ / (C · Σ_p w_p)``, the
    weighted average of the positions' outer products (a mask of ones gives the plain one exactly)."""
    return _Gram.apply(features, box or (0, features.shape[2], 0, features.shape[3]), weight)


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
