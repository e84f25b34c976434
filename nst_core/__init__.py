"""nst_core: neural style transfer (Gatys et al.) on VGG19 — the engine behind the server and plug-in.

Typical use::

    from nst_core import Engine, StyleOptions
    engine = Engine()                      # original VGG19 weights, best device
    result = engine.stylize(content, [style], StyleOptions(preset="balanced"))
    result.image.save("out.png")

The names below are imported on first use: importing ``nst_core`` or its torch-free contract
(:mod:`nst_core.contract`: errors, limits, options, a job's spec, progress, layer names, the schedule) loads
no torch and changes nothing in the process's environment.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "Engine": "engine", "StyleResult": "engine", "select_device": "engine",
    "TargetCache": "cache",
    "CancelToken": "contract.progress", "Progress": "contract.progress",
    "NSTError": "contract.errors", "InvalidInput": "contract.errors", "WeightsUnavailable": "contract.errors",
    "Cancelled": "contract.errors", "DeviceOutOfMemory": "contract.errors",
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
