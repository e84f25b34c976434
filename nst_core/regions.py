"""Region masks carried down the network: the guides of guided Gram matrices (Gatys et al. 2017).

A job's masks (8-bit, the content's size) become, at each scale, one weight map per style group: the
*main* group (pixels in no region: 1 − the masks' sum) and one per region. Where masks overlap past 255
together they are divided by their sum, so the maps always sum to 1 and every pixel's statistics are
shared out, never counted twice or lost. Values under half an 8-bit step are dropped: two complementary
masks that sum to 255 would otherwise leave the main group a float-rounding residue everywhere, and with
it a Gram matrix over the whole picture (each guide's Gram runs only where it is non-zero).

Down the network the maps are *area-averaged*: at a layer with stride d a position's weight is the mean of
the mask over its d×d cell (2×2 average pooling per pooling layer). Why this and not the variants of the
reference code (docs/engine.md "Regions"):

* resized with nearest neighbours, a soft or diagonal edge turns into 16 px stair steps at relu5_1, and a
  feathered edge loses its softness at every layer below full resolution;
* *eroded* ("inside") guides keep every position whose receptive field straddles the edge out of the
  statistics; then no style gradient at all reaches a band as wide as the deep layers' cells along the
  edge, and that band keeps the content's look: a halo;
* averaged maps keep a boundary position in both regions' statistics in proportion to its cell's cover:
  both styles' gradients reach the edge and fade across it over the deep layers' cell size, which the
  optimization turns into a blend, not a cut. A feathered selection widens that blend as it should.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .contract.layers import downsample

#: Weights under this (half an 8-bit step) are zero.
NEGLIGIBLE = 0.5 / 255


def weight_maps(masks: Sequence[Image.Image], size: tuple[int, int], device: torch.device) -> torch.Tensor:
    """(1 + regions, 1, h, w) at the scale's ``size`` (w, h): the main group's weights, then each region's;
    they sum to 1 at every pixel."""
    w, h = size
    planes = [torch.from_numpy(np.asarray(mask.convert("L"), dtype=np.float32).copy()) for mask in masks]
    maps = torch.stack(planes).unsqueeze(1).to(device) / 255.0
    if maps.shape[2:] != (h, w):
        maps = F.interpolate(maps, size=(h, w), mode="area")  # each pixel: the mean over its footprint
    total = maps.sum(0, keepdim=True)
    maps = torch.where(total > 1, maps / total.clamp(min=1e-12), maps)
    main = (1.0 - maps.sum(0, keepdim=True)).clamp_(min=0.0)
    out = torch.cat([main, maps])
    out[out < NEGLIGIBLE] = 0.0
    return out


def styled_cover(masks: Sequence[Image.Image], styled: Sequence[bool], rows: int = 512) -> Optional[Image.Image]:
    """Where a style reaches, as an 8-bit mask at the masks' size (255: styled, 0: content only), or None when
    it reaches every pixel. ``styled``: per group (main, then each region) whether it has styles.

    The optimization holds unstyled pixels only by the content term, which keeps them close to, not exactly
    as, they were; the finished picture is blended with the content by this cover, so a region without
    style (and pixels in no region when the job has no main style) come back pixel for pixel, and soft
    edges fade. Computed in bands of ``rows`` rows: a 24 MP job's maps would otherwise be gigabytes."""
    if all(styled[1:]) and (styled[0] or not masks):
        return None
    w, h = masks[0].size
    keep = torch.tensor(list(styled), dtype=torch.bool)
    cover = np.empty((h, w), dtype=np.uint8)
    for top in range(0, h, rows):
        band = [mask.crop((0, top, w, min(h, top + rows))) for mask in masks]
        reached = weight_maps(band, band[0].size, torch.device("cpu"))[keep].sum(0)[0]
        cover[top:top + rows] = reached.mul_(255.0).round_().clamp_(0, 255).to(torch.uint8).numpy()
    if cover.min() == 255:
        return None
    return Image.fromarray(cover, "L")


def guides_at(masks: Sequence[Image.Image], size: tuple[int, int], layers: Sequence[str],
              device: torch.device) -> dict[str, torch.Tensor]:
    """Per style layer, the weight maps area-averaged to that layer's resolution (see the module doc)."""
    maps = weight_maps(masks, size, device)
    out = {}
    for layer in layers:
        d = downsample(layer)
        out[layer] = F.avg_pool2d(maps, d, d) if d > 1 else maps
    return out


def region_shares(guides: dict[str, torch.Tensor]) -> dict[str, list[float]]:
    """Per layer, each guide's share of the layer's positions (its mass over their count)."""
    return {layer: [float(g.mean(dtype=torch.float64)) for g in maps] for layer, maps in guides.items()}


def guide_bytes_per_pixel(layers: Sequence[str]) -> float:
    """Float32 bytes per picture pixel per guide: the full-resolution map and one per style layer."""
    return 4.0 * (1.0 + sum(1.0 / downsample(layer) ** 2 for layer in layers))
