"""A job's plan, made before any work: scales, steps, tiles, optimizer and expected peak memory.

For each scale the planner first tries the whole image in one piece with L-BFGS; when that does not fit the
memory left by the budget, the optimizer's state is bounded (L-BFGS keeps 2 vectors the size of the image
per history entry, which at 12 MP is 300 MB each: the history shrinks to what :data:`OPTIMIZER_SHARE` of
the budget holds, and below :data:`MIN_HISTORY` entries Adam takes over, whose state is two image-sized
tensors) and the rest goes to the largest tiles that fit (:mod:`nst_core.tiling`). If even the smallest
tile (or a forced ``tile_size``) does not fit beside that state, the history is halved down to
:data:`MIN_HISTORY` pairs, then Adam takes over; only when nothing fits beside Adam does planning fail with an
``InvalidInput``, before anything runs. The state chosen shows in :meth:`JobPlan.describe` ("L-BFGS/5", "Adam").
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Sequence

from .contract.errors import InvalidInput
from .contract.layers import channels, downsample, min_input_side
from .lean import kept_bytes_per_pixel
from .memory import MIB, SAFETY, MemoryModel
from .contract.options import MIN_TILE_SIZE, ResolvedOptions
from .regions import guide_bytes_per_pixel
from .contract.schedule import scales as schedule_scales
from .contract.schedule import style_size
from .tiling import exact_halo, max_piece

DEFAULT_HALO = 64  # px of context around a tile: gradient within about 1e-4 of the exact one (docs/engine.md)
JITTER_SHARE = 8  # tile cuts move by up to 1/8 of a tile between steps
FORWARD_COST = 0.4  # a forward without gradients costs this share of a forward+backward (measured, CPU)
# Kept tiles (nst_core.lean): a tile's forward that keeps its compact record costs this share of an autograd
# forward+backward, and its backward the rest of KEEP_COST (measured, CPU; docs/engine.md "Tiled optimization").
KEEP_FORWARD = 0.5
KEEP_COST = 1.05
MAX_HISTORY = 50  # L-BFGS history when memory allows (it never holds more entries than the scale's steps)
MIN_HISTORY = 3
OPTIMIZER_SHARE = 0.35  # of the memory left after the image-sized state, when tiling
PIXEL_BYTES = 12  # one float32 RGB pixel
LBFGS_EXTRA = 5  # image-sized tensors L-BFGS holds besides its history (flat gradient, previous, direction…)
ADAM_STATE = 3  # exp_avg, exp_avg_sq and the denominator
# Adam in place of L-BFGS (memory): 10 steps at 1024 px from the 512 px result reach a loss of 1.1e7 at lr 2,
# 4.2e6 at lr 5 and 3.4e6 at lr 10 (L-BFGS: 2.8e6); at 100 % lr 2 stays blurry, 10 adds grain (docs/benchmarks.md).
FALLBACK_ADAM_LR = 5.0


@dataclass(frozen=True)
class Grid:
    """Tiles of one image: ``rows × cols`` inner regions, ``halo`` px of context, cuts moved by ``jitter``."""

    rows: int = 1
    cols: int = 1
    halo: int = 0
    jitter: int = 0
    window_pixels: int = 0  # the largest window (memory planning)
    keep: bool = False  # every tile runs forward once per step, keeping a compact record (nst_core.lean)

    @property
    def tiles(self) -> int:
        return self.rows * self.cols

    def pass_share(self, backward: bool) -> float:
        """One tile pass's work per window pixel, in units of an autograd forward+backward (the ETA's ticks)."""
        if self.keep:
            return KEEP_COST - KEEP_FORWARD if backward else KEEP_FORWARD
        return 1.0 if backward else FORWARD_COST


@dataclass(frozen=True)
class StylePlan:
    """One style image at one scale: its size, and the forward-only tiles of its Gram matrices (exact halo)."""

    size: tuple[int, int]
    grid: Grid


@dataclass(frozen=True)
class ScalePlan:
    size: tuple[int, int]  # (w, h) optimized at this scale
    steps: int
    grid: Grid  # the optimization's tiles
    optimizer: str  # "lbfgs" or "adam"
    history: int  # L-BFGS history entries (0 for Adam)
    learning_rate: float  # Adam's
    styles: tuple[tuple[StylePlan, ...], ...]  # per style group of the job (main, then each region), per style
    content_grid: Grid  # forward-only tiles for the content targets (exact halo)
    peak_bytes: int  # expected peak beyond what was resident
    step_work: float  # cost of one step in units of "one pixel forward+backward"
    target_work: float

    @property
    def tiled(self) -> bool:
        return self.grid.tiles > 1

    @property
    def style_sizes(self) -> tuple[tuple[int, int], ...]:
        """Every style's size at this scale, main styles first."""
        return tuple(style.size for group in self.styles for style in group)

    def tile_passes(self) -> int:
        """Tile visits per step: two per tile, less the merged last one unless kept (nst_core.tiling)."""
        return 2 * self.grid.tiles - (0 if self.grid.keep else 1)


