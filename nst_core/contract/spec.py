"""A job's intake: every check on a job's inputs, in one place, and the checked :class:`JobSpec` the engine
runs as it is. No torch here.

Whoever receives a job (the server's request reader, the CLI, a script calling the engine) calls
:func:`build` once. In order: the counts (styles, blend weights, regions), before any image is read or any
list copied; the options, resolved once; each image, through the caller's ``read`` (the server reads
headers and counts pixels, the CLI decodes files, a script hands over PIL images); then the blend weights,
the masks, the strengths and the sizes the scales will need.

Images are anything with ``size`` and ``mode``: PIL images, the server's images as sent (a waiting job holds
them undecoded; :meth:`JobSpec.with_images` swaps them for pixels when it starts), or :class:`Sized` for a
plan made from sizes alone.

A job's styles come in groups (:class:`Region`): the main group, for pixels in no region, and one group per
region: a mask at the content's size (8-bit grey, 0 outside, 255 inside, soft in between), its styles with
their blend weights (none: the content is kept there) and a strength on its style term. Where masks overlap
so that they sum past 255 they are divided by their sum (each pixel belongs to the regions in proportion
to their values); a mask of another size is refused rather than resized, since a resized mask no longer
follows the edges it was drawn on (docs/engine.md "Regions").
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional, Sequence

from .errors import InvalidInput, quote
from .limits import MAX_BLEND, MAX_REGIONS, MAX_REGION_STRENGTH, MAX_STYLE_IMAGES
from .options import OptionSpec, ResolvedOptions, StyleOptions, check_count, check_style_product, resolve
from .schedule import check_sizes

#: How a blend weight is checked and described (Describe lists it with the options; it travels as
#: ``StylizeRequest.style_blend`` and ``Region.style_blend``).
BLEND_SPEC = OptionSpec("one weight per style image (default: equal)", "floats", minimum=0, maximum=MAX_BLEND,
                        max_items=MAX_STYLE_IMAGES, on_request=True)
#: 8-bit grey (1-bit files read as 0/255). Anything else is refused rather than guessed at.
MASK_MODES = ("L", "1")


@dataclass(frozen=True)
class Style:
    image: Any
    weight: float  # normalised: the weights of a group sum to 1


@dataclass(frozen=True)
class Region:
    """A checked style group: the main group (``mask`` None: the pixels in no region, strength 1) or a
    region. ``styles`` empty: no style term there, the content is kept."""

    styles: tuple[Style, ...]
    mask: Any = None  # 8-bit grey at the content's size
    strength: float = 1.0  # multiplies the group's style term


@dataclass(frozen=True)
class RegionInput:
    """A region as a caller gives it, before :func:`build` checks it: the client library sends it (with
    ``server.client.ImageData``), the server and the CLI build jobs from it (with their images)."""

    mask: Any
    styles: Sequence[Any] = ()
    style_blend: Optional[Sequence[float]] = None  # one weight per style (None or empty: equal)
    strength: Optional[float] = None  # None: 1


@dataclass(frozen=True)
class Sized:
    """An image known by its size alone: a plan made from sizes (``Engine.plan``)."""

    size: tuple[int, int]
    mode: str = "RGB"


@dataclass(frozen=True)
class JobSpec:
    content: Any
    groups: tuple[Region, ...]  # the main group, then each region; some group has styles
    options: ResolvedOptions
    init_image: Any = None

    @property
    def styles(self) -> tuple[Style, ...]:
        """The main styles (pixels in no region)."""
        return self.groups[0].styles

    @property
    def regions(self) -> tuple[Region, ...]:
        return self.groups[1:]

    def style_fields(self) -> list[tuple[str, Any]]:
        """Every style image with the request field that names it, main styles first."""
        return [(f"{_prefix(g)}styles[{i}]", s.image) for g, group in enumerate(self.groups)
                for i, s in enumerate(group.styles)]

    def image_fields(self) -> list[tuple[str, Any]]:
        """Every image with its field name: content, styles, masks, init image."""
        out = [("content", self.content), *self.style_fields()]
        out += [(f"regions[{r}].mask", region.mask) for r, region in enumerate(self.regions)]
        return out + ([("init_image", self.init_image)] if self.init_image is not None else [])

    def with_images(self, convert: Callable[[Any], Any]) -> "JobSpec":
        """The same job with every image passed through ``convert`` (e.g. decoded)."""
        def group(g: Region) -> Region:
            return replace(g, mask=None if g.mask is None else convert(g.mask),
                           styles=tuple(replace(s, image=convert(s.image)) for s in g.styles))
        init = convert(self.init_image) if self.init_image is not None else None
        return replace(self, content=convert(self.content), groups=tuple(map(group, self.groups)), init_image=init)


def _prefix(group: int) -> str:
    """The request field a group's fields hang off: none for the main styles, ``regions[r].`` for a region."""
    return "" if group == 0 else f"regions[{group - 1}]."


def _as_given(field: str, image: Any) -> Any:
    return image


