"""Frozen VGG19 feature extractor addressed by paper layer names."""
from __future__ import annotations

import copy
from typing import Iterable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .contract.errors import WeightsUnavailable
from .contract.layers import LAYER_INDEX, LAYER_NAMES, channels


class VGGFeatures(nn.Module):
    """torchvision's ``vgg19().features`` with given weights; returns the requested activations.

    The forward pass stops after the deepest requested layer, so a job using ``relu5_1`` never runs
    conv5_2…pool5. Average pooling (Gatys et al.'s suggestion) is applied per call and rescaled by a
    per-pool factor measured once on a natural-image-like input, so activations beyond a pool keep the
    magnitudes the weights were trained with (plain average pooling shrinks them layer after layer).
    Blur pooling (:func:`blur_pool`) is also chosen per call.
    """

    def __init__(self, state_dict: dict[str, torch.Tensor]):
        super().__init__()
        features = _layers()
        missing = [k for k in features.state_dict() if f"features.{k}" not in state_dict]
        if missing:
            raise WeightsUnavailable(f"the weights lack {len(missing)} VGG19 tensors, e.g. features.{missing[0]}")
        try:
            # assign: the given tensors become the parameters (float32), no second copy of the weights.
            features.load_state_dict({k[len("features."):]: v.float() for k, v in state_dict.items()
                                      if k.startswith("features.")}, strict=True, assign=True)
        except RuntimeError as exc:  # wrong shapes or extra tensors: not a VGG19 feature stack
            raise WeightsUnavailable(f"the weights do not fit VGG19's layers: {exc}") from exc
        self.layers = features.requires_grad_(False).eval()
        self._avg_scales: Optional[dict[int, float]] = None
        self._avg_source: Optional["VGGFeatures"] = None  # a twin's float32 original (avg_scales)

    def in_dtype(self, dtype: torch.dtype) -> "VGGFeatures":
        """This network with every convolution after the first in ``dtype``, its weights cast now, once (the
        caller keeps the twin; the pools and ReLUs are shared). The first convolution stays float32: it sees
        the image, which bf16 would round to 0.5–1 grey level (nst_core.precision)."""
        if dtype == torch.float32:
            return self
        twin = copy.copy(self)  # a shallow copy shares the module dicts: give it its own below
        twin._modules = dict(self._modules)
        twin.layers = nn.Sequential(*[copy.deepcopy(m).to(dtype) if isinstance(m, nn.Conv2d) and i > 0 else m
                                      for i, m in enumerate(self.layers)])
        twin._avg_source = self
        return twin

    def forward(self, x: torch.Tensor, names: Iterable[str], pooling: str = "max") -> dict[str, torch.Tensor]:
        wanted = {LAYER_INDEX[n]: n for n in names}
        last = max(wanted)
        scales = self.avg_scales() if pooling == "avg" else None
        out: dict[str, torch.Tensor] = {}
        for i in range(last + 1):
            module = self.layers[i]
            if scales is not None and isinstance(module, nn.MaxPool2d):
                x = F.avg_pool2d(x, 2, 2) * scales[i]
            elif pooling == "blur" and isinstance(module, nn.MaxPool2d):
                x = blur_pool(x)
            elif isinstance(module, nn.ReLU):
                # In place saves a full-size copy per layer, unless the conv output itself is wanted.
                x = F.relu(x, inplace=(i - 1) not in wanted)
            else:
                if isinstance(module, nn.Conv2d) and x.dtype != module.weight.dtype:  # a bf16 twin's (in_dtype)
                    x = x.to(module.weight.dtype)
                x = module(x)
            if i in wanted:
                out[wanted[i]] = x
        return out

    def avg_scales(self) -> dict[int, float]:
        """Per-pool factors mean(maxpool(a)) / mean(avgpool(a)), measured on 1/f noise once (in float32)."""
        if self._avg_source is not None:
            return self._avg_source.avg_scales()
        if self._avg_scales is None:
            scales: dict[int, float] = {}
            param = next(self.parameters())
            x = _pink_noise(224, param.device, param.dtype)
            with torch.no_grad():
                for i, module in enumerate(self.layers):
                    if isinstance(module, nn.MaxPool2d):
                        avg = F.avg_pool2d(x, 2, 2)
                        scales[i] = float(module(x).mean() / avg.mean().clamp_min(1e-8))
                        x = avg * scales[i]
                    else:
                        x = module(x)
            self._avg_scales = scales
        return self._avg_scales


