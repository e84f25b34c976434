"""Image decoding (limits checked from the header) and colour handling."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from nst_core.contract.errors import InvalidInput
from nst_core.images import (combine_luma_chroma, decode_image, luminance, match_color_statistics,
                             match_luminance, normalize_mode, rgb_to_ycc, working_size, ycc_to_rgb)


def test_undecodable_image_names_field_and_formats_without_object_reprs():
    with pytest.raises(InvalidInput) as info:
        decode_image(b"definitely not an image", field="style")
    assert info.value.field == "style" and "PNG, JPEG, WebP or TIFF" in str(info.value)
    assert "0x" not in str(info.value) and "BytesIO" not in str(info.value)


def _saved(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (10, 200, 30)).save(buffer, fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "TIFF"])
def test_documented_formats_decode(fmt):
    assert decode_image(_saved(fmt)).size == (8, 6)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "EPS", "ICO", "PPM", "TGA", "PCX"])
def test_other_formats_reach_no_decoder(fmt):
    # EPS would run Ghostscript where it is installed; none of these is opened at all.
    with pytest.raises(InvalidInput) as info:
        decode_image(_saved(fmt), field="content")
    assert "not a PNG, JPEG, WebP or TIFF image" in str(info.value)


def test_truncated_pixel_data_names_the_format():
    with pytest.raises(InvalidInput) as info:
        decode_image(_saved("PNG")[:-20] + bytes(20), field="content")
    assert info.value.field == "content" and "PNG" in info.value.message


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


def test_modes_are_normalized_to_rgb_rgba_or_l():
    assert normalize_mode(Image.new("LA", (4, 4))).mode == "RGBA"
    assert normalize_mode(Image.new("CMYK", (4, 4))).mode == "RGB"
    sixteen = Image.fromarray(np.full((4, 4), 65535, dtype=np.uint16))
    assert normalize_mode(sixteen).mode == "L" and normalize_mode(sixteen).getpixel((0, 0)) == 255
    one_bit = normalize_mode(Image.new("1", (4, 4), 1))  # black and white is grey, not RGB
    assert one_bit.mode == "L" and one_bit.getextrema() == (255, 255)


def test_working_size_keeps_the_aspect_ratio():
    assert working_size((451, 300), 128) == (128, 85)
    assert working_size((300, 451), 128) == (85, 128)
    assert working_size((1000, 1), 100) == (100, 1)


def test_ycc_round_trip_and_luminance():
    rgb = torch.rand(1, 3, 5, 7) * 255
    assert torch.allclose(ycc_to_rgb(rgb_to_ycc(rgb)), rgb, atol=1e-3)
    grey = luminance(rgb)
    assert torch.equal(grey[:, 0], grey[:, 2]) and grey[0, 0, 0, 0] == pytest.approx(
        float(0.299 * rgb[0, 0, 0, 0] + 0.587 * rgb[0, 1, 0, 0] + 0.114 * rgb[0, 2, 0, 0]), rel=1e-5)
    # Y of the first, colour of the second.
    mixed = rgb_to_ycc(combine_luma_chroma(rgb, rgb.flip(-1)))
    assert torch.allclose(mixed[:, 0], rgb_to_ycc(rgb)[:, 0], atol=1e-3)
    assert torch.allclose(mixed[:, 1:], rgb_to_ycc(rgb.flip(-1))[:, 1:], atol=1e-3)


def test_luminance_matching_takes_the_content_mean_and_spread():
    style, content = torch.rand(1, 3, 8, 8) * 50, torch.rand(1, 3, 8, 8) * 200 + 30
    matched = match_luminance(style, content)
    assert matched.mean() == pytest.approx(float(content.mean()), rel=1e-4)
    assert matched.std() == pytest.approx(float(content.std()), rel=1e-3)


def test_colour_statistics_matching_gives_the_style_the_content_palette():
    g = torch.Generator().manual_seed(0)
    style = torch.rand(1, 3, 16, 16, generator=g) * torch.tensor([200.0, 20.0, 20.0]).view(1, 3, 1, 1)
    content = torch.rand(1, 3, 16, 16, generator=g) * torch.tensor([20.0, 20.0, 200.0]).view(1, 3, 1, 1) + 30
    matched = match_color_statistics(style, content)
    assert torch.allclose(matched.mean((0, 2, 3)), content.mean((0, 2, 3)), atol=1.0)
    assert matched.shape == style.shape and 0 <= matched.min() and matched.max() <= 255
