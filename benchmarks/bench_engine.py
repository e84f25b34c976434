"""Engine benchmark (not a test): per-step time, the default preset's wall time and peak memory, and a
side-by-side picture of the default preset against single-scale L-BFGS given the same wall time.

    python benchmarks/bench_engine.py [--device cpu|cuda] [--out benchmarks/results]

Targets (docs/benchmarks.md "Performance"): default preset at 512 px ≤ 120 s on the 2-core CPU; per-step time at
512² ≤ 0.8 × a plain float32 NCHW torchvision VGG19 forward+backward at 512², measured in the same run.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from pathlib import Path
from typing import Optional

import torch
from PIL import Image, ImageDraw
from torchvision.models import vgg19

from nst_core import CancelToken, Cancelled, Engine, StyleOptions
from nst_core.images import to_tensor
from nst_core.losses import content_loss, gram_matrix, style_loss
from nst_core.contract.options import resolve

ROOT = Path(__file__).resolve().parent.parent
CONTENT, STYLE = ROOT / "samples" / "astronaut.png", ROOT / "samples" / "starry_night.jpg"


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def median_time(fn, device, runs: int = 3) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def per_step(engine: Engine, size: int, runs: int) -> float:
    """Median seconds per L-BFGS step of a real job at size² (default layers and weights)."""
    content = Image.open(CONTENT).convert("RGB").resize((size, size))
    style = Image.open(STYLE).convert("RGB")
    times: list[float] = []
    last = [time.perf_counter()]

    def on_step(p):
        if p.tile != p.tiles:
            return  # a tile pass within the step (tiled scales report each)
        now = time.perf_counter()
        if p.step > 1:  # the first step also pays for the targets
            times.append(now - last[0])
        last[0] = now

    engine.stylize(content, [style], StyleOptions(max_size=size, steps=runs + 1, multiscale=False),
                   progress=on_step)
    return statistics.median(times)


def plain_vgg(size: int, device, runs: int, frozen: bool = False) -> float:
    """The reference: torchvision's ``vgg19().features`` as constructed (float32, NCHW, parameters
    requiring grad), forward+backward. ``frozen`` also turns off weight gradients, which a naive
    implementation would not; reported for reference."""
    model = vgg19(weights=None).features.to(device).eval()
    if frozen:
        model.requires_grad_(False)
    x = torch.rand(1, 3, size, size, device=device) * 255

    def step():
        xi = x.clone().requires_grad_(True)
        model(xi).sum().backward()

    return median_time(step, device, runs)


def full_size_losses(engine: Engine, image: Image.Image, content: Image.Image, style: Image.Image) -> dict:
    """α·content and β·style of an image at 512 px, with the default preset's weights and layers."""
    opts = resolve(StyleOptions())
    dev = engine.torch_device
    x, c = to_tensor(image).to(dev), to_tensor(content, image.size).to(dev)
    s = to_tensor(style, (512, round(512 * style.height / style.width))).to(dev)
    with torch.no_grad():
        fx = engine.features(x, engine_layers(opts))
        fc = engine.features(c, opts.content_layers)
        fs = engine.features(s, opts.style_layers)
        targets = {k: gram_matrix(v) for k, v in fs.items()}
        cl = sum(content_loss(fx[k], fc[k]) for k in opts.content_layers).item()
        sl = style_loss(fx, targets, opts.style_layers, opts.style_layer_weights).item()
    return {"content": opts.content_weight * cl, "style": opts.style_weight * sl}


def engine_layers(opts):
    return sorted(set(opts.content_layers) | set(opts.style_layers))


def single_scale_for(engine: Engine, content, style, seconds: float,
                     max_size: Optional[int] = None) -> tuple[Image.Image, int]:
    """Single-scale L-BFGS at the default job's size (512 px) from the content, stopped when ``seconds`` have
    passed."""
    token, latest, start = CancelToken(), {}, time.perf_counter()

    def on_step(p):
        latest["preview"], latest["steps"] = p.preview, p.overall_step
        if time.perf_counter() - start >= seconds:
            token.cancel()

    try:
        result = engine.stylize(content, [style], StyleOptions(multiscale=False, steps=10_000, max_size=max_size),
                                progress=on_step, cancel=token)
        return result.image, result.steps
    except Cancelled:
        return latest["preview"](), latest["steps"]


