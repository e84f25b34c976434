"""Load test of a real `nst serve` (real weights, tiny jobs): many clients, a disconnect storm, a soak.

    python benchmarks/load_test.py [--clients 20] [--storm 40] [--soak 30] [--warmup 5]

Phases, with health probed every 0.2 s throughout and the server's resident memory sampled from /proc:
1. ``--clients`` clients submit two jobs each at once: they finish, or are refused because the queue or
   the Stylize budget is full; every refusal must be UNAVAILABLE or RESOURCE_EXHAUSTED with a reason.
2. A disconnect storm: ``--storm`` clients each drop their call at a random point (right after sending,
   while queued, while running, while the result streams); then one job must run normally.
3. A soak: ``--soak`` jobs one after another, each with a new style; resident memory after the first
   ``--warmup`` jobs is compared with the end (target: at most 5 % growth). The style cache is bounded
   (``--cache-mb``, small here so that it is full before the soak starts).
Every call has a deadline; one that passes it counts as a hang. Exits 1 when a target is missed. Linux
only (reads /proc).
"""
from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from benchmarks.common import png, serve
from server.client import ClientError, Finished, ImageData, Queued, Result, Started, StyleClient

CALL_SECONDS = 300.0  # a call still going after this long counts as a hang
JOB = {"max_size": 48, "steps": 3, "multiscale": False}


def _images(seed: int) -> tuple[ImageData, ImageData]:
    rng = np.random.default_rng(seed)
    content = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    style = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    return ImageData.encoded(png(content)), ImageData.encoded(png(style))


