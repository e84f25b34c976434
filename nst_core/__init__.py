"""nst_core: neural style transfer (Gatys et al.) on VGG19 — the engine behind the server and plug-in.

Typical use::

    from nst_core import Engine, StyleOptions
    engine = Engine()                      # original VGG19 weights, best device
    result = engine.stylize(content, [style], StyleOptions(preset="balanced"))
    result.image.save("out.png")

The names below are imported on first use, so ``nst_core.contract.errors``, ``nst_core.contract.options`` and
``nst_core.contract.limits`` stay free of torch for client-side code that shares them.
"""
from __future__ import annotations

import importlib
import os

# Large CPU tensors on transparent huge pages (read by torch at its first large allocation, so set before
# any): a step at 1024×640 took 880 000 page faults and 3 s of system time without, 53 000 and 1.8 s with,
# and ran 15-20 % faster (README "Performance"). Linux only; elsewhere torch ignores it.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

_EXPORTS = {
    "Engine": "engine", "StyleResult": "engine", "select_device": "engine",
    "TargetCache": "cache",
    "CancelToken": "contract.progress", "Progress": "contract.progress",
    "NSTError": "contract.errors", "InvalidInput": "contract.errors", "WeightsUnavailable": "contract.errors", "Cancelled": "contract.errors",
    "DeviceOutOfMemory": "contract.errors",
    "decode_image": "images", "load_image": "images",
    "LAYER_NAMES": "contract.layers",
    "PRESETS": "contract.options", "StyleOptions": "contract.options", "resolve": "contract.options",
    "StyleEngine": "interface",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'nst_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
