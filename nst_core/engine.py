"""The public entry point: a resident VGG19 and the Gatys et al. optimization on top of it.

The engine orchestrates: it loads the network once, plans each job (nst_core.plan) and runs it scale by
scale: the targets, the objective (nst_core.objective), the optimizer's steps; the finished picture is
composed by nst_core.compose.
"""
from __future__ import annotations

import copy
import gc
import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F
from PIL import Image

from . import compose, images, lean, memory, objective, precision as precision_mod, tiling
from .cache import TargetCache
from .compose import Pictures
from .contract import spec as spec_mod
from .contract.errors import Cancelled, DeviceOutOfMemory, InvalidInput, is_out_of_memory, quote
from .contract.options import ResolvedOptions, StyleOptions
from .contract.progress import CancelToken, EtaTracker, Progress, ProgressCallback
from .contract.spec import JobSpec, Region, RegionInput, Sized
from .memory import MemoryModel
from .plan import FORWARD_COST, Grid, JobPlan, ScalePlan, StylePlan, plan_job
from .preprocess import Preprocessing
from .regions import guides_at
from .vgg import VGGFeatures
from .weights import load_weights

log = logging.getLogger("nst.engine")
FIRST_STEP = 0.5  # grey levels, mean per value: L-BFGS's first step under bf16 (see _Scale._optimize)


@dataclass
class StyleResult:
    image: Image.Image  # same mode as the content (RGB, RGBA or L)
    steps: int  # optimizer steps taken over all scales
    wall_time: float  # seconds
    losses: dict[str, float]  # final weighted loss terms
    scales: list[tuple[int, int]] = field(default_factory=list)  # (w, h) per stage
    style_cache_hits: int = 0  # style targets taken from the cache instead of computed
    plan: Optional[JobPlan] = None  # scales, tiles, optimizer and expected peak memory, made before any work


def select_device(requested: Optional[str] = None) -> torch.device:
    """``None``/"auto" picks cuda ▸ mps ▸ cpu; anything else must be usable."""
    if requested in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
        torch.empty(1, device=device)
    except (RuntimeError, AssertionError) as exc:
        raise InvalidInput("device", f"device {quote(requested)} is not usable here ({exc})") from exc
    return device


