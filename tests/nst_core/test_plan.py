"""Job plans: the native-resolution schedule, the memory budget, and failing early when a job cannot fit."""
from dataclasses import replace

import pytest

from nst_core import CancelToken, InvalidInput, StyleOptions
from nst_core.memory import CPU_MODEL, MIB, SAFETY, for_pooling
from nst_core.contract.options import resolve
from nst_core.plan import plan_job

GIB = 1024 * MIB
RESIDENT = 900 * MIB  # about what the engine's process holds before a job


def plan(content, budget, styles=((1024, 640),), resident=RESIDENT, **options):
    opts = resolve(StyleOptions(**options))
    return plan_job(content, [list(styles)], opts, budget=int(budget), resident=resident,
                    model=for_pooling(CPU_MODEL, opts.pooling))


def test_full_goes_up_to_the_content_size_and_never_beyond():
    job = plan((2048, 1536), 64 * GIB, preset="full")
    assert [s.size for s in job.scales] == [(128, 96), (256, 192), (512, 384), (1024, 768), (2048, 1536)]
    assert [s.steps for s in job.scales] == [70, 35, 35, 18, 10]  # the coarsest: twice; above 512 px half per doubling
    assert plan((300, 200), 64 * GIB, preset="full").scales[-1].size == (300, 200)
    # max_size above 1024 works for any preset, and is still capped by the content.
    assert plan((3000, 2000), 64 * GIB, max_size=1500).scales[-1].size == (1500, 1000)
    assert plan((3000, 2000), 64 * GIB, preset="fine", max_size=9000).scales[-1].size == (3000, 2000)


def test_styles_are_not_blown_up_past_their_own_size():
    job = plan((4096, 3072), 64 * GIB, styles=[(1024, 640)], preset="full")
    assert [s.style_sizes[0] for s in job.scales][-3:] == [(1024, 640), (1024, 640), (1024, 640)]
    # Below that, the style gets the content's pixel count (128×96 = 12288 px; 140×88 = 12320 px).
    assert job.scales[0].style_sizes[0] == (140, 88)
    assert plan((4096, 3072), 64 * GIB, styles=[(1024, 640)], preset="full",
                style_scale=2.0).scales[-1].style_sizes[0] == (2048, 1280)


@pytest.mark.parametrize("budget_mb", [2500, 3000, 4000, 8000])
def test_the_plan_respects_the_budget(budget_mb):
    job = plan((4096, 3072), budget_mb * MIB, preset="full")
    assert job.peak_bytes <= budget_mb * MIB * SAFETY
    assert job.scales[-1].size == (4096, 3072)
    assert job.scales[-1].tiled  # 12.6 MP does not fit forward+backward in one piece in 8 GB
    assert job.scales[0].grid.tiles == 1  # small scales are never tiled
    assert all(s.history <= s.steps for s in job.scales if s.optimizer == "lbfgs")


def test_blur_pooling_is_planned_with_its_larger_passes_and_halo():
    by_max = plan((4096, 3072), 4000 * MIB, preset="full")
    by_blur = plan((4096, 3072), 4000 * MIB, preset="full", pooling="blur")
    assert by_blur.peak_bytes <= 4000 * MIB * SAFETY
    assert by_blur.scales[-1].grid.window_pixels < by_max.scales[-1].grid.window_pixels
    tight = plan((4096, 3072), 2500 * MIB, preset="full", pooling="blur")
    forward = tight.scales[-1].content_grid
    assert forward.tiles > 1 and forward.halo == 64  # relu4_2's exact halo with blur pools (48 with max)


def test_less_budget_means_smaller_tiles_and_a_bounded_optimizer():
    roomy, tight = plan((4096, 3072), 16 * GIB, preset="full"), plan((4096, 3072), 2500 * MIB, preset="full")
    assert tight.scales[-1].grid.tiles > roomy.scales[-1].grid.tiles
    assert tight.scales[-1].grid.window_pixels < roomy.scales[-1].grid.window_pixels
    assert roomy.scales[-1].optimizer == "lbfgs" and tight.scales[-1].optimizer == "adam"
    assert tight.scales[-1].learning_rate == 5.0  # Adam standing in for L-BFGS takes bigger steps
    untiled = plan((512, 512), 16 * GIB)
    assert [s.grid.tiles for s in untiled.scales] == [1, 1, 1] and untiled.scales[-1].history == 20


def test_a_forced_tile_size_tiles_even_what_would_fit():
    job = plan((600, 400), 64 * GIB, max_size=600, multiscale=False, tile_size=200)
    grid = job.scales[0].grid
    assert (grid.rows, grid.cols) == (2, 3) and grid.halo > 0
    assert plan((600, 400), 64 * GIB, max_size=600, multiscale=False, tile_size=800).scales[0].grid.tiles == 1