def full_job(engine: Engine, path: Path, size: tuple[int, int], style: Image.Image, out: Path) -> None:
    """The `full` preset at ``size`` on CUDA: wall time (after a small warm-up job) and peak device memory."""
    content = Image.open(path).convert("RGB").resize(size, Image.Resampling.LANCZOS)
    engine.stylize(content.resize((size[0] // 16, size[1] // 16)), [style], StyleOptions(preset="full"))
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = engine.stylize(content, [style], StyleOptions(preset="full"))
    torch.cuda.synchronize()
    wall = time.perf_counter() - start
    tiles = [s.grid.tiles for s in result.plan.scales]
    print(f"full preset at {size[0]}×{size[1]}: {wall:.1f} s wall, {result.steps} steps, scales {result.scales}, "
          f"tiles per scale {tiles}, peak memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB GPU")
    result.image.save(out / "full_result.jpg", quality=92)


def side_by_side(panels: list[tuple[Image.Image, str]], path: Path) -> None:
    h = 512
    tiles = [img.convert("RGB").resize((round(img.width * h / img.height), h)) for img, _ in panels]
    sheet = Image.new("RGB", (sum(t.width for t in tiles), h + 44), "white")
    draw, x = ImageDraw.Draw(sheet), 0
    for tile, (_, label) in zip(tiles, panels):
        sheet.paste(tile, (x, 0))
        for i, line in enumerate(label.split("\n")):
            draw.text((x + 6, h + 4 + 18 * i), line, fill="black")
        x += tile.width
    sheet.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", help="per-step sizes (default 256,512 on a CPU, 512,1024,2048,4096 on CUDA)")
    parser.add_argument("--full-content", default=str(CONTENT), help="CUDA: photo for the `full` job")
    parser.add_argument("--full-size", default="4096x3072", help="CUDA: size of the `full` job")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--max-size", type=int, help="of the default-preset job and its single-scale rival "
                                                      "(default: the preset's, 512)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    engine = Engine(device=args.device)
    dev = engine.torch_device
    print(f"device: {engine.device}  torch {torch.__version__}  threads {torch.get_num_threads()}  "
          f"cpus {os.cpu_count()}  weights {engine.weights_info.source}")
    engine.warm_up()
    sizes = args.sizes or ("512,1024,2048,4096" if dev.type == "cuda" else "256,512")
    for size in (int(s) for s in sizes.split(",")):
        ours = per_step(engine, size, args.runs)
        plain = plain_vgg(size, dev, args.runs)
        frozen = plain_vgg(size, dev, args.runs, frozen=True)
        print(f"per step {size}²: {ours:.4f} s (median of {args.runs})  plain VGG19 fwd+bwd: {plain:.4f} s  "
              f"ratio {ours / plain:.2f}  (plain with frozen weights: {frozen:.4f} s, ratio {ours / frozen:.2f})")

    content = Image.open(CONTENT).convert("RGB")
    style = Image.open(STYLE).convert("RGB")
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    default = engine.stylize(content, [style], StyleOptions(max_size=args.max_size))
    wall = time.perf_counter() - start
    peak = (f"{torch.cuda.max_memory_allocated() / 2**20:.0f} MiB GPU" if dev.type == "cuda"
            else f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB RSS (process peak)")
    print(f"default preset (balanced) at 512 px: {wall:.1f} s wall, {default.steps} steps, "
          f"scales {default.scales}, peak memory {peak}")
    if dev.type == "cuda":
        full_job(engine, Path(args.full_content), tuple(int(v) for v in args.full_size.split("x")), style, out)

    single, steps = single_scale_for(engine, content, style, wall, args.max_size)
    losses = {name: full_size_losses(engine, img, content, style)
              for name, img in (("default", default.image), ("single", single))}
    for name, l in losses.items():
        print(f"{name}: content {l['content']:.3g}  style {l['style']:.3g}")
    side_by_side([
        (content, "content"),
        (style, "style"),
        (default.image, f"default preset (multi-scale), {wall:.0f} s\n"
                        f"content {losses['default']['content']:.3g}  style {losses['default']['style']:.3g}"),
        (single, f"single-scale L-BFGS 512 px, {steps} steps, same time\n"
                 f"content {losses['single']['content']:.3g}  style {losses['single']['style']:.3g}"),
    ], out / "side_by_side.png")
    default.image.save(out / "default_result.png")
    print(f"wrote {out / 'side_by_side.png'}")


if __name__ == "__main__":
    main()
