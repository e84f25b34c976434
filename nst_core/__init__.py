"""nst_core: neural style transfer (Gatys et al.) on VGG19 — the engine behind the server and plug-in.

Typical use::

    from nst_core import Engine, StyleOptions
    engine = Engine()                      # original VGG19 weights, best device
    result = engine.stylize(content, [style], StyleOptions(preset="balanced"))
    result.image.save("out.png")

The names below are imported on first use, so ``nst_core.errors``, ``nst_core.options`` and
``nst_core.limits`` stay free of torch for client-side code that shares them.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "Engine": "engine", "StyleResult": "engine", "select_device": "engine",
    "TargetCache": "cache",
    "CancelToken": "progress", "Progress": "progress",
    "NSTError": "errors", "InvalidInput": "errors", "WeightsUnavailable": "errors", "Cancelled": "errors",
    "DeviceOutOfMemory": "errors",
    "decode_image": "images", "load_image": "images",
    "LAYER_NAMES": "layers",
    "PRESETS": "options", "StyleOptions": "options", "resolve": "options",
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
