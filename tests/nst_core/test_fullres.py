"""Tiled jobs end to end with the real weights: exact output size, no seams, tile progress, cancel, precision."""
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

import nst_core.compose as compose_module
from nst_core import Cancelled, CancelToken, StyleOptions
from nst_core.precision import backend_flags
from nst_core.tiling import grid, tile_generator

TILED = dict(max_size=160, steps=2, multiscale=False, tile_size=64, seed=5)


def photo(cat, size):
    return cat.resize(size, Image.Resampling.LANCZOS)


@pytest.fixture(scope="module")
def tiled_run(engine, cat, starry):
    seen = []
    result = engine.stylize(photo(cat, (150, 100)), [photo(starry, (96, 60))], StyleOptions(**TILED),
                            progress=seen.append)
    return result, seen


def final_cuts(result):
    """The cuts of the job's last step, replayed from its seed (one draw per step, see nst_core.tiling)."""
    scale = result.plan.scales[-1]
    g = tile_generator(TILED["seed"], stage=1)
    w, h = scale.size
    for _ in range(scale.steps):
        tiles = grid(h, w, scale.grid.rows, scale.grid.cols, halo=scale.grid.halo, align=result.plan.align,
                     jitter=scale.grid.jitter, generator=g)
    return sorted({t.y0 for t in tiles} - {0}), sorted({t.x0 for t in tiles} - {0})


def test_a_tiled_job_has_the_exact_size_and_no_seams(tiled_run):
    result, _ = tiled_run
    assert result.image.size == (150, 100)
    scale = result.plan.scales[-1]
    assert scale.tiled and scale.grid.tiles >= 4 and scale.size == (150, 100)
    rows, cols = final_cuts(result)
    assert rows and cols
    img = np.asarray(result.image, dtype=float)
    for axis, lines in ((0, rows), (1, cols)):
        step = np.abs(np.diff(img, axis=axis)).mean(axis=(1, 2) if axis == 0 else (0, 2))  # step[i]: i → i+1
        for line in lines:
            across = step[line - 1]
            around = [step[line - 1 + k] for k in (-3, -2, -1, 1, 2, 3) if 0 <= line - 1 + k < len(step)]
            assert across <= 1.5 * float(np.median(around)), (axis, line, across, around)


@pytest.mark.parametrize("kept", [True, False], ids=["kept", "recomputed"])
def test_a_tiled_job_follows_the_untiled_one(engine, cat, starry, monkeypatch, kept):
    if not kept:  # the engine's memory model as if no record fitted: tiles run forward twice
        auto = engine.auto_precision
        monkeypatch.setitem(engine._memory_models, auto, replace(engine.memory_model(auto), keep_pass=0.0))

    # Adam, because L-BFGS's curvature estimate amplifies any difference (also float reordering) step by step.
    def run(tile_size):
        options = StyleOptions(**{**TILED, "tile_size": tile_size, "optimizer": "adam", "steps": 2})
        return engine.stylize(photo(cat, (150, 100)), [photo(starry, (96, 60))], options)

    tiled, untiled = run(64), run(0)
    assert tiled.plan.scales[-1].grid.tiles > 1 and untiled.plan.scales[-1].grid.tiles == 1
    assert tiled.plan.scales[-1].grid.keep == kept and not untiled.plan.scales[-1].grid.keep
    diff = np.abs(np.asarray(tiled.image, float) - np.asarray(untiled.image, float)).mean()
    changed = np.abs(np.asarray(untiled.image, float) - np.asarray(photo(cat, (150, 100)), float)).mean()
    assert changed > 1 and diff < 0.01 * changed, (diff, changed)


def test_progress_names_scale_and_tile(tiled_run):
    result, seen = tiled_run
    passes = result.plan.scales[-1].tile_passes()
    assert all(p.tiles == passes for p in seen)
    assert [p.tile for p in seen[:passes]] == list(range(1, passes + 1))
    complete = [p for p in seen if p.tile == p.tiles]
    assert [p.step for p in complete] == [1, 2] and all(p.preview is not None for p in complete)
    assert all(p.preview is None for p in seen if p.tile < p.tiles)
    assert [p.overall_step for p in seen[:passes]] == [1] * passes  # the step in progress
    assert seen[-1].eta_seconds == pytest.approx(0.0, abs=1e-6) and all(p.eta_seconds > 0 for p in seen[:-1])


def test_cancel_during_a_tiled_step_stops_within_one_tile(engine, cat, starry):
    token, seen = CancelToken(), []

    def on_progress(p):
        seen.append(p)
        if p.step == 2 and p.tile == 3:
            token.cancel()

    with pytest.raises(Cancelled):
        engine.stylize(photo(cat, (150, 100)), [photo(starry, (96, 60))], StyleOptions(**{**TILED, "steps": 50}),
                       progress=on_progress, cancel=token)
    assert (seen[-1].step, seen[-1].tile) == (2, 3)  # not one more tile


def test_large_scales_get_reduced_previews(engine, cat, starry, monkeypatch):
    monkeypatch.setattr(compose_module, "PREVIEW_PIXELS", 2000)
    seen = []
    engine.stylize(photo(cat, (120, 80)), [photo(starry, (64, 40))],
                   StyleOptions(max_size=120, steps=1, multiscale=False), progress=seen.append)
    preview = seen[-1].preview()
    assert preview.width * preview.height <= 2000 and abs(preview.width / preview.height - 1.5) < 0.1


def test_float32_turns_off_tf32_for_the_job_and_restores_it():
    cuda = torch.device("cuda")  # only the backend switches are touched: no GPU needed
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = True, False  # PyTorch's defaults
    try:
        with backend_flags("float32", cuda):
            assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == (False, False)
        assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == (True, False)
        with backend_flags("tf32", cuda):
            assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == (True, True)
        assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == (True, False)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
