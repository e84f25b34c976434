"""Lattice score (not a test): how strongly a picture carries a regular grid of fine dots, the artifact a
few final steps at full resolution can leave (docs/benchmarks.md "Convergence", the dot grid in `full`).

    python benchmarks/lattice.py PICTURE [PICTURE...] [--periods 2,4,8] [--side 640]

For each square crop of ``side`` px (the left and right ends of the picture), the grey picture minus its
5×5 box blur is Fourier-transformed; at each period p the score is the power at the frequency of a grid of
p px (horizontal, vertical and diagonal; the largest) over the median power of the neighbouring
frequencies. A photo scores about 1-7; a visible grid scores tens to hundreds. Independent of the engine.
"""
from __future__ import annotations

import argparse

import numpy as np
from PIL import Image, ImageFilter


def lattice_scores(image: Image.Image, periods=(2, 4, 8), side: int = 640) -> list[dict[int, float]]:
    """Per crop (left end, right end): {period: score}."""
    grey = image.convert("L")
    side = min(side, *grey.size)
    crops = [(0, 0), (grey.width - side, grey.height - side)]
    out = []
    for left, top in crops:
        crop = grey.crop((left, top, left + side, top + side))
        g = np.asarray(crop, dtype=np.float64)
        high = g - np.asarray(crop.filter(ImageFilter.BoxBlur(2)), dtype=np.float64)
        power = np.abs(np.fft.fft2(high)) ** 2
        scores = {}
        for period in periods:
            k = side // period
            best = 0.0
            for y, x in ((k, 0), (0, k), (k, k)):
                ring = [power[(y + a) % side, (x + b) % side] for a in range(-3, 4) for b in range(-3, 4)
                        if (a, b) != (0, 0)]
                best = max(best, float(power[y, x] / max(np.median(ring), 1e-12)))
            scores[period] = best
        out.append(scores)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pictures", nargs="+")
    ap.add_argument("--periods", default="2,4,8", help="grid periods in px, comma-separated")
    ap.add_argument("--side", type=int, default=640, help="side of the square crops")
    args = ap.parse_args()
    periods = tuple(int(p) for p in args.periods.split(","))
    for path in args.pictures:
        for where, scores in zip(("left", "right"), lattice_scores(Image.open(path), periods, args.side)):
            print(f"{path} ({where}): " + "  ".join(f"period {p}: {s:.1f}" for p, s in scores.items()))


if __name__ == "__main__":
    main()
