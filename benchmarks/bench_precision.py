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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=4, help="steps per per-step job")
    ap.add_argument("--job-size", type=int, default=512, help="max_size of the balanced job (0: skip it)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    engine = Engine(device="cpu")
    engine.warm_up()
    print(f"{cpu_line()}\ntorch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{precision.auto_reason(engine.torch_device)}", flush=True)
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