class Server:
    """`python -m server serve` on a free port, its memory sampled and its health probed while it runs."""

    def __init__(self, queue_size: int, cache_mb: int):
        self.log = tempfile.NamedTemporaryFile(prefix="nst-load-test-", suffix=".log", delete=False)
        self.process, self.address = serve(["--address", "127.0.0.1:0", "--queue-size", str(queue_size),
                                            "--cache-mb", str(cache_mb)], Path(self.log.name))
        self.rss_peak = 0
        self.probes = Counter()
        self.probe_worst = 0.0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._sample, daemon=True),
                         threading.Thread(target=self._probe, daemon=True)]
        for t in self._threads:
            t.start()

    def rss(self) -> int:
        with open(f"/proc/{self.process.pid}/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self.rss_peak = max(self.rss_peak, self.rss())

    def _probe(self) -> None:
        with StyleClient(self.address) as client:
            while not self._stop.wait(0.2):
                started = time.monotonic()
                try:
                    self.probes[client.health(timeout=2.0)] += 1
                except ClientError as exc:
                    self.probes[f"failed: {exc.code}"] += 1
                self.probe_worst = max(self.probe_worst, time.monotonic() - started)

    def stop(self) -> int:
        self._stop.set()
        for t in self._threads:
            t.join()
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.outcomes = Counter()
        self.refusals = Counter()  # (code, reason)
        self.bad = []  # refusals that are not UNAVAILABLE / RESOURCE_EXHAUSTED with a reason, and hangs

    def add(self, outcome: str, error: ClientError | None = None, bad: str | None = None) -> None:
        with self.lock:
            self.outcomes[outcome] += 1
            if error is not None:
                self.refusals[(error.code, error.message.split(";")[0])] += 1
                if error.code not in ("UNAVAILABLE", "RESOURCE_EXHAUSTED") or not error.message:
                    self.bad.append(f"{error.code}: {error.message}")
            if bad is not None:
                self.bad.append(bad)


def _job(address: str, seed: int, tally: Tally, drop_at: str | None = None) -> None:
    content, style = _images(seed)
    started = time.monotonic()
    with StyleClient(address, timeout=CALL_SECONDS) as client:
        stream = client.stylize(content, [style], options=JOB)
        if drop_at == "sent":
            stream.close()
            tally.add("cancelled")
            return
        try:
            for event in stream:
                kind = {Queued: "queued", Started: "started", Result: "result"}.get(type(event))
                if drop_at is not None and kind == drop_at:
                    stream.close()  # the client goes away
                    tally.add("cancelled")
                    return
                if isinstance(event, Finished):
                    tally.add("finished")
                    return
            tally.add("ended without Finished", bad="a stream ended without Finished")
        except ClientError as exc:
            if exc.code == "DEADLINE_EXCEEDED" or time.monotonic() - started >= CALL_SECONDS:
                tally.add("hung", bad=f"hung: {exc.message}")
            elif exc.code == "CANCELLED" and drop_at is not None:
                tally.add("cancelled")
            else:
                tally.add("refused", exc)


def _report(name: str, tally: Tally, seconds: float) -> None:
    print(f"{name}: {dict(tally.outcomes)} in {seconds:.1f} s")
    for (code, reason), n in sorted(tally.refusals.items()):
        print(f"    {n:3d} x {code}: {reason}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--storm", type=int, default=40)
    parser.add_argument("--soak", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--queue-size", type=int, default=8)
    # Each new style adds ~2.4 MiB of Gram matrices to the style cache until it is full: a small cache
    # fills during the first phases, so the soak sees the server's steady state, not the cache filling.
    parser.add_argument("--cache-mb", type=int, default=16)
    args = parser.parse_args()
    server = Server(args.queue_size, args.cache_mb)
    rss_start = server.rss()
    print(f"server {server.address}, pid {server.process.pid}, RSS {rss_start / 2**20:.0f} MiB after loading")
    failures = []

    tally, started = Tally(), time.monotonic()
    with ThreadPoolExecutor(args.clients) as pool:
        list(pool.map(lambda i: [_job(server.address, 1000 + 2 * i + k, tally) for k in range(2)],
                      range(args.clients)))
    _report(f"{args.clients} concurrent clients x 2 jobs", tally, time.monotonic() - started)
    failures += tally.bad

    storm, started = Tally(), time.monotonic()
    rng = random.Random(0)
    with ThreadPoolExecutor(args.storm) as pool:
        list(pool.map(lambda i: _job(server.address, 2000 + i, storm, rng.choice(["sent", "queued", "started", "result"])),
                      range(args.storm)))
    after = Tally()
    _job(server.address, 2999, after)
    _report(f"disconnect storm of {args.storm}", storm, time.monotonic() - started)
    failures += storm.bad + after.bad
    if after.outcomes["finished"] != 1:
        failures.append(f"the job after the storm did not finish: {dict(after.outcomes)}")

    soak, samples = Tally(), []
    started = time.monotonic()
    for i in range(args.soak):
        _job(server.address, 3000 + i, soak)  # a new style each time: new bytes, a new cache entry
        samples.append(server.rss())
    _report(f"soak of {args.soak} jobs", soak, time.monotonic() - started)
    failures += soak.bad
    base, end = samples[args.warmup - 1], samples[-1]
    growth = (end - base) / base
    per_job = (end - base) / max(1, args.soak - args.warmup)
    print(f"RSS: {rss_start / 2**20:.0f} MiB loaded, {base / 2**20:.0f} MiB after {args.warmup} soak jobs, "
          f"{end / 2**20:.0f} MiB at the end, peak {server.rss_peak / 2**20:.0f} MiB; growth over the soak "
          f"{100 * growth:+.1f} % ({per_job / 1024:+.0f} KiB per job)")
    if growth > 0.05:
        failures.append(f"RSS grew {100 * growth:.1f} % over the soak (target <= 5 %)")
    print(f"health probes: {dict(server.probes)}, slowest {server.probe_worst * 1000:.0f} ms")
    if set(server.probes) != {"SERVING"}:
        failures.append(f"health did not answer SERVING throughout: {dict(server.probes)}")
    code = server.stop()
    if code != 0:
        failures.append(f"the server exited with {code} on SIGTERM")
    for failure in failures:
        print(f"FAILED: {failure}")
    print("all targets met" if not failures else f"{len(failures)} target(s) missed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
