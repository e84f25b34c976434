"""End-to-end engine behaviour with the real original weights on tiny images."""
import os

import numpy as np
import pytest
from PIL import Image

from nst_core import CancelToken, Cancelled, InvalidInput, StyleOptions, TargetCache
from nst_core.images import rgb_to_ycc, to_tensor

DEVICE_IS_CUDA = os.environ.get("NST_TEST_DEVICE", "cpu").startswith("cuda")  # the session engine's device
# precision float32: the same arithmetic on every device (CUDA's default would be tensor-core arithmetic).
TINY = dict(max_size=48, steps=6, coarse_steps=0, multiscale=False, precision="float32")


def same(a, b) -> bool:
    """Identical on the CPU; on CUDA, where some cuDNN kernels sum in a varying order, within two grey levels
    on average (a different seed or style changes the picture by tens)."""
    if a.image.tobytes() == b.image.tobytes():
        return True
    diff = np.abs(np.asarray(a.image, float) - np.asarray(b.image, float)).mean()
    return DEVICE_IS_CUDA and diff < 2.0


def small(img, side=64):
    w, h = img.size
    return img.resize((side, max(1, round(h * side / w))), Image.Resampling.LANCZOS)


def run(engine, content, styles, blend=None, **opts):
    seen = []
    result = engine.stylize(content, styles, StyleOptions(**{**TINY, **opts}), blend=blend, progress=seen.append)
    return result, seen


def test_stylization_with_real_weights_lowers_style_loss(engine, cat, starry):
    result, seen = run(engine, small(cat), [small(starry)], max_size=64, steps=25)
    first, last = seen[0].losses["style"], seen[-1].losses["style"]
    assert last < 0.2 * first, (first, last)
    assert result.image.size == small(cat).size and result.steps == 25
    changed = np.abs(np.asarray(result.image, float) - np.asarray(small(cat), float)).mean()
    assert changed > 5  # the picture really changed


def test_progress_reports_every_step_with_stage_eta_and_preview(engine, cat, starry):
    result, seen = run(engine, small(cat), [small(starry)], max_size=64, steps=3, coarse_steps=2,
                       multiscale=True, min_size=32)
    # The coarsest scale gets twice coarse_steps.
    assert [(p.stage, p.step) for p in seen] == [(1, 1), (1, 2), (1, 3), (1, 4), (2, 1), (2, 2), (2, 3)]
    assert all(p.stages == 2 and p.overall_total == 7 for p in seen)
    assert seen[-1].eta_seconds == pytest.approx(0.0, abs=1e-6) and seen[0].eta_seconds > 0
    assert {"content", "style", "tv", "total"} <= set(seen[0].losses)
    preview = seen[-1].preview()
    assert preview.size == (seen[-1].width, seen[-1].height) and preview.mode == "RGB"
    assert seen[0].preview().tobytes() != preview.tobytes()  # each report keeps its own snapshot
    assert result.scales == [(p.width, p.height) for p in (seen[0], seen[-1])]


def test_cancel_stops_within_one_step(engine, cat, starry):
    token = CancelToken()
    seen = []

    def on_progress(p):
        seen.append(p)
        if p.overall_step == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        engine.stylize(small(cat), [small(starry)], StyleOptions(**{**TINY, "steps": 50}),
                       progress=on_progress, cancel=token)
    assert len(seen) == 2


def test_same_seed_same_output_different_seed_differs(engine, cat, starry):
    a, _ = run(engine, small(cat), [small(starry)], init="noise", seed=7)
    b, _ = run(engine, small(cat), [small(starry)], init="noise", seed=7)
    c, _ = run(engine, small(cat), [small(starry)], init="noise", seed=8)
    assert same(a, b)
    assert not same(a, c)


def test_multiscale_sizes_keep_aspect_ratio(engine, cat, starry):
    result, seen = run(engine, small(cat, 90), [small(starry)], max_size=80, steps=1, coarse_steps=1,
                       multiscale=True, min_size=20)
    # 20×13 would be too small for relu5_1 (four pools), so the schedule starts at 40×27.
    assert result.scales == [(40, 27), (80, 53)]
    assert result.image.size == small(cat, 90).size  # output at the content's size by default


def test_working_size_output(engine, cat, starry):
    result, _ = run(engine, small(cat, 90), [small(starry)], max_size=40, output_size="working")
    assert result.image.size == (40, 27)


