"""Turn a ``StylizeRequest`` into a job's input, validating everything before the job is queued.

The job is one checked :class:`nst_core.spec.JobSpec` (options resolved, blend weights normalised, regions
checked), built here once and handed to the engine as it is when the job starts.
A bad request is refused at once with the offending field named, instead of after waiting in the queue.
A waiting job holds its images as sent (encoded files, or raw RGBA) and decodes them when it starts, so
that a queue of waiting jobs costs what their requests weighed, not what their pixels would.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Optional

from PIL import Image

from nst_core import spec as spec_mod
from nst_core.errors import InvalidInput
from nst_core.images import decode_image, open_image
from nst_core.options import ResolvedOptions, StyleOptions, check_count, option_specs, resolve
from nst_core.schedule import check_sizes
from nst_core.spec import JobSpec, RegionInput
from protos.nst.v1 import style_pb2

from .limits import ServerLimits
from .memory import release_free_memory

DEFAULT_PREVIEW_INTERVAL = 1.0  # seconds between previews
DEFAULT_PREVIEW_SIZE = 256  # long side of previews, pixels
# A checked image this small stays decoded while its job waits (no second decode when the job starts);
# larger ones wait as sent, so that a full queue costs what its requests weighed.
KEEP_DECODED_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ImageSource:
    """One request image as sent, with what its header (or raw size) says."""

    field: str
    data: bytes
    size: tuple[int, int]
    mode: str
    raw: bool  # raw RGBA pixels rather than an encoded file
    max_decoded_bytes: int = 0  # what decoding it may hold (checked from its header when it was read)
    kept: Optional[Image.Image] = dataclasses.field(default=None, compare=False)  # decoded, when small

    @property
    def pixels(self) -> int:
        return self.size[0] * self.size[1]

    @property
    def held_bytes(self) -> int:
        kept = self.kept.width * self.kept.height * len(self.kept.getbands()) if self.kept else 0
        return len(self.data) + kept

    def decode(self) -> Image.Image:
        """RGB, RGBA or L pixels. Raw RGBA is wrapped without a copy."""
        if self.kept is not None:
            return self.kept
        if self.raw:
            return Image.frombuffer("RGBA", self.size, self.data, "raw", "RGBA", 0, 1)
        return decode_image(self.data, field=self.field, max_pixels=self.pixels,
                            max_decoded_bytes=self.max_decoded_bytes)

    def checked(self) -> "ImageSource":
        """Decode it once now, so that corrupt pixel data is refused before the wait; keep it if small."""
        if self.raw:
            return self
        image = self.decode()
        small = image.width * image.height * len(image.getbands()) <= KEEP_DECODED_BYTES
        return dataclasses.replace(self, kept=image) if small else self


@dataclass
class JobInput:
    spec: JobSpec  # its images as sent (ImageSource), decoded when the job starts
    preview: bool
    preview_interval: float
    preview_size: int
    output_format: str  # "png" or "rgba"

    @property
    def options(self) -> ResolvedOptions:
        return self.spec.options

    def sources(self) -> list[ImageSource]:
        return [source for _, source in self.spec.image_fields()]

    @property
    def held_bytes(self) -> int:
        """What this input holds while it waits: the images' bytes as sent, and the small ones decoded."""
        return sum(source.held_bytes for source in self.sources())

    def decode(self) -> JobSpec:
        """The job with its pixels, for the engine."""
        return self.spec.with_images(ImageSource.decode)

    def describe(self) -> str:
        """Short text for the job's log line."""
        w, h = self.spec.content.size
        regions = f", {len(self.spec.regions)} region(s)" if self.spec.regions else ""
        return f"content {w}x{h} {self.spec.content.mode}, {len(self.spec.style_fields())} style(s){regions}"


def _source(message: style_pb2.ImageData, field: str, max_pixels: int, max_decoded_bytes: int) -> ImageSource:
    """Read one request image's header (or raw size); the pixel limit is checked before any decoding."""
    kind = message.WhichOneof("kind")
    if kind is None:
        raise InvalidInput(field, "no image given (set `encoded` or `rgba`)")
    if kind == "encoded":
        data = message.encoded
        image = open_image(data, field=field, max_pixels=max_pixels, max_decoded_bytes=max_decoded_bytes)
        return ImageSource(field, data, image.size, image.mode, raw=False, max_decoded_bytes=max_decoded_bytes)
    raw = message.rgba
    if raw.width <= 0 or raw.height <= 0:
        raise InvalidInput(field, f"raw RGBA needs a positive width and height, got {raw.width}x{raw.height}")
    if raw.width * raw.height > max_pixels:
        raise InvalidInput(field, f"image is {raw.width}x{raw.height} = {raw.width * raw.height} pixels; "
                                  f"the limit is {max_pixels}")
    expected = raw.width * raw.height * 4
    if len(raw.data) != expected:
        raise InvalidInput(field, f"raw RGBA {raw.width}x{raw.height} needs {expected} bytes, got {len(raw.data)}")
    return ImageSource(field, raw.data, (raw.width, raw.height), "RGBA", raw=True)


