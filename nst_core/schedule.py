"""Coarse-to-fine scale schedule: long sides from ~min_size doubling up to the working size."""
from __future__ import annotations

import math


def scale_long_sides(long_side: int, min_size: int, multiscale: bool) -> list[int]:
    """E.g. 512 with min 128 → [128, 256, 512]; 300 → [150, 300]; single-scale → [long_side]."""
    if not multiscale or long_side <= min_size:
        return [long_side]
    n = int(math.floor(math.log2(long_side / min_size))) + 1
    return [max(1, round(long_side / 2 ** (n - 1 - i))) for i in range(n)]


def steps_per_scale(n_scales: int, steps: int, coarse_steps: int) -> list[int]:
    """The final scale gets ``steps``; each coarser one ``coarse_steps`` (0 skips it)."""
    return [coarse_steps] * (n_scales - 1) + [steps]
