"""Turn a ``StylizeRequest`` into a job's input, validating everything before the job is queued.

The job is one checked :class:`nst_core.contract.spec.JobSpec`, built by the intake (nst_core.contract.spec.build)
from the request's fields as they are, and handed to the engine as it is when the job starts; this module
adds how a server reads images (headers and pixel limits) and holds them while the job waits.
A bad request is refused at once with the offending field named, instead of after waiting in the queue.
A waiting job holds its images as sent (encoded files, or raw RGBA) and decodes them when it starts, so
that a queue of waiting jobs costs what their requests weighed, not what their pixels would.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable, Optional

from PIL import Image

from nst_core.contract import heap, spec as spec_mod
from nst_core.contract.errors import InvalidInput
from nst_core.contract.options import ResolvedOptions, StyleOptions
from nst_core.contract.spec import JobSpec, RegionInput
from nst_core.images import decode_image, open_image
from protos.nst.v1 import style_pb2

from .limits import ServerLimits

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
    """The proto's options by name (a field left unset keeps the engine's default or the preset's value).
    Repeated fields go as they are: the intake counts them before it copies them."""
    given = request.options
    values = {}
    for descriptor in given.DESCRIPTOR.fields:
        name = descriptor.name
        if descriptor.is_repeated:
            if getattr(given, name):
                values[name] = getattr(given, name)
        elif given.HasField(name):
            values[name] = getattr(given, name)
    return StyleOptions(**values)


def _check_delivery(request: style_pb2.StylizeRequest, limits: ServerLimits) -> None:
    """The request's fields that are not the job: how its previews and result travel."""
    interval = request.preview_interval_seconds
    if not 0 <= interval < math.inf:  # NaN fails this too
        raise InvalidInput("preview_interval_seconds", f"must be a finite number >= 0, got {interval}")
    if request.preview_max_size > limits.max_preview_size:
        raise InvalidInput("preview_max_size", f"must be at most {limits.max_preview_size}, "
                                               f"got {request.preview_max_size}")
    if request.output_format not in (style_pb2.OUTPUT_FORMAT_UNSPECIFIED, style_pb2.OUTPUT_FORMAT_PNG,
                                     style_pb2.OUTPUT_FORMAT_RGBA):
        raise InvalidInput("output_format", f"unknown value {request.output_format}")


class _Reader:
    """Reads each request image's header as the intake asks for it, with the per-request pixel limit
    (masks and the regions' styles count too)."""

    def __init__(self, limits: ServerLimits):
        self.limits = limits
        self.total = 0

    def __call__(self, field: str, message: style_pb2.ImageData) -> ImageSource:
        source = _source(message, field, self.limits.max_pixels, self.limits.max_decoded_bytes)
        self.total += source.pixels
        if self.total > self.limits.max_request_pixels:
            raise InvalidInput(field, f"with this image the request's images come to {self.total / 1e6:.1f} MP, "
                                      f"over the limit of {self.limits.max_request_pixels / 1e6:.1f} MP per "
                                      "request (content, styles, masks, region styles and init image together)")
        return source


class _Regions(Sequence):
    """The request's regions as the intake's RegionInput, made one at a time when it reads them: the intake
    counts them first, so ten million regions are refused before one is made."""

    def __init__(self, regions):
        self._regions = regions

    def __len__(self) -> int:
        return len(self._regions)

    def __getitem__(self, r: int) -> RegionInput:
        region = self._regions[r]
        return RegionInput(region.mask if region.HasField("mask") else None, region.styles, region.style_blend,
                           region.strength if region.HasField("strength") else None)


def build(request: style_pb2.StylizeRequest, limits: ServerLimits,
          room: Callable[[int], None] = lambda held_bytes: None) -> JobInput:
    """Validate a request. Raises InvalidInput naming the field at the first problem; ``room(bytes)`` may
    refuse the job (a full queue) before any pixel is decoded."""
    _check_delivery(request, limits)
    spec = spec_mod.build(request.content if request.HasField("content") else None, request.styles,
                          _options(request), blend=request.style_blend, regions=_Regions(request.regions),
                          init_image=request.init_image if request.HasField("init_image") else None,
                          read=_Reader(limits), max_styles=limits.max_styles)
    room(sum(source.held_bytes for _, source in spec.image_fields()))
    try:  # corrupt pixel data (and an all-zero mask) is refused now, not after the wait; one image at a time
        spec = spec.with_images(ImageSource.checked)
        spec_mod.check_masks(spec, ImageSource.decode)
    finally:
        heap.release_after(sum(source.pixels * 4 for _, source in spec.image_fields() if not source.raw))
    return JobInput(
        spec=spec,
        preview=request.preview,
        preview_interval=request.preview_interval_seconds or DEFAULT_PREVIEW_INTERVAL,
        preview_size=request.preview_max_size or DEFAULT_PREVIEW_SIZE,
        output_format="rgba" if request.output_format == style_pb2.OUTPUT_FORMAT_RGBA else "png",
    )
