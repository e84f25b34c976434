"""Optical flow between content frames, warping by it, and the temporal loss of Ruder, Dosovitskiy and Brox,
"Artistic style transfer for videos" (2016).

The flow is OpenCV's DIS (dense inverse search), computed on the *content* frames: the stylized frames have
strokes the photos lack, and a flow through them would follow the strokes. Warping is torch's
``grid_sample`` (bilinear, borders clamped).

Flows here are (H, W, 2) float32 arrays of (dx, dy) in pixels: ``flow[y, x]`` says where the pixel (x, y)
of the first frame lies in the second. To bring frame t−1's result into frame t, each pixel of frame t looks
up its place in frame t−1, so warping uses the *backward* flow (t → t−1).
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from . import images

# The paper's forward-backward consistency test (section 3.1): a pixel is disoccluded when the two flows do
# not cancel, |w̃ + ŵ|² > 0.01 (|w̃|² + |ŵ|²) + 0.5; it lies on a motion boundary when the backward flow's
# gradient is steep, |∇û|² + |∇v̂|² > 0.01 |ŵ|² + 0.002.
CONSISTENCY_RATIO, CONSISTENCY_SLACK = 0.01, 0.5
BOUNDARY_RATIO, BOUNDARY_SLACK = 0.01, 0.002
CERTAINTY_BLUR = 1.0  # px, Gaussian σ: a soft edge around what the test rejects, so no hard seam is held there


def flow(first: Image.Image, second: Image.Image) -> np.ndarray:
    """Dense flow from ``first`` to ``second`` (same size) by OpenCV's DIS at its "medium" preset."""
    if first.size != second.size:
        raise ValueError(f"frames differ in size: {first.size} and {second.size}")
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(_grey(first), _grey(second), None)


def _grey(image: Image.Image) -> np.ndarray:
    return np.asarray(images.normalize_mode(image).convert("L"), dtype=np.uint8)


