"""Regions benchmark (not a test): a photo split in two regions with two unlike paintings.

    python benchmarks/bench_regions.py [--images ../shared/images] [--out benchmarks/results/regions]
        [--size 512] [--repeats 3] [--tiled-size 1024] [--tile-size 384] [--edges] [--pictures docs/images]

1. *Separation*: the left half of the photo (a hard-edged 8-bit mask) is one region with painting A, the
   right half follows the job's main style, painting B. Crops well inside each half (the outer 35 %) are
   judged by the independent VGG19 judge (benchmarks/judge.py): each crop's style distance to its own
   painting and to the other one.
2. *Cost*: the same job without regions (paintings A and B blended everywhere) and with the two regions,
   alternated,
   ``--repeats`` times each: wall time at ``--size`` (the balanced preset), and time per step of a tiled
   ``full`` job at ``--tiled-size`` with ``--tile-size`` tiles (final scale only), with the plan's peak.
3. ``--edges``: a slanted split optimized with each way of carrying masks down the network (area-averaged,
   the engine's; nearest; eroded) for 100 % crops of the boundary.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from benchmarks.judge import Judge

from nst_core import Engine, StyleOptions
from nst_core import regions as regions_mod
from nst_core.contract.layers import downsample
from nst_core.contract.spec import RegionInput

ROOT = Path(__file__).resolve().parent.parent
AREA_GUIDES = regions_mod.guides_at  # the engine's way
CONTENT = "by_the_water_2560.jpg"
STYLE_A, STYLE_B = "starry_night.jpg", "woman-with-hat-matisse.jpg"
INSIDE = 0.35  # crops: the outer 35 % of each half's width


def split_mask(size: tuple[int, int]) -> Image.Image:
    """Left half 255, right half 0: a hard cut, so that any blend across it is the optimization's."""
    w, h = size
    array = np.zeros((h, w), np.uint8)
    array[:, : w // 2] = 255
    return Image.fromarray(array, "L")


def diagonal_mask(size: tuple[int, int]) -> Image.Image:
    """Left of a slanted line (from 40 % of the width at the top to 60 % at the bottom) 255, right 0: an
    edge that crosses the deep layers' cells at every angle, unlike a vertical cut on their grid."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    return Image.fromarray(np.where(xx < w * (0.4 + 0.2 * yy / h), 255, 0).astype(np.uint8), "L")


def judge_crops(judge: Judge, image: Image.Image, a: Image.Image, b: Image.Image) -> dict:
    w, h = image.size
    left = image.crop((0, 0, int(w * INSIDE), h))
    right = image.crop((int(w * (1 - INSIDE)), 0, w, h))
    return {"left_to_A": judge.style_distance(left, a), "left_to_B": judge.style_distance(left, b),
            "right_to_B": judge.style_distance(right, b), "right_to_A": judge.style_distance(right, a)}


def timed(engine: Engine, content, styles, options, regions=()):
    start = time.perf_counter()
    result = engine.stylize(content, styles, options, regions=regions)
    return time.perf_counter() - start, result


def separation_and_cost(engine, judge, content, a, b, size, repeats, out: Path, pictures: Path | None) -> dict:
    content = content.resize((size, round(content.height * size / content.width)), Image.Resampling.LANCZOS)
    mask = split_mask(content.size)
    options = StyleOptions(max_size=size)
    plain_times, region_times = [], []
    for _ in range(repeats):  # alternated, so that load from other processes hits both alike
        # The same job without regions: the same two paintings, blended everywhere.
        t, plain = timed(engine, content, [a, b], options)
        plain_times.append(t)
        t, split = timed(engine, content, [b], options, [RegionInput(mask, [a])])
        region_times.append(t)
    split.image.save(out / "split.png")
    plain.image.save(out / "plain.png")
    scores = judge_crops(judge, split.image, a, b)
    if pictures is not None:
        sheet(content, split.image, a, b, pictures / "regions_split.jpg")
        boundary_crop(split.image, 192).save(pictures / "regions_boundary_100.png")
    return {"size": content.size, "plain_seconds": plain_times, "regions_seconds": region_times,
            "plain_median": statistics.median(plain_times), "regions_median": statistics.median(region_times),
            "ratio": statistics.median(region_times) / statistics.median(plain_times),
            "losses": split.losses, **scores}


def tiled_cost(engine, content, a, b, size, tile, repeats, steps=3) -> dict:
    content = content.resize((size, round(content.height * size / content.width)), Image.Resampling.LANCZOS)
    mask = split_mask(content.size)
    options = StyleOptions(preset="full", max_size=size, multiscale=False, steps=steps, tile_size=tile)
    per_step = {"plain": [], "regions": []}
    plans = {}
    for _ in range(repeats):
        for name, styles, regions in (("plain", [a, b], ()), ("regions", [b], [RegionInput(mask, [a])])):
            seen = []
            start = time.perf_counter()
            result = engine.stylize(content, styles, options, regions=regions,
                                    progress=lambda p: seen.append((time.perf_counter(), p)))
            finished = time.perf_counter()
            # Steps only: from the first complete step to the last (the targets come before).
            done = [t for t, p in seen if p.tile == p.tiles]
            per_step[name].append((done[-1] - done[0]) / (len(done) - 1) if len(done) > 1 else finished - start)
            plans[name] = result.plan
    grid = plans["regions"].scales[-1].grid
    return {"size": content.size, "tiles": f"{grid.rows}×{grid.cols}" + (" kept" if grid.keep else ""),
            "plain_step_seconds": per_step["plain"], "regions_step_seconds": per_step["regions"],
            "ratio": statistics.median(per_step["regions"]) / statistics.median(per_step["plain"]),
            "plain_peak_mib": plans["plain"].peak_bytes / 2**20, "regions_peak_mib": plans["regions"].peak_bytes / 2**20,
            "budget_mib": plans["regions"].budget_bytes / 2**20}


# -- the ways of carrying masks down the network, for --edges ----------------------------------------------

def _nearest(masks, size, layers, device):
    maps = regions_mod.weight_maps(masks, size, device)
    return {layer: F.interpolate(maps, size=(maps.shape[2] // downsample(layer), maps.shape[3] // downsample(layer)),
                                 mode="nearest") for layer in layers}


def _eroded(masks, size, layers, device):
    """Positions whose cell is not wholly inside a region count for none (the reference code's "inside")."""
    out = {}
    for layer, maps in AREA_GUIDES(masks, size, layers, device).items():
        d = downsample(layer)
        k = 3 if d > 1 else 1  # also drop the positions next to the edge at the pooled layers
        eroded = -F.max_pool2d(-(maps >= 1.0).float(), k, 1, k // 2)
        out[layer] = eroded
    return out


def edges(engine, content, a, b, size, out: Path, pictures: Path | None) -> dict:
    content = content.resize((size, round(content.height * size / content.width)), Image.Resampling.LANCZOS)
    mask = diagonal_mask(content.size)
    crops, scores = [], {}
    for name, guides in (("area (the engine's)", AREA_GUIDES), ("nearest", _nearest), ("eroded", _eroded)):
        result = engine.with_guides(guides).stylize(content, [b], StyleOptions(max_size=size),
                                                    regions=[RegionInput(mask, [a])])
        crops.append((name, boundary_crop(result.image, 128)))
        result.image.save(out / f"edges-{name.split()[0]}.png")
        scores[name] = float(result.losses["total"])
    if pictures is not None:
        row(crops, pictures / "regions_edges_100.png")
    return scores


# -- pictures -----------------------------------------------------------------------------------------------

def boundary_crop(image: Image.Image, side: int) -> Image.Image:
    w, h = image.size
    x0, y0 = w // 2 - side // 2, h // 2 - side // 2
    return image.crop((x0, y0, x0 + side, y0 + side))


def sheet(content, result, a, b, path: Path) -> None:
    h = 200
    def fit(img):
        return img.resize((round(img.width * h / img.height), h), Image.Resampling.LANCZOS)
    parts = [fit(a), fit(content), fit(result), fit(b)]
    canvas = Image.new("RGB", (sum(p.width for p in parts) + 10 * (len(parts) - 1), h), "white")
    x = 0
    for part in parts:
        canvas.paste(part, (x, 0))
        x += part.width + 10
    canvas.save(path, quality=88)


def row(crops, path: Path) -> None:
    side = crops[0][1].width
    canvas = Image.new("RGB", (len(crops) * (side + 10) - 10, side + 18), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (name, crop) in enumerate(crops):
        canvas.paste(crop, (i * (side + 10), 18))
        draw.text((i * (side + 10) + 2, 2), name, fill="black")
    canvas.save(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", default=str(ROOT.parent / "shared" / "images"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "regions"))
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tiled-size", type=int, default=1024)
    parser.add_argument("--tile-size", type=int, default=384)
    parser.add_argument("--edges", action="store_true")
    parser.add_argument("--edge-size", type=int, default=384)
    parser.add_argument("--skip", default="", help="comma-separated: separation, tiled")
    parser.add_argument("--pictures", default=None, help="write the README's pictures here (docs/images)")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    images, out = Path(args.images), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pictures = Path(args.pictures) if args.pictures else None
    if pictures is not None:
        pictures.mkdir(parents=True, exist_ok=True)
    content = Image.open(images / CONTENT).convert("RGB")
    a, b = (Image.open(images / name).convert("RGB") for name in (STYLE_A, STYLE_B))
    engine, judge = Engine(device="cpu"), Judge("cpu")
    report = {"content": CONTENT, "A": STYLE_A, "B": STYLE_B}
    skip = set(args.skip.split(","))
    if "separation" not in skip:
        report["separation"] = separation_and_cost(engine, judge, content, a, b, args.size, args.repeats, out,
                                                   pictures)
        print(json.dumps(report["separation"], indent=1), flush=True)
    if "tiled" not in skip:
        report["tiled"] = tiled_cost(engine, content, a, b, args.tiled_size, args.tile_size, args.repeats)
        print(json.dumps(report["tiled"], indent=1), flush=True)
    if args.edges:
        report["edges"] = edges(engine, content, a, b, args.edge_size, out, pictures)
        print(json.dumps(report["edges"], indent=1), flush=True)
    (out / "report.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
