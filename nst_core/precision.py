"""Arithmetic precision of the convolutions, chosen per job.

* ``float32``: true float32 everywhere. On CUDA this turns *off* TF32, which PyTorch enables for cuDNN
  convolutions by default (``torch.backends.cudnn.allow_tf32``), for the duration of the job.
* ``tf32`` (CUDA only): TF32 tensor-core convolutions and matrix products (10-bit mantissa, float32 sums).
* ``bf16``: every convolution after the first runs in bfloat16 on weights cast once per model
  (:meth:`nst_core.vgg.VGGFeatures.in_dtype`): oneDNN's AMX-BF16 or AVX512-BF16 kernels on the CPU, tensor
  cores on CUDA. The first convolution and the image stay float32 (a bf16 image moves in steps of 0.5–1 grey
  level, below which L-BFGS's steps vanish; see docs/benchmarks.md "Performance"); activations are cast to float32
  before the Gram matrices and the losses, which stay float32.

``auto`` means :data:`CUDA_DEFAULT` on CUDA; on the CPU bf16 where the processor has bf16 units and oneDNN
runs its bf16 convolutions on them (:func:`cpu_bf16`), float32 elsewhere; float32 on MPS.
"""
from __future__ import annotations

import contextlib
import functools
import os
import sys
import tempfile
from dataclasses import dataclass
from typing import Iterator, Optional

import torch

from .contract.errors import InvalidInput

#: What ``auto`` means on CUDA: the one place to change it (docs/benchmarks.md "Performance", GPU figures).
CUDA_DEFAULT = "tf32"
#: "1" or "0": take the CPU as having (or lacking) usable bf16 units, whatever the probe finds (tests,
#: operators who know better).
FORCE_ENV = "NST_CPU_BF16"
#: CPU flags (as ``lscpu`` and /proc/cpuinfo spell them) of bfloat16 matrix or vector units.
BF16_FLAGS = {"amx_bf16": "AMX-BF16", "avx512_bf16": "AVX512-BF16"}


@dataclass(frozen=True)
class CpuBf16:
    """Whether this CPU runs bf16 convolutions on bf16 units, and why (for Describe and the start-up log)."""

    units: tuple[str, ...]  # e.g. ("AMX-BF16", "AVX512-BF16"); empty: none
    kernel: Optional[str]  # oneDNN's implementation of a small bf16 convolution, e.g. brg_conv_fwd:avx512_core_bf16
    forced: Optional[bool] = None  # FORCE_ENV's verdict, when set

    @property
    def usable(self) -> bool:
        if self.forced is not None:
            return self.forced
        return bool(self.units) and _kernel_uses_bf16(self.kernel)

    def reason(self) -> str:
        if self.forced is not None:
            return f"{FORCE_ENV}={int(self.forced)} says the CPU {'has' if self.forced else 'lacks'} bf16 units"
        units = " and ".join(self.units) or "no bf16 units (AMX-BF16, AVX512-BF16)"
        if not self.units:
            return f"this CPU has {units}"
        if self.kernel is None:
            return f"this CPU has {units}, but oneDNN ran no bf16 convolution here"
        verb = "runs" if _kernel_uses_bf16(self.kernel) else "does not use them: it runs"
        return f"this CPU has {units}; oneDNN {verb} bf16 convolutions with {self.kernel}"


def _kernel_uses_bf16(kernel: Optional[str]) -> bool:
    # oneDNN names the ISA it dispatched: avx512_core_bf16, avx512_core_amx, ...; ref or avx2 is emulation.
    return kernel is not None and ("bf16" in kernel.split(":")[-1] or "amx" in kernel)


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    # Elsewhere (macOS, Windows): torch's own cpuinfo (private, so looked up defensively).
    cpu = getattr(torch, "cpu", None)
    found = set()
    for flag, probe in (("amx_bf16", "_is_amx_tile_supported"), ("avx512_bf16", "_is_avx512_bf16_supported")):
        try:
            if getattr(cpu, probe)():
                found.add(flag)
        except (AttributeError, RuntimeError):
            pass
    return found


def _onednn_kernel() -> Optional[str]:
    """The implementation oneDNN picks for a small bf16 convolution, read from its verbose log (which it
    writes to file descriptor 1), or None when the convolution does not go through oneDNN."""
    if not torch.backends.mkldnn.is_available():
        return None
    x = torch.ones(1, 16, 8, 8, dtype=torch.bfloat16).contiguous(memory_format=torch.channels_last)
    w = torch.ones(16, 16, 3, 3, dtype=torch.bfloat16).contiguous(memory_format=torch.channels_last)
    with tempfile.TemporaryFile() as log:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(log.fileno(), 1)
        try:
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                torch.nn.functional.conv2d(x, w, padding=1)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        log.seek(0)
        text = log.read().decode(errors="replace")
    for line in text.splitlines():
        fields = line.split(",")
        if "convolution" in fields and len(fields) > fields.index("convolution") + 1:
            return fields[fields.index("convolution") + 1]
    return None


@functools.lru_cache(maxsize=None)
def cpu_bf16() -> CpuBf16:
    """This CPU's bf16 capability (probed once per process; :data:`FORCE_ENV` overrides the verdict)."""
    forced = os.environ.get(FORCE_ENV, "").strip()
    flags = _cpu_flags()
    units = tuple(name for flag, name in BF16_FLAGS.items() if flag in flags)
    kernel = _onednn_kernel() if units else None
    return CpuBf16(units, kernel, {"1": True, "0": False}.get(forced))


def auto(device: torch.device) -> str:
    """What ``auto`` means on ``device``."""
    if device.type == "cuda":
        return CUDA_DEFAULT
    if device.type == "cpu" and cpu_bf16().usable:
        return "bf16"
    return "float32"


def auto_reason(device: torch.device) -> str:
    """One line: what ``auto`` means on ``device``, and why."""
    if device.type == "cuda":
        return f"auto = {CUDA_DEFAULT} on CUDA (float32's loss at 3.8× the speed; bf16's gradients are too coarse)"
    if device.type == "cpu":
        return f"auto = {auto(device)}: {cpu_bf16().reason()}"
    return f"auto = float32 on {device.type}"


def effective(precision: str, device: torch.device) -> str:
    """The precision a job runs in on ``device``; raises InvalidInput for a choice the device lacks."""
    if precision == "auto":
        return auto(device)
    if precision == "tf32" and device.type != "cuda":
        raise InvalidInput("precision", f"tf32 needs a CUDA device; this engine runs on {device.type} "
                                        "(use auto, float32 or bf16)")
    if precision == "bf16" and device.type not in ("cpu", "cuda"):
        raise InvalidInput("precision", f"bf16 runs on the CPU or CUDA; this engine runs on {device.type} "
                                        "(use auto or float32)")
    return precision


@contextlib.contextmanager
def backend_flags(precision: str, device: torch.device) -> Iterator[None]:
    """Set the CUDA TF32 switches for one job and restore them afterwards."""
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = precision == "tf32"
    # Matrix products (the Gram matrices) in TF32 under bf16 too: their inputs are activations the bf16
    # convolutions produced, which TF32 holds exactly, and the sums stay float32; only the Gram backward's
    # upstream gradient is rounded to TF32's 10-bit mantissa, finer than the bf16 convolutions themselves.
    torch.backends.cuda.matmul.allow_tf32 = precision in ("tf32", "bf16")
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def dtype(precision: str) -> torch.dtype:
    """The dtype of the network's convolutions after the first."""
    return torch.bfloat16 if precision == "bf16" else torch.float32
