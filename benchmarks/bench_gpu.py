"""GPU benchmark (not a test): the engine's CUDA settings side by side, per-step time against the FLOP count,
the presets' wall times and peak device memory, and how far each precision's result is from float32's.

    python benchmarks/bench_gpu.py [--sizes 512,1024,2048,4096] [--content PHOTO] [--out DIR]

Run on a CUDA machine; figures go into docs/benchmarks.md ("On a GPU"). What it prints, in order:

1. the device's measured bf16 matrix-product rate (the "peak" the per-step times are compared with);
2. seconds per optimizer step of the engine's objective (nst_core.objective: VGG19 to relu5_1, relative
   content and Gram style terms at the default weights, backward to the image) for each setting: precision float32 / tf32 / bf16 autocast, channels_last, cudnn.benchmark,
   and CUDA-graph replay or torch.compile of the whole forward+backward, at each size; with the step's
   convolution FLOPs and the ratio of the step time to FLOPs ÷ peak;
3. end-to-end jobs through ``Engine.stylize`` per precision: wall time, loss reached, PSNR against the
   float32 result, peak device memory: ``balanced`` at 512², ``full`` at 4096×3072.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from nst_core import Engine, StyleOptions, objective, tiling
from nst_core import precision as precision_mod
from nst_core.contract.layers import LAYER_INDEX, LAYER_NAMES
from nst_core.contract.options import resolve

ROOT = Path(__file__).resolve().parent.parent
STYLE = ROOT / "samples" / "starry_night.jpg"
CONTENT = ROOT / "samples" / "astronaut.png"


def timed(fn, runs: int = 10, warmup: int = 3) -> float:
    """Median seconds of ``fn`` on the GPU (CUDA events around each run, after warm-up)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1000)
    return statistics.median(times)


def bf16_peak() -> float:
    """Measured dense bf16 matrix-product rate, FLOP/s (8192³, random data)."""
    a, b = (torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    seconds = timed(lambda: a @ b, runs=10)
    return 2 * 8192 ** 3 / seconds


def step_flops(height: int, width: int, last: str = "relu5_1") -> float:
    """Convolution FLOPs of one step: forward to ``last`` plus the input-gradient backward (the weights are
    frozen: no weight gradients), i.e. twice the forward's multiply-adds × 2."""
    flops, channels, h, w = 0.0, 3, height, width
    cout = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}
    for name in LAYER_NAMES[:LAYER_INDEX[last] + 1]:
        if name.startswith("conv"):
            out = cout[int(name[4])]
            flops += 2 * channels * out * 9 * h * w
            channels = out
        elif name.startswith("pool"):
            h, w = h // 2, w // 2
    return 2 * flops


class Objective:
    """One step's loss and gradient at a fixed size: the engine's own objective (nst_core.objective, the
    default options' relative terms and weights) over the image in one piece."""

    def __init__(self, engine: Engine, size: int, precision: str):
        self.net = engine.network("max", precision)
        opts = resolve(StyleOptions())
        g = torch.Generator(device=engine.torch_device).manual_seed(0)
        content, style, image = (torch.rand(1, 3, size, size, device=engine.torch_device, generator=g) * 255
                                 for _ in range(3))
        self.whole = tiling.grid(size, size, 1, 1, halo=0, align=16)
        with torch.no_grad():
            content_targets = tiling.assemble_features(self.net, content, opts.content_layers, self.whole)
            style_targets = tiling.accumulate_grams(self.net, style, opts.style_layers, self.whole)
        self.tiled = objective.build(self.net, opts, content, content_targets, [style_targets])
        self.image = image

    def __call__(self) -> torch.Tensor:
        terms, grad = self.tiled(self.image, self.whole)
        return grad


