"""Every image that enters the network is big enough at every scale, or the job is refused naming the image.

A panorama style, a small style_scale and a deep layer on a small content used to reach pooling with nothing
left (an INTERNAL error at the server); what can work now works, the rest is InvalidInput.
"""
import pytest
from PIL import Image

from nst_core import InvalidInput, StyleOptions
from nst_core.contract.layers import downsample, min_input_side
from nst_core.memory import CPU_MODEL
from nst_core.contract.options import resolve
from nst_core.plan import plan_job
from nst_core.contract.schedule import style_size

QUICK = dict(steps=1, coarse_steps=1)


def test_the_deepest_layer_counts_its_own_pool():
    assert downsample("relu5_1") == 16 and downsample("pool5") == 32 and downsample("pool1") == 2
    assert min_input_side(["relu1_1", "pool5"]) == 32


def test_a_panorama_style_works_under_the_default_preset(engine, cat, starry):
    panorama = starry.resize((2000, 16))
    plan = engine.plan(cat.size, [panorama.size], StyleOptions())
    assert plan.scales[0].style_sizes[0] == (2000, 16)  # its short side kept at relu5_1's minimum
    assert all(min(s.style_sizes[0]) >= 16 for s in plan.scales)
    result = engine.stylize(cat.resize((160, 106)), [panorama], StyleOptions(max_size=160, min_size=64, **QUICK))
    assert result.image.size == (160, 106)


def test_a_small_style_scale_works(engine, cat, starry):
    plan = engine.plan(cat.size, [starry.size], StyleOptions(style_scale=0.1))
    assert plan.scales[0].style_sizes[0] == (26, 16)  # 13 px long at 128 px, grown to a 16 px short side
    result = engine.stylize(cat.resize((96, 64)), [starry], StyleOptions(max_size=96, style_scale=0.1, **QUICK))
    assert result.image.size == (96, 64)


def test_a_style_too_elongated_for_the_network_is_refused_by_name(engine, cat, starry):
    with pytest.raises(InvalidInput) as caught:
        engine.stylize(cat, [starry, starry.resize((5000, 2))], StyleOptions())
    assert caught.value.field == "styles[1]" and "5000×2" in caught.value.message
    with pytest.raises(InvalidInput):
        style_size((5000, 2), (512, 512), 1.0, 16, "styles[0]")


def test_a_deep_content_layer_on_a_small_content_is_refused_by_name(engine, starry):
    content = Image.new("RGB", (24, 24), (120, 80, 40))
    with pytest.raises(InvalidInput) as caught:
        engine.stylize(content, [starry], StyleOptions(content_layers=("pool5",)))
    assert caught.value.field == "content" and "32 px" in caught.value.message
    result = engine.stylize(Image.new("RGB", (40, 32), (120, 80, 40)), [starry],
                            StyleOptions(content_layers=("pool5",), max_size=40, **QUICK))
    assert result.image.size == (40, 32)


def test_coarse_scales_too_small_for_the_layers_are_skipped():
    opts = resolve(StyleOptions(min_size=32, max_size=128, content_layers=("pool5",)))
    plan = plan_job((128, 40), [[(64, 64)]], opts, budget=2 ** 34, resident=0, model=CPU_MODEL)
    assert [s.size for s in plan.scales] == [(128, 40)]  # 32×10 and 64×20 would leave pool5 nothing
