"""A job's inputs, checked once: the content, the styles with their blend weights, the resolved options and
the regions. No torch here.

The edge that receives a job (the server's request reader, the CLI, a script calling the engine) builds one
:class:`JobSpec` with :func:`build`, and the engine runs it as it is: options are resolved once, and a
style's blend weight has one form (:attr:`Style.weight`, normalised within its group).

Images are anything with ``size`` and ``mode``: PIL images, or the server's images as sent, which a waiting
job holds undecoded; :meth:`JobSpec.with_images` swaps them for pixels when the job starts.

Regions (README "Regions"): each a mask at the content's size (8-bit grey, 0 outside, 255 inside, soft in
between), its own styles, or none (the content is kept there), and a strength. Pixels in no region follow
the main styles. Where masks overlap so that they sum past 255, they are divided by their sum (each pixel
belongs to the regions in proportion to their values); a mask of another size is refused rather than
resized, since a resized mask no longer follows the edges it was drawn on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional, Sequence

from .errors import InvalidInput, quote
from .limits import MAX_BLEND, MAX_REGIONS, MAX_REGION_STRENGTH, MAX_STYLE_IMAGES
from .options import OptionSpec, ResolvedOptions, StyleOptions, check_count, resolve

#: How a blend weight is checked and described (Describe lists it with the options; it travels as
#: ``StylizeRequest.style_blend`` and ``Region.style_blend``).
BLEND_SPEC = OptionSpec("one weight per style image (default: equal)", "floats", minimum=0, maximum=MAX_BLEND,
                        max_items=MAX_STYLE_IMAGES, on_request=True)
#: 8-bit grey (1-bit files read as 0/255). Anything else is refused rather than guessed at.
MASK_MODES = ("L", "1")


@dataclass(frozen=True)
class Style:
    image: Any
    weight: float  # normalised: the weights of a group (the main styles, a region's) sum to 1


@dataclass(frozen=True)
class Region:
    mask: Any  # 8-bit grey at the content's size
    styles: tuple[Style, ...]  # empty: the content is kept inside the region
    strength: float = 1.0  # multiplies the region's style term


@dataclass(frozen=True)
class RegionInput:
    """A region as a caller gives it, before :func:`build` checks it."""

    mask: Any
    styles: Sequence[Any] = ()
    blend: Optional[Sequence[float]] = None
    strength: Optional[float] = None  # None: 1


@dataclass(frozen=True)
class JobSpec:
    content: Any
    styles: tuple[Style, ...]  # the main styles: pixels in no region; empty only when a region has styles
    options: ResolvedOptions
    regions: tuple[Region, ...] = ()
    init_image: Any = None

    def style_fields(self) -> list[tuple[str, Any]]:
        """Every style image with the request field that names it, main styles first."""
        out = [(f"styles[{i}]", s.image) for i, s in enumerate(self.styles)]
        for r, region in enumerate(self.regions):
            out += [(f"regions[{r}].styles[{i}]", s.image) for i, s in enumerate(region.styles)]
        return out

    def image_fields(self) -> list[tuple[str, Any]]:
        """Every image with its field name: content, styles, masks, init image."""
        out = [("content", self.content), *self.style_fields()]
        out += [(f"regions[{r}].mask", region.mask) for r, region in enumerate(self.regions)]
        return out + ([("init_image", self.init_image)] if self.init_image is not None else [])

    def with_images(self, convert: Callable[[Any], Any]) -> "JobSpec":
        """The same job with every image passed through ``convert`` (e.g. decoded)."""
        def styles(group):
            return tuple(replace(s, image=convert(s.image)) for s in group)
        regions = tuple(replace(r, mask=convert(r.mask), styles=styles(r.styles)) for r in self.regions)
        init = convert(self.init_image) if self.init_image is not None else None
        return replace(self, content=convert(self.content), styles=styles(self.styles), regions=regions,
                       init_image=init)


def blend_weights(field: str, weights: Optional[Sequence[float]], count: int) -> tuple[float, ...]:
    """One weight per style image, checked and normalised to sum 1 (none given: equal)."""
    if weights is None or len(weights) == 0:
        return tuple(1.0 / count for _ in range(count)) if count else ()
    check_count(field, len(weights), BLEND_SPEC)
    if len(weights) != count:
        raise InvalidInput(field, f"needs one weight per style image ({count}), got {len(weights)}")
    for w in weights:
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w <= MAX_BLEND:  # NaN fails too
            raise InvalidInput(field, f"each weight must be a number from 0 to {MAX_BLEND:g}, got {quote(w)}")
    total = float(sum(weights))
    if total <= 0:
        raise InvalidInput(field, "weights must not all be zero")
    return tuple(float(w) / total for w in weights)


def check_strength(field: str, strength: Optional[float]) -> float:
    if strength is None:
        return 1.0
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not math.isfinite(strength):
        raise InvalidInput(field, f"must be a finite number, got {quote(strength)}")
    if not 0 <= strength <= MAX_REGION_STRENGTH:
        raise InvalidInput(field, f"must be from 0 to {MAX_REGION_STRENGTH:g}, got {quote(strength)}")
    return float(strength)


def check_mask_header(field: str, mask: Any, content_size: tuple[int, int]) -> None:
    """Mode and size, from what the image's header says."""
    if mask is None:
        raise InvalidInput(field, "no mask image given")
    if mask.mode not in MASK_MODES:
        raise InvalidInput(field, f"must be an 8-bit grey image (mode L: 0 outside, 255 inside), got mode "
                                  f"{quote(mask.mode)}")
    if tuple(mask.size) != tuple(content_size):
        raise InvalidInput(field, f"is {mask.size[0]}×{mask.size[1]}, the content is {content_size[0]}×"
                                  f"{content_size[1]}: a mask must have the content's size")


