"""VGG19's forward with a compact record for its input gradient, and that gradient by hand.

Autograd keeps, for every convolution, its float32 input, and for every max pool int64 indices: about
1.4 KB per input pixel up to relu5_1, and a step peaks at 2.5 KB/pixel (nst_core.memory). But the weights
are frozen, so a convolution's input gradient needs only its weights, and the rest of the network needs
little more: a ReLU needs where its input was positive (one byte per element, nothing where its output is
a requested activation, which says the same), a 2×2 max pool which of its inputs won (an int32 index per
output), an average pool nothing, a blur pool where its stride-1 max's winners sit (two bytes per input).
:func:`trunk` runs the network without autograd, keeps that record and the requested activations (0.8 KB/pixel
together for the default layers, :func:`kept_bytes_per_pixel`), and hands autograd one node whose backward
replays the network backwards.

Tiled steps (nst_core.tiling) use it to keep every tile's record between the pass that gathers the global
Gram matrices and the backward pass, instead of running every tile forward twice.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .contract.layers import LAYER_INDEX, LAYER_NAMES, channels, downsample
from .vgg import binomial, binomial_subsample, layout_of, window_max


class _Record:
    """What one forward kept: per module, ("conv", weight, input shape, input dtype), ("relu", mask or None),
    ("max", int32 indices, input shape), ("avg", scale, input shape) or
    ("blur", (right_won, lower_won), input shape)."""

    def __init__(self):
        self.steps: list[tuple] = []
        self.wanted: dict[int, int] = {}  # module index -> position among the outputs


def _forward(model, x: torch.Tensor, names: Sequence[str], pooling: str) -> tuple[list[torch.Tensor], _Record]:
    record = _Record()
    record.wanted = {LAYER_INDEX[n]: k for k, n in enumerate(names)}
    scales = model.avg_scales() if pooling == "avg" else None
    outputs: list = [None] * len(names)
    for i in range(max(record.wanted) + 1):
        module = model.layers[i]
        if isinstance(module, nn.Conv2d):
            # A bf16 twin's convolutions after the first (nst_core.vgg.in_dtype): the backward casts back.
            record.steps.append(("conv", module.weight, x.shape, x.dtype))
            x = module(x.to(module.weight.dtype))
        elif isinstance(module, nn.ReLU):
            x = F.relu(x, inplace=(i - 1) not in record.wanted)
            # A requested ReLU output is kept anyway, and its positive entries are the mask.
            record.steps.append(("relu", None if i in record.wanted else x <= 0))
        elif scales is not None:
            record.steps.append(("avg", scales[i], x.shape))
            x = F.avg_pool2d(x, 2, 2) * scales[i]
        elif pooling == "blur":  # nst_core.vgg.blur_pool, keeping where its stride-1 max's winners sit
            peak, winners = window_max(x, winners=True)
            record.steps.append(("blur", winners, x.shape))
            x = binomial_subsample(peak)
            del peak
        else:
            shape = x.shape
            x, index = F.max_pool2d(x, 2, 2, return_indices=True)
            # Positions within one channel's plane (< 2³¹ up to 46 340² px) kept as int32, half of torch's
            # int64. (A one-byte code of the winner's place in its 2×2 cell took 4-5× the pooling's time.)
            record.steps.append(("max", index.to(torch.int32), shape))
        if i in record.wanted:
            outputs[record.wanted[i]] = x
    return outputs, record


def _backward(record: _Record, outputs: Sequence[torch.Tensor], grads: Sequence) -> torch.Tensor:
    g = None
    for i in range(len(record.steps) - 1, -1, -1):
        k = record.wanted.get(i)
        if k is not None and grads[k] is not None:
            g = grads[k].clone() if g is None else g + grads[k]
        if g is None:  # nothing flows back from here yet
            continue
        kind, data, *shape = record.steps[i]
        if kind == "conv":
            # The input is only read for its shape and layout (on the CPU its untouched pages cost nothing).
            g = g.to(data.dtype)
            like = torch.empty(shape[0], dtype=g.dtype, device=g.device, memory_format=layout_of(g))
            g = torch.ops.aten.convolution_backward(g, like, data, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1,
                                                    (True, False, False))[0].to(shape[1])
        elif kind == "relu":
            g.masked_fill_(outputs[k] <= 0 if data is None else data, 0.0)
        elif kind == "max":
            like = torch.empty(shape[0], dtype=g.dtype, device=g.device, memory_format=layout_of(g))
            g = torch.ops.aten.max_pool2d_with_indices_backward(g, like, [2, 2], [2, 2], [0, 0], [1, 1], False,
                                                                data.long())
        elif kind == "blur":
            g = _blur_pool_backward(g, data, shape[0])
        else:  # average pooling, rescaled: each input gets a quarter of its cell's gradient, times the scale
            (shape,) = shape
            grad_in = torch.empty(shape, dtype=g.dtype, device=g.device, memory_format=layout_of(g))
            if (shape[2] | shape[3]) & 1:  # an odd last row or column: no output saw it
                grad_in.zero_()
            h, w = g.shape[2] * 2, g.shape[3] * 2
            for a in (0, 1):
                for b in (0, 1):
                    torch.mul(g, data / 4, out=grad_in[:, :, a:h:2, b:w:2])
            g = grad_in
    return g


def _blur_pool_backward(g: torch.Tensor, winners, shape: torch.Size) -> torch.Tensor:
    """The input gradient of :func:`nst_core.vgg.blur_pool` on an input of ``shape``, from its output's and
    the winners :func:`nst_core.vgg.window_max` named (the same pixels max pooling's indices would)."""
    n, c, h, w = shape
    layout = layout_of(g)
    # The strided filter's own output is ⌈h/2⌉ × ⌈w/2⌉; the rows and columns cut off get no gradient.
    full = g.new_zeros((n, c, (h + 1) // 2, (w + 1) // 2)).contiguous(memory_format=layout)
    full[:, :, :g.shape[2], :g.shape[3]] = g
    padded = torch.empty((n, c, h + 2, w + 2), dtype=g.dtype, device=g.device, memory_format=layout)
    g = torch.ops.aten.convolution_backward(full, padded, binomial(g), None, [2, 2], [0, 0], [1, 1], False,
                                            [0, 0], c, (True, False, False))[0]
    del full, padded
    peak = torch.empty((n, c, h, w), dtype=g.dtype, device=g.device, memory_format=layout)
    g = torch.ops.aten.replication_pad2d_backward(g, peak, [1, 1, 1, 1]).contiguous(memory_format=layout)
    # Undo the column pass, then the row pass: where the later neighbour won, its share moves over to it.
    right_won, lower_won = winners
    moved = g[..., :-1, :] * lower_won[..., :-1, :]
    g[..., :-1, :] -= moved
    g[..., 1:, :] += moved
    moved = g[..., :, :-1] * right_won[..., :, :-1]
    g[..., :, :-1] -= moved
    g[..., :, 1:] += moved
    return g


class _Trunk(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, model, names, pooling):
        with torch.no_grad():
            outputs, record = _forward(model, x, names, pooling)
        ctx.record = record
        ctx.save_for_backward(*outputs)  # (as outputs, without a reference cycle)
        ctx.set_materialize_grads(False)
        return tuple(outputs)

    @staticmethod
    def backward(ctx, *grads):
        g = _backward(ctx.record, ctx.saved_tensors, grads)
        del ctx.record
        return g, None, None, None


def trunk(model, x: torch.Tensor, names: Iterable[str], pooling: str = "max") -> dict[str, torch.Tensor]:
    """``model(x, names, pooling)`` (a VGGFeatures), with the compact record as its backward state."""
    names = list(names)
    outputs = _Trunk.apply(x, model, names, pooling)
    return dict(zip(names, outputs))


def kept_bytes_per_pixel(names: Iterable[str], pooling: str = "max", activation_bytes: int = 4) -> float:
    """Bytes per input pixel that :func:`trunk` keeps until the backward: masks, pool indices, activations.
    ``activation_bytes``: 2 for a bf16 twin (nst_core.vgg.in_dtype), whose first convolution stays float32."""
    names = set(names)
    wanted = {LAYER_INDEX[n] for n in names}
    total = 0.0
    for i in range(max(wanted) + 1):
        name = LAYER_NAMES[i]
        per_pixel = channels(name) / downsample(name) ** 2
        if i in wanted:
            total += (4 if i <= LAYER_INDEX["relu1_1"] else activation_bytes) * per_pixel
        elif name.startswith("relu"):
            total += per_pixel
        if name.startswith("pool") and pooling == "max":  # an int32 index per output
            total += 4 * per_pixel
        elif name.startswith("pool") and pooling == "blur":  # two one-byte winner maps per input
            total += 2 * 4 * per_pixel
    return total