def build(content: Any, styles: Sequence[Any], options: StyleOptions = StyleOptions(), *,
          blend: Optional[Sequence[float]] = None, regions: Sequence[RegionInput] = (), init_image: Any = None,
          read: Callable[[str, Any], Any] = _as_given, max_styles: int = MAX_STYLE_IMAGES) -> JobSpec:
    """Check a job and return its spec, or raise InvalidInput naming the first problem.

    ``read(field, given)`` turns each given image into the image the spec holds, in request order, after
    the counts and the options are checked (the server reads headers and limits pixels there). Masks that
    are decoded (PIL images) are checked for coverage here; a caller that decodes later calls
    :func:`check_masks` then."""
    if content is None:
        raise InvalidInput("content", "a content image is required")
    _check_counts(styles, blend, regions, max_styles)
    opts = resolve(options)
    content = read("content", content)
    styles = [read(f"styles[{i}]", s) for i, s in enumerate(styles)]
    given = []
    for r, region in enumerate(regions):
        if region.mask is None:
            raise InvalidInput(f"regions[{r}].mask", "no mask image given")
        given.append(replace(region, mask=read(f"regions[{r}].mask", region.mask),
                             styles=[read(f"regions[{r}].styles[{i}]", s) for i, s in enumerate(region.styles)]))
    init = read("init_image", init_image) if init_image is not None else None
    groups = (_group("", styles, blend, None, opts),
              *(_region(r, region, content.size, opts) for r, region in enumerate(given)))
    if not any(group.styles for group in groups):
        raise InvalidInput("styles", "at least one style image is required (for the job or one of its regions)")
    if opts.init == "image" and init is None:
        raise InvalidInput("init_image", 'init "image" needs init_image')
    job = JobSpec(content, groups, opts, init)
    fields = job.style_fields()
    check_sizes(content.size, [image.size for _, image in fields], opts, [field for field, _ in fields])
    if all(hasattr(region.mask, "getextrema") for region in job.regions):
        check_masks(job)
    return job


def _check_counts(styles, blend, regions, max_styles: int) -> None:
    """Every list's length, before any of its entries is read: ten million blend weights are refused by
    their count, not after a copy."""
    if isinstance(styles, (str, bytes)) or not isinstance(styles, Sequence):
        raise InvalidInput("styles", "must be a list of images")
    if len(styles) > max_styles:
        raise InvalidInput("styles", f"at most {max_styles} style images, got {len(styles)}")
    check_count("style_blend", len(blend or ()), BLEND_SPEC)
    if len(regions) > MAX_REGIONS:
        raise InvalidInput("regions", f"at most {MAX_REGIONS} regions, got {len(regions)}")
    total = len(styles)
    for r, region in enumerate(regions):
        total += len(region.styles)
        if total > max_styles:
            raise InvalidInput(f"regions[{r}].styles", f"at most {max_styles} style images per request, "
                                                       "the main styles and the regions' together")
        check_count(f"regions[{r}].style_blend", len(region.style_blend or ()), BLEND_SPEC)


def _region(r: int, region: RegionInput, content_size: tuple[int, int], opts: ResolvedOptions) -> Region:
    field = f"regions[{r}]"
    mask = region.mask
    if mask.mode not in MASK_MODES:
        raise InvalidInput(f"{field}.mask", f"must be an 8-bit grey image (mode L: 0 outside, 255 inside), got "
                                            f"mode {quote(mask.mode)}")
    if tuple(mask.size) != tuple(content_size):
        raise InvalidInput(f"{field}.mask", f"is {mask.size[0]}×{mask.size[1]}, the content is {content_size[0]}×"
                                            f"{content_size[1]}: a mask must have the content's size")
    return _group(f"{field}.", region.styles, region.style_blend, region.strength, opts, mask)


def _group(prefix: str, images: Sequence[Any], blend: Optional[Sequence[float]], strength: Optional[float],
           opts: ResolvedOptions, mask: Any = None) -> Region:
    weights = _blend_weights(f"{prefix}style_blend", blend, len(images))
    strength = _strength(f"{prefix}strength", strength, opts)
    return Region(tuple(Style(image, w) for image, w in zip(images, weights)), mask, strength)


def _blend_weights(field: str, weights: Optional[Sequence[float]], count: int) -> tuple[float, ...]:
    """One weight per style image, normalised to sum 1 (none given: equal). Their count was checked."""
    if weights is None or len(weights) == 0:
        return tuple(1.0 / count for _ in range(count)) if count else ()
    if len(weights) != count:
        raise InvalidInput(field, f"needs one weight per style image ({count}), got {len(weights)}")
    for w in weights:
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w <= MAX_BLEND:  # NaN fails too
            raise InvalidInput(field, f"each weight must be a number from 0 to {MAX_BLEND:g}, got {quote(w)}")
    total = float(sum(weights))
    if total <= 0:
        raise InvalidInput(field, "weights must not all be zero")
    return tuple(float(w) / total for w in weights)


def _strength(field: str, strength: Optional[float], opts: ResolvedOptions) -> float:
    if strength is None:
        return 1.0
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not math.isfinite(strength):
        raise InvalidInput(field, f"must be a finite number, got {quote(strength)}")
    if not 0 <= strength <= MAX_REGION_STRENGTH:
        raise InvalidInput(field, f"must be from 0 to {MAX_REGION_STRENGTH:g}, got {quote(strength)}")
    check_style_product(opts, strength, field)  # it multiplies the style term like style_strength
    return float(strength)


def check_masks(job: JobSpec, pixels: Callable[[Any], Any] = lambda mask: mask) -> None:
    """Each mask must cover some pixel. ``pixels(mask)``: the mask decoded (a PIL image)."""
    for r, region in enumerate(job.regions):
        low, high = pixels(region.mask).convert("L").getextrema()
        if high == 0:
            raise InvalidInput(f"regions[{r}].mask", "is all zero: the region covers no pixel")


__all__ = ["JobSpec", "Style", "Region", "RegionInput", "Sized", "build", "check_masks", "BLEND_SPEC",
           "MASK_MODES"]
