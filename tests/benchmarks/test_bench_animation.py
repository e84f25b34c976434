"""benchmarks/bench_animation.py runs end to end at a tiny size (so it does not rot between the runs that
produce docs/animation.md), and its clip's exact flow is exact: warping a frame of the clip by it reproduces
the next frame where both see the same thing."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))


def pictures(folder: Path) -> Path:
    folder.mkdir()
    for name, sample in (("by_the_water_2560.jpg", "astronaut.png"), ("coffee.png", "chelsea.png"),
                         ("starry_night.jpg", "starry_night.jpg")):
        Image.open(ROOT / "samples" / sample).convert("RGB").save(folder / name)
    return folder


def test_the_clips_exact_flow_brings_each_frame_onto_the_next(tmp_path):
    from bench_animation import Clip, warping_error

    clip = Clip(pictures(tmp_path / "images"), 4, (96, 60))
    still = [clip.frames[0]] * 4  # a picture that does not move has a large error under the clip's motion
    assert warping_error(clip.frames, clip) < 0.1 * warping_error(still, clip)


def test_the_benchmark_runs_and_reports(tmp_path):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_animation.py"), "--images",
                           str(pictures(tmp_path / "images")), "--out", str(out), "--frames", "3", "--size", "64", "--steps", "4",
                           "--runs", "100/0.5/1+2"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    figures = report["sequence"]["100/0.5/1+2"]
    assert set(figures["ratios"]) == {"warping_error", "style_distance", "later_frame_time",
                                        "later_frame_time_vs_first"}
    assert len(figures["frame_s"]) == 3 and np.isfinite(figures["warping_error"])
