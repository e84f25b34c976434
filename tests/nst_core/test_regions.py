"""Regions: guided Gram matrices (exactness, tiling), isolation, a region without style, the job's checks."""
import numpy as np
import pytest
import torch
from PIL import Image

from nst_core.objective import term_weights
from nst_core.contract.errors import InvalidInput
from nst_core.images import to_tensor
from nst_core.contract.limits import MAX_REGION_STRENGTH, MAX_REGIONS
from nst_core.losses import gram_matrix
from nst_core.contract.options import CONTENT_LAYERS, STYLE_LAYERS, StyleOptions, resolve
from nst_core.plan import plan_job
from nst_core.memory import CPU_MODEL
from nst_core.regions import guides_at, region_shares, styled_cover, weight_maps
from nst_core.contract.spec import RegionInput, build
from nst_core.tiling import TiledObjective, exact_halo, grid

TINY = dict(max_size=64, steps=4, coarse_steps=0, multiscale=False, precision="float32")


def small(img, w=64, h=48):
    return img.resize((w, h), Image.Resampling.LANCZOS)


def half_mask(size, soft=0):
    """Left half 255, right half 0, with a linear ramp ``soft`` px wide across the middle."""
    w, h = size
    x = np.arange(w, dtype=np.float32)
    ramp = np.clip((w / 2 - x) / max(soft, 1) + 0.5, 0, 1) if soft else (x < w // 2).astype(np.float32)
    return Image.fromarray(np.repeat((ramp * 255).round().astype(np.uint8)[None], h, 0), "L")


def test_a_mask_of_ones_gives_exactly_the_unguided_job(engine, cat, starry):
    content, style = small(cat), small(starry)
    plain = engine.stylize(content, [style], StyleOptions(**TINY))
    everywhere = Image.new("L", content.size, 255)
    guided = engine.stylize(content, [style], StyleOptions(**TINY), regions=[RegionInput(everywhere, [style])])
    assert guided.losses == plain.losses
    assert guided.image.tobytes() == plain.image.tobytes()


@pytest.fixture(scope="module")
def guided_problem(net, cat, starry, scream):
    """A 192×128 picture, a soft diagonal region and a second, overlapping one, two styles, a noisy image."""
    w, h = 192, 128
    content = to_tensor(cat, (w, h))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    diagonal = np.clip((xx - yy - 40) / 24 + 0.5, 0, 1)  # a feathered diagonal edge
    blob = np.clip(1 - np.hypot(xx - 50, yy - 80) / 40, 0, 1)
    masks = [Image.fromarray((m * 255).round().astype(np.uint8), "L") for m in (diagonal, blob)]
    opts = resolve(StyleOptions())
    with torch.no_grad():
        content_targets = dict(net(content, CONTENT_LAYERS))
        a = {k: gram_matrix(v) for k, v in net(to_tensor(starry, (128, 96)), STYLE_LAYERS).items()}
        b = {k: gram_matrix(v) for k, v in net(to_tensor(scream, (128, 96)), STYLE_LAYERS).items()}
    guides = guides_at(masks, (w, h), STYLE_LAYERS, torch.device("cpu"))
    targets = {layer: [a[layer], b[layer], a[layer]] for layer in STYLE_LAYERS}
    weights = term_weights(opts, content_targets, targets, content, region_shares(guides), [1.0, 2.0, 0.5])
    g = torch.Generator().manual_seed(0)
    image = (content + torch.randn(content.shape, generator=g) * 20).clamp(0, 255)
    return image, content_targets, targets, weights, guides


@pytest.mark.parametrize("kept", [False, True], ids=["recomputed", "kept"])
def test_guided_tiles_give_the_untiled_loss_and_gradient(net, keep_net, guided_problem, kept):
    image, content_targets, targets, weights, guides = guided_problem
    objective = TiledObjective(net, content_targets, targets, weights, keep_net if kept else None, guides)
    whole_terms, whole_grad = objective(image, grid(128, 192, 1, 1, halo=0, align=16))
    tiles = grid(128, 192, 2, 3, halo=exact_halo(STYLE_LAYERS + CONTENT_LAYERS, 16), align=16, jitter=16,
                 generator=torch.Generator().manual_seed(3))
    assert len(tiles) == 6
    terms, grad = objective(image, tiles)
    for key in ("content", "style", "tv", "total"):
        assert terms[key] == pytest.approx(whole_terms[key], rel=1e-5), key
    assert float((grad - whole_grad).norm() / whole_grad.norm()) < 1e-4
    assert whole_terms["style"] > 0


def test_guided_gram_of_a_partition_adds_up_to_the_plain_one(net, cat):
    """Masked sums: Σ_r mass_r · G_r = mass · G for maps that sum to one."""
    feats = net(to_tensor(cat, (96, 64)), ["relu2_1"])["relu2_1"]
    maps = weight_maps([half_mask((96, 64), soft=30)], (96, 64), torch.device("cpu"))
    guide = torch.nn.functional.avg_pool2d(maps, 2, 2)
    total = torch.zeros(128, 128)
    for g in range(2):
        w = guide[g, 0]
        total += gram_matrix(feats, None, w)[0] * float(w.sum())
    assert torch.allclose(total / guide[:, 0].sum(0).sum(), gram_matrix(feats)[0], rtol=1e-4, atol=1e-3)


def test_overlapping_masks_are_normalised_and_tiny_residues_dropped():
    size = (32, 16)
    full, half = Image.new("L", size, 255), half_mask(size)
    maps = weight_maps([full, half], size, torch.device("cpu"))
    assert torch.allclose(maps.sum(0), torch.ones(1, 16, 32))
    assert float(maps[1, 0, 0, 0]) == pytest.approx(0.5) and float(maps[1, 0, 0, -1]) == 1.0
    complement = Image.fromarray(255 - np.asarray(half), "L")
    maps = weight_maps([half, complement], size, torch.device("cpu"))
    assert float(maps[0].abs().max()) == 0.0  # no main group left over


def _style_distance(engine, image, style, box):
    """Mean relative Gram distance over the style layers of a crop of ``image`` to ``style``."""
    crop = to_tensor(image.crop(box))
    a = engine.features(crop, STYLE_LAYERS)
    b = engine.features(to_tensor(style), STYLE_LAYERS)
    return float(np.mean([float((gram_matrix(a[k]) - gram_matrix(b[k])).pow(2).mean()
                                / gram_matrix(b[k]).pow(2).mean()) for k in STYLE_LAYERS]))


def test_each_region_follows_its_own_style(engine, cat, starry, scream):
    content = small(cat, 96, 64)
    a, b = small(starry, 96, 64), small(scream, 96, 64)
    result = engine.stylize(content, [b], StyleOptions(**{**TINY, "max_size": 96, "steps": 40}),
                            regions=[RegionInput(half_mask(content.size, soft=8), [a])])
    left, right = (0, 0, 32, 64), (64, 0, 96, 64)  # well inside each side
    assert _style_distance(engine, result.image, a, left) < _style_distance(engine, result.image, b, left)
    assert _style_distance(engine, result.image, b, right) < _style_distance(engine, result.image, a, right)


def test_a_region_without_style_stays_near_the_content(engine, cat, starry):
    content = small(cat, 96, 64)
    result = engine.stylize(content, [small(starry, 96, 64)], StyleOptions(**{**TINY, "max_size": 96, "steps": 20}),
                            regions=[RegionInput(half_mask(content.size, soft=8))])
    diff = np.abs(np.asarray(result.image, float) - np.asarray(content, float))
    assert diff[:, :44].max() == 0 and diff[:, 64:].mean() > 5  # the ramp runs over x 44…52
    ramp = diff[:, 44:53].mean(0).mean(1)
    assert ramp[0] < ramp[-1], ramp  # the edge fades from kept to styled


def test_only_a_region_styled_the_rest_keeps_the_content(engine, cat, starry):
    content = small(cat, 96, 64)
    result = engine.stylize(content, [], StyleOptions(**{**TINY, "max_size": 96, "steps": 20}),
                            regions=[RegionInput(half_mask(content.size, soft=8), [small(starry, 96, 64)])])
    diff = np.abs(np.asarray(result.image, float) - np.asarray(content, float))
    assert diff[:, 53:].max() == 0 and diff[:, :32].mean() > 5


def test_unstyled_pixels_are_kept_at_a_smaller_output_too(engine, cat, starry):
    """Optimized below the content's size: the kept part is the content resized like the output."""
    content = small(cat, 96, 64)
    opts = StyleOptions(**{**TINY, "max_size": 48, "steps": 10, "output_size": "working"})
    result = engine.stylize(content, [], opts, regions=[RegionInput(half_mask(content.size), [small(starry, 96, 64)])])
    assert result.image.size == (48, 32)
    kept = np.asarray(content.resize((48, 32), Image.Resampling.LANCZOS), float)
    diff = np.abs(np.asarray(result.image, float) - kept)
    assert diff[:, 25:].max() == 0 and diff[:, :23].mean() > 5


def test_styled_cover_follows_the_groups_with_styles():
    left, right = half_mask((8, 2)), half_mask((8, 2)).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    assert styled_cover([left], [True, True]) is None  # a style everywhere: nothing to keep
    assert list(styled_cover([left], [True, False]).tobytes())[:8] == [0] * 4 + [255] * 4
    assert list(styled_cover([left], [False, True]).tobytes())[:8] == [255] * 4 + [0] * 4
    both = Image.new("L", (8, 2), 255)  # overlapping past 255: shared out, the styled one gets half
    assert set(styled_cover([both, both], [False, True, False]).tobytes()) == {128}
    assert styled_cover([left, right], [False, True, True]) is None  # complementary: the main group gets nothing


def test_regions_are_counted_by_the_planner():
    opts = resolve(StyleOptions(max_size=1024, multiscale=False))
    plain = plan_job((1024, 768), [[(512, 512)]], opts, budget=2**34, resident=0, model=CPU_MODEL)
    masked = plan_job((1024, 768), [[(512, 512)]] * 3, opts, budget=2**34, resident=0, model=CPU_MODEL)
    extra = masked.peak_bytes - plain.peak_bytes
    assert extra >= 1024 * 768 * 3 * 4 * 1.3  # three float32 guides, at full resolution and down the layers


BAD_REGIONS = [
    ("regions[0].mask", lambda c: [RegionInput(Image.new("L", (10, 10), 255))]),  # another size
    ("regions[0].mask", lambda c: [RegionInput(Image.new("L", c.size, 0))]),  # all zero
    ("regions[0].mask", lambda c: [RegionInput(Image.new("RGB", c.size, "white"))]),  # odd mode
    ("regions[0].mask", lambda c: [RegionInput(None)]),  # none given
    ("regions", lambda c: [RegionInput(Image.new("L", c.size, 255))] * (MAX_REGIONS + 1)),
    ("regions[1].strength", lambda c: [RegionInput(Image.new("L", c.size, 255)),
                                       RegionInput(Image.new("L", c.size, 255), strength=float("nan"))]),
    ("regions[0].strength", lambda c: [RegionInput(Image.new("L", c.size, 255), strength=-1.0)]),
    ("regions[0].strength", lambda c: [RegionInput(Image.new("L", c.size, 255), strength=MAX_REGION_STRENGTH * 2)]),
    ("regions[0].style_blend", lambda c: [RegionInput(Image.new("L", c.size, 255), [c], style_blend=[1.0, 2.0])]),
    ("regions[0].style_blend", lambda c: [RegionInput(Image.new("L", c.size, 255), [c], style_blend=[0.0])]),
]


@pytest.mark.parametrize("field,regions", BAD_REGIONS)
def test_bad_regions_name_the_region(field, regions):
    content = Image.new("RGB", (64, 48))
    with pytest.raises(InvalidInput) as info:
        build(content, [content], StyleOptions(), regions=regions(content))
    assert info.value.field == field and str(info.value).startswith(field)


def test_a_job_needs_a_style_somewhere():
    content = Image.new("RGB", (64, 48))
    with pytest.raises(InvalidInput, match="styles"):
        build(content, [], StyleOptions(), regions=[RegionInput(Image.new("L", content.size, 255))])
    spec = build(content, [], StyleOptions(), regions=[RegionInput(Image.new("L", content.size, 255), [content],
                                                                   strength=2)])
    assert spec.regions[0].strength == 2.0 and spec.regions[0].styles[0].weight == 1.0