@dataclass(frozen=True)
class JobPlan:
    scales: tuple[ScalePlan, ...]
    budget_bytes: int
    resident_bytes: int
    align: int  # cuts lie on multiples of this (the deepest layer's stride)

    @property
    def peak_bytes(self) -> int:
        """Expected peak of the device's memory (or the process's RSS), resident part included."""
        return self.resident_bytes + max(s.peak_bytes for s in self.scales)

    @property
    def total_work(self) -> float:
        return sum(s.target_work + s.steps * s.step_work for s in self.scales)

    def describe(self) -> str:
        parts = []
        for s in self.scales:
            tiles = f", {s.grid.rows}×{s.grid.cols} tiles" if s.tiled else ""
            tiles += (" (kept)" if s.tiled else ", kept") if s.grid.keep else ""
            opt = f"L-BFGS/{s.history}" if s.optimizer == "lbfgs" else "Adam"
            parts.append(f"{s.size[0]}×{s.size[1]} {s.steps} steps {opt}{tiles}")
        return (f"{'; '.join(parts)}; expected peak {self.peak_bytes / MIB:.0f} MiB of "
                f"{self.budget_bytes / MIB:.0f} MiB")


def _target_bytes_per_pixel(layers: Sequence[str]) -> float:
    return sum(channels(n) * 4 / downsample(n) ** 2 for n in layers)


