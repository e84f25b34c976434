"""nst_core: neural style transfer (Gatys et al.) on VGG19 — the engine behind the server and plug-in.

Typical use::

    from nst_core import Engine, StyleOptions
    engine = Engine()                      # original VGG19 weights, best device
    result = engine.stylize(content, [style], StyleOptions(preset="balanced"))
    result.image.save("out.png")
"""
from .cache import TargetCache
from .engine import Engine, StyleResult, select_device
from .errors import Cancelled, DeviceOutOfMemory, InvalidInput, NSTError, WeightsUnavailable
from .images import decode_image, load_image
from .layers import LAYER_NAMES
from .options import PRESETS, StyleOptions, resolve
from .progress import CancelToken, Progress

__all__ = [
    "Engine", "StyleResult", "StyleOptions", "PRESETS", "resolve", "select_device", "TargetCache",
    "CancelToken", "Progress", "NSTError", "InvalidInput", "WeightsUnavailable", "Cancelled",
    "DeviceOutOfMemory", "decode_image", "load_image", "LAYER_NAMES",
]
