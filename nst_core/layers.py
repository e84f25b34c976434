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
