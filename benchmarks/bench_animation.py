"""Animation benchmark (not a test): a clip with real motion and exact flow, stylized as a sequence and frame
by frame (the baseline).

    python benchmarks/bench_animation.py [--images ../shared/images] [--out benchmarks/results/animation]
        [--frames 8] [--size 256] [--preset draft] [--runs 1000/0.5/1,300/0.5/1+2+4] [--pictures docs/images]

The clip: a real photo (by_the_water_2560.jpg) seen by a camera that pans, zooms in and turns a little,
with an elliptical cut-out of a second photo (coffee.png) sliding over it at another speed. Both motions are
known, so the flow between frames is exact and so is the set of pixels hidden in the frame before
(uncovered background, pixels that entered the view): the measure does not share the engine's DIS flow.

Figures per run (``--runs``: one sequence run per WEIGHT/LATER_STEPS/EARLIER_FRAMES, e.g. ``1000/0.5/1``
for temporal weight 1000, half the steps after frame 1, the previous frame held; ``1+2+4`` adds the paper's
long-term term over frames t−2 and t−4):

* *temporal warping error*: the mean over consecutive frames of mean((r_t − warp(r_{t−1}))²), grey levels²,
  over the pixels visible in both frames, warped by the exact flow;
* *style distance*: benchmarks/judge.py's, the mean over frames;
* *time per later frame*: the mean wall time of frames 2…N, against the independent run's mean per frame
  (each of those is a single job).

``--pictures DIR`` writes the first run's sequence and the baseline as animated WebPs there, and a
strip of three consecutive frames of each.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from judge import Judge  # noqa: E402
from nst_core import Engine, StyleOptions  # noqa: E402
from nst_core.sequence import SequenceOptions, stylize_sequence  # noqa: E402
from nst_core.contract.sequence_spec import DEFAULT_LATER_STEPS, DEFAULT_TEMPORAL_WEIGHT  # noqa: E402
from nst_core.temporal import warp  # noqa: E402

BACKGROUND, CUTOUT, STYLE = "by_the_water_2560.jpg", "coffee.png", "starry_night.jpg"


class Clip:
    """Frames of (w, h) and, between consecutive frames, the exact backward flow and the visible pixels."""

    def __init__(self, images: Path, frames: int, size: tuple[int, int]):
        self.size = size
        w, h = size
        photo = np.asarray(Image.open(images / BACKGROUND).convert("RGB"), np.float32)
        cup = Image.open(images / CUTOUT).convert("RGB")
        cw, ch = round(w * 0.32), round(h * 0.42)
        self.cup = np.asarray(cup.resize((cw, ch), Image.Resampling.LANCZOS), np.float32)
        yy, xx = np.mgrid[0:ch, 0:cw]
        self.cup_mask = (((xx - cw / 2 + 0.5) / (cw / 2)) ** 2 + ((yy - ch / 2 + 0.5) / (ch / 2)) ** 2 <= 1)
        ph, pw = photo.shape[:2]
        self.frames, self.cameras, self.offsets = [], [], []
        for t in range(frames):
            # Camera: frame pixel (x, y) → photo pixel, a similarity: pan right and down, zoom in 1.5 % and
            # turn 0.4° per frame.
            zoom = (pw * 0.45 / w) / (1.015 ** t)
            angle = np.deg2rad(0.4 * t)
            cx, cy = pw * 0.45 + t * pw * 0.006, ph * 0.5 + t * ph * 0.003
            a, b = zoom * np.cos(angle), zoom * np.sin(angle)
            camera = np.array([[a, -b, cx - a * w / 2 + b * h / 2], [b, a, cy - b * w / 2 - a * h / 2]])
            frame = cv2.warpAffine(photo, camera, (w, h), flags=cv2.INTER_AREA | cv2.WARP_INVERSE_MAP,
                                   borderMode=cv2.BORDER_REFLECT)
            # The cut-out slides left-to-right faster than the camera, an integer offset per frame.
            offset = (round(w * 0.12 + t * w * 0.045), round(h * 0.3 + t * h * 0.012))
            ox, oy = offset
            region = frame[oy:oy + ch, ox:ox + cw]
            region[self.cup_mask] = self.cup[self.cup_mask]
            self.frames.append(Image.fromarray(np.clip(frame, 0, 255).round().astype(np.uint8)))
            self.cameras.append(camera)
            self.offsets.append(offset)

    def _cup_at(self, t: int) -> np.ndarray:
        w, h = self.size
        mask = np.zeros((h, w), bool)
        ox, oy = self.offsets[t]
        mask[oy:oy + self.cup_mask.shape[0], ox:ox + self.cup_mask.shape[1]] = self.cup_mask
        return mask

    def backward(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """(flow t → t−1, visible): where each pixel of frame t was in frame t−1, and whether it was seen."""
        w, h = self.size
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
        cam_t, cam_p = self.cameras[t], self.cameras[t - 1]
        wx = cam_t[0, 0] * xs + cam_t[0, 1] * ys + cam_t[0, 2]
        wy = cam_t[1, 0] * xs + cam_t[1, 1] * ys + cam_t[1, 2]
        inverse = cv2.invertAffineTransform(cam_p)
        px = inverse[0, 0] * wx + inverse[0, 1] * wy + inverse[0, 2]
        py = inverse[1, 0] * wx + inverse[1, 1] * wy + inverse[1, 2]
        flow = np.stack([px - xs, py - ys], -1)
        cup_now, cup_before = self._cup_at(t), self._cup_at(t - 1)
        (ox, oy), (qx, qy) = self.offsets[t], self.offsets[t - 1]
        flow[cup_now] = (qx - ox, qy - oy)
        sx, sy = np.round(xs + flow[..., 0]).astype(int), np.round(ys + flow[..., 1]).astype(int)
        inside = (sx >= 1) & (sx < w - 1) & (sy >= 1) & (sy < h - 1)
        hidden = np.zeros_like(inside)
        hidden[inside] = cup_before[sy[inside], sx[inside]] & ~cup_now[inside]  # background the cup covered
        # Pixels next to the cut-out's edge mix both motions in the stylized frame: left out of the measure.
        edge = cv2.dilate(cup_now.astype(np.uint8), np.ones((5, 5), np.uint8)) > cv2.erode(
            cup_now.astype(np.uint8), np.ones((5, 5), np.uint8))
        return flow.astype(np.float32), inside & ~hidden & ~edge


def warping_error(results: list[Image.Image], clip: Clip) -> float:
    errors = []
    for t in range(1, len(results)):
        flow, visible = clip.backward(t)
        now = torch.from_numpy(np.asarray(results[t].convert("RGB"), np.float32)).permute(2, 0, 1)[None]
        before = torch.from_numpy(np.asarray(results[t - 1].convert("RGB"), np.float32)).permute(2, 0, 1)[None]
        moved = warp(before, flow, "bilinear")  # the measure stays as it was when the baseline was taken
        squared = ((now - moved) ** 2).mean(1)[0].numpy()
        errors.append(float(squared[visible].mean()))
    return float(np.mean(errors))


def run(engine, clip: Clip, style: Image.Image, options: StyleOptions, sequence: SequenceOptions, judge: Judge):
    times, marks = [], [time.perf_counter()]

    def on_frame(index, result):
        marks.append(time.perf_counter())
        times.append(marks[-1] - marks[-2])

    results = [r.image for r in stylize_sequence(engine, clip.frames, [style], options, sequence=sequence,
                                                 on_frame=on_frame)]
    return results, {
        "warping_error": warping_error(results, clip),
        "style_distance": float(np.mean([judge.style_distance(r, style) for r in results])),
        "content_distance": float(np.mean([judge.content_distance(r, c) for r, c in zip(results, clip.frames)])),
        "first_frame_s": times[0], "later_frame_s": float(np.mean(times[1:])), "frame_s": times,
    }


def save_pictures(folder: Path, name: str, frames: list[Image.Image]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    frames[0].save(folder / f"{name}.webp", "WEBP", save_all=True, append_images=frames[1:], duration=160,
                   loop=0, quality=85)
    w, h = frames[0].size
    strip = Image.new("RGB", (3 * w + 8, h), "white")
    for k, frame in enumerate(frames[3:6]):
        strip.paste(frame.convert("RGB"), (k * (w + 4), 0))
    strip.save(folder / f"{name}-frames.png")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", default=str(Path(__file__).resolve().parents[2] / "shared" / "images"))
    parser.add_argument("--out", default="benchmarks/results/animation")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=256, help="frame width (height 5/8 of it)")
    parser.add_argument("--preset", default="draft")
    parser.add_argument("--steps", type=int, help="final-scale steps (default: the preset's)")
    parser.add_argument("--runs", default=f"{DEFAULT_TEMPORAL_WEIGHT:g}/{DEFAULT_LATER_STEPS:g}/1",
                        help="WEIGHT/LATER_STEPS/EARLIER_FRAMES per sequence run, comma-separated")
    parser.add_argument("--baseline", help="reuse the independent run in this earlier --out folder")
    parser.add_argument("--pictures", help="write the animations and frame strips here (e.g. docs/images)")
    args = parser.parse_args()

    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    images = Path(args.images)
    clip = Clip(images, args.frames, (args.size, round(args.size * 5 / 8)))
    style = Image.open(images / STYLE).convert("RGB")
    engine, judge = Engine(), Judge()
    engine.warm_up()
    options = StyleOptions(preset=args.preset, max_size=args.size, steps=args.steps)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for k, frame in enumerate(clip.frames):
        frame.save(out / f"clip-{k + 1:02d}.png")

    if args.baseline:  # an earlier run's baseline on the same clip and options (it takes the longest)
        earlier = Path(args.baseline)
        base = json.loads((earlier / "report.json").read_text())["independent"]
        baseline = [Image.open(earlier / f"independent-{k + 1:02d}.png").convert("RGB") for k in range(args.frames)]
    else:
        baseline, base = run(engine, clip, style, options, SequenceOptions(independent=True), judge)
    for k, frame in enumerate(baseline):
        frame.save(out / f"independent-{k + 1:02d}.png")
    report = {"machine": f"{engine.device}, {torch.get_num_threads()} threads", "frames": args.frames,
              "size": clip.size, "preset": args.preset, "independent": base, "sequence": {}}
    print(f"independent: {json.dumps({k: v for k, v in base.items() if k != 'frame_s'})}", flush=True)
    first = None
    for spec in args.runs.split(","):
        weight, later, earlier = spec.split("/")
        sequence = SequenceOptions(temporal_weight=float(weight), later_steps=float(later),
                                   earlier_frames=tuple(int(j) for j in earlier.split("+")))
        results, figures = run(engine, clip, style, options, sequence, judge)
        figures["ratios"] = {
            "warping_error": figures["warping_error"] / base["warping_error"],
            "style_distance": figures["style_distance"] / base["style_distance"],
            "later_frame_time": figures["later_frame_s"] / float(np.mean(base["frame_s"])),
            # The same run's first frame is a single job timed under the same load (the machine may be shared).
            "later_frame_time_vs_first": figures["later_frame_s"] / figures["first_frame_s"],
        }
        report["sequence"][spec] = figures
        print(f"{spec} (temporal weight/later steps/earlier frames): "
              f"{json.dumps({k: v for k, v in figures.items() if k != 'frame_s'})}", flush=True)
        first = first or results
        for k, frame in enumerate(results):
            frame.save(out / f"{spec.replace('/', '_')}-{k + 1:02d}.png")
    (out / "report.json").write_text(json.dumps(report, indent=2))
    if args.pictures:
        save_pictures(Path(args.pictures), "animation-sequence", first)
        save_pictures(Path(args.pictures), "animation-independent", baseline)
        save_pictures(Path(args.pictures), "animation-clip", clip.frames)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
