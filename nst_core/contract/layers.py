"""Paper names (conv1_1 … pool5) for the modules of torchvision's ``vgg19().features``."""
from __future__ import annotations

# Convolutions per block in VGG19 (configuration "E").
_BLOCKS = (2, 2, 4, 4, 4)


def _names() -> tuple[str, ...]:
    names: list[str] = []
    for block, convs in enumerate(_BLOCKS, start=1):
        for conv in range(1, convs + 1):
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
        names.append(f"pool{block}")
    return tuple(names)


#: Names in module order: index i names ``vgg19().features[i]``.
LAYER_NAMES: tuple[str, ...] = _names()
LAYER_INDEX: dict[str, int] = {name: i for i, name in enumerate(LAYER_NAMES)}
#: Convolution names, in order; the weight files are keyed by these.
CONV_NAMES: tuple[str, ...] = tuple(n for n in LAYER_NAMES if n.startswith("conv"))


def downsample(name: str) -> int:
    """How many input pixels one position of layer ``name`` steps over: 2 per pool up to and including it."""
    return 2 ** sum(1 for n in LAYER_NAMES[:LAYER_INDEX[name] + 1] if n.startswith("pool"))


def min_input_side(names) -> int:
    """Smallest image side that leaves at least one position at every layer in ``names``."""
    return max(downsample(n) for n in names)


def context(name: str, pooling: str = "max") -> int:
    """Input pixels each side of a position's own cell that its value depends on (3×3 convs, padding 1;
    2×2 pools with stride 2 add none beyond the cell; a blur pool's stride-1 max and 3×3 filter add up to
    two of the pool's input pixels). A tile whose window extends this far beyond its inner region computes
    that region's activations exactly as the whole image would."""
    reach, stride = 0, 1
    for n in LAYER_NAMES[:LAYER_INDEX[name] + 1]:
        if n.startswith("conv"):
            reach += stride
        elif n.startswith("pool"):
            reach += 2 * stride if pooling == "blur" else 0
            stride *= 2
    return reach


def channels(name: str) -> int:
    """Activation channels of layer ``name`` (64, 128, 256, 512, 512 per block)."""
    block = int(name[4])  # "conv3_2", "relu3_2", "pool3": the block number is the fifth character
    return (64, 128, 256, 512, 512)[block - 1]
