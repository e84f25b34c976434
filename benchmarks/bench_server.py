"""Per-request overhead of the style server besides the optimization, at 512 x 512 (target: <= 50 ms).

Overhead = the client's wall time for a whole job (encode, send, decode, queue, encode the result, stream it
back, reassemble) minus the engine's own time for the job (``Finished.wall_time_seconds``). Runs a real server
in-process on 127.0.0.1:0 with the real weights; one optimizer step per job keeps it short.

    python benchmarks/bench_server.py [--runs 5] [--size 512]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from benchmarks.common import png
from nst_core.engine import Engine
from server.client import Finished, ImageData, Result, StyleClient
from server.service import start_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    side = args.size
    gradient = np.linspace(0, 255, side, dtype=np.float32)
    content = np.stack([np.tile(gradient, (side, 1)), np.tile(gradient[:, None], (1, side)),
                        np.full((side, side), 90.0)], axis=-1).astype(np.uint8)
    style = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    content_png, style_png = png(content), png(style)
    options = {"max_size": side, "steps": 1, "multiscale": False}

    engine = Engine()
    handle = start_server(engine=engine, address="127.0.0.1:0")
    overheads, totals = [], []
    try:
        with StyleClient(handle.address) as client:
            for run in range(args.runs + 1):  # run 0 fills the style cache and warms the path up
                started = time.perf_counter()
                finished = result = None
                for event in client.stylize(ImageData.encoded(content_png), [ImageData.encoded(style_png)],
                                            options=options):
                    if isinstance(event, Result):
                        result = event
                    elif isinstance(event, Finished):
                        finished = event
                total = time.perf_counter() - started
                assert result is not None and (result.width, result.height) == (side, side)
                if run:
                    totals.append(total)
                    overheads.append(total - finished.wall_time_seconds)
    finally:
        handle.stop(1)
    print(f"server overhead at {side}x{side} PNG in/out, {args.runs} runs: "
          f"median {statistics.median(overheads) * 1000:.1f} ms "
          f"(min {min(overheads) * 1000:.1f}, max {max(overheads) * 1000:.1f}); "
          f"whole job median {statistics.median(totals):.2f} s; target <= 50 ms")


if __name__ == "__main__":
    main()
