"""Full-resolution benchmark (not a test): memory calibration, the cost of tiling, a `full` job's wall time,
peak RSS and ETA accuracy, and the brush texture `full` adds at 100 % zoom. docs/benchmarks.md "Performance".

    python benchmarks/bench_fullres.py calibrate
    python benchmarks/bench_fullres.py tile-cost PHOTO [--size 1024x640] [--repeats 3] [--optimizer adam]
    python benchmarks/bench_fullres.py run PHOTO [--size 2048x1536] [--memory-budget-mb N] [--out DIR]
    python benchmarks/bench_fullres.py texture PHOTO FULL_RESULT [--out DIR] [--crop docs/images/fullres-crop.jpg]

PHOTO is any picture (the figures in the README used the 2560×1600 KDE wallpaper photos, see README); the
style is the bundled Starry Night unless --style is given. Timings on a shared machine are noisy: repeat,
take medians, and compare runs made side by side.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageOps

from nst_core import Engine, StyleOptions
from nst_core.images import to_tensor
from nst_core.lean import kept_bytes_per_pixel
from nst_core.losses import gram_matrix, style_loss
from nst_core.contract.options import resolve

ROOT = Path(__file__).resolve().parent.parent
STYLE = ROOT / "samples" / "starry_night.jpg"
MIB = 2 ** 20


def status(key: str) -> int:
    """A /proc/self/status figure in bytes (VmRSS, VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:  # resets VmHWM to the current RSS (Linux)
        f.write("5")


def load(path: str, size: str | None) -> Image.Image:
    image = Image.open(path).convert("RGB")
    if size:  # centre-cropped to the requested aspect first, so nothing is distorted
        w, h = (int(v) for v in size.lower().split("x"))
        image = ImageOps.fit(image, (w, h), Image.Resampling.LANCZOS)
    return image


def engine() -> Engine:
    e = Engine(device=os.environ.get("NST_BENCH_DEVICE", "cpu"))
    e.warm_up()
    return e


# -- calibrate: bytes per pixel of a tile step and of a forward pass, each size in a fresh process ----------

def probe(kind: str, size: int, prec: str = "float32") -> None:
    e = engine()
    probes = dict(zip(("step", "forward", "keep"), e.probes(prec)))
    import gc
    gc.collect()
    base = status("VmRSS")
    reset_peak()
    probes[kind](size)
    growth, pixels = status("VmHWM") - base, size ** 2
    if kind == "keep":  # two kept size × (size + 32) windows: what one tile's pass needs beyond both records
        pixels = size * (size + 32)
        opts = resolve(StyleOptions())
        growth -= 2 * pixels * kept_bytes_per_pixel(opts.style_layers + opts.content_layers, "max",
                                                    2 if prec == "bf16" else 4)
    print(json.dumps({"bytes_per_pixel": growth / pixels}))


def calibrate(args) -> None:
    for kind in ("step", "forward", "keep"):
        for size in args.sizes:
            run = subprocess.run([sys.executable, __file__, "_probe", kind, str(size), args.precision],
                                 capture_output=True, text=True)
            figure = json.loads(run.stdout.strip().splitlines()[-1])["bytes_per_pixel"]
            print(f"{kind:8s} {size:5d}²: {figure:7.0f} B/px (peak RSS growth, fresh process)", flush=True)


# -- tile-cost: per-step time of the same scale untiled and tiled ---------------------------------------------

def step_times(e: Engine, content, style, options: StyleOptions) -> tuple[list[float], list[float], str, float]:
    """Wall and CPU seconds of each step but the first, the plan, and the loss at the last step."""
    wall, cpu, marks = [], [], []

    def on(p):
        if p.tile == p.tiles:
            marks.append((time.perf_counter(), time.process_time()))

    result = e.stylize(content, [style], options, progress=on)
    for (w0, c0), (w1, c1) in zip(marks, marks[1:]):  # from step 2 on: the first also pays for the targets
        wall.append(w1 - w0)
        cpu.append(c1 - c0)
    return wall, cpu, result.plan.describe(), result.losses["total"]


def tile_cost(args) -> None:
    e, content, style = engine(), load(args.photo, args.size), Image.open(args.style).convert("RGB")
    w, h = content.size
    two, four = max((w + 1) // 2, h) + 16, max((w + 1) // 2, (h + 1) // 2) + 16
    configs = {"untiled": (0, True), "1×2 tiles": (two, True), "2×2 tiles": (four, True),
               "2×2 recomputed": (four, False)}  # as without room for kept records (nst_core.lean)
    walls: dict[str, list[float]] = {k: [] for k in configs}
    cpus: dict[str, list[float]] = {k: [] for k in configs}
    losses: dict[str, float] = {}
    model = e.memory_model(args.precision)
    for repeat in range(args.repeats):  # interleaved, so drifting load hits every configuration alike
        for name, (tile, keep) in configs.items():
            e._memory_models[args.precision] = model if keep else replace(model, keep_pass=0.0)
            options = StyleOptions(max_size=max(content.size), steps=args.steps, multiscale=False, tile_size=tile,
                                   optimizer=args.optimizer, precision=args.precision)
            wall, cpu, plan, losses[name] = step_times(e, content, style, options)
            walls[name] += wall
            cpus[name] += cpu
            print(f"repeat {repeat + 1} {name}: {plan}; wall {statistics.median(wall):.2f} s/step, "
                  f"loss after {args.steps} steps {losses[name]:.4g}", flush=True)
    base_wall, base_cpu = statistics.median(walls["untiled"]), statistics.median(cpus["untiled"])
    for name in configs:
        mw, mc = statistics.median(walls[name]), statistics.median(cpus[name])
        print(f"{name:10s} median of {len(walls[name])} steps: wall {mw:.2f} s ({mw / base_wall:.2f}×), "
              f"CPU {mc:.2f} s ({mc / base_cpu:.2f}×); loss after {args.steps} steps "
              f"{losses[name] / losses['untiled']:.3f}× the untiled")


# -- run: one job, wall time, peak RSS, ETA accuracy --------------------------------------------------------

def run(args) -> None:
    e, content, style = engine(), load(args.photo, args.size), Image.open(args.style).convert("RGB")
    options = StyleOptions(preset=args.preset, precision=args.precision,
                           **({"max_size": args.max_size} if args.max_size else {}))
    plan = e.with_memory_budget(args.memory_budget_mb).plan(content.size, [style.size], options)
    print(f"content {content.size[0]}×{content.size[1]}, budget {plan.budget_bytes / MIB:.0f} MiB, "
          f"resident {plan.resident_bytes / MIB:.0f} MiB\nplan: {plan.describe()}", flush=True)
    reset_peak()
    start = time.perf_counter()
    events: list[tuple[float, float, int, int]] = []
    last_print = [0.0]

    def on(p):
        now = time.perf_counter() - start
        events.append((now, p.eta_seconds, p.overall_step, p.tile))
        if now - last_print[0] > 30 or p.overall_step == p.overall_total and p.tile == p.tiles:
            last_print[0] = now
            print(f"  {now:7.0f} s  stage {p.stage}/{p.stages} {p.width}×{p.height}  step {p.step}/{p.total}  "
                  f"tile {p.tile}/{p.tiles}  ETA {p.eta_seconds:6.0f} s  RSS {status('VmRSS') / MIB:.0f} MiB", flush=True)

    result = e.with_memory_budget(args.memory_budget_mb).stylize(content, [style], options, progress=on)
    wall = time.perf_counter() - start
    peak = status("VmHWM")
    print(f"wall {wall:.0f} s, {result.steps} steps; peak RSS of the process {peak / MIB:.0f} MiB "
          f"(budget {plan.budget_bytes / MIB:.0f} MiB, planned peak {plan.peak_bytes / MIB:.0f} MiB); "
          f"result {result.image.size[0]}×{result.image.size[1]}")
    for share in (0.1, 0.25, 0.5, 0.75):
        at = next((ev for ev in events if ev[0] >= share * wall), None)
        if at is not None:
            real = wall - at[0]
            print(f"ETA at {at[0]:.0f} s ({share:.0%} of the job): {at[1]:.0f} s, real {real:.0f} s "
                  f"({(at[1] - real) / real:+.0%})")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = (f"{Path(args.photo).stem}-{args.preset}-{args.precision}-{result.image.size[0]}x"
            f"{result.image.size[1]}.png")
    result.image.save(out / name)
    print(f"wrote {out / name}")


# -- texture: style loss of 100 % crops, full vs balanced stretched; the side-by-side picture ------------------

def crop_style_loss(e: Engine, crops, style) -> list[float]:
    opts = resolve(StyleOptions())
    net = e.network()
    with torch.no_grad():
        targets = {k: gram_matrix(v) for k, v in net(to_tensor(style), opts.style_layers).items()}
        return [opts.style_weight * float(style_loss(net(to_tensor(c), opts.style_layers), targets,
                                                     opts.style_layers, opts.style_layer_weights)) for c in crops]


def texture(args) -> None:
    e, style = engine(), Image.open(args.style).convert("RGB")
    full = Image.open(args.full_result).convert("RGB")
    content = load(args.photo, f"{full.width}x{full.height}")
    balanced = e.stylize(content, [style], StyleOptions(preset="balanced")).image  # stretched to full size
    balanced.save(Path(args.out) / "balanced-stretched.png")
    side, (w, h) = args.crop_size, full.size
    boxes = [(x, y, x + side, y + side) for y in range(0, h - side + 1, side) for x in range(0, w - side + 1, side)]
    losses = {name: crop_style_loss(e, [img.crop(b) for b in boxes], style)
              for name, img in (("full", full), ("balanced", balanced))}
    for name, values in losses.items():
        print(f"{name:9s} style loss of {len(values)} {side}×{side} crops at 100 %: median {statistics.median(values):.3g}")
    print(f"full / balanced: {statistics.median(losses['full']) / statistics.median(losses['balanced']):.2f}")
    box = (args.x, args.y, args.x + args.show, args.y + args.show)
    panels = [(content.crop(box), "content (100 %)"), (balanced.crop(box), "balanced, stretched"),
              (full.crop(box), "full")]
    sheet = Image.new("RGB", (3 * args.show + 8, args.show + 22), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (panel, label) in enumerate(panels):
        sheet.paste(panel, (i * (args.show + 4), 0))
        draw.text((i * (args.show + 4) + 4, args.show + 4), label, fill="black")
    Path(args.crop).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.crop, quality=88)
    print(f"wrote {args.crop}")


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "_probe":
        torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
        probe(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("calibrate")
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 768, 1024])
    p = sub.add_parser("tile-cost")
    p.add_argument("photo")
    p.add_argument("--size", default="1024x640")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs")
    p = sub.add_parser("run")
    p.add_argument("photo")
    p.add_argument("--size", help="resize the photo to WxH first (default: its own size)")
    p.add_argument("--preset", default="full")
    p.add_argument("--max-size", type=int)
    p.add_argument("--memory-budget-mb", type=int)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    p = sub.add_parser("texture")
    p.add_argument("photo")
    p.add_argument("full_result")
    p.add_argument("--crop-size", type=int, default=512)
    p.add_argument("--show", type=int, default=320, help="side of the 100 %% crops in the picture")
    p.add_argument("--x", type=int, default=0)
    p.add_argument("--y", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--crop", default=str(ROOT / "docs" / "images" / "fullres-crop.jpg"))
    for p in sub.choices.values():
        p.add_argument("--style", default=str(STYLE))
        p.add_argument("--precision", default="float32", choices=("float32", "bf16"))
    args = parser.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    {"calibrate": calibrate, "tile-cost": tile_cost, "run": run, "texture": texture}[args.command](args)


if __name__ == "__main__":
    main()