def resize_flow(field: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A flow at another (w, h): resampled, and its vectors scaled with the picture."""
    h, w = field.shape[:2]
    if (w, h) == tuple(size):
        return field
    out = cv2.resize(field, tuple(size), interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= size[0] / w
    out[..., 1] *= size[1] / h
    return out


def warp(image: torch.Tensor, backward: np.ndarray, mode: str = "bicubic") -> torch.Tensor:
    """``image`` (N, C, H, W) moved along a flow: the output's pixel p takes ``image`` at p + backward[p].

    Bicubic by default: a sequence warps each result into the next frame, so the resampling's blur compounds.
    Eight half-pixel warps of a stylized frame kept 10 % of its pixel-to-pixel contrast (energy) bilinear and
    87 % bicubic, and the temporal loss holds whatever the warp gives (docs/animation.md)."""
    n, _, h, w = image.shape
    f = torch.from_numpy(np.ascontiguousarray(backward)).to(image.device, torch.float32)
    ys, xs = torch.meshgrid(torch.arange(h, device=image.device, dtype=torch.float32),
                            torch.arange(w, device=image.device, dtype=torch.float32), indexing="ij")
    # grid_sample's coordinates: -1 and 1 are the centres of the edge pixels (align_corners=True).
    gx = (xs + f[..., 0]) * (2 / max(w - 1, 1)) - 1
    gy = (ys + f[..., 1]) * (2 / max(h - 1, 1)) - 1
    grid = torch.stack((gx, gy), dim=-1).unsqueeze(0).expand(n, h, w, 2)
    return F.grid_sample(image.float(), grid, mode=mode, padding_mode="border", align_corners=True)


def certainty(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """(H, W) float32 in [0, 1], at the second frame's pixels: 0 where the pixel was hidden in the first frame
    (the flows do not cancel) or lies on a motion boundary, 1 elsewhere, with a soft edge."""
    fw = warp(torch.from_numpy(forward).permute(2, 0, 1).unsqueeze(0), backward, "bilinear")[0].permute(1, 2, 0)
    fw = fw.numpy()  # bilinear: a flow field has no texture to keep, and must not overshoot at its edges
    total = fw + backward
    disoccluded = (total ** 2).sum(-1) > CONSISTENCY_RATIO * ((fw ** 2).sum(-1) + (backward ** 2).sum(-1)) \
        + CONSISTENCY_SLACK
    du = np.gradient(backward[..., 0])
    dv = np.gradient(backward[..., 1])
    steep = du[0] ** 2 + du[1] ** 2 + dv[0] ** 2 + dv[1] ** 2
    boundary = steep > BOUNDARY_RATIO * (backward ** 2).sum(-1) + BOUNDARY_SLACK
    # A pixel whose source lies outside the first frame has nothing to hold (the border was stretched).
    h, w = backward.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    sx, sy = xs + backward[..., 0], ys + backward[..., 1]
    outside = (sx < 0) | (sx > w - 1) | (sy < 0) | (sy > h - 1)
    hard = (~(disoccluded | boundary | outside)).astype(np.float32)
    soft = cv2.GaussianBlur(hard, (0, 0), CERTAINTY_BLUR) if CERTAINTY_BLUR > 0 else hard
    return np.minimum(hard, soft)  # soft only inward: what the test rejects stays exactly 0


class TemporalTerm:
    """``weight · Σ_j Σ c_j·(x − target_j)² / (Σ c_1 · 3 · 255²)`` on the optimized image x (RGB 0..255): the
    previous frame's result warped into this frame (``target_1``) held where the flow vouches for it
    (certainty ``c_1``), and with the long-term variant earlier frames' results where only they see a pixel.
    Divided by the full range so it is O(1) like the engine's relative terms, and the weight reads like
    theirs (nst_core.engine._weights)."""

    def __init__(self, target, weight_map, weight: float):
        targets = target if isinstance(target, (list, tuple)) else [target]
        maps = weight_map if isinstance(weight_map, (list, tuple)) else [weight_map]
        self.pairs = [(t.float(), c.float()) for t, c in zip(targets, maps)]  # (1, 3, H, W), (1, 1, H, W)
        self.weight = float(weight)

    def at(self, size: tuple[int, int], device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Targets and certainties at a scale's (w, h)."""
        w, h = size
        out = []
        for target, c in self.pairs:
            if tuple(target.shape[2:]) != (h, w):
                target = F.interpolate(target, size=(h, w), mode="area")
                c = F.interpolate(c, size=(h, w), mode="area")
            out.append((target.to(device), c.to(device)))
        return out

    def wrap(self, objective, size: tuple[int, int], device: torch.device):
        """The scale's objective with this term added to its loss and gradient (the engine's extra-term hook)."""
        if self.weight == 0:
            return objective
        pairs = self.at(size, device)
        norm = max(float(pairs[0][1].sum()), 1.0) * 3 * 255.0 ** 2

        def with_temporal(image: torch.Tensor, tiles, on_tile=None):
            terms, grad = objective(image, tiles, on_tile)
            value = 0.0
            for target, c in pairs:
                diff = image - target
                value += self.weight * float((c * diff * diff).sum()) / norm
                grad.add_(diff.mul_(c).mul_(2 * self.weight / norm))
            terms = dict(terms, temporal=value, total=terms["total"] + value)
            return terms, grad

        return with_temporal


def warped_previous(previous: Image.Image, backward: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """The previous frame's result (RGB) at (w, h) moved into this frame by the backward flow at that size."""
    rgb = images.normalize_mode(previous).convert("RGB")
    tensor = images.to_tensor(rgb, size)
    return warp(tensor, resize_flow(backward, size)).clamp_(0, 255)  # bicubic overshoots a little


def to_certainty_tensor(c: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(c)).float()[None, None]


__all__ = ["flow", "resize_flow", "warp", "certainty", "TemporalTerm", "warped_previous", "to_certainty_tensor"]
