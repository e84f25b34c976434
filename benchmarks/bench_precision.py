"""Precision benchmark (not a test): float32 against bf16 on this CPU, alternated in one run.

    python benchmarks/bench_precision.py [--sizes 256,512] [--repeats 3] [--job-size 512] [--threads N]

Prints the CPU's bf16 flags and what ``auto`` means, then per size the bare network's forward+backward
(VGG19 to relu5_1, frozen weights, channels-last: the float32 model and the engine's bf16 twin), the
seconds per L-BFGS step of a real single-scale job, and the `balanced` job end to end (wall and CPU
seconds). Each measurement alternates float32 and bf16 so drifting load hits both alike; medians.
Targets (issue "Use the matrix units"): on a CPU with AMX-BF16 the `balanced` 512×512 job ≥ 3× faster in
bf16, and a bf16 step at 512² within 1.5× the bare bf16 forward+backward.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from pathlib import Path

import torch
from PIL import Image

from nst_core import Engine, StyleOptions, precision
from nst_core.contract.options import CONTENT_LAYERS, STYLE_LAYERS

ROOT = Path(__file__).resolve().parent.parent
CONTENT, STYLE = ROOT / "samples" / "astronaut.png", ROOT / "samples" / "starry_night.jpg"
PRECISIONS = ("float32", "bf16")


def cpu_line() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        lscpu = ""
    model = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")), "?")
    flags = sorted({f for line in lscpu.splitlines() if line.startswith("Flags") for f in line.split()
                    if f.startswith(("amx", "avx512_bf16"))})
    return f"CPU {model}; bf16 flags: {' '.join(flags) or 'none'}"


def timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def bare(engine: Engine, prec: str, size: int):
    """One forward+backward of the network alone (the engine's model or twin, its input space)."""
    model = engine.model_in(prec)
    layers = sorted(set(STYLE_LAYERS) | set(CONTENT_LAYERS))
    x = torch.rand(1, 3, size, size).contiguous(memory_format=torch.channels_last).requires_grad_(True)

    def run():
        out = model(x, layers)
        sum(v.float().pow(2).mean() for v in out.values()).backward()

    return run


def step_times(engine: Engine, prec: str, size: int, steps: int) -> list[float]:
    """Seconds per L-BFGS step of a real single-scale job at size² (the first step, with targets, dropped)."""
    content = Image.open(CONTENT).convert("RGB").resize((size, size))
    style = Image.open(STYLE).convert("RGB")
    marks: list[float] = []

    def on(p):
        if p.tile == p.tiles:
            marks.append(time.perf_counter())

    engine.stylize(content, [style], StyleOptions(max_size=size, steps=steps + 1, multiscale=False, precision=prec),
                   progress=on)
    return [b - a for a, b in zip(marks, marks[1:])]


def loss_curves(engine: Engine, content: Path, style: Path, size: int, out: Path) -> None:
    """The `balanced` job's total loss per step in float32 and bf16, overlaid (log scale), as a PNG."""
    from PIL import ImageDraw

    curves = {}
    for p in PRECISIONS:
        losses: list[tuple[int, int, float]] = []

        def on(progress, into=losses):
            if progress.tile == progress.tiles and progress.losses:
                into.append((progress.stage, progress.overall_step, progress.losses["total"]))

        engine.stylize(Image.open(content).convert("RGB"), [Image.open(style).convert("RGB")],
                       StyleOptions(max_size=size, precision=p), progress=on)
        curves[p] = losses
        print(f"{p}: final total loss per scale " + ", ".join(
            f"{[v for s, _, v in losses if s == stage][-1]:.4f}" for stage in sorted({s for s, _, _ in losses})))
    import math
    w, h, pad = 720, 360, 40
    values = [v for c in curves.values() for _, _, v in c]
    lo, hi = math.log10(min(values)), math.log10(max(values))
    steps = max(n for c in curves.values() for _, n, _ in c)
    sheet = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(sheet)
    draw.rectangle((pad, 10, w - 10, h - pad), outline="black")
    for p, colour in zip(PRECISIONS, ("#1f4e9c", "#d0541c")):
        points = [(pad + (w - pad - 10) * n / steps, 10 + (h - pad - 10) * (hi - math.log10(v)) / (hi - lo))
                  for _, n, v in curves[p]]
        draw.line(points, fill=colour, width=2)
        draw.text((w - 150, 20 + 16 * PRECISIONS.index(p)), f"{p}", fill=colour)
    draw.text((pad, h - pad + 6), f"step (all scales, {steps}); total loss, log scale "
                                  f"{10 ** lo:.2g}-{10 ** hi:.2g}; the loss jumps where a finer scale starts",
              fill="black")
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=4, help="steps per per-step job")
    ap.add_argument("--job-size", type=int, default=512, help="max_size of the balanced job (0: skip it)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--curves", nargs=2, metavar=("CONTENT", "STYLE"),
                    help="only write the loss curves of both precisions for this pair (balanced, --job-size)")
    ap.add_argument("--curves-out", type=Path, default=ROOT / "docs" / "images" / "precision-loss-curves.png")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    engine = Engine(device="cpu")
    engine.warm_up()
    print(f"{cpu_line()}\ntorch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{precision.auto_reason(engine.torch_device)}", flush=True)
    if args.curves:
        loss_curves(engine, Path(args.curves[0]), Path(args.curves[1]), args.job_size, args.curves_out)
        return
    for size in (int(s) for s in args.sizes.split(",")):
        runs = {p: bare(engine, p, size) for p in PRECISIONS}
        for p in PRECISIONS:
            runs[p]()  # warm-up
        fb = {p: [] for p in PRECISIONS}
        steps = {p: [] for p in PRECISIONS}
        for _ in range(args.repeats):
            for p in PRECISIONS:
                fb[p].append(timed(runs[p])[0])
                steps[p] += step_times(engine, p, size, args.steps)
        for p in PRECISIONS:
            f, s = statistics.median(fb[p]), statistics.median(steps[p])
            print(f"{size}² {p:7s}: bare fwd+bwd {f:.3f} s, job step {s:.3f} s ({s / f:.2f}× the bare pass)")
        print(f"{size}² bf16 speed-up: bare {statistics.median(fb['float32']) / statistics.median(fb['bf16']):.2f}×, "
              f"step {statistics.median(steps['float32']) / statistics.median(steps['bf16']):.2f}×", flush=True)
    if args.job_size:
        content = Image.open(CONTENT).convert("RGB").resize((args.job_size, args.job_size))
        style = Image.open(STYLE).convert("RGB")
        walls = {p: [] for p in PRECISIONS}
        cpus = {p: [] for p in PRECISIONS}
        for _ in range(args.repeats):
            for p in PRECISIONS:
                w, c = timed(lambda: engine.stylize(content, [style], StyleOptions(precision=p)))
                walls[p].append(w)
                cpus[p].append(c)
                print(f"  balanced {args.job_size}² {p}: {w:.1f} s wall, {c:.1f} s CPU", flush=True)
        wf, wb = statistics.median(walls["float32"]), statistics.median(walls["bf16"])
        cf, cb = statistics.median(cpus["float32"]), statistics.median(cpus["bf16"])
        print(f"balanced {args.job_size}² medians: float32 {wf:.1f} s wall ({cf:.1f} s CPU), bf16 {wb:.1f} s wall "
              f"({cb:.1f} s CPU): {wf / wb:.2f}× wall, {cf / cb:.2f}× CPU")


if __name__ == "__main__":
    main()