def _options(request: style_pb2.StylizeRequest) -> StyleOptions:
    """The proto's options by name (a field left unset keeps the engine's default or the preset's value)."""
    given = request.options
    values = {}
    specs = option_specs()
    for descriptor in given.DESCRIPTOR.fields:
        name = descriptor.name
        if descriptor.is_repeated:
            check_count(name, len(getattr(given, name)), specs[name])
            if getattr(given, name):
                values[name] = tuple(getattr(given, name))
        elif given.HasField(name):
            values[name] = getattr(given, name)
    return StyleOptions(**values)


def _check_request(request: style_pb2.StylizeRequest, limits: ServerLimits) -> None:
    if not request.HasField("content"):
        raise InvalidInput("content", "a content image is required")
    if len(request.styles) > limits.max_styles:
        raise InvalidInput("styles", f"at most {limits.max_styles} style images, got {len(request.styles)}")
    # Counts first, before any value is copied: a list of ten million blend weights is refused by its length.
    check_count("style_blend", len(request.style_blend), spec_mod.BLEND_SPEC)
    spec_mod.check_region_count(len(request.regions))
    styles = len(request.styles)
    for r, region in enumerate(request.regions):
        styles += len(region.styles)
        if styles > limits.max_styles:
            raise InvalidInput(f"regions[{r}].styles", f"at most {limits.max_styles} style images per request, "
                                                       "the main styles and the regions' together")
        check_count(f"regions[{r}].style_blend", len(region.style_blend), spec_mod.BLEND_SPEC)
    interval = request.preview_interval_seconds
    if not 0 <= interval < math.inf:  # NaN fails this too
        raise InvalidInput("preview_interval_seconds", f"must be a finite number >= 0, got {interval}")
    if request.preview_max_size > limits.max_preview_size:
        raise InvalidInput("preview_max_size", f"must be at most {limits.max_preview_size}, "
                                               f"got {request.preview_max_size}")
    if request.output_format not in (style_pb2.OUTPUT_FORMAT_UNSPECIFIED, style_pb2.OUTPUT_FORMAT_PNG,
                                     style_pb2.OUTPUT_FORMAT_RGBA):
        raise InvalidInput("output_format", f"unknown value {request.output_format}")


def _read_images(request: style_pb2.StylizeRequest, limits: ServerLimits) -> dict[str, ImageSource]:
    """Every image's header by field name, with the per-image and per-request pixel limits checked from
    headers alone (masks and the regions' styles count too)."""
    messages = [("content", request.content)] + [(f"styles[{i}]", s) for i, s in enumerate(request.styles)]
    for r, region in enumerate(request.regions):
        if not region.HasField("mask"):
            raise InvalidInput(f"regions[{r}].mask", "no mask image given")
        messages.append((f"regions[{r}].mask", region.mask))
        messages += [(f"regions[{r}].styles[{i}]", s) for i, s in enumerate(region.styles)]
    if request.HasField("init_image"):
        messages.append(("init_image", request.init_image))
    sources, total = {}, 0
    for field, message in messages:
        source = _source(message, field, limits.max_pixels, limits.max_decoded_bytes)
        total += source.pixels
        if total > limits.max_request_pixels:
            raise InvalidInput(field, f"with this image the request's images come to {total / 1e6:.1f} MP, over "
                                      f"the limit of {limits.max_request_pixels / 1e6:.1f} MP per request "
                                      "(content, styles, masks, region styles and init image together)")
        sources[field] = source
    return sources


def _spec(request: style_pb2.StylizeRequest, sources: dict[str, ImageSource], resolved: ResolvedOptions) -> JobSpec:
    regions = [RegionInput(sources[f"regions[{r}].mask"],
                           [sources[f"regions[{r}].styles[{i}]"] for i in range(len(region.styles))],
                           region.style_blend, region.strength if region.HasField("strength") else None)
               for r, region in enumerate(request.regions)]
    return spec_mod.build(sources["content"], [sources[f"styles[{i}]"] for i in range(len(request.styles))],
                          blend=request.style_blend, regions=regions, init_image=sources.get("init_image"),
                          resolved=resolved)


def build(request: style_pb2.StylizeRequest, limits: ServerLimits,
          room: Callable[[int], None] = lambda held_bytes: None) -> JobInput:
    """Validate a request. Raises InvalidInput naming the field at the first problem; ``room(bytes)`` may
    refuse the job (a full queue) before any pixel is decoded."""
    _check_request(request, limits)
    resolved = resolve(_options(request))  # checks every option before any image is read
    spec = _spec(request, _read_images(request, limits), resolved)
    styles = spec.style_fields()
    check_sizes(spec.content.size, [source.size for _, source in styles], resolved, [field for field, _ in styles])
    room(sum(source.held_bytes for _, source in spec.image_fields()))
    try:  # corrupt pixel data (and an all-zero mask) is refused now, not after the wait; one image at a time
        spec = spec.with_images(ImageSource.checked)
        for r, region in enumerate(spec.regions):
            spec_mod.check_mask_pixels(f"regions[{r}].mask", region.mask.decode())
    finally:
        release_free_memory(sum(source.pixels * 4 for _, source in spec.image_fields() if not source.raw))
    return JobInput(
        spec=spec,
        preview=request.preview,
        preview_interval=request.preview_interval_seconds or DEFAULT_PREVIEW_INTERVAL,
        preview_size=request.preview_max_size or DEFAULT_PREVIEW_SIZE,
        output_format="rgba" if request.output_format == style_pb2.OUTPUT_FORMAT_RGBA else "png",
    )
