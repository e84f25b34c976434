"""The memory budget and the memory model a job is planned with.

The budget is the most memory the engine may hold on its device while a job runs, everything resident
included (the model, the libraries; on the CPU the whole process's resident set). A job plans with what
the budget leaves beyond what is resident when it starts, times :data:`SAFETY` (allocator slack, estimates).

The per-pixel figures were measured, not derived: peak RSS (CPU, `/proc/self/status` VmHWM after resetting
it) or ``torch.cuda.max_memory_allocated`` around one forward+backward of the job's objective, at several
sizes, in fresh processes (``python benchmarks/bench_fullres.py calibrate``; docs/precision.md "Memory").
On CUDA the engine measures them itself (``torch.cuda.max_memory_allocated``) once per precision, since
cuDNN's workspaces vary by GPU and bf16 halves the activations.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Optional

# Large CPU tensors on transparent huge pages. Torch reads this at its first tensor of any size, and every
# engine imports this module before it allocates (no nst_core module makes a tensor at import:
# tests/nst_core/test_memory_env.py): a step at 1024×640 took 880 000 page faults and 3 s of
# system time without, 53 000 and 1.8 s with, and ran 15-20 % faster (docs/engine.md "Memory"). Linux only;
# elsewhere torch ignores it. Set here, not in nst_core: a client importing the contract keeps its environment.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

import torch  # noqa: E402 - after the huge-pages setting, which torch reads once

from . import tiling  # noqa: E402
from .contract.heap import libc, release_free_heap  # noqa: E402,F401 - release_free_heap: the engine's name
from .contract.options import StyleOptions, resolve  # noqa: E402

MIB = 2 ** 20
SAFETY = 0.9  # plan for at most this share of what the budget leaves
CPU_SHARE = 0.5  # default budget on the CPU: this share of the machine's memory ...
AVAILABLE_SHARE = 0.8  # ... but no more than what is resident now plus this share of what is available
CUDA_SHARE = 0.95  # default budget on CUDA: this share of what the device can give us
MAX_BUDGET_MB = 2 ** 30  # 1 PiB: the budget in bytes stays exact in a float and within an uint64
MEASURED_MARGIN = 1.1  # on top of a measurement at one small size (cuDNN picks workspaces per shape)
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


@dataclass(frozen=True)
class MemoryModel:
    """Bytes per pixel of what a job allocates, on top of what is resident."""

    step: float  # one tile's forward+backward of the objective, per window pixel (activations, gradients)
    forward: float  # one tile's forward without gradients, per window pixel (targets, Gram pass)
    # A kept tile's forward or backward (nst_core.lean), per window pixel, beyond the records kept:
    # 0 = no kept records.
    keep_pass: float = 0.0
    activation_bytes: int = 4  # per element of a kept activation (2 for bf16, nst_core.lean)


#: Measured on the CPU (x86-64, oneDNN, channels-last), float32, rounded up: a step 2252 / 2182 / 2168 / 2152 /
#: 2146 B/px at 512² / 768² / 1024² / 1448² / 2048², a forward 741 / 728 / 728 / 728 / 728. Its margin (11-16 %)
#: stays: a 4096×3072 job in 3000 MiB, whose tiles are small and whose image-sized state the plan undercounts,
#: peaked 16 % over its plan and 2 % under the budget (docs/benchmarks.md "Full resolution on the CPU").
CPU_MODEL = MemoryModel(step=2500.0, forward=800.0, keep_pass=1200.0)
#: The same with precision bf16 (the first convolution and relu1_1 stay float32, so level 1, the largest,
#: is half float32): a step 1706 / 1631 / 1610 / 1601 / 1595 B/px at the same sizes, a forward 581 / 569 /
#: 568 / 568 / 568, a kept pass 1152 / 1050 at 512² / 768². The step and forward are the largest measurement
#: rounded up to 10 B/px: a 12 MP job's tile steps took about 1400 B/px (peak RSS less what was held between
#: tiles), and the float32-sized margin of 1900 cost it a row of tiles (docs/precision.md "Memory").
CPU_BF16_MODEL = MemoryModel(step=1710.0, forward=590.0, keep_pass=1050.0, activation_bytes=2)
#: Blur pooling (nst_core.vgg.blur_pool) holds each pool's stride-1 max at its input's size: measured on the
#: CPU at 384², a step took 1.94× and a forward 2.15× what the same pass with max pooling took (rounded up).
BLUR_FACTORS = MemoryModel(step=2.0, forward=2.2, keep_pass=2.0)


def for_pooling(model: MemoryModel, pooling: str) -> MemoryModel:
    """The model for a network with this pooling (measured with max pooling; average pooling holds less)."""
    if pooling != "blur":
        return model
    return MemoryModel(step=model.step * BLUR_FACTORS.step, forward=model.forward * BLUR_FACTORS.forward,
                       keep_pass=model.keep_pass * BLUR_FACTORS.keep_pass, activation_bytes=model.activation_bytes)


def measure(run_step: Callable[[int], None], run_forward: Callable[[int], None], device: torch.device,
            precision: str = "float32", size: int = 256) -> MemoryModel:
    """Measure the model on CUDA: peak allocation of ``run_step(size)`` (one forward+backward of the
    objective on a size² image) and of ``run_forward(size)``; elsewhere the measured CPU figures."""
    if device.type != "cuda":
        return CPU_BF16_MODEL if precision == "bf16" else CPU_MODEL
    peaks = []
    for run in (run_step, run_forward):
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        run(size)
        torch.cuda.synchronize(device)
        peaks.append((torch.cuda.max_memory_allocated(device) - base) / size ** 2 * MEASURED_MARGIN)
    # A kept tile's pass holds less than an autograd step; the step's figure bounds it without a third probe.
    return MemoryModel(step=peaks[0], forward=peaks[1], keep_pass=peaks[0],
                       activation_bytes=2 if precision == "bf16" else 4)


def probes(network: Callable[[bool], tiling.Net], device: torch.device):
    """What :func:`measure` (and ``benchmarks/bench_fullres.py calibrate``) runs, on random images: one step
    of the default objective on a size² image, one forward-only Gram pass on one, and one step of a
    size × 2·size image in two kept tiles. ``network(keep)``: the engine's network (nst_core.lean with keep)."""
    net = network(False)
    opts = resolve(StyleOptions())
    layers = opts.style_layers
    weights = tiling.Weights(1.0, 1.0, 1.0, dict(zip(layers, opts.style_layer_weights)))

    def image(size: int) -> torch.Tensor:
        return torch.rand(1, 3, size, size, device=device) * 255

    def whole(h: int, w: int) -> list[tiling.Tile]:
        return tiling.grid(h, w, 1, 1, halo=0, align=16)

    def step(size: int) -> None:
        x = image(size)
        targets = tiling.accumulate_grams(net, image(64), layers, whole(64, 64))
        content = tiling.assemble_features(net, image(size), opts.content_layers, whole(size, size))
        tiling.TiledObjective(net, content, targets, weights)(x, whole(size, size))

    def forward(size: int) -> None:
        tiling.accumulate_grams(net, image(size), layers, whole(size, size))

    def kept_step(size: int) -> None:
        x, tiles = image(size).repeat(1, 1, 1, 2), tiling.grid(size, 2 * size, 1, 2, halo=32, align=16)
        targets = tiling.accumulate_grams(net, image(64), layers, whole(64, 64))
        content = tiling.assemble_features(net, x, opts.content_layers, whole(size, 2 * size))
        keep_net = network(True)
        tiling.TiledObjective(net, content, targets, weights, keep_net)(x, tiles)

    return step, forward, kept_step


