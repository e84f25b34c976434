"""Image decoding, tensor conversion, resizing and colour handling (luminance, histogram matching)."""
from __future__ import annotations

import io
import re
import warnings
from typing import Optional

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .contract.errors import InvalidInput
from .contract.limits import DEFAULT_MAX_PIXELS
_SUPPORTED_MODES = ("RGB", "RGBA", "L")
# The documented formats. Pillow can open many more (GIF, EPS through Ghostscript, ...): untrusted bytes
# must reach no decoder nobody asked for.
FORMATS = ("PNG", "JPEG", "WEBP", "TIFF")
FORMAT_NAMES = "PNG, JPEG, WebP or TIFF"
_OBJECT_REPR = re.compile(r"<[^<>]* at 0x[0-9a-fA-F]+>")
MIB = 2**20
# Bytes Pillow stores per pixel in each mode (RGB, LA and the 32-bit modes are padded to 4), and the
# conversions normalize_mode makes (each holds its source and its result at once).
_STORED = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
_WIDE_GREY = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
_PREMULTIPLIED = {"La": "LA", "RGBa": "RGBA"}
BAND_PIXELS = 2**20  # wide grey is converted this many pixels at a time


def _reason(exc: BaseException) -> str:
    """A decoder's complaint, fit for a client: no object reprs, no unbounded length."""
    text = _OBJECT_REPR.sub("the data", str(exc)).strip() or "no details"
    return f"{exc.__class__.__name__}: {text if len(text) <= 120 else text[:120] + '…'}"