def graphed(step: Objective):
    """The objective captured once as a CUDA graph and replayed (fixed shapes, static buffers)."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):  # warm-up on a side stream, as graph capture requires
            step()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph.replay


@contextlib.contextmanager
def settings(precision: str, cudnn_benchmark: bool, device: torch.device):
    """The backend switches of one variant (channels_last is the engine's own setting: one engine each)."""
    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = cudnn_benchmark
    try:
        with precision_mod.backend_flags(precision, device):
            yield
    finally:
        torch.backends.cudnn.benchmark = saved


VARIANTS = [  # (label, precision, channels_last, cudnn.benchmark, how)
    ("float32", "float32", False, False, "eager"),
    ("float32 + channels_last + benchmark", "float32", True, True, "eager"),
    ("tf32", "tf32", False, False, "eager"),
    ("tf32 + channels_last + benchmark", "tf32", True, True, "eager"),
    ("bf16", "bf16", False, False, "eager"),
    ("bf16 + channels_last + benchmark", "bf16", True, True, "eager"),
    ("bf16 + channels_last + benchmark, CUDA graph", "bf16", True, True, "graph"),
]


def per_step_table(engines: dict[bool, Engine], sizes: list[int], peak: float) -> None:
    """``engines``: by channels_last."""
    print(f"\n{'setting':48s} " + " ".join(f"{s:>7d}²" for s in sizes) + "   (ms per step; ×floor at the largest)")
    for label, precision, channels_last, cudnn_benchmark, how in VARIANTS:
        row = []
        for size in sizes:
            try:
                engine = engines[channels_last]
                with settings(precision, cudnn_benchmark, engine.torch_device):
                    step = Objective(engine, size, precision)
                    if how == "graph":
                        fn = graphed(step)
                    elif how == "compile":
                        compiled = torch.compile(step.__call__)  # default mode: fusion, cuDNN convolutions
                        fn = compiled
                    else:
                        fn = step
                    seconds = timed(fn, runs=5 if size >= 4096 else 10)
                    row.append(seconds)
                    del step, fn
            except Exception as exc:  # noqa: BLE001 - a variant that cannot run is reported, not fatal
                print(f"  {label} at {size}²: {type(exc).__name__}: {str(exc)[:200]}")
                row.append(float("nan"))
            torch.cuda.empty_cache()
        floor = step_flops(sizes[-1], sizes[-1]) / peak
        print(f"{label:48s} " + " ".join(f"{t * 1000:8.2f}" for t in row) + f"   ×{row[-1] / floor:.2f}")
    for size in sizes:
        flops = step_flops(size, size)
        print(f"  {size}²: {flops / 1e12:.2f} TFLOP of convolutions per step; floor at the bf16 peak "
              f"{flops / peak * 1000:.2f} ms")


def psnr(a: Image.Image, b: Image.Image) -> float:
    x, y = (np.asarray(i.convert("RGB"), dtype=np.float64) for i in (a, b))
    mse = np.mean((x - y) ** 2)
    return float("inf") if mse == 0 else 10 * math.log10(255 ** 2 / mse)


def job(engine: Engine, content: Image.Image, style: Image.Image, options: StyleOptions):
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    start = time.perf_counter()
    result = engine.stylize(content, [style], options)
    torch.cuda.synchronize()
    wall = time.perf_counter() - start
    return result, wall, torch.cuda.max_memory_allocated() - base


def jobs_table(engine: Engine, content_path: Path, full_size: tuple[int, int], out: Path) -> None:
    style = Image.open(STYLE).convert("RGB")
    cases = [("balanced 512²", Image.open(CONTENT).convert("RGB").resize((512, 512)), dict(preset="balanced")),
             (f"full {full_size[0]}×{full_size[1]}", Image.open(content_path).convert("RGB").resize(full_size),
              dict(preset="full"))]
    print(f"\n{'job':24s} {'precision':9s} {'wall s':>8s} {'loss':>10s} {'PSNR vs fp32':>13s} {'peak GiB':>9s}")
    for name, content, extra in cases:
        reference = None
        # float32 twice at 512²: the second run is how far two float32 runs already differ (cuDNN sums).
        runs = ("float32", "float32", "tf32", "bf16") if "balanced" in name else ("float32", "tf32", "bf16")
        for precision in runs:
            options = StyleOptions(seed=1, precision=precision, **extra)
            job(engine, content.resize((64, 64)), style, options)  # warm-up: plan, kernels, allocator
            result, wall, peak = job(engine, content, style, options)
            if reference is None:
                reference = result.image
            quality = psnr(result.image, reference)
            print(f"{name:24s} {precision:9s} {wall:8.2f} {result.losses['total']:10.4g} {quality:13.1f} "
                  f"{peak / 2**30:9.2f}", flush=True)
            result.image.save(out / f"{name.split()[0]}-{precision}.jpg", quality=92)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="512,2048,4096")
    parser.add_argument("--content", default=str(CONTENT), help="photo for the full-resolution job")
    parser.add_argument("--full-size", default="4096x3072")
    parser.add_argument("--skip-steps", action="store_true", help="only the end-to-end jobs")
    parser.add_argument("--skip-jobs", action="store_true", help="only the per-step table")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    engine = Engine(device="cuda")
    print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}  cuDNN {torch.backends.cudnn.version()}")
    peak = bf16_peak()
    print(f"measured bf16 matrix-product rate: {peak / 1e12:.0f} TFLOP/s")
    if not args.skip_steps:
        engines = {True: engine, False: Engine(device="cuda", channels_last=False)}
        per_step_table(engines, [int(s) for s in args.sizes.split(",")], peak)
    if not args.skip_jobs:
        w, h = (int(v) for v in args.full_size.split("x"))
        jobs_table(engine, Path(args.content), (w, h), out)


if __name__ == "__main__":
    main()