def _meminfo() -> dict[str, int]:
    info = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                key, value = line.split(":", 1)
                info[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return info


def process_rss() -> int:
    """Resident memory of this process, bytes (0 where /proc is missing)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def return_freed_memory_promptly() -> None:
    """Fix glibc's mmap threshold at 4 MiB (CPU engines). By default glibc raises the threshold each time a
    large block is freed, up to 32 MiB, after which freed tensors below it stay in the heap: over a tiled
    job (windows of changing sizes) the RSS crept up by 1.5 GB above what was in use (2048×1536, 3000 MiB
    budget). With the threshold fixed, tensors above 4 MiB are returned to the system when freed: a 1024×768
    scale in 2×3 tiles peaked at 1.49 GB instead of 1.89 GB (1.41 GB with a trim after every step)."""
    lib = libc()
    if lib is not None and hasattr(lib, "mallopt"):
        lib.mallopt(M_MMAP_THRESHOLD, 4 * MIB)


def resident_bytes(device: torch.device) -> int:
    """What the engine holds before a job starts: CUDA allocations, or the process's resident set."""
    if device.type == "cuda":
        return torch.cuda.memory_allocated(device)
    return process_rss()


def default_budget(device: torch.device) -> int:
    """The budget when none is configured (bytes)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int((free + torch.cuda.memory_reserved(device)) * CUDA_SHARE)
    info = _meminfo()
    total = info.get("MemTotal") or (os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    available = info.get("MemAvailable", total)
    return int(min(total * CPU_SHARE, process_rss() + available * AVAILABLE_SHARE))


def budget_bytes(device: torch.device, budget_mb: Optional[int]) -> int:
    return int(budget_mb * MIB) if budget_mb else default_budget(device)
