"""Arithmetic precision of the convolutions, chosen per job.

* ``float32``: true float32 everywhere. On CUDA this turns *off* TF32, which PyTorch enables for cuDNN
  convolutions by default (``torch.backends.cudnn.allow_tf32``), for the duration of the job.
* ``tf32``: TF32 tensor-core convolutions and matrix products (10-bit mantissa inputs, float32 sums).
* ``bf16``: convolutions under ``torch.autocast(bfloat16)``; activations are cast back to float32 before
  the Gram matrices (float32 sums of products TF32 holds exactly) and the losses, which stay in float32.

``auto`` means float32 on the CPU and MPS (the only precision offered there: asking for tf32 or bf16 on a
device without CUDA is an ``InvalidInput`` naming ``precision``), and :data:`CUDA_DEFAULT` on CUDA.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from .errors import InvalidInput

#: What ``auto`` means on CUDA: the one place to change it (README "Performance", GPU figures).
CUDA_DEFAULT = "tf32"


def effective(precision: str, device: torch.device) -> str:
    """The precision a job runs in on ``device``; raises InvalidInput for a CUDA-only choice elsewhere."""
    if precision == "auto":
        return CUDA_DEFAULT if device.type == "cuda" else "float32"
    if precision in ("tf32", "bf16") and device.type != "cuda":
        raise InvalidInput("precision", f"{precision} needs a CUDA device; this engine runs on {device.type} "
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


def autocast(precision: str, device: torch.device):
    """The context the network's forward runs in."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
