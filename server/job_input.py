"""Turn a ``StylizeRequest`` into a job's input, validating everything before the job is queued.

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

from nst_core.errors import InvalidInput
from nst_core.images import decode_image, open_image
from nst_core.options import StyleOptions, check_count, option_specs, resolve
from nst_core.schedule import check_sizes
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


@dataclass(frozen=True)
class Images:
    content: Image.Image
    styles: list[Image.Image]
    init_image: Optional[Image.Image]


@dataclass
class JobInput:
    content: ImageSource
    styles: list[ImageSource]
    options: StyleOptions
    init_image: Optional[ImageSource]
    preview: bool
    preview_interval: float
    preview_size: int
    output_format: str  # "png" or "rgba"

    def sources(self) -> list[ImageSource]:
        return [self.content, *self.styles, *([self.init_image] if self.init_image else [])]

    @property
    def held_bytes(self) -> int:
        """What this input holds while it waits: the images' bytes as sent, and the small ones decoded."""
        return sum(source.held_bytes for source in self.sources())

    def decode(self) -> Images:
        init = self.init_image.decode() if self.init_image else None
        return Images(self.content.decode(), [s.decode() for s in self.styles], init)

    def describe(self) -> str:
        """Short text for the job's log line."""
        w, h = self.content.size
        return f"content {w}x{h} {self.content.mode}, {len(self.styles)} style(s)"


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
    check_count("style_blend", len(request.style_blend), specs["style_blend"])  # before a value is copied
    for descriptor in given.DESCRIPTOR.fields:
        name = descriptor.name
        if descriptor.is_repeated:
            check_count(name, len(getattr(given, name)), specs[name])
            if getattr(given, name):
                values[name] = tuple(getattr(given, name))
        elif given.HasField(name):
            values[name] = getattr(given, name)
    if request.style_blend:
        values["style_blend"] = tuple(request.style_blend)
    return StyleOptions(**values)


def _check_request(request: style_pb2.StylizeRequest, limits: ServerLimits) -> None:
    if not request.HasField("content"):
        raise InvalidInput("content", "a content image is required")
    if len(request.styles) > limits.max_styles:
        raise InvalidInput("styles", f"at most {limits.max_styles} style images, got {len(request.styles)}")
    interval = request.preview_interval_seconds
    if not 0 <= interval < math.inf:  # NaN fails this too
        raise InvalidInput("preview_interval_seconds", f"must be a finite number >= 0, got {interval}")
    if request.preview_max_size > limits.max_preview_size:
        raise InvalidInput("preview_max_size", f"must be at most {limits.max_preview_size}, "
                                               f"got {request.preview_max_size}")
    if request.output_format not in (style_pb2.OUTPUT_FORMAT_UNSPECIFIED, style_pb2.OUTPUT_FORMAT_PNG,
                                     style_pb2.OUTPUT_FORMAT_RGBA):
        raise InvalidInput("output_format", f"unknown value {request.output_format}")


def _read_images(request: style_pb2.StylizeRequest, limits: ServerLimits) -> list[ImageSource]:
    """Every image's header, with the per-image and per-request pixel limits checked from headers alone."""
    messages = [("content", request.content)] + [(f"styles[{i}]", s) for i, s in enumerate(request.styles)]
    if request.HasField("init_image"):
        messages.append(("init_image", request.init_image))
    sources, total = [], 0
    for field, message in messages:
        source = _source(message, field, limits.max_pixels, limits.max_decoded_bytes)
        total += source.pixels
        if total > limits.max_request_pixels:
            raise InvalidInput(field, f"with this image the request's images come to {total / 1e6:.1f} MP, over "
                                      f"the limit of {limits.max_request_pixels / 1e6:.1f} MP per request "
                                      "(content, styles and init image together)")
        sources.append(source)
    return sources


def build(request: style_pb2.StylizeRequest, limits: ServerLimits,
          room: Callable[[int], None] = lambda held_bytes: None) -> JobInput:
    """Validate a request. Raises InvalidInput naming the field at the first problem; ``room(bytes)`` may
    refuse the job (a full queue) before any pixel is decoded."""
    _check_request(request, limits)
    options = _options(request)
    resolved = resolve(options, len(request.styles))  # checks every option before any image is read
    sources = _read_images(request, limits)
    if resolved.init == "image" and not request.HasField("init_image"):
        raise InvalidInput("init_image", 'init "image" needs init_image')
    n_styles = len(request.styles)
    check_sizes(sources[0].size, [source.size for source in sources[1:1 + n_styles]], resolved)
    room(sum(source.held_bytes for source in sources))
    try:  # corrupt pixel data is refused now, not after the wait; one image at a time
        sources = [source.checked() for source in sources]
    finally:
        release_free_memory(sum(source.pixels * 4 for source in sources if not source.raw))
    return JobInput(
        content=sources[0],
        styles=sources[1:1 + n_styles],
        options=options,
        init_image=sources[1 + n_styles] if len(sources) > 1 + n_styles else None,
        preview=request.preview,
        preview_interval=request.preview_interval_seconds or DEFAULT_PREVIEW_INTERVAL,
        preview_size=request.preview_max_size or DEFAULT_PREVIEW_SIZE,
        output_format="rgba" if request.output_format == style_pb2.OUTPUT_FORMAT_RGBA else "png",
    )
