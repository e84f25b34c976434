"""Job options, presets and their validation.

Every user-facing knob lives in :class:`StyleOptions`. ``None`` means "take the preset's value".
:func:`resolve` merges the preset and checks every field, raising :class:`InvalidInput` naming it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Optional

from .errors import InvalidInput
from .layers import LAYER_NAMES

CONTENT_LAYERS = ("relu4_2",)
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise", "image")
POOLINGS = ("max", "avg")
COLOR_MODES = ("none", "luminance", "histogram")


@dataclass(frozen=True)
class Preset:
    """Values a preset fills in. See README "Presets" for how they were tuned."""

    max_size: int
    steps: int  # optimizer steps at the final scale; coarser scales get ``coarse_steps``
    coarse_steps: int
    content_weight: float
    style_weight: float
    tv_weight: float


PRESETS: dict[str, Preset] = {
    # Tuned on the bundled samples with the original weights (README "Presets"): alpha:beta = 1:100
    # keeps the subject while carrying the style's strokes and palette; 300+ starts to dissolve faces.
    "draft": Preset(max_size=256, steps=30, coarse_steps=40, content_weight=1.0, style_weight=100.0, tv_weight=100.0),
    "balanced": Preset(max_size=512, steps=20, coarse_steps=40, content_weight=1.0, style_weight=100.0,
                       tv_weight=100.0),
    "fine": Preset(max_size=1024, steps=40, coarse_steps=60, content_weight=1.0, style_weight=100.0,
                   tv_weight=100.0),
}
DEFAULT_PRESET = "balanced"
MAX_STYLE_SCALE = 4.0  # bounds the style image's memory to 16× the content's working size


@dataclass(frozen=True)
class StyleOptions:
    """What a caller may set. ``None`` fields come from the preset."""

    preset: str = DEFAULT_PRESET
    max_size: Optional[int] = None  # long side of the final optimization, pixels
    steps: Optional[int] = None  # steps at the final scale
    coarse_steps: Optional[int] = None  # steps at each coarser scale
    content_weight: Optional[float] = None  # alpha
    style_weight: Optional[float] = None  # beta
    style_strength: float = 1.0  # multiplies beta; artists' "strength" knob (1 = preset's balance)
    tv_weight: Optional[float] = None
    content_layers: tuple[str, ...] = CONTENT_LAYERS
    style_layers: tuple[str, ...] = STYLE_LAYERS
    style_layer_weights: Optional[tuple[float, ...]] = None  # default: equal, summing to 1
    style_blend: Optional[tuple[float, ...]] = None  # one weight per style image; default equal
    style_scale: float = 1.0  # style image long side = style_scale * content working long side
    optimizer: str = "lbfgs"
    learning_rate: float = 2.0  # Adam only; pixels are on a 0..255 scale inside the network
    init: str = "content"
    pooling: str = "max"
    preserve_colors: str = "none"
    multiscale: bool = True
    min_size: int = 128  # long side of the coarsest scale
    seed: int = 0
    output_size: str = "content"  # "content": result at the content's size; "working": at max_size


@dataclass(frozen=True)
class ResolvedOptions(StyleOptions):
    """Options after preset merge and validation: no ``None`` left where a number is needed."""

    max_size: int = 0
    steps: int = 0
    coarse_steps: int = 0
    content_weight: float = 0.0
    style_weight: float = 0.0
    tv_weight: float = 0.0
    style_layer_weights: tuple[float, ...] = ()


def _check_number(name: str, value, *, positive: bool = False, integer: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(name, f"must be a number, got {value!r}")
    if integer and int(value) != value:
        raise InvalidInput(name, f"must be a whole number, got {value!r}")
    if math.isnan(value) or math.isinf(value):
        raise InvalidInput(name, f"must be finite, got {value!r}")
    if positive and value <= 0:
        raise InvalidInput(name, f"must be > 0, got {value!r}")
    if value < 0:
        raise InvalidInput(name, f"must be >= 0, got {value!r}")


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise InvalidInput(name, f"must be one of {', '.join(choices)}; got {value!r}")


def _check_layers(name: str, layers) -> None:
    if not layers:
        raise InvalidInput(name, "needs at least one layer")
    for layer in layers:
        if layer not in LAYER_NAMES:
            raise InvalidInput(name, f"unknown layer {layer!r}; known: {', '.join(LAYER_NAMES)}")


def resolve(options: StyleOptions, n_styles: int) -> ResolvedOptions:
    """Merge the preset into ``options`` and validate every field."""
    _check_choice("preset", options.preset, PRESETS)
    preset = PRESETS[options.preset]
    values = {f.name: getattr(options, f.name) for f in fields(StyleOptions)}
    for name in ("max_size", "steps", "coarse_steps", "content_weight", "style_weight", "tv_weight"):
        if values[name] is None:
            values[name] = getattr(preset, name)

    for name in ("max_size", "steps", "min_size"):
        _check_number(name, values[name], positive=True, integer=True)
    _check_number("coarse_steps", values["coarse_steps"], integer=True)
    for name in ("content_weight", "style_weight", "tv_weight"):
        _check_number(name, values[name])
    _check_number("style_scale", values["style_scale"], positive=True)
    if values["style_scale"] > MAX_STYLE_SCALE:  # the style image is resized to scale × working size
        raise InvalidInput("style_scale", f"must be at most {MAX_STYLE_SCALE:g}, got {values['style_scale']!r}")
    _check_number("style_strength", values["style_strength"])
    _check_number("learning_rate", values["learning_rate"], positive=True)
    _check_number("seed", values["seed"], integer=True)
    _check_choice("optimizer", values["optimizer"], OPTIMIZERS)
    _check_choice("init", values["init"], INITS)
    _check_choice("pooling", values["pooling"], POOLINGS)
    _check_choice("preserve_colors", values["preserve_colors"], COLOR_MODES)
    _check_choice("output_size", values["output_size"], ("content", "working"))
    _check_layers("content_layers", values["content_layers"])
    _check_layers("style_layers", values["style_layers"])
    values["content_layers"] = tuple(values["content_layers"])
    values["style_layers"] = tuple(values["style_layers"])

    if n_styles < 1:
        raise InvalidInput("styles", "at least one style image is required")
    layer_weights = values["style_layer_weights"]
    if layer_weights is None:
        layer_weights = tuple(1.0 / len(values["style_layers"]) for _ in values["style_layers"])
    if len(layer_weights) != len(values["style_layers"]):
        raise InvalidInput("style_layer_weights", f"needs one weight per style layer ({len(values['style_layers'])})")
    for w in layer_weights:
        _check_number("style_layer_weights", w)
    values["style_layer_weights"] = tuple(float(w) for w in layer_weights)

    blend = values["style_blend"]
    if blend is None:
        blend = tuple(1.0 for _ in range(n_styles))
    if len(blend) != n_styles:
        raise InvalidInput("style_blend", f"needs one weight per style image ({n_styles}), got {len(blend)}")
    for w in blend:
        _check_number("style_blend", w)
    if sum(blend) <= 0:
        raise InvalidInput("style_blend", "weights must not all be zero")
    values["style_blend"] = tuple(float(w) / sum(blend) for w in blend)

    if values["min_size"] > values["max_size"]:
        values["min_size"] = values["max_size"]
    return ResolvedOptions(**values)


def with_overrides(options: StyleOptions, **changes) -> StyleOptions:
    """``dataclasses.replace`` that ignores ``None`` values (handy for CLI and server mapping)."""
    return replace(options, **{k: v for k, v in changes.items() if v is not None})


__all__ = [
    "StyleOptions", "ResolvedOptions", "Preset", "PRESETS", "DEFAULT_PRESET", "resolve", "with_overrides",
    "CONTENT_LAYERS", "STYLE_LAYERS", "OPTIMIZERS", "INITS", "POOLINGS", "COLOR_MODES",
]