def test_an_impossible_budget_fails_with_a_clear_error():
    with pytest.raises(InvalidInput) as caught:
        plan((4096, 3072), 1200 * MIB, preset="full")
    assert caught.value.field == "memory_budget_mb"
    assert "cannot fit: the 2048×1536 scale needs at least" in caught.value.message  # the first that fails
    assert "1200 MiB" in caught.value.message
    with pytest.raises(InvalidInput, match="cannot fit"):  # a forced tile too large for the budget
        plan((2048, 2048), 2000 * MIB, max_size=2048, multiscale=False, tile_size=2000)


def test_a_modest_budget_bounds_the_optimizer_before_refusing():
    """About 1050 MiB resident leaves little room: where the tiles leave too little for the full L-BFGS
    history, fewer pairs are kept, then Adam runs, before a scale is refused."""
    def modest(content, budget_mb, resident_mb=1049, **options):
        return plan(content, budget_mb * MIB, styles=[(1024, 640)], resident=resident_mb * MIB, preset="full",
                    **options)

    # 1500 MiB: the 0.1 MP scale used to be refused for L-BFGS/40 beside a 384 px tile; now it fits, and
    # the refusal names the scale that cannot fit with any optimizer state.
    with pytest.raises(InvalidInput) as caught:
        modest((800, 500), 1500, tile_size=384)
    assert "the 800×500 scale needs at least" in caught.value.message and "for Adam" in caught.value.message
    fewer = modest((1600, 1000), 1800, max_size=800, tile_size=256).scales[-1]
    assert fewer.tiled and fewer.optimizer == "lbfgs" and 3 <= fewer.history < fewer.steps
    job = modest((800, 500), 1900, tile_size=384)
    adam = job.scales[-1]
    assert adam.tiled and (adam.optimizer, adam.history, adam.learning_rate) == ("adam", 0, 5.0)
    assert "800×500 10 steps Adam" in job.describe() and job.peak_bytes <= 1900 * MIB * SAFETY
    # One piece forced (a tile past the image): Adam rather than a refusal.
    one = plan((400, 250), 1500 * MIB, resident=1100 * MIB, max_size=400, multiscale=False, steps=40,
               tile_size=400).scales[0]
    assert one.grid.tiles == 1 and one.optimizer == "adam"


def test_the_engine_fails_before_any_work_when_a_job_cannot_fit(engine, cat, starry):
    seen, token = [], CancelToken()
    with pytest.raises(InvalidInput) as caught:
        engine.with_memory_budget(200).stylize(cat, [starry], StyleOptions(preset="full"), progress=seen.append,
                                               cancel=token)  # less than the engine itself holds
    assert caught.value.field == "memory_budget_mb" and "cannot fit" in str(caught.value)
    assert seen == []


@pytest.mark.parametrize("budget_mb", [0, -5, 2**44, 1.5, True])
def test_the_budget_is_the_engines_checked_once_when_set(engine, budget_mb):
    with pytest.raises(InvalidInput, match="memory_budget_mb"):
        engine.with_memory_budget(budget_mb)
    view = engine.with_memory_budget(4000)  # the same loaded model, another budget; the engine keeps its own
    assert view.model is engine.model and view.memory_budget_bytes() == 4000 * MIB
    assert engine.memory_budget_mb is None


def test_the_engine_plans_without_running(engine):
    job = engine.with_memory_budget(4000).plan((2048, 1536), [(1024, 640)], StyleOptions(preset="full"))
    assert job.budget_bytes == 4000 * MIB and job.peak_bytes <= 4000 * MIB
    assert job.resident_bytes > 100 * MIB  # the process's resident memory, the model included
    assert "2048×1536" in job.describe() and "tiles" in job.describe()


def test_tiles_keep_their_records_when_all_of_them_fit():
    """Between "one tile's autograd step fits" and "every tile's compact record fits", tiles run forward once
    per step (nst_core.lean); below that they run forward twice; and never where the model cannot keep."""
    def last(budget_mb, model=CPU_MODEL):
        opts = resolve(StyleOptions(max_size=2048, multiscale=False))
        return plan_job((2048, 1536), [[(1024, 640)]], opts, budget=budget_mb * MIB, resident=RESIDENT,
                        model=model).scales[-1]

    roomy, tight = last(9000), last(3000)
    assert roomy.grid.keep and not tight.grid.keep and tight.tiled
    assert roomy.tile_passes() == 2 * roomy.grid.tiles and tight.tile_passes() == 2 * tight.grid.tiles - 1
    assert roomy.step_work < tight.step_work  # fewer passes, and larger tiles
    for scale, budget_mb in ((roomy, 9000), (tight, 3000)):
        assert RESIDENT + scale.peak_bytes <= budget_mb * MIB * SAFETY
    no_keep = last(9000, replace(CPU_MODEL, keep_pass=0.0))  # a device model without kept records
    assert not no_keep.grid.keep and no_keep.tiled
    assert "kept" in plan_job((2048, 1536), [[(1024, 640)]], resolve(StyleOptions(max_size=2048, multiscale=False)),
                              budget=9000 * MIB, resident=RESIDENT, model=CPU_MODEL).describe()
