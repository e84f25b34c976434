"""Options: the one declaration, its checks (every bad value is a ValueError naming its field), presets."""
import subprocess
import sys

import pytest

from nst_core.contract.errors import InvalidInput
from nst_core.contract.limits import MAX_FACTOR, MAX_SEED, MAX_STEPS, MAX_STYLE_SCALE, MAX_WEIGHT
from nst_core.contract.options import PRESETS, StyleOptions, option_specs, resolve

BAD_OPTIONS = [
    ("content_layers", dict(content_layers=("relu9_9",))),
    ("style_layers", dict(style_layers=("conv1_1", "nope"))),
    ("style_layers", dict(style_layers=())),
    ("max_size", dict(max_size=0)),
    ("max_size", dict(max_size=-5)),
    ("steps", dict(steps=0)),
    ("min_size", dict(min_size=0)),
    ("style_weight", dict(style_weight=float("nan"))),
    ("content_weight", dict(content_weight=-1.0)),
    ("tv_weight", dict(tv_weight=float("inf"))),
    ("style_strength", dict(style_strength=-0.5)),
    ("style_scale", dict(style_scale=0)),
    ("style_scale", dict(style_scale=10.0)),
    ("style_layer_weights", dict(style_layer_weights=(1.0, 2.0))),
    ("style_layer_weights", dict(style_layer_weights=(1.0, -1.0, 1.0, 1.0, 1.0))),
    ("preset", dict(preset="ultra")),
    ("optimizer", dict(optimizer="sgd")),
    ("init", dict(init="zeros")),
    ("pooling", dict(pooling="min")),
    ("preserve_colors", dict(preserve_colors="sepia")),
    ("seed", dict(seed=1.5)),
    ("seed", dict(seed=-1)),
    # Counts past their documented bounds (the wire's uint32 progress fields stay in range).
    ("steps", dict(steps=MAX_STEPS + 1)),
    ("coarse_steps", dict(coarse_steps=2**31 - 1)),
    ("max_size", dict(max_size=2**31 - 1)),
    ("style_layers", dict(style_layers=("relu1_1",) * 1000)),  # the same layer again and again
    ("multiscale", dict(multiscale="yes")),
    ("learning_rate", dict(learning_rate=1e9)),
    ("tile_size", dict(tile_size=8)),
    ("tile_size", dict(tile_size=-1)),
    ("tile_size", dict(tile_size=32.5)),
    ("precision", dict(precision="fp16")),
    # Floats past what float32 arithmetic survives (each a finite double on the wire).
    ("style_weight", dict(style_weight=1e39)),
    ("content_weight", dict(content_weight=1e308)),
    ("tv_weight", dict(tv_weight=1e308)),
    ("style_strength", dict(style_strength=1e308)),
    ("style_layer_weights", dict(style_layer_weights=(1e308,) * 5)),
    ("style_strength", dict(style_weight=MAX_WEIGHT, style_strength=10.0)),  # the product of the three
    ("style_strength", dict(style_strength=MAX_FACTOR, style_layer_weights=(MAX_FACTOR,) * 5)),
]


@pytest.mark.parametrize("field,kwargs", BAD_OPTIONS)
def test_bad_option_names_its_field(field, kwargs):
    with pytest.raises(ValueError) as info:
        resolve(StyleOptions(**kwargs))
    assert isinstance(info.value, InvalidInput) and info.value.field == field
    assert str(info.value).startswith(field)


def test_preset_fills_in_and_normalizes():
    opts = resolve(StyleOptions(preset="draft", steps=7))
    assert opts.steps == 7 and opts.max_size == 256
    assert sum(opts.style_layer_weights) == pytest.approx(1.0)


def test_bounds_allow_the_largest_documented_values():
    opts = resolve(StyleOptions(steps=MAX_STEPS, coarse_steps=MAX_STEPS, style_scale=MAX_STYLE_SCALE))
    assert opts.steps == MAX_STEPS and opts.style_scale == MAX_STYLE_SCALE


def test_every_number_has_a_maximum_and_the_maxima_resolve():
    specs = option_specs()
    assert all(spec.maximum is not None for spec in specs.values() if spec.kind in ("int", "float", "floats"))
    assert specs["seed"].maximum == MAX_SEED and "style_blend" not in specs  # blend weights: nst_core.contract.spec
    opts = resolve(StyleOptions(content_weight=MAX_WEIGHT, style_weight=MAX_WEIGHT, tv_weight=MAX_WEIGHT,
                                style_layer_weights=(1.0,) * 5, seed=MAX_SEED))
    assert opts.style_weight == MAX_WEIGHT and opts.seed == MAX_SEED


def test_every_option_is_declared_with_a_spec():
    specs = option_specs()
    assert list(specs)[:3] == ["preset", "max_size", "steps"]
    assert all(spec.help and spec.kind in ("int", "float", "bool", "choice", "layers", "floats")
               for spec in specs.values())
    assert specs["preset"].choices == tuple(PRESETS) and len(specs["preset"].labels) == len(PRESETS)
    assert all(specs[name].maximum is not None for name in ("steps", "coarse_steps", "max_size", "min_size", "seed"))


def test_options_and_errors_import_without_torch():
    code = ("import sys, nst_core, nst_core.contract.errors, nst_core.contract.options, nst_core.contract.progress, nst_core.interface; "
            "heavy = [m for m in ('torch', 'torchvision', 'PIL', 'numpy') if m in sys.modules]; "
            "assert not heavy, heavy; from nst_core import PRESETS; assert 'torch' not in sys.modules")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr


def test_a_stronger_style_lengthens_only_the_presets_final_steps():
    from nst_core.contract.options import resolve, strength_stretch
    base = resolve(StyleOptions())
    assert resolve(StyleOptions(style_strength=3.0)).steps == round(base.steps * 1.3)
    assert resolve(StyleOptions(style_strength=10.0)).steps == round(base.steps * 1.3)  # never past 1.3x
    assert resolve(StyleOptions(style_strength=1 / 3)).steps == base.steps
    assert resolve(StyleOptions(style_strength=3.0)).coarse_steps == base.coarse_steps
    assert resolve(StyleOptions(style_strength=3.0, steps=7)).steps == 7  # an explicit count is kept
    assert strength_stretch(1.0) == 1.0 and 1.0 < strength_stretch(1.5) < 1.3