def blur_pool(x: torch.Tensor) -> torch.Tensor:
    """Anti-aliased 2×2 max pooling (Zhang 2019, "Making convolutional networks shift-invariant again"):
    the max over every 2×2 window (stride 1), low-passed by a 3×3 binomial filter taken at stride 2.

    Plain max pooling samples on a fixed 2-px lattice: an optimized picture can feed the deep layers through
    that lattice, and `full` results showed a fine dot grid at the pools' strides (docs/benchmarks.md "Convergence").
    Here every pixel reaches the pooled value through a smooth filter, so no lattice is favoured. The input
    follows a ReLU (≥ 0): the zero row and column the stride-1 max needs never win over a real value. The
    output keeps max pooling's size (⌊h/2⌋ × ⌊w/2⌋), so tiles and targets line up as they do with it.
    """
    if torch.is_grad_enabled() and x.requires_grad:  # autograd's own max (its record; nst_core.lean keeps less)
        peak = F.max_pool2d(F.pad(x, (0, 1, 0, 1)), 2, 1)
    else:
        peak = window_max(x)[0]
    return binomial_subsample(peak)


def window_max(x: torch.Tensor, winners: bool = False):
    """``(peak, (right_won, lower_won) or None)``: the max over every 2×2 window at stride 1 (zero beyond the
    last row and column, which a ReLU output never loses to), as two passes of pairwise maxima: along rows, then
    along columns. ``right_won[..., y, x]``: the row pass at (y, x) took x + 1; ``lower_won[..., y, x]``: the
    column pass took row y + 1 (both False on the last column / row). Ties go left and up, as max pooling's
    first-in-the-window rule: the winners are the pixels ``F.max_pool2d`` would name, at one byte each per input
    element instead of its eight-byte index, and computed without one (a backward needs only these)."""
    left, right = x[..., :, :-1], x[..., :, 1:]
    rows = torch.empty_like(x)
    torch.maximum(left, right, out=rows[..., :, :-1])
    rows[..., :, -1] = x[..., :, -1]
    upper, lower = rows[..., :-1, :], rows[..., 1:, :]
    peak = torch.empty_like(x)
    torch.maximum(upper, lower, out=peak[..., :-1, :])
    peak[..., -1, :] = rows[..., -1, :]
    if not winners:
        return peak, None
    right_won = torch.empty(x.shape, dtype=torch.bool, device=x.device, memory_format=layout_of(x))
    torch.gt(right, left, out=right_won[..., :, :-1])
    right_won[..., :, -1] = False
    lower_won = torch.empty_like(right_won)
    torch.gt(lower, upper, out=lower_won[..., :-1, :])
    lower_won[..., -1, :] = False
    return peak, (right_won, lower_won)


def binomial_subsample(peak: torch.Tensor) -> torch.Tensor:
    """The 3×3 binomial filter taken at stride 2 (edges replicated), cut to max pooling's ⌊h/2⌋ × ⌊w/2⌋."""
    h, w = peak.shape[2] // 2, peak.shape[3] // 2
    out = F.conv2d(F.pad(peak, (1, 1, 1, 1), mode="replicate"), binomial(peak), stride=2, groups=peak.shape[1])
    return out[:, :, :h, :w]


def layout_of(t: torch.Tensor) -> torch.memory_format:
    """channels_last for a channels-last tensor (not also plain contiguous), else contiguous_format."""
    if t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def binomial(x: torch.Tensor) -> torch.Tensor:
    """The depthwise 3×3 binomial kernel ([1, 2, 1] ⊗ [1, 2, 1] / 16) for ``x``'s channels, device and dtype."""
    k = torch.tensor([1.0, 2.0, 1.0], device=x.device, dtype=x.dtype)
    return (k[:, None] * k[None, :] / 16).expand(x.shape[1], 1, 3, 3).contiguous()


def _layers() -> nn.Sequential:
    """torchvision's ``vgg19().features`` layout (same indices and state-dict keys), built without weights
    (on the meta device: no random initialisation, no memory) and without importing torchvision, which
    costs the serving process ~160 MiB of resident memory (docs/server.md "Limits")."""
    modules: list[nn.Module] = []
    in_channels = 3
    with torch.device("meta"):
        for name in LAYER_NAMES:
            if name.startswith("conv"):
                modules.append(nn.Conv2d(in_channels, channels(name), kernel_size=3, padding=1))
                in_channels = channels(name)
            elif name.startswith("relu"):
                modules.append(nn.ReLU(inplace=False))  # keep conv outputs intact when they are targets
            else:
                modules.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*modules)


def _pink_noise(size: int, device, dtype) -> torch.Tensor:
    """A fixed image with a natural 1/f spectrum, roughly centred like preprocessed photos (±60)."""
    g = torch.Generator().manual_seed(1234)
    freq = torch.fft.fftfreq(size)
    radius = torch.sqrt(freq[:, None] ** 2 + freq[None, :] ** 2).clamp_min(1.0 / size)
    spectrum = torch.randn(3, size, size, generator=g, dtype=torch.complex64) / radius
    img = torch.fft.ifft2(spectrum).real
    img = img / img.std() * 60.0
    return img.unsqueeze(0).to(device=device, dtype=dtype)