class Engine:
    """Loads VGG19 once on a device; ``stylize`` may be called many times (serialized by a lock).

    ``memory_budget_mb`` bounds what the engine holds on its device during a job, the model included
    (on the CPU: the process's resident memory); None = a default from the device (nst_core.memory). It is
    the engine's state, checked here once: every job plans with it; :meth:`with_memory_budget` gives a
    view of the same loaded model with another budget (a server's, a benchmark's).
    """

    def __init__(self, weights: str = "original", device: Optional[str] = None, *,
                 preprocessing: Optional[str] = None, channels_last: Optional[bool] = None,
                 memory_budget_mb: Optional[int] = None):
        self.memory_budget_mb = _checked_budget(memory_budget_mb)
        self.torch_device = select_device(device)
        self.device = str(self.torch_device)
        if self.torch_device.type == "cpu":  # before loading: de-quantization temporaries go back when freed
            memory.return_freed_memory_promptly()
        state, self.weights_info = load_weights(weights, preprocessing)  # type: WeightsInfo
        # channels_last: about 18 % faster convolutions on the CPU (oneDNN), and 10-20 % on CUDA with tensor
        # cores (tf32, bf16) at 1024² and up (benchmarks/bench_gpu.py; docs/benchmarks.md "Performance").
        self.channels_last = True if channels_last is None else channels_last
        self.model = VGGFeatures(state).to(self.torch_device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.preprocessing = Preprocessing(self.weights_info.preprocessing).to(self.torch_device)
        self._memory_models: dict[str, MemoryModel] = {}
        self._twins: dict[torch.dtype, VGGFeatures] = {}
        self._lock = threading.Lock()
        self.guides = guides_at  # how region masks reach each layer (with_guides)
        del state  # the model holds the weights now (channels-last copies on the CPU)
        memory.release_free_heap()  # what loading freed in the heap goes back now, not after the first job

    # -- network access --------------------------------------------------------------------------
    def network(self, pooling: str = "max", precision: str = "float32", keep: bool = False) -> tiling.Net:
        """``net(rgb255, layer_names) -> activations`` in the network's own dtype (bf16 beyond relu1_1 in a bf16
        twin: the Gram matrices and losses read them in float32, and autograd keeps them at half the size),
        converted to the network's input space. ``keep``: with a compact backward record instead of
        autograd's (nst_core.lean). ``precision`` as :func:`nst_core.precision.effective` gives it."""
        if pooling == "avg":
            self.model.avg_scales()  # measured once, in float32
        model = self.model_in(precision)

        def net(rgb255: torch.Tensor, names) -> dict[str, torch.Tensor]:
            x = self.preprocessing.to_network(rgb255)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            if keep:
                return lean.trunk(model, x, names, pooling)
            return model(x, names, pooling)

        return net

    def model_in(self, precision: str) -> VGGFeatures:
        """The resident network for a precision: the float32 model, or its twin whose convolutions after the
        first hold bf16 weights, cast once per engine rather than at every forward as autocast would."""
        dtype = precision_mod.dtype(precision)
        if dtype not in self._twins:
            self._twins[dtype] = self.model.in_dtype(dtype)
        return self._twins[dtype]

    @property
    def auto_precision(self) -> str:
        """What ``precision="auto"`` means on this engine's device (nst_core.precision)."""
        return precision_mod.auto(self.torch_device)

    @property
    def auto_precision_reason(self) -> str:
        return precision_mod.auto_reason(self.torch_device)

    def features(self, rgb255: torch.Tensor, names, pooling: str = "max") -> dict[str, torch.Tensor]:
        """Activations of an RGB 0..255 NCHW image in true float32 (no TF32, which CUDA allows by default)."""
        with precision_mod.backend_flags("float32", self.torch_device):
            return self.network(pooling)(rgb255, names)

    def warm_up(self, size: int = 64) -> None:
        """One optimizer step so kernels, allocator, thread pools and torch.optim are ready before the first
        job. torch.optim imports torch._dynamo on first use (sympy, triton: ~150 MiB resident on the CPU);
        here, that happens before any job is planned, so every plan sees what is really resident."""
        with self._lock:
            x = torch.rand(1, 3, size, size, device=self.torch_device, requires_grad=True)
            optimizer = torch.optim.LBFGS([x], max_iter=1, history_size=1)

            def closure() -> torch.Tensor:
                optimizer.zero_grad()
                loss = self.features(x * 255, ["relu5_1"])["relu5_1"].mean()
                loss.backward()
                return loss

            optimizer.step(closure)
            del x, optimizer
            auto = precision_mod.effective("auto", self.torch_device)  # probes the CPU's bf16 units once
            self.model_in(auto)  # a bf16 twin's weights are resident before any job is planned
            self.memory_model(auto)  # measured once on CUDA
            memory.release_free_heap()

    # -- memory --------------------------------------------------------------------------------------
    def with_guides(self, guides: objective.Guides) -> "Engine":
        """This engine with another way of carrying region masks down the network than
        nst_core.regions.guides_at (benchmarks/bench_regions.py measures the ways against each other)."""
        view = copy.copy(self)
        view.guides = guides
        return view

    def with_memory_budget(self, memory_budget_mb: Optional[int]) -> "Engine":
        """This engine (the same model, lock and memory models) with another budget; None: the device's."""
        view = copy.copy(self)
        view.memory_budget_mb = _checked_budget(memory_budget_mb)
        return view

    def memory_budget_bytes(self) -> int:
        """The budget a job would get now: the configured one, or the device's default."""
        return memory.budget_bytes(self.torch_device, self.memory_budget_mb)

    def memory_model(self, precision: str = "float32") -> MemoryModel:
        """Bytes per pixel of a tile's step and forward pass (measured once per precision on CUDA; on the CPU
        the figures nst_core.memory holds per precision)."""
        if precision not in self._memory_models:
            self._memory_models[precision] = memory.measure(*self.probes(precision)[:2], self.torch_device,
                                                            precision)
        return self._memory_models[precision]

    def probes(self, precision: str):
        """nst_core.memory.probes on this engine's network in ``precision``."""
        return memory.probes(lambda keep: self.network("max", precision, keep=keep), self.torch_device)

    def plan(self, content_size: tuple[int, int], style_sizes: Sequence[tuple[int, int]],
             options: StyleOptions = StyleOptions()) -> JobPlan:
        """The plan a job with these sizes would run (InvalidInput if it cannot run), without running it."""
        return self.plan_job(spec_mod.build(Sized(tuple(content_size)), [Sized(tuple(s)) for s in style_sizes],
                                            options))

    def plan_job(self, job: JobSpec) -> JobPlan:
        """The plan of a checked job within the engine's memory budget."""
        opts = job.options
        precision = precision_mod.effective(opts.precision, self.torch_device)
        if self.torch_device.type == "cpu":
            memory.release_free_heap()
        return plan_job(job.content.size, [[s.image.size for s in group.styles] for group in job.groups], opts,
                        budget=self.memory_budget_bytes(), resident=memory.resident_bytes(self.torch_device),
                        model=memory.for_pooling(self.memory_model(precision), opts.pooling))

    # -- the job ---------------------------------------------------------------------------------
    def stylize(self, content: Image.Image, styles: Sequence[Image.Image],
                options: StyleOptions = StyleOptions(), *,
                blend: Optional[Sequence[float]] = None,
                regions: Sequence[RegionInput] = (),
                init_image: Optional[Image.Image] = None,
                progress: Optional[ProgressCallback] = None,
                cancel: Optional[CancelToken] = None,
                style_cache: Optional[TargetCache] = None) -> StyleResult:
        """Check a job (nst_core.contract.spec.build) and run it within the engine's memory budget: for scripts that
        hold PIL images."""
        job = spec_mod.build(content, styles, options, blend=blend, regions=regions, init_image=init_image,
                             read=_pil_image)
        return self.run(job, progress=progress, cancel=cancel, style_cache=style_cache)

    def run(self, job: JobSpec, *, progress: Optional[ProgressCallback] = None,
            cancel: Optional[CancelToken] = None, style_cache: Optional[TargetCache] = None,
            extra_term=None) -> StyleResult:
        """Run a checked job as it is, within the engine's memory budget. ``extra_term``: an object whose
        ``wrap(objective, (w, h), device)`` adds a term to each scale's objective (a sequence's temporal loss,
        nst_core.temporal.TemporalTerm)."""
        for field, image in job.image_fields():
            _pil_image(field, image)
        with self._lock:
            result, failed_at = self._run(job, progress, cancel, style_cache, extra_term)
            if result is not None:
                return result
            # Out of memory: the failed step's frames are gone now, so their tensors can be given back.
            self._release()
        raise DeviceOutOfMemory(_out_of_memory_advice(self.device, failed_at))

    def _run(self, spec: JobSpec, progress, cancel, style_cache, extra_term=None):
        """``(result, None)``, or ``(None, the size it ran out of memory at)``; any other failure is raised."""
        job = None
        try:
            plan = self.plan_job(spec)
            log.info("plan: %s", plan.describe())  # the optimizer state each scale keeps shows here
            job = _Job(self, Pictures.of(spec), spec.options, plan, _Hooks(progress, cancel, style_cache, extra_term))
            with precision_mod.backend_flags(job.precision, self.torch_device):
                return job.run(), None
        except BaseException as exc:
            if isinstance(exc, (RuntimeError, MemoryError)) and is_out_of_memory(exc):
                return None, job.size if job is not None else spec.content.size
            self._release()
            raise
        finally:
            if self.torch_device.type == "cpu":  # between jobs the RSS shows what stays (docs/server.md "Limits")
                memory.release_free_heap()

    def _release(self) -> None:
        """After a failed or cancelled job: drop the traceback's tensors now, not at some later GC.

        Not run after successful jobs: a full collection costs ~0.25 s with torch loaded.
        """
        gc.collect()
        if self.torch_device.type == "cuda":
            torch.cuda.empty_cache()


def _pil_image(field: str, image):
    """The engine runs on decoded pictures (PIL images); anything else is named and refused."""
    if not isinstance(image, Image.Image):
        raise InvalidInput(field, "must be an image")
    return image


def _checked_budget(memory_budget_mb: Optional[int]) -> Optional[int]:
    if memory_budget_mb is not None and (isinstance(memory_budget_mb, bool) or not isinstance(memory_budget_mb, int)
                                         or not 0 < memory_budget_mb <= memory.MAX_BUDGET_MB):
        raise InvalidInput("memory_budget_mb", f"must be a whole number of MiB from 1 to {memory.MAX_BUDGET_MB}, "
                                               f"got {memory_budget_mb!r}")
    return memory_budget_mb


def _out_of_memory_advice(device: str, size: tuple[int, int]) -> str:
    """What ran out, at which size, and what to try: the size half as long, or a smaller budget (tiles)."""
    w, h = size
    return (f"the {device} device ran out of memory while optimizing {w}×{h}: try max_size {max(w, h) // 2} "
            "or less, a smaller memory_budget_mb (the job is then cut into tiles), or fewer styles")


@dataclass
class _Hooks:
    progress: Optional[ProgressCallback]
    cancel: Optional[CancelToken]
    cache: Optional[TargetCache]
    extra_term: Optional[object] = None  # sequences: adds the temporal loss to every scale (Engine.run)


class _Job:
    """One stylization, following its plan: per scale the targets, then the steps (tile by tile)."""

    def __init__(self, engine: Engine, inputs: Pictures, opts: ResolvedOptions, plan: JobPlan, hooks: _Hooks):
        self.e, self.inputs, self.opts, self.plan, self.hooks = engine, inputs, opts, plan, hooks
        self.device = engine.torch_device
        self.precision = precision_mod.effective(opts.precision, self.device)
        self.net = engine.network(opts.pooling, self.precision)
        kept = any(s.grid.keep for s in plan.scales)
        self.keep_net = engine.network(opts.pooling, self.precision, keep=True) if kept else None
        self.start = time.perf_counter()
        self.eta = EtaTracker(plan.total_work)
        self.overall_step = 0
        self.overall_total = sum(s.steps for s in plan.scales)
        self.cache_hits = 0
        self.own_keys: set = set()  # cache entries this job made (a small style is the same at every scale)
        self.losses: dict[str, float] = {}
        self.size = plan.scales[0].size  # the scale under way, for an out-of-memory message

    def run(self) -> StyleResult:
        image: Optional[torch.Tensor] = None
        for stage, scale in enumerate(self.plan.scales, start=1):
            if scale.steps == 0:
                continue
            self.size = scale.size
            self.eta.start_scale(sum(s.target_work + s.steps * s.step_work for s in self.plan.scales[stage - 1:]))
            image = _Scale(self, stage, scale).run(image)
        final = compose.picture(image, self.inputs, self.opts.preserve_colors,
                                full_size=self.opts.output_size == "content", final=True)
        return StyleResult(final, self.overall_step, time.perf_counter() - self.start, dict(self.losses),
                           [s.size for s in self.plan.scales], self.cache_hits, self.plan)

    def check_cancel(self) -> None:
        if self.hooks.cancel is not None and self.hooks.cancel.cancelled:
            raise Cancelled("cancelled")

    def colour(self, tensor: torch.Tensor) -> torch.Tensor:
        return images.luminance(tensor) if self.opts.preserve_colors == "luminance" else tensor

    # -- style targets -----------------------------------------------------------------------------
    def style_targets(self, scale: ScalePlan, content: torch.Tensor) -> list[Optional[dict[str, torch.Tensor]]]:
        """Per style group (the main styles, then each region's): its blended target Grams, or None."""
        return [self._blend(group, planned, content) if group.styles else None
                for group, planned in zip(self.inputs.groups, scale.styles)]

    def _blend(self, group: Region, planned: Sequence[StylePlan], content: torch.Tensor) -> dict[str, torch.Tensor]:
        blended: dict[str, torch.Tensor] = {}
        for style, at in zip(group.styles, planned):
            if style.weight == 0:
                continue
            weight = style.weight
            tensor = images.to_tensor(style.image, at.size).to(self.device)
            if self.opts.preserve_colors == "luminance":
                tensor = images.match_luminance(images.luminance(tensor), content)
            elif self.opts.preserve_colors == "histogram":
                tensor = images.match_color_statistics(tensor, content)
            for layer, gram in self._grams(tensor, at.grid).items():
                blended[layer] = blended[layer] + weight * gram if layer in blended else weight * gram
            del tensor
        return blended

    def _grams(self, style: torch.Tensor, grid: Grid) -> dict[str, torch.Tensor]:
        """Gram matrices of one prepared style image (over tiles when it is large), through the cache."""
        key = None
        if self.hooks.cache is not None:
            digest = hashlib.sha256(style.detach().cpu().numpy().tobytes()).hexdigest()
            key = (digest, tuple(style.shape), self.opts.style_layers, self.opts.pooling,
                   self.e.weights_info.sha256, self.e.device, self.precision)
            cached = self.hooks.cache.get(key)
            if cached is not None:
                self.cache_hits += key not in self.own_keys  # a hit on what this job put is no saving to report
                return cached
        tiles = self.tiles(style, grid)
        grams = tiling.accumulate_grams(self.net, style, self.opts.style_layers, tiles, self.target_tick)
        if key is not None:
            self.hooks.cache.put(key, grams)
            self.own_keys.add(key)
        return grams

    def tiles(self, image: torch.Tensor, grid: Grid, generator=None) -> list[tiling.Tile]:
        h, w = image.shape[2:]
        return tiling.grid(h, w, grid.rows, grid.cols, halo=grid.halo, align=self.plan.align,
                           jitter=grid.jitter if generator is not None else 0, generator=generator)

    def target_tick(self, done: int, total: int, tile: tiling.Tile, backward: bool) -> None:
        self.eta.done(FORWARD_COST * tile.window_pixels)
        self.check_cancel()

    # -- progress and output -----------------------------------------------------------------------
    def report(self, stage: int, scale: ScalePlan, step: int, tile: int, tiles: int,
               image: Optional[torch.Tensor]) -> None:
        """A complete step (``tile == tiles``, with a preview of ``image``) or a tile pass of the next one."""
        if self.hooks.progress is None:
            return
        preview: Optional[Callable[[], Image.Image]] = None
        if image is not None:
            snapshot = compose.snapshot(image)  # L-BFGS updates the parameter in place
            preview = lambda: compose.picture(snapshot, self.inputs, self.opts.preserve_colors,  # noqa: E731
                                              full_size=False)
        self.hooks.progress(Progress(
            stage=stage, stages=len(self.plan.scales), step=step, total=scale.steps,
            overall_step=self.overall_step + (tile < tiles), overall_total=self.overall_total,
            losses=dict(self.losses), elapsed_seconds=time.perf_counter() - self.start,
            eta_seconds=self.eta.eta(), width=scale.size[0], height=scale.size[1], tile=tile, tiles=tiles,
            preview=preview))


class _Scale:
    """One scale of a job: targets, initial image, optimizer, and the steps."""

    def __init__(self, job: _Job, stage: int, plan: ScalePlan):
        self.job, self.stage, self.plan = job, stage, plan
        self.generator = tiling.tile_generator(job.opts.seed, stage)

    def run(self, previous: Optional[torch.Tensor]) -> torch.Tensor:
        job, opts = self.job, self.job.opts
        torch.manual_seed(opts.seed)
        w, h = self.plan.size
        content = job.colour(images.to_tensor(job.inputs.content, (w, h)).to(job.device))
        groups = job.style_targets(self.plan, content)
        content_targets = tiling.assemble_features(job.net, content, opts.content_layers,
                                                   job.tiles(content, self.plan.content_grid), job.target_tick)
        init = self._initial(content, previous)
        del previous
        keep_net = job.keep_net if self.plan.grid.keep else None
        terms = objective.build(job.net, opts, content, content_targets, groups, job.inputs.groups, keep_net,
                                job.e.guides)
        if job.hooks.extra_term is not None:  # a sequence's temporal loss (nst_core.temporal)
            terms = job.hooks.extra_term.wrap(terms, (w, h), job.device)
        del content
        return self._optimize(terms, init)

    def _initial(self, content: torch.Tensor, previous: Optional[torch.Tensor]) -> torch.Tensor:
        job = self.job
        if previous is not None:  # coarse-to-fine: the last scale's result seeds this one
            return F.interpolate(previous, size=content.shape[2:], mode="bicubic", align_corners=False).clamp_(0, 255)
        if job.opts.init == "content":
            return content.clone()
        if job.opts.init == "noise":
            g = torch.Generator().manual_seed(job.opts.seed)
            return job.colour((torch.rand(content.shape, generator=g) * 255).to(content.device))
        return job.colour(images.to_tensor(job.inputs.init, self.plan.size).to(content.device))

    def _optimize(self, tiled: tiling.TiledObjective, init: torch.Tensor) -> torch.Tensor:
        job, plan = self.job, self.plan
        # The optimized image stays NCHW: torch's L-BFGS cannot handle a channels_last parameter.
        image = init.contiguous().requires_grad_(True)
        del init
        if plan.optimizer == "lbfgs":
            # max_iter=1: exactly one function evaluation per step(), so progress and cancel are per step.
            optimizer = torch.optim.LBFGS([image], lr=1.0, max_iter=1, history_size=plan.history,
                                          tolerance_grad=-1.0, tolerance_change=-1.0)
            if job.precision == "bf16":
                # torch's first step is lr·g/‖g‖₁ (with ‖g‖₁ > 1): with lr 1, 10⁻⁴ grey levels, which bf16
                # activations do not resolve, so the first curvature pair read noise as flat curvature and
                # its next step went 10⁶× too far (inf by step 5). A first step of FIRST_STEP grey levels on
                # average (at most that when ‖g‖₁ ≤ 1) is seen; from the second step on lr is 1 again.
                optimizer.param_groups[0]["lr"] = FIRST_STEP * image.numel()
        else:
            optimizer = torch.optim.Adam([image], lr=plan.learning_rate)
        step = 0

        def on_tile(done: int, passes: int, tile: tiling.Tile, backward: bool) -> None:
            job.eta.done(plan.grid.pass_share(backward) * tile.window_pixels)
            if done < passes:
                job.report(self.stage, plan, step, done, passes, None)
            job.check_cancel()  # a cancel, also one from this report's callback, stops before the next tile

        # The relative terms are O(1) however large the image, so a pixel's gradient shrinks with the pixel
        # count. L-BFGS skips a curvature pair when yᵀs ≤ 1e-10 (an absolute threshold) and Adam adds an
        # absolute ε: on a nearly converged picture both would stall without moving a pixel. Summing over
        # pixels (× H·W) makes the gradient per pixel independent of size; the reported losses stay relative.
        scale = float(image.shape[2] * image.shape[3])

        def closure() -> torch.Tensor:
            tiles = job.tiles(image, plan.grid, self.generator)
            terms, grad = tiled(image.detach(), tiles, on_tile)
            image.grad = grad.mul_(scale)
            job.losses = terms
            return torch.tensor(terms["total"] * scale)

        later = sum(s.target_work + s.steps * s.step_work for s in job.plan.scales[self.stage:])
        job.eta.remaining = later + plan.steps * plan.step_work
        for step in range(1, plan.steps + 1):
            job.check_cancel()
            optimizer.step(closure)
            optimizer.param_groups[0]["lr"] = plan.learning_rate if plan.optimizer == "adam" else 1.0
            objective.check_finite(job.losses, image, plan.size, step)
            job.overall_step += 1
            job.eta.step_done(later + (plan.steps - step) * plan.step_work)  # planned, not the moved cuts
            if job.device.type == "cpu":
                memory.release_free_heap()
            job.report(self.stage, plan, step, plan.tile_passes(), plan.tile_passes(), image)
        job.check_cancel()
        return image.detach()