def check_mask_pixels(field: str, mask) -> None:
    """A decoded mask (PIL) must cover some pixel."""
    low, high = mask.convert("L").getextrema()
    if high == 0:
        raise InvalidInput(field, "is all zero: the region covers no pixel")


def check_region_count(count: int) -> None:
    if count > MAX_REGIONS:
        raise InvalidInput("regions", f"at most {MAX_REGIONS} regions, got {count}")


def build(content: Any, styles: Sequence[Any], options: StyleOptions = StyleOptions(), *,
          blend: Optional[Sequence[float]] = None, regions: Sequence[RegionInput] = (),
          init_image: Any = None, resolved: Optional[ResolvedOptions] = None) -> JobSpec:
    """Check a job and return its spec, or raise InvalidInput naming the first problem.

    ``resolved`` skips resolving ``options`` again when the caller already did (the server resolves them
    before it reads any image). Masks that are decoded (PIL images) are checked for coverage here; a
    caller holding undecoded ones calls :func:`check_mask_pixels` once it decodes them."""
    opts = resolved if resolved is not None else resolve(options)
    if isinstance(styles, (str, bytes)) or not isinstance(styles, Sequence):
        raise InvalidInput("styles", "must be a list of images")
    check_region_count(len(regions))
    main = tuple(Style(image, w) for image, w in zip(styles, blend_weights("style_blend", blend, len(styles))))
    checked = []
    for r, region in enumerate(regions):
        field = f"regions[{r}]"
        check_mask_header(f"{field}.mask", region.mask, content.size)
        if hasattr(region.mask, "getextrema"):
            check_mask_pixels(f"{field}.mask", region.mask)
        weights = blend_weights(f"{field}.style_blend", region.blend, len(region.styles))
        checked.append(Region(region.mask, tuple(Style(i, w) for i, w in zip(region.styles, weights)),
                              check_strength(f"{field}.strength", region.strength)))
    if not main and not any(region.styles for region in checked):
        raise InvalidInput("styles", "at least one style image is required (for the job or one of its regions)")
    if opts.init == "image" and init_image is None:
        raise InvalidInput("init_image", 'init "image" needs init_image')
    return JobSpec(content, main, opts, tuple(checked), init_image)


__all__ = ["JobSpec", "Style", "Region", "RegionInput", "build", "blend_weights", "check_strength",
           "check_mask_header", "check_mask_pixels", "check_region_count", "BLEND_SPEC", "MASK_MODES"]
