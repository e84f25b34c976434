"""Coarse-to-fine schedule: the sizes of the content and the styles at each scale, and the steps per scale.

Scales go from about ``min_size`` doubling up to the working size, which is ``max_size`` or the content's own
size, whichever is smaller (never upscaled), and at most :data:`MAX_WORKING_PIXELS`. The coarsest scale
gets :data:`COARSEST_FACTOR` × ``coarse_steps`` when it is small (under :data:`CHEAP_COARSEST` ×
``min_size`` on its long side, about 128-191 px): it is where the painting's layout and palette form, its
steps are the cheapest (1/16 of a final one at 512 px), and the quality benchmark's style distance fell by
a fifth for a few % of the time (docs/benchmarks.md "Convergence"). A coarsest scale of 192 px or more (a 400-511 px
job has only two scales) costs a quarter of a final step per step, and doubling it made the README's
451×300 job 40 % slower for no better picture. Up to :data:`DETAIL_SIDE` every other coarse scale
gets ``coarse_steps``; above it a coarse scale gets half as many
per doubling, never fewer than ``steps``: by 512 px the picture is complete (``balanced`` ends there),
finer scales add brush texture, and each of their steps costs four times the last. The final scale gets
``steps``. (docs/engine.md "Presets" shows the crops these choices were made from.)
"""
from __future__ import annotations

import math
from typing import Optional

from .errors import InvalidInput
from .limits import DEFAULT_MAX_PIXELS

MAX_WORKING_PIXELS = DEFAULT_MAX_PIXELS  # the server's default image limit: 8192 × 8192
COARSEST_FACTOR = 2  # the coarsest scale's steps, in coarse_steps, when it is cheap (see above)
CHEAP_COARSEST = 1.5  # … that is, when its long side is under this × min_size
DETAIL_SIDE = 512  # coarse scales up to this long side keep coarse_steps (the default preset's final size)
MAX_STYLE_SIDE = 32768  # a style stretched to the network's minimum short side may not get longer than this


def scale_long_sides(long_side: int, min_size: int, multiscale: bool) -> list[int]:
    """E.g. 512 with min 128 → [128, 256, 512]; 300 → [150, 300]; single-scale → [long_side]."""
    if not multiscale or long_side <= min_size:
        return [long_side]
    n = int(math.floor(math.log2(long_side / min_size))) + 1
    return [max(1, round(long_side / 2 ** (n - 1 - i))) for i in range(n)]


def steps_per_scale(sides: list[int], steps: int, coarse_steps: int, min_size: int = 128) -> list[int]:
    """Steps for scales with these long sides (see the module docstring); a 0 skips a coarse scale."""
    out = []
    for i, side in enumerate(sides[:-1]):
        if i == 0:
            out.append(COARSEST_FACTOR * coarse_steps if side < CHEAP_COARSEST * min_size else coarse_steps)
        elif side <= DETAIL_SIDE or coarse_steps == 0:
            out.append(coarse_steps)
        else:
            out.append(max(steps, round(coarse_steps * DETAIL_SIDE / side)))
    return out + [steps]


def fit(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """Scale ``(w, h)`` so the long side is ``long_side``, keeping the aspect ratio."""
    w, h = size
    scale = long_side / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def working_long_side(content: tuple[int, int], max_size: int) -> int:
    """``max_size``, but never beyond the content's own size nor :data:`MAX_WORKING_PIXELS`."""
    long_side = min(max_size, max(content))
    w, h = fit(content, long_side)
    if w * h > MAX_WORKING_PIXELS:
        long_side = int(long_side * math.sqrt(MAX_WORKING_PIXELS / (w * h)))
    return long_side


def scales(content: tuple[int, int], max_size: int, min_size: int, multiscale: bool, steps: int,
           coarse_steps: int, min_side: int) -> list[tuple[tuple[int, int], int]]:
    """``(size, steps)`` of the content at each scale. Scales too small for the network (a short side under
    ``min_side``) are left out; if even the finest is, the content is too small: InvalidInput."""
    long_side = working_long_side(content, max_size)
    lowest = min(min_size, long_side)
    sides = scale_long_sides(long_side, lowest, multiscale)
    planned = list(zip((fit(content, s) for s in sides), steps_per_scale(sides, steps, coarse_steps, lowest)))
    usable = [(size, n) for size, n in planned if min(size) >= min_side]
    if not usable:
        w, h = planned[-1][0]
        if min(content) >= min_side:  # the content itself would do: max_size made it too small
            need = math.ceil(min_side * max(content) / min(content))
            raise InvalidInput("max_size", f"{max_size} px makes the content {w}×{h}, but the layers used need a "
                                           f"short side of at least {min_side} px: use a max_size of {need} or more")
        raise InvalidInput("content", f"image is too small: at its working size {w}×{h} the short side must be "
                                      f"at least {min_side} px for the layers used (the deepest halves it "
                                      f"{int(math.log2(min_side))} times)")
    return usable


def style_size(style: tuple[int, int], content: tuple[int, int], style_scale: float, min_side: int,
               field: str) -> tuple[int, int]:
    """A style's size at a scale where the content is ``content`` (w, h).

    It gets ``style_scale``² × the content's pixel count, its own aspect ratio kept: the same texture density
    whatever the two aspect ratios (a portrait style under a landscape photo is not shrunk by its long side;
    the classic implementations and the quality benchmark's judge size styles this way). It is never blown
    up past ``style_scale`` × its own size (at full resolution the brush strokes keep their own size). A
    style too thin for the network at that size (a panorama, a small ``style_scale``) is enlarged until its
    short side is ``min_side``; only a style so elongated that this would exceed :data:`MAX_STYLE_SIDE`
    cannot be used.
    """
    if min(style) < min_side:  # enlarging it would add no texture, only blur (and a long job of noise)
        raise InvalidInput(field, f"is {style[0]}×{style[1]}: a style image needs at least {min_side} px on its "
                                  "short side for the style layers used; a larger crop carries its texture")
    linear = style_scale * min(1.0, math.sqrt(content[0] * content[1] / (style[0] * style[1])))
    w, h = max(1, round(style[0] * linear)), max(1, round(style[1] * linear))
    if min(w, h) < min_side:
        grow = min_side / min(style)
        w, h = max(min_side, math.ceil(style[0] * grow)), max(min_side, math.ceil(style[1] * grow))
        if max(w, h) > MAX_STYLE_SIDE:
            raise InvalidInput(field, f"is {style[0]}×{style[1]}: too elongated for the network, which needs a short "
                                      f"side of {min_side} px (that would make it {w}×{h}; at most "
                                      f"{MAX_STYLE_SIDE} px long); crop it")
    return w, h


def check_sizes(content: tuple[int, int], styles: list[tuple[int, int]], opts,
                fields: Optional[list[str]] = None) -> None:
    """The size checks a job's plan makes (nst_core.plan), from the images' sizes alone: a server runs them
    before a job waits in its queue. Raises InvalidInput naming max_size, the content or a style."""
    from .layers import min_input_side

    align = min_input_side(sorted(set(opts.content_layers) | set(opts.style_layers)))
    style_min = min_input_side(opts.style_layers)
    for size, _ in scales(content, opts.max_size, opts.min_size, opts.multiscale, opts.steps, opts.coarse_steps,
                          align):
        for i, style in enumerate(styles):
            style_size(style, size, opts.style_scale, style_min, fields[i] if fields else f"styles[{i}]")
