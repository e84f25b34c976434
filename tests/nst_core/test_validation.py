"""Every bad input is a ValueError naming its field."""
import io

import pytest
from PIL import Image

from nst_core import InvalidInput, StyleOptions, decode_image, resolve

BAD_OPTIONS = [
    ("content_layers", dict(content_layers=("relu9_9",))),
    ("style_layers", dict(style_layers=("conv1_1", "nope"))),
    ("style_layers", dict(style_layers=())),
    ("max_size", dict(max_size=0)),
    ("max_size", dict(max_size=-5)),
    ("steps", dict(steps=0)),
    ("min_size", dict(min_size=0)),
    ("style_weight", dict(style_weight=float("nan"))),
    ("content_weight", dict(content_weight=-1.0)),
    ("tv_weight", dict(tv_weight=float("inf"))),
    ("style_strength", dict(style_strength=-0.5)),
    ("style_scale", dict(style_scale=0)),
    ("style_scale", dict(style_scale=10.0)),
    ("style_layer_weights", dict(style_layer_weights=(1.0, 2.0))),
    ("style_layer_weights", dict(style_layer_weights=(1.0, -1.0, 1.0, 1.0, 1.0))),
    ("style_blend", dict(style_blend=(1.0, 1.0))),
    ("preset", dict(preset="ultra")),
    ("optimizer", dict(optimizer="sgd")),
    ("init", dict(init="zeros")),
    ("pooling", dict(pooling="min")),
    ("preserve_colors", dict(preserve_colors="sepia")),
    ("seed", dict(seed=1.5)),
]


@pytest.mark.parametrize("field,kwargs", BAD_OPTIONS)
def test_bad_option_names_its_field(field, kwargs):
    with pytest.raises(ValueError) as info:
        resolve(StyleOptions(**kwargs), n_styles=1)
    assert isinstance(info.value, InvalidInput) and info.value.field == field
    assert str(info.value).startswith(field)


def test_empty_style_list(engine):
    with pytest.raises(InvalidInput) as info:
        engine.stylize(Image.new("RGB", (8, 8)), [], StyleOptions())
    assert info.value.field == "styles"


def test_style_that_is_not_an_image(engine):
    with pytest.raises(InvalidInput) as info:
        engine.stylize(Image.new("RGB", (8, 8)), ["starry.jpg"], StyleOptions())
    assert info.value.field == "styles[0]"


def test_init_image_required_for_image_init(engine):
    with pytest.raises(InvalidInput) as info:
        engine.stylize(Image.new("RGB", (8, 8)), [Image.new("RGB", (8, 8))], StyleOptions(init="image"))
    assert info.value.field == "init_image"


def test_preset_fills_in_and_normalizes():
    opts = resolve(StyleOptions(preset="draft", steps=7), n_styles=2)
    assert opts.steps == 7 and opts.max_size == 256
    assert opts.style_blend == (0.5, 0.5) and sum(opts.style_layer_weights) == pytest.approx(1.0)


def test_undecodable_image_names_field():
    with pytest.raises(InvalidInput) as info:
        decode_image(b"definitely not an image", field="style")
    assert info.value.field == "style" and "decode" in str(info.value)


def test_empty_image_bytes():
    with pytest.raises(InvalidInput, match="empty"):
        decode_image(b"", field="content")


def _png_header_claiming(width, height):
    """A real PNG whose header is rewritten to claim a huge size: decoding it would be a bomb."""
    import struct
    import zlib

    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def test_oversize_image_rejected_from_header_before_decoding():
    with pytest.raises(InvalidInput) as info:
        decode_image(_png_header_claiming(100_000, 100_000), field="content", max_pixels=64 * 2**20)
    assert info.value.field == "content" and "over the limit" in str(info.value)


def test_pixel_limit_is_configurable():
    buf = io.BytesIO()
    Image.new("RGB", (40, 30)).save(buf, "PNG")
    assert decode_image(buf.getvalue(), max_pixels=1200).size == (40, 30)
    with pytest.raises(InvalidInput, match="over the limit"):
        decode_image(buf.getvalue(), max_pixels=1199)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "TIFF"])
def test_common_formats_decode(fmt):
    buf = io.BytesIO()
    Image.new("RGB", (9, 7), (200, 10, 10)).save(buf, fmt)
    img = decode_image(buf.getvalue())
    assert img.size == (9, 7) and img.mode == "RGB"


def test_image_too_small_for_deepest_layer(engine):
    with pytest.raises(InvalidInput) as info:
        engine.stylize(Image.new("RGB", (300, 10)), [Image.new("RGB", (8, 8))], StyleOptions(max_size=64))
    assert info.value.field == "content" and "too small" in str(info.value)
