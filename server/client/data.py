"""What a client sends: images, regions, options, and the StylizeRequest made of them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from nst_core.contract.spec import RegionInput as Region  # a region to send: its images as ImageData
from protos.nst.v1 import style_pb2

from .errors import ClientError

#: Keys accepted in ``StyleClient.stylize(options=...)``: the fields of the proto's ``StyleOptions``.
OPTION_KEYS = tuple(f.name for f in style_pb2.StyleOptions.DESCRIPTOR.fields)
_REPEATED_OPTIONS = {f.name for f in style_pb2.StyleOptions.DESCRIPTOR.fields if f.is_repeated}
FORMATS = {"png": style_pb2.OUTPUT_FORMAT_PNG, "rgba": style_pb2.OUTPUT_FORMAT_RGBA}
FORMAT_NAMES = {v: k for k, v in FORMATS.items()} | {style_pb2.OUTPUT_FORMAT_UNSPECIFIED: "png"}


@dataclass(frozen=True)
class ImageData:
    """An image to send: an encoded file (PNG, JPEG, WebP, TIFF) or raw 8-bit RGBA pixels."""

    data: bytes
    width: int = 0
    height: int = 0
    raw: bool = False

    @classmethod
    def encoded(cls, data: bytes) -> "ImageData":
        return cls(bytes(data))

    @classmethod
    def rgba(cls, data: bytes, width: int, height: int) -> "ImageData":
        return cls(data, int(width), int(height), raw=True)

    def to_proto(self) -> style_pb2.ImageData:
        if self.raw:
            return style_pb2.ImageData(rgba=style_pb2.RgbaImage(data=self.data, width=self.width, height=self.height))
        return style_pb2.ImageData(encoded=self.data)


def region_proto(region: Region) -> style_pb2.Region:
    message = style_pb2.Region(mask=region.mask.to_proto(), styles=[s.to_proto() for s in region.styles],
                               style_blend=list(region.style_blend or ()))
    if region.strength is not None:
        message.strength = region.strength
    return message


def _options_proto(options: Optional[dict]) -> style_pb2.StyleOptions:
    message = style_pb2.StyleOptions()
    for key, value in (options or {}).items():
        if key not in OPTION_KEYS:
            raise ClientError("INVALID_ARGUMENT", f"options: unknown option {key!r}; known: {', '.join(OPTION_KEYS)}",
                              "options")
        if value is None:
            continue  # the preset's value
        try:
            if key in _REPEATED_OPTIONS:
                getattr(message, key).extend([value] if isinstance(value, str) else value)
            else:
                setattr(message, key, value)
        except (TypeError, ValueError) as exc:
            raise ClientError("INVALID_ARGUMENT", f"{key}: wrong type for this option ({exc})", key) from None
    return message


def request(content: ImageData, styles: list[ImageData], *, style_blend: Optional[list[float]], options: Optional[dict],
            preview: bool, output_format: str, init_image: Optional[ImageData], preview_interval: float,
            preview_max_size: int, regions: Optional[list[Region]]) -> style_pb2.StylizeRequest:
    """The StylizeRequest of ``StyleClient.stylize``'s arguments (ClientError for one the proto cannot hold)."""
    if output_format not in FORMATS:
        raise ClientError("INVALID_ARGUMENT", f"output_format: must be png or rgba, got {output_format!r}",
                          "output_format")
    message = style_pb2.StylizeRequest(
        content=content.to_proto(),
        styles=[s.to_proto() for s in styles],
        style_blend=list(style_blend or ()),
        options=_options_proto(options),
        preview=preview,
        preview_interval_seconds=preview_interval,
        preview_max_size=preview_max_size,
        output_format=FORMATS[output_format],
        regions=[region_proto(r) for r in regions or ()],
    )
    if init_image is not None:
        message.init_image.CopyFrom(init_image.to_proto())
    return message


def limits_dict(limits: style_pb2.Limits) -> dict:
    """Every Limits field by name; ``calls`` as {kind: {"methods", "max_calls", "max_receiving"}}."""
    values = {f.name: getattr(limits, f.name) for f in limits.DESCRIPTOR.fields if f.name != "calls"}
    values["calls"] = {c.kind: {"methods": list(c.methods), "max_calls": c.max_calls, "max_receiving": c.max_receiving}
                       for c in limits.calls}
    return values