def decode_peak(image: Image.Image) -> int:
    """Bytes that decoding and normalizing this opened image holds at once, from its header alone: the pixels
    as stored, the decoder's buffer for one TIFF strip or tile (as declared, however large), the 8-bit copy."""
    w, h = image.size
    peak = w * h * _STORED.get(image.mode, 4)
    if image.mode in _WIDE_GREY:
        peak += w * h + min(w * h, BAND_PIXELS) * 8  # the 8-bit result; one band's source and float32 copy
    elif image.mode == "1":
        peak += w * h  # 1-bit is grey: it becomes L, not RGB
    elif image.mode not in _SUPPORTED_MODES:
        peak += w * h * 4 * (2 if image.mode == "La" else 1)  # La goes through LA to RGBA
    if image.format == "TIFF":
        tags = image.tag_v2
        bits = tags.get(258, (8,))
        pixel = max(1, -(-(sum(bits) if isinstance(bits, tuple) else int(bits) * tags.get(277, 1)) // 8))
        if 322 in tags or 323 in tags:
            peak += int(tags.get(322, 0)) * int(tags.get(323, 0)) * pixel
        elif tags.get(259, 1) != 1:  # compressed strips go through libtiff, one whole strip at a time
            peak += min(int(tags.get(278, h)), h) * w * pixel
    return peak


def open_image(data: bytes, *, field: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS,
               max_decoded_bytes: Optional[int] = None) -> Image.Image:
    """Open PNG/JPEG/WebP/TIFF bytes, reading only the header, and check the size and what decoding it would
    hold (:func:`decode_peak`, at most ``max_decoded_bytes``: by default 4 bytes per ``max_pixels``). No pixel
    is decoded; ``load()`` (or :func:`decode_image`) does that."""
    if not data:
        raise InvalidInput(field, "image is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit applies
            image = Image.open(io.BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError:
        raise InvalidInput(field, f"not a {FORMAT_NAMES} image (the only formats accepted)") from None
    except Image.DecompressionBombError:  # PIL's own header check fired first
        raise InvalidInput(field, f"image is over the limit of {max_pixels / 1e6:.1f} MP") from None
    except Exception as exc:  # PIL raises many types for corrupt headers
        raise InvalidInput(field, f"cannot read the image header ({_reason(exc)})") from None
    width, height = image.size
    if width * height > max_pixels:
        raise InvalidInput(field, f"image is {width}×{height} = {width * height / 1e6:.1f} MP, "
                                  f"over the limit of {max_pixels / 1e6:.1f} MP")
    limit = 4 * max_pixels if max_decoded_bytes is None else max_decoded_bytes
    try:
        peak = decode_peak(image)
    except Exception as exc:  # a malformed tag
        raise InvalidInput(field, f"cannot read the image header ({_reason(exc)})") from None
    if peak > limit:
        raise InvalidInput(field, f"decoding this {width}×{height} {image.mode} {image.format} image would take "
                                  f"{peak / MIB:.0f} MiB (pixels, decoder buffers, 8-bit copy), over the limit of "
                                  f"{limit / MIB:.0f} MiB per image")
    return image


def decode_image(data: bytes, *, field: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS,
                 max_decoded_bytes: Optional[int] = None) -> Image.Image:
    """Decode PNG/JPEG/WebP/TIFF bytes to RGB, RGBA or L. The size and the decoding's peak are checked from
    the header *before* pixels are decoded; any decoder failure is InvalidInput naming ``field``."""
    image = open_image(data, field=field, max_pixels=max_pixels, max_decoded_bytes=max_decoded_bytes)
    try:
        image.load()
        return normalize_mode(image)
    except MemoryError:
        raise
    except Exception as exc:  # truncated or corrupt pixel data, a mode no conversion handles
        raise InvalidInput(field, f"cannot decode this {image.format} {image.mode} image ({_reason(exc)})") from None


def load_image(path: str, *, field: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise InvalidInput(field, f"cannot read {path}: {exc.strerror}") from exc
    return decode_image(data, field=field, max_pixels=max_pixels)


def normalize_mode(image: Image.Image) -> Image.Image:
    """Reduce any PIL mode to RGB, RGBA or L (8-bit), keeping transparency where there is any."""
    if image.mode in _SUPPORTED_MODES:
        return image
    if image.mode in _PREMULTIPLIED:  # Pillow converts premultiplied alpha only to its straight twin
        image = image.convert(_PREMULTIPLIED[image.mode])
    if image.mode in ("LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        return image.convert("RGBA")
    if image.mode in _WIDE_GREY:
        return _grey8(image)
    if image.mode == "1":  # black and white (a mask, say): 0/255 grey, a third of RGB's bytes
        return image.convert("L")
    return image.convert("RGB")


def _grey8(image: Image.Image) -> Image.Image:
    """16- or 32-bit grey to 8 bits (0..65535, or 0..1 for floats, to 0..255), a band of rows at a time: an
    image-wide float64 temporary would cost 8 bytes per pixel, several times the image."""
    w, h = image.size
    scale = 255.0 if image.mode == "F" else 255.0 / 65535.0
    out = np.empty((h, w), dtype=np.uint8)
    rows = max(1, BAND_PIXELS // max(1, w))
    for top in range(0, h, rows):
        band = np.asarray(image.crop((0, top, w, min(h, top + rows))), dtype=np.float32) * np.float32(scale)
        out[top:top + band.shape[0]] = np.clip(np.rint(band, out=band), 0, 255, out=band)
    return Image.fromarray(out, "L")


def split_alpha(image: Image.Image) -> tuple[Image.Image, Optional[Image.Image]]:
    """RGB working copy plus the untouched alpha channel (or None)."""
    if image.mode == "RGBA":
        return image.convert("RGB"), image.getchannel("A")
    return image.convert("RGB"), None


def working_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """Scale ``(w, h)`` so the long side is ``long_side``, keeping the aspect ratio."""
    w, h = size
    scale = long_side / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def to_tensor(image: Image.Image, size: Optional[tuple[int, int]] = None) -> torch.Tensor:
    """RGB PIL image → float tensor (1, 3, H, W) on a 0..255 scale."""
    if size is not None and image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    array = np.asarray(image.convert("RGB"), dtype=np.float32)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).unsqueeze(0)


def to_image(tensor: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) 0..255 tensor → RGB PIL image (clamped and rounded)."""
    array = tensor.detach().float().clamp(0, 255).round().squeeze(0).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array.astype(np.uint8), "RGB")


# --- colour ---------------------------------------------------------------------------------------
# ITU-R BT.601 YCbCr (full range) with 0..255 inputs; PIL's "YCbCr" mode uses the same matrix.
# Plain numbers, made tensors per call: a tensor made at import would fix torch's allocator settings before
# nst_core.memory sets them (huge pages; tests/nst_core/test_memory_env.py).
_RGB_TO_YCC = ((0.299, 0.587, 0.114),
               (-0.168736, -0.331264, 0.5),
               (0.5, -0.418688, -0.081312))


def rgb_to_ycc(rgb: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", torch.tensor(_RGB_TO_YCC).to(rgb), rgb)


def ycc_to_rgb(ycc: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", torch.linalg.inv(torch.tensor(_RGB_TO_YCC)).to(ycc), ycc)


def luminance(rgb: torch.Tensor) -> torch.Tensor:
    """(1, 3, H, W) → (1, 3, H, W) grey image holding the luma in every channel."""
    return rgb_to_ycc(rgb)[:, :1].expand(-1, 3, -1, -1).contiguous()


def match_luminance(style_grey: torch.Tensor, content_grey: torch.Tensor) -> torch.Tensor:
    """Shift and scale the style's luma to the content's mean and standard deviation."""
    s_mean, s_std = style_grey.mean(), style_grey.std().clamp_min(1e-5)
    return (style_grey - s_mean) / s_std * content_grey.std() + content_grey.mean()


def combine_luma_chroma(luma_source: torch.Tensor, chroma_source: torch.Tensor) -> torch.Tensor:
    """Y of the first image with Cb, Cr of the second (same size)."""
    y = rgb_to_ycc(luma_source)[:, :1]
    cbcr = rgb_to_ycc(chroma_source)[:, 1:]
    return ycc_to_rgb(torch.cat([y, cbcr], dim=1))


def match_color_statistics(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Linear colour transfer: give the style pixels the content's mean and covariance.

    ``x' = A (x − μ_s) + μ_c`` with ``A = Σ_c^½ Σ_s^−½`` (symmetric square roots), which keeps the
    style's structure while adopting the content's palette.
    """
    def stats(img):
        flat = img.reshape(3, -1).cpu().double()  # float64 on the CPU: MPS has no float64, and it is tiny
        mean = flat.mean(dim=1, keepdim=True)
        centred = flat - mean
        cov = centred @ centred.T / flat.shape[1] + torch.eye(3, dtype=flat.dtype) * 1e-3
        return flat, mean, cov

    def sqrtm(m, inverse=False):
        values, vectors = torch.linalg.eigh(m)
        values = values.clamp_min(1e-6).pow(-0.5 if inverse else 0.5)
        return vectors @ torch.diag(values) @ vectors.T

    flat_s, mean_s, cov_s = stats(style)
    _, mean_c, cov_c = stats(content)
    transform = sqrtm(cov_c) @ sqrtm(cov_s, inverse=True)
    matched = transform @ (flat_s - mean_s) + mean_c
    return matched.reshape(style.shape).to(device=style.device, dtype=style.dtype).clamp(0, 255)
