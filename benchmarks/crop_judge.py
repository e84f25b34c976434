"""Crop judge (not a test): the style distance of a full-resolution result at 100 %, in square crops.

    python benchmarks/crop_judge.py PICTURE STYLE [PICTURE STYLE ...] [--side 512] [--phases 4]

The quality judge (benchmarks/judge.py) looks at a whole picture at 256 px, where brush texture at 100 %
does not show. Here each square crop of ``side`` px (the left and right ends of the picture, vertically
centred) is judged at its own pixels: the judge's style distance (mean over relu1_1 … relu5_1 of
‖G(x) − G(s)‖² / ‖G(s)‖²) against the painting at the size a job paints it (the content's pixel count, never
enlarged: nst_core.contract.schedule.style_size's rule, written out here).

The judge's VGG19 pools with 2×2 max pooling on a fixed lattice, and a picture optimized with max pooling
can carry a dot grid on that very lattice that the judge then rewards when the crop starts on it. So every
crop is judged at ``phases`` offsets along the diagonal (0, 1, … px), which put the pools of the first
layers off that lattice, and the mean is reported, with the aligned (offset 0) figure beside it: a gap
between the two says the texture lives on the pooling lattice. Independent of the engine.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.judge import Judge


def crop_boxes(size: tuple[int, int], side: int, phases: int) -> list[tuple[int, int, int, int]]:
    """The left and right end crops (one if the picture is no wider than a crop), room left for the phases."""
    w, h = size
    side = min(side, w - phases + 1, h - phases + 1)
    if side < 64:
        raise ValueError(f"a {w}×{h} picture is too small for crops with {phases} phases")
    top = (h - side - phases + 1) // 2
    lefts = sorted({0, w - side - phases + 1})
    return [(left, top, left + side, top + side) for left in lefts]


def painted_style_pixels(style: Image.Image, content_size: tuple[int, int]) -> int:
    """The style's pixel count in a job on a content of this size (its own size at most)."""
    return min(style.width * style.height, content_size[0] * content_size[1])


def crop_style_distances(judge: Judge, picture: Image.Image, style: Image.Image, side: int = 512,
                         phases: int = 4) -> list[list[float]]:
    """Per crop, the style distance at each diagonal offset 0 … phases − 1 (see the module docstring)."""
    targets = judge.style_grams(style, painted_style_pixels(style, picture.size))
    out = []
    for left, top, right, bottom in crop_boxes(picture.size, side, phases):
        per_phase = []
        for d in range(phases):
            crop = picture.crop((left + d, top + d, right + d, bottom + d))
            grams = judge.grams_at_own_size(crop)
            per_phase.append(float(np.mean([float((grams[n] - targets[n]).pow(2).sum() / targets[n].pow(2).sum())
                                            for n in targets])))
        out.append(per_phase)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pairs", nargs="+", metavar="PICTURE STYLE")
    ap.add_argument("--side", type=int, default=512, help="crop side in px")
    ap.add_argument("--phases", type=int, default=4, help="diagonal offsets averaged per crop")
    args = ap.parse_args()
    if len(args.pairs) % 2:
        ap.error("give pictures and styles in pairs")
    judge = Judge()
    for picture, style in zip(args.pairs[::2], args.pairs[1::2]):
        per_crop = crop_style_distances(judge, Image.open(picture).convert("RGB"), Image.open(style).convert("RGB"),
                                        args.side, args.phases)
        means = [statistics.fmean(d) for d in per_crop]
        print(f"{picture}: crops (mean over {args.phases} phases) " + ", ".join(f"{m:.3f}" for m in means)
              + "; aligned " + ", ".join(f"{d[0]:.3f}" for d in per_crop)
              + f"; mean {statistics.fmean(means):.3f}")
        if not all(math.isfinite(m) for m in means):
            sys.exit(f"{picture}: a distance is not finite")


if __name__ == "__main__":
    main()