def chroma(img):
    return rgb_to_ycc(to_tensor(img.convert("RGB")))[0, 1:].numpy()


def test_luminance_mode_keeps_content_chroma(engine, cat, scream):
    content = small(cat)
    result, _ = run(engine, content, [small(scream)], preserve_colors="luminance", steps=10)
    assert np.abs(chroma(result.image) - chroma(content)).mean() < 1.5
    plain, _ = run(engine, content, [small(scream)], steps=10)
    assert np.abs(chroma(plain.image) - chroma(content)).mean() > 4


def test_histogram_mode_moves_chroma_towards_content(engine, cat, starry):
    content, scream = small(cat), starry  # a blue style on an orange cat
    # From noise, colours come from the style alone: only the matched run should land near the content's.
    plain, _ = run(engine, content, [small(scream)], steps=15, init="noise")
    matched, _ = run(engine, content, [small(scream)], preserve_colors="histogram", steps=15, init="noise")
    d_plain = np.abs(chroma(plain.image).mean((1, 2)) - chroma(content).mean((1, 2))).sum()
    d_matched = np.abs(chroma(matched.image).mean((1, 2)) - chroma(content).mean((1, 2))).sum()
    assert d_matched < 0.5 * d_plain, (d_matched, d_plain)


def test_multi_style_blend(engine, cat, starry, scream):
    content = small(cat)
    only_a, _ = run(engine, content, [small(starry)])
    weighted, _ = run(engine, content, [small(starry), small(scream)], blend=[1.0, 0.0])
    half, _ = run(engine, content, [small(starry), small(scream)], blend=[3.0, 3.0])  # normalised to ½, ½
    assert same(weighted, only_a)
    assert half.image.tobytes() != only_a.image.tobytes()


def test_alpha_is_carried_through_untouched(engine, cat, starry):
    content = small(cat).convert("RGBA")
    alpha = Image.linear_gradient("L").resize(content.size)
    content.putalpha(alpha)
    result, _ = run(engine, content, [small(starry)], max_size=32)  # forces a rescale of the colour
    assert result.image.mode == "RGBA" and result.image.size == content.size
    assert result.image.getchannel("A").tobytes() == alpha.tobytes()


def test_grayscale_in_grayscale_out(engine, cat, starry):
    result, _ = run(engine, small(cat).convert("L"), [small(starry)])
    assert result.image.mode == "L" and result.image.size == small(cat).size


def test_adam_and_avg_pooling_also_lower_style_loss(engine, cat, starry):
    _, seen = run(engine, small(cat), [small(starry)], optimizer="adam", learning_rate=8.0, steps=20,
                  pooling="avg", max_size=64)
    assert seen[-1].losses["style"] < 0.5 * seen[0].losses["style"]
    assert all(s > 1.0 for s in engine.model.avg_scales().values())


def test_blur_pooling_lowers_style_loss_and_keeps_the_seed(engine, cat, starry):
    first, seen = run(engine, small(cat), [small(starry)], pooling="blur", steps=12, max_size=64)
    assert seen[-1].losses["style"] < 0.5 * seen[0].losses["style"]
    again, _ = run(engine, small(cat), [small(starry)], pooling="blur", steps=12, max_size=64)
    assert first.image.tobytes() == again.image.tobytes()
    by_max, _ = run(engine, small(cat), [small(starry)], steps=12, max_size=64)
    assert by_max.image.tobytes() != first.image.tobytes()


def test_repeated_style_hits_the_cache(engine, cat, starry):
    cache = TargetCache()
    first, _ = run(engine, small(cat), [small(starry)], steps=1)
    a = engine.stylize(small(cat), [small(starry)], StyleOptions(**{**TINY, "steps": 1}), style_cache=cache)
    b = engine.stylize(small(cat), [small(starry)], StyleOptions(**{**TINY, "steps": 1}), style_cache=cache)
    assert (a.style_cache_hits, b.style_cache_hits) == (0, 1) and len(cache) == 1
    assert same(a, b) and same(a, first)


def test_init_from_given_image(engine, cat, starry):
    options = StyleOptions(**{**TINY, "steps": 1, "init": "image", "tv_weight": 0})
    black = engine.stylize(small(cat), [small(starry)], options, init_image=Image.new("RGB", (10, 10)))
    from_content, _ = run(engine, small(cat), [small(starry)], steps=1)
    assert np.asarray(black.image).mean() < np.asarray(from_content.image).mean() - 30


