"""The public entry point: a resident VGG19 and the Gatys et al. optimization on top of it."""
from __future__ import annotations

import gc
import hashlib
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from PIL import Image

from . import images
from .cache import TargetCache
from .errors import Cancelled, DeviceOutOfMemory, InvalidInput, is_out_of_memory, quote
from .layers import LAYER_INDEX, LAYER_NAMES
from .losses import content_loss, gram_matrix, style_loss, tv_loss
from .options import ResolvedOptions, StyleOptions, resolve
from .preprocess import Preprocessing
from .progress import CancelToken, Progress, ProgressCallback
from .schedule import scale_long_sides, steps_per_scale
from .vgg import VGGFeatures
from .weights import load_weights

StyleInput = Union[Image.Image, tuple[Image.Image, float]]


@dataclass
class StyleResult:
    image: Image.Image  # same mode as the content (RGB, RGBA or L)
    steps: int  # optimizer steps taken over all scales
    wall_time: float  # seconds
    losses: dict[str, float]  # final weighted loss terms
    scales: list[tuple[int, int]] = field(default_factory=list)  # (w, h) per stage
    style_cache_hits: int = 0  # style targets taken from the cache instead of computed


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
    """Loads VGG19 once on a device; ``stylize`` may be called many times (serialized by a lock)."""

    def __init__(self, weights: str = "original", device: Optional[str] = None, *,
                 preprocessing: Optional[str] = None, channels_last: Optional[bool] = None):
        state, self.weights_info = load_weights(weights, preprocessing)  # type: WeightsInfo
        self.torch_device = select_device(device)
        self.device = str(self.torch_device)
        # channels_last speeds up CPU convolutions (oneDNN); on CUDA cuDNN picks well for NCHW fp32.
        self.channels_last = (self.torch_device.type == "cpu") if channels_last is None else channels_last
        self.model = VGGFeatures(state).to(self.torch_device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.preprocessing = Preprocessing(self.weights_info.preprocessing).to(self.torch_device)
        self._lock = threading.Lock()

    # -- network access --------------------------------------------------------------------------
    def features(self, rgb255: torch.Tensor, names, pooling: str = "max") -> dict[str, torch.Tensor]:
        """Activations of an RGB 0..255 NCHW image; conversion to the network's input space included."""
        x = self.preprocessing.to_network(rgb255)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model(x, names, pooling)

    def warm_up(self, size: int = 64) -> None:
        """One forward/backward so kernels, allocator and thread pools are ready before the first job."""
        with self._lock:
            x = torch.rand(1, 3, size, size, device=self.torch_device, requires_grad=True)
            out = self.features(x * 255, ["relu5_1"])
            out["relu5_1"].mean().backward()

    # -- the job ---------------------------------------------------------------------------------
    def stylize(self, content: Image.Image, styles: Sequence[StyleInput],
                options: StyleOptions = StyleOptions(), *,
                progress: Optional[ProgressCallback] = None,
                cancel: Optional[CancelToken] = None,
                init_image: Optional[Image.Image] = None,
                style_cache: Optional[TargetCache] = None) -> StyleResult:
        if not isinstance(content, Image.Image):
            raise InvalidInput("content", "must be an image")
        style_images, blend = _split_styles(styles)
        if options.style_blend is None and blend is not None:
            options = replace(options, style_blend=blend)
        opts = resolve(options, len(style_images))
        if opts.init == "image" and not isinstance(init_image, Image.Image):
            raise InvalidInput("init_image", "an init image is required when init='image'")
        with self._lock:
            try:
                return _Job(self, content, style_images, opts, progress, cancel, init_image, style_cache).run()
            except RuntimeError as exc:
                self._release()
                if is_out_of_memory(exc):
                    raise DeviceOutOfMemory(f"the {self.device} device ran out of memory: "
                                            "try a smaller max_size or fewer styles") from None
                raise
            except BaseException:
                self._release()
                raise

    def _release(self) -> None:
        """After a failed or cancelled job: drop the traceback's tensors now, not at some later GC.

        Not run after successful jobs: a full collection costs ~0.25 s with torch loaded.
        """
        gc.collect()
        if self.torch_device.type == "cuda":
            torch.cuda.empty_cache()


def _split_styles(styles: Sequence[StyleInput]) -> tuple[list[Image.Image], Optional[tuple[float, ...]]]:
    if isinstance(styles, Image.Image):
        raise InvalidInput("styles", "must be a list of images")
    imgs, weights = [], []
    for i, item in enumerate(styles):
        img, weight = item if isinstance(item, tuple) else (item, None)
        if not isinstance(img, Image.Image):
            raise InvalidInput(f"styles[{i}]", "must be an image")
        imgs.append(img)
        weights.append(weight)
    if all(w is None for w in weights):
        return imgs, None
    return imgs, tuple(1.0 if w is None else w for w in weights)


class _Job:
    """One stylization: per-scale targets, the optimization loop, progress and the final image."""

    def __init__(self, engine: Engine, content, styles, opts: ResolvedOptions, progress, cancel,
                 init_image, cache):
        self.e, self.opts, self.progress_cb, self.cancel = engine, opts, progress, cancel
        self.cache, self.cache_hits, self.init_image = cache, 0, init_image
        self.mode = content.mode
        self.content_rgb, self.alpha = images.split_alpha(images.normalize_mode(content))
        self.styles = [images.normalize_mode(s).convert("RGB") for s in styles]
        long_side = min(opts.max_size, max(content.size))
        sides = scale_long_sides(long_side, min(opts.min_size, long_side), opts.multiscale)
        sizes = [images.working_size(content.size, s) for s in sides]
        # Each pool halves the image; the deepest layer needs at least one pixel left.
        deepest = max(LAYER_INDEX[n] for n in (*opts.content_layers, *opts.style_layers))
        min_side = 2 ** sum(1 for n in LAYER_NAMES[:deepest] if n.startswith("pool"))
        self.sizes = [s for s in sizes if min(s) >= min_side]
        if not self.sizes:
            raise InvalidInput("content", f"image is too small: its short side must be at least {min_side} px "
                                          f"at the working size {sizes[-1][0]}×{sizes[-1][1]}")
        self.steps = steps_per_scale(len(self.sizes), opts.steps, opts.coarse_steps)
        self.layers = sorted(set(opts.content_layers) | set(opts.style_layers))
        self.beta = opts.style_weight * opts.style_strength
        self.start = time.perf_counter()
        self.pixel_steps_total = sum(n * w * h for n, (w, h) in zip(self.steps, self.sizes))
        self.pixel_steps_done = 0
        self.step_seconds = 0.0
        self.overall_step = 0
        self.losses: dict[str, float] = {}

    def run(self) -> StyleResult:
        image: Optional[torch.Tensor] = None
        for stage, (size, steps) in enumerate(zip(self.sizes, self.steps), start=1):
            if steps == 0:
                continue
            content = images.to_tensor(self.content_rgb, size).to(self.e.torch_device)
            if self.opts.preserve_colors == "luminance":
                content = images.luminance(content)
            image = self._initial(stage, content, image, size)
            image = self._optimize(stage, size, steps, content, image)
        final = self._finish(image)
        return StyleResult(final, self.overall_step, time.perf_counter() - self.start, dict(self.losses),
                           list(self.sizes), self.cache_hits)

    # -- targets ---------------------------------------------------------------------------------
    def _style_targets(self, content: torch.Tensor, size: tuple[int, int]) -> dict[str, torch.Tensor]:
        long_side = max(1, round(self.opts.style_scale * max(size)))
        blended: dict[str, torch.Tensor] = {}
        for style, weight in zip(self.styles, self.opts.style_blend):
            if weight == 0:
                continue
            tensor = images.to_tensor(style, images.working_size(style.size, long_side)).to(content.device)
            if self.opts.preserve_colors == "luminance":
                tensor = images.match_luminance(images.luminance(tensor), content)
            elif self.opts.preserve_colors == "histogram":
                tensor = images.match_color_statistics(tensor, content)
            grams = self._grams(tensor)
            for layer, gram in grams.items():
                blended[layer] = blended[layer] + weight * gram if layer in blended else weight * gram
        return blended

    def _grams(self, style: torch.Tensor) -> dict[str, torch.Tensor]:
        """Gram matrices of one prepared style image, through the cache when one is given."""
        key = None
        if self.cache is not None:
            digest = hashlib.sha256(style.detach().cpu().numpy().tobytes()).hexdigest()
            key = (digest, tuple(style.shape), self.opts.style_layers, self.opts.pooling,
                   self.e.weights_info.sha256, self.e.device)
            cached = self.cache.get(key)
            if cached is not None:
                self.cache_hits += 1
                return cached
        with torch.no_grad():
            feats = self.e.features(style, self.opts.style_layers, self.opts.pooling)
            grams = {layer: gram_matrix(f) for layer, f in feats.items()}
        if key is not None:
            self.cache.put(key, grams)
        return grams

    # -- optimization ----------------------------------------------------------------------------
    def _initial(self, stage: int, content: torch.Tensor, previous: Optional[torch.Tensor], size) -> torch.Tensor:
        if previous is not None:  # coarse-to-fine: the last scale's result seeds this one
            return F.interpolate(previous, size=(size[1], size[0]), mode="bicubic",
                                 align_corners=False).clamp(0, 255)
        if self.opts.init == "content":
            return content.clone()
        if self.opts.init == "noise":
            g = torch.Generator().manual_seed(self.opts.seed)
            noise = torch.rand(content.shape, generator=g) * 255
            noise = noise.to(content.device)
            return images.luminance(noise) if self.opts.preserve_colors == "luminance" else noise
        init = images.to_tensor(images.normalize_mode(self.init_image).convert("RGB"), size).to(content.device)
        return images.luminance(init) if self.opts.preserve_colors == "luminance" else init

    def _optimize(self, stage, size, steps, content, init) -> torch.Tensor:
        opts, e = self.opts, self.e
        torch.manual_seed(opts.seed)
        with torch.no_grad():
            content_targets = {k: v for k, v in e.features(content, opts.content_layers, opts.pooling).items()}
        style_targets = self._style_targets(content, size)
        # The optimized image stays NCHW: torch's L-BFGS cannot handle a channels_last parameter.
        image = init.detach().clone().contiguous().requires_grad_(True)
        if opts.optimizer == "lbfgs":
            # max_iter=1: exactly one function evaluation per step(), so progress and cancel are per step.
            optimizer = torch.optim.LBFGS([image], lr=1.0, max_iter=1, history_size=50,
                                          tolerance_grad=-1.0, tolerance_change=-1.0)
        else:
            optimizer = torch.optim.Adam([image], lr=opts.learning_rate)
        terms: dict[str, torch.Tensor] = {}

        def closure() -> torch.Tensor:
            optimizer.zero_grad(set_to_none=True)
            feats = e.features(image, self.layers, opts.pooling)
            c = sum(content_loss(feats[layer], content_targets[layer]) for layer in opts.content_layers)
            c = c / len(opts.content_layers)
            s = style_loss(feats, style_targets, opts.style_layers, opts.style_layer_weights)
            t = tv_loss(image)
            total = opts.content_weight * c + self.beta * s + opts.tv_weight * t
            total.backward()
            terms.update(content=opts.content_weight * c.detach(), style=self.beta * s.detach(),
                         tv=opts.tv_weight * t.detach(), total=total.detach())
            return total

        pixels = size[0] * size[1]
        for step in range(1, steps + 1):
            if self.cancel is not None and self.cancel.cancelled:
                raise Cancelled("cancelled")
            t0 = time.perf_counter()
            optimizer.step(closure)
            self.losses = {k: float(v) for k, v in terms.items()}
            self.step_seconds += time.perf_counter() - t0
            self.pixel_steps_done += pixels
            self.overall_step += 1
            if self.progress_cb is not None:
                self._report(stage, step, steps, size, image)
        if self.cancel is not None and self.cancel.cancelled:
            raise Cancelled("cancelled")
        return image.detach()

    def _report(self, stage, step, steps, size, image) -> None:
        rate = self.step_seconds / max(1, self.pixel_steps_done)
        eta = (self.pixel_steps_total - self.pixel_steps_done) * rate
        snapshot = image.detach().clone()  # L-BFGS updates the parameter in place; a few MB per step
        preview: Callable[[], Image.Image] = lambda: self._to_image(snapshot, full_size=False)
        self.progress_cb(Progress(
            stage=stage, stages=len(self.sizes), step=step, total=steps, overall_step=self.overall_step,
            overall_total=sum(self.steps), losses=dict(self.losses),
            elapsed_seconds=time.perf_counter() - self.start, eta_seconds=eta, width=size[0], height=size[1],
            preview=preview))

    # -- output ----------------------------------------------------------------------------------
    def _finish(self, image: torch.Tensor) -> Image.Image:
        return self._to_image(image, full_size=self.opts.output_size == "content")

    def _to_image(self, image: torch.Tensor, full_size: bool) -> Image.Image:
        image = image.float().clamp(0, 255)
        target = self.content_rgb.size if full_size else (image.shape[3], image.shape[2])
        if self.opts.preserve_colors == "luminance":
            # Upscale the optimized luma, then take chroma from the content at the output size.
            grey = images.to_image(image)
            if grey.size != target:
                grey = grey.resize(target, Image.Resampling.LANCZOS)
            chroma = images.to_tensor(self.content_rgb, target)
            rgb = images.to_image(images.combine_luma_chroma(images.to_tensor(grey), chroma))
        else:
            rgb = images.to_image(image)
            if rgb.size != target:
                rgb = rgb.resize(target, Image.Resampling.LANCZOS)
        if self.mode == "L":
            return rgb.convert("L")
        if self.alpha is not None:
            alpha = self.alpha if self.alpha.size == rgb.size else self.alpha.resize(rgb.size, Image.Resampling.LANCZOS)
            rgb.putalpha(alpha)
        return rgb