def _align_down(value: int, align: int) -> int:
    return max(align, value // align * align)


def _grid(size: tuple[int, int], tile: int, halo: int, align: int) -> Grid:
    w, h = size
    rows, cols = max(1, min(-(-h // tile), h // align)), max(1, min(-(-w // tile), w // align))
    if rows == cols == 1:
        return Grid(window_pixels=w * h)
    jitter = _align_down(tile // JITTER_SHARE, align)
    wh = min(h, max_piece(h, rows, align, jitter) + 2 * halo) if rows > 1 else h
    ww = min(w, max_piece(w, cols, align, jitter) + 2 * halo) if cols > 1 else w
    return Grid(rows, cols, halo, jitter, wh * ww)


def _expected_window_pixels(size: tuple[int, int], grid: Grid) -> float:
    """Sum of the windows' pixels for nominal (unmoved) cuts: the work of one pass over the tiles."""
    def spans(length: int, count: int) -> list[int]:
        if count == 1:
            return [length]
        bounds = [round(k * length / count) for k in range(count + 1)]
        return [min(length, b1 + grid.halo) - max(0, b0 - grid.halo) for b0, b1 in zip(bounds, bounds[1:])]
    return sum(spans(size[0], grid.cols)) * sum(spans(size[1], grid.rows))


def _forward_grid(size: tuple[int, int], layers: Sequence[str], align: int, room: float,
                  model: MemoryModel, pooling: str) -> tuple[Optional[Grid], float]:
    """Tiles for a forward-only pass (exact halo) within ``room`` bytes, or None and the least it needs."""
    w, h = size
    if w * h * model.forward <= room:
        return Grid(window_pixels=w * h), 0.0
    halo = exact_halo(layers, align, pooling)
    grid = None
    for tile in range(_align_down(max(w, h), align), MIN_TILE_SIZE - 1, -align):
        grid = _grid(size, tile, halo, align)
        if grid.window_pixels * model.forward <= room:
            return grid, 0.0
    return None, grid.window_pixels * model.forward


@dataclass(frozen=True)
class _Room:
    """What a job may allocate (``avail`` bytes, beyond what is resident) and where that figure came from."""

    avail: float
    budget: int
    resident: int

    def refuse(self, size: tuple[int, int], need: float, what: str) -> InvalidInput:
        return InvalidInput("memory_budget_mb", f"cannot fit: the {size[0]}×{size[1]} scale needs at least "
                                                f"{need / MIB:.0f} MiB for {what}, but the budget of "
                                                f"{self.budget / MIB:.0f} MiB leaves {max(0.0, self.avail) / MIB:.0f} "
                                                f"MiB beyond the {self.resident / MIB:.0f} MiB already resident; "
                                                f"lower max_size or raise the memory budget")


def plan_job(content: tuple[int, int], groups: Sequence[Sequence[tuple[int, int]]], opts: ResolvedOptions, *,
             budget: int, resident: int, model: MemoryModel) -> JobPlan:
    """Plan a job or raise InvalidInput: a budget that cannot fit it (its sizes were checked with the job,
    nst_core.contract.spec). ``groups``: per style group (the main styles, then each region) its styles'
    sizes; every group after the first has a mask."""
    layers = sorted(set(opts.content_layers) | set(opts.style_layers))
    align = min_input_side(layers)
    room = _Room(budget * SAFETY - resident, budget, resident)
    style_min = min_input_side(opts.style_layers)
    scales = []
    for size, n_steps in schedule_scales(content, opts.max_size, opts.min_size, opts.multiscale, opts.steps,
                                         opts.coarse_steps, align):
        sizes = [[style_size(s, size, opts.style_scale, style_min, "styles") for s in group] for group in groups]
        scales.append(_plan_scale(size, n_steps, sizes, opts, align, room, model, len(groups) - 1))
    return JobPlan(tuple(scales), budget, resident, align)


def _plan_scale(size, steps: int, style_sizes: list[list[tuple[int, int]]], opts: ResolvedOptions, align: int,
                room: _Room, model: MemoryModel, masks: int) -> ScalePlan:
    n = size[0] * size[1]
    # Image-sized state held throughout: the image (or the content while targets are made), its gradient
    # (or the previous scale's image), the content targets, and with regions their guides (nst_core.regions).
    state = n * (2 * PIXEL_BYTES + _target_bytes_per_pixel(opts.content_layers))
    if masks:
        state += n * (masks + 1) * guide_bytes_per_pixel(opts.style_layers)
    content_grid, styles, target_peak = _plan_targets(size, style_sizes, opts, align, room, model, state)
    target_work = FORWARD_COST * (_expected_window_pixels(size, content_grid)
                                  + sum(_expected_window_pixels(s.size, s.grid) for group in styles for s in group))
    target_work *= steps > 0  # a scale with no steps is skipped, targets and all
    grid, optimizer, history, learning_rate, optimizer_bytes = _plan_steps(size, steps, opts, align, room, model,
                                                                           state)
    step_peak = state + optimizer_bytes + _steps_bytes(size, grid, model, opts)
    step_work = _step_work(size, grid)
    return ScalePlan(size, steps, grid, optimizer, history, learning_rate, styles, content_grid, int(max(step_peak, target_peak)), step_work, target_work)


def _steps_bytes(size: tuple[int, int], grid: Grid, model: MemoryModel, opts: ResolvedOptions) -> float:
    """Peak of a step's tiles: one tile's forward+backward, or every kept record and one tile's pass."""
    if not grid.keep:
        return grid.window_pixels * model.step
    kept = kept_bytes_per_pixel(sorted(set(opts.content_layers) | set(opts.style_layers)), opts.pooling,
                                model.activation_bytes)
    # Wherever the cuts move, each inner cut adds at most a halo on either side of it to the windows' pixels.
    windows = (size[0] + 2 * grid.halo * (grid.cols - 1)) * (size[1] + 2 * grid.halo * (grid.rows - 1))
    return windows * kept + grid.window_pixels * model.keep_pass


def _step_work(size: tuple[int, int], grid: Grid) -> float:
    if grid.keep:
        return _expected_window_pixels(size, grid) * KEEP_COST
    return _expected_window_pixels(size, grid) * (1 + FORWARD_COST * (grid.tiles - 1) / grid.tiles)


def _plan_targets(size, style_sizes: list[list[tuple[int, int]]], opts: ResolvedOptions, align: int, room: _Room,
                  model: MemoryModel, state: float) -> tuple[Grid, tuple[tuple[StylePlan, ...], ...], float]:
    """Forward-only tiles (exact halo) for the content's activations and each style's Gram matrices."""
    content_grid, need = _forward_grid(size, opts.content_layers, align, room.avail - state, model,
                                       opts.pooling)
    if content_grid is None:
        raise room.refuse(size, state + need, "the content targets")
    peak = content_grid.window_pixels * model.forward

    def style(s: tuple[int, int]) -> StylePlan:
        nonlocal peak
        style_bytes = s[0] * s[1] * PIXEL_BYTES
        grid, need = _forward_grid(s, opts.style_layers, align, room.avail - state - style_bytes, model,
                                   opts.pooling)
        if grid is None:
            raise room.refuse(size, state + style_bytes + need, "a style image's Gram matrices")
        peak = max(peak, style_bytes + grid.window_pixels * model.forward)
        return StylePlan(s, grid)

    styles = tuple(tuple(style(s) for s in group) for group in style_sizes)
    return content_grid, styles, state + peak


def _plan_steps(size, steps: int, opts: ResolvedOptions, align: int, room: _Room, model: MemoryModel,
                state: float) -> tuple[Grid, str, int, float, float]:
    """(grid, optimizer, L-BFGS history, Adam's learning rate, optimizer bytes) for the scale's steps."""
    n = size[0] * size[1]
    full_history = min(MAX_HISTORY, max(1, steps))
    adam_bytes = ADAM_STATE * PIXEL_BYTES * n

    def lbfgs_bytes(history: int) -> float:
        return (2 * history + LBFGS_EXTRA) * PIXEL_BYTES * n

    def history_in(space: float) -> int:
        return int((space / (PIXEL_BYTES * n) - LBFGS_EXTRA) // 2)

    whole = Grid(window_pixels=n)
    untiled_room = room.avail - state - n * model.step
    if not opts.tile_size or opts.tile_size >= max(size):  # one piece, if the optimizer keeps enough state
        if opts.optimizer == "adam" and untiled_room >= adam_bytes:
            return whole, "adam", 0, opts.learning_rate, adam_bytes
        history = min(full_history, history_in(untiled_room))
        if opts.optimizer == "lbfgs" and history >= min(full_history, 10):
            return whole, "lbfgs", history, opts.learning_rate, lbfgs_bytes(history)
        if opts.tile_size:  # one piece forced: fewer pairs, then Adam, before refusing
            if opts.optimizer == "lbfgs" and history >= min(MIN_HISTORY, full_history):
                return whole, "lbfgs", history, opts.learning_rate, lbfgs_bytes(history)
            if untiled_room >= adam_bytes:
                return whole, "adam", 0, _adam_rate(opts), adam_bytes
            raise room.refuse(size, state + n * model.step + adam_bytes, "one untiled step")
    # Tiled: bound the optimizer's state first (a share of the room), then the largest tiles that fit what
    # is left. Where not even the smallest tile fits, the optimizer gives up state before the job is refused.
    candidates = [opts.tile_size] if opts.tile_size else range(_align_down(max(size), align), MIN_TILE_SIZE - 1,
                                                              -align)
    for optimizer, history, learning_rate in _optimizer_states(opts, full_history,
                                                               history_in(OPTIMIZER_SHARE * (room.avail - state))):
        optimizer_bytes = lbfgs_bytes(history) if optimizer == "lbfgs" else adam_bytes
        space = room.avail - state - optimizer_bytes
        # The largest tiles that fit each way of running them (kept records where this precision has them);
        # then the way with the least work per step.
        found: list[Grid] = []
        for keep in (False, True)[:1 + bool(model.keep_pass)]:
            for tile in candidates:
                grid = replace(_grid(size, tile, DEFAULT_HALO, align), keep=keep)
                if _steps_bytes(size, grid, model, opts) <= space:
                    found.append(grid)
                    break
        if found:
            return min(found, key=lambda g: _step_work(size, g)), optimizer, history, learning_rate, optimizer_bytes
    grid = _grid(size, candidates[-1], DEFAULT_HALO, align)
    raise room.refuse(size, state + optimizer_bytes + grid.window_pixels * model.step,
                      f"{'Adam' if optimizer == 'adam' else 'L-BFGS'} and its smallest tiles")


def _adam_rate(opts: ResolvedOptions) -> float:
    """Adam's learning rate: the job's own if it asked for Adam, else the one for Adam standing in."""
    return opts.learning_rate if opts.optimizer == "adam" else FALLBACK_ADAM_LR


def _optimizer_states(opts: ResolvedOptions, full_history: int, share_history: int):
    """(optimizer, L-BFGS history, learning rate) from the most state to the least: the history the room's
    share holds, halved down to :data:`MIN_HISTORY` pairs, then Adam."""
    if opts.optimizer == "lbfgs":
        history = min(full_history, share_history)
        floor = min(MIN_HISTORY, full_history)
        while history >= floor:
            yield "lbfgs", history, opts.learning_rate
            history = floor if history // 2 < floor < history else history // 2
    yield "adam", 0, _adam_rate(opts)


__all__ = ["JobPlan", "ScalePlan", "StylePlan", "Grid", "plan_job", "DEFAULT_HALO"]
