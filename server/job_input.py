"""Turn a ``StylizeRequest`` into engine inputs, validating everything before the job is queued.

A bad request is refused at once with the offending field named, instead of after waiting in the queue.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from PIL import Image

from nst_core.errors import InvalidInput
from nst_core.images import decode_image
from nst_core.options import StyleOptions, resolve
from protos.nst.v1 import style_pb2

from .config import MAX_STYLES

DEFAULT_PREVIEW_INTERVAL = 1.0  # seconds between previews
DEFAULT_PREVIEW_SIZE = 256  # long side of previews, pixels


@dataclass
class JobInput:
    content: Image.Image
    styles: list[Image.Image]
    options: StyleOptions
    init_image: Optional[Image.Image]
    preview: bool
    preview_interval: float
    preview_size: int
    output_format: str  # "png" or "rgba"

    def describe(self) -> str:
        """Short text for the job's log line."""
        w, h = self.content.size
        return f"content {w}x{h} {self.content.mode}, {len(self.styles)} style(s)"


def decode(message: style_pb2.ImageData, field: str, max_pixels: int) -> Image.Image:
    """Decode one request image; the pixel limit is checked before any pixel data is decoded."""
    kind = message.WhichOneof("kind")
    if kind is None:
        raise InvalidInput(field, "no image given (set `encoded` or `rgba`)")
    if kind == "encoded":
        return decode_image(message.encoded, field=field, max_pixels=max_pixels)  # returns RGB, RGBA or L
    raw = message.rgba
    if raw.width <= 0 or raw.height <= 0:
        raise InvalidInput(field, f"raw RGBA needs a positive width and height, got {raw.width}x{raw.height}")
    if raw.width * raw.height > max_pixels:
        raise InvalidInput(field, f"image is {raw.width}x{raw.height} = {raw.width * raw.height} pixels; "
                                  f"the limit is {max_pixels}")
    expected = raw.width * raw.height * 4
    if len(raw.data) != expected:
        raise InvalidInput(field, f"raw RGBA {raw.width}x{raw.height} needs {expected} bytes, got {len(raw.data)}")
    return Image.frombuffer("RGBA", (raw.width, raw.height), raw.data, "raw", "RGBA", 0, 1)


def _options(request: style_pb2.StylizeRequest) -> StyleOptions:
    """The proto's options by name (a field left unset keeps the engine's default or the preset's value)."""
    given = request.options
    values = {}
    for descriptor in given.DESCRIPTOR.fields:
        name = descriptor.name
        if descriptor.is_repeated:
            if getattr(given, name):
                values[name] = tuple(getattr(given, name))
        elif given.HasField(name):
            values[name] = getattr(given, name)
    if request.style_blend:
        values["style_blend"] = tuple(request.style_blend)
    return StyleOptions(**values)


def build(request: style_pb2.StylizeRequest, max_pixels: int) -> JobInput:
    """Validate and decode a request. Raises InvalidInput naming the field at the first problem."""
    if not request.HasField("content"):
        raise InvalidInput("content", "a content image is required")
    if len(request.styles) > MAX_STYLES:
        raise InvalidInput("styles", f"at most {MAX_STYLES} style images, got {len(request.styles)}")
    if request.preview_interval_seconds < 0:
        raise InvalidInput("preview_interval_seconds", "must be >= 0")
    if request.output_format not in (style_pb2.OUTPUT_FORMAT_UNSPECIFIED, style_pb2.OUTPUT_FORMAT_PNG,
                                     style_pb2.OUTPUT_FORMAT_RGBA):
        raise InvalidInput("output_format", f"unknown value {request.output_format}")

    options = _options(request)
    resolved = resolve(options, len(request.styles))  # checks every option before any image is decoded
    content = decode(request.content, "content", max_pixels)
    styles = [decode(s, f"styles[{i}]", max_pixels) for i, s in enumerate(request.styles)]
    init_image = None
    if request.HasField("init_image"):
        init_image = decode(request.init_image, "init_image", max_pixels)
    elif resolved.init == "image":
        raise InvalidInput("init_image", 'init "image" needs init_image')
    return JobInput(
        content=content,
        styles=styles,
        options=options,
        init_image=init_image,
        preview=request.preview,
        preview_interval=request.preview_interval_seconds or DEFAULT_PREVIEW_INTERVAL,
        preview_size=request.preview_max_size or DEFAULT_PREVIEW_SIZE,
        output_format="rgba" if request.output_format == style_pb2.OUTPUT_FORMAT_RGBA else "png",
    )