def test_empty_style_list(engine):
    with pytest.raises(InvalidInput) as info:
        engine.stylize(Image.new("RGB", (8, 8)), [], StyleOptions())
    assert info.value.field == "styles"


def test_style_that_is_not_an_image(engine):
    with pytest.raises(InvalidInput) as info:
        engine.stylize(Image.new("RGB", (8, 8)), ["starry.jpg"], StyleOptions())
    assert info.value.field == "styles[0]"


def test_init_image_required_for_image_init(engine):
    with pytest.raises(InvalidInput) as info:
        engine.stylize(Image.new("RGB", (8, 8)), [Image.new("RGB", (8, 8))], StyleOptions(init="image"))
    assert info.value.field == "init_image"


def test_image_too_small_for_deepest_layer(engine):
    with pytest.raises(InvalidInput) as info:
        engine.stylize(Image.new("RGB", (300, 10)), [Image.new("RGB", (8, 8))], StyleOptions(max_size=64))
    assert info.value.field == "content" and "too small" in str(info.value)


def test_a_job_at_the_weight_maxima_converges(engine):
    # Every weight at its maximum, from noise, with L-BFGS: the hardest case for float32 stays finite.
    from nst_core.contract.limits import MAX_WEIGHT

    result, seen = run(engine, Image.new("RGB", (48, 36), (90, 120, 60)), [Image.effect_noise((32, 32), 60)],
                       content_weight=MAX_WEIGHT, style_weight=MAX_WEIGHT, tv_weight=MAX_WEIGHT,
                       style_layer_weights=(1.0,) * 5, init="noise", steps=10)
    assert all(np.isfinite(value) for value in result.losses.values())
    assert seen[-1].losses["total"] < seen[0].losses["total"]
    assert np.asarray(result.image).std() > 1  # a picture, not a flat black one


def test_a_diverging_job_fails_naming_the_weight_never_a_black_picture(engine):
    # Bypassing the option checks: the engine's own guard must stop a loss that overflows float32.
    import dataclasses

    from nst_core.contract.options import resolve

    from nst_core.contract.spec import build

    job = build(Image.new("RGB", (48, 36), (90, 120, 60)), [Image.effect_noise((32, 32), 60).convert("RGB")],
                StyleOptions(**TINY))
    job = dataclasses.replace(job, options=dataclasses.replace(resolve(StyleOptions(**TINY)), style_weight=1e39))
    with pytest.raises(InvalidInput) as info:
        engine.run(job)  # the engine runs the spec as it is: no second resolution would catch this
    assert info.value.field == "style_weight" and "float32" in str(info.value)


def test_a_higher_style_strength_ends_with_a_lower_style_loss(engine, cat, starry):
    # The loss terms are relative (each style layer against its target's norm), so the unweighted style term
    # is comparable between strengths; a stronger setting must carry more of the painting.
    def style_term(strength):
        result, _ = run(engine, small(cat), [small(starry)], max_size=64, steps=20, style_strength=strength)
        opts = StyleOptions(**TINY)
        from nst_core.contract.options import resolve

        return result.losses["style"] / (resolve(opts).style_weight * strength), result

    weak, weak_result = style_term(0.1)
    strong, strong_result = style_term(1.0)
    assert strong < 0.8 * weak, (weak, strong)
    again, again_result = style_term(1.0)
    assert again_result.image.tobytes() == strong_result.image.tobytes() or DEVICE_IS_CUDA  # same seed, same picture


def test_restyling_a_stylized_picture_still_moves_it(engine, cat, starry):
    # A picture already close to the style has tiny relative-loss gradients; the optimizer must still take
    # steps (L-BFGS drops curvature pairs below an absolute yᵀs, Adam adds an absolute ε), not return it as is.
    first, _ = run(engine, small(cat, 240), [small(starry, 240)], max_size=240, steps=30)
    again, seen = run(engine, first.image, [small(starry, 240)], max_size=240, steps=4)
    diff = np.abs(np.asarray(again.image, float) - np.asarray(first.image, float)).mean()
    assert diff > 0.5 and seen[-1].losses["style"] < seen[0].losses["style"], diff
