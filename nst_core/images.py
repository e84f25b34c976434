"""Image decoding, tensor conversion, resizing and colour handling (luminance, histogram matching)."""
from __future__ import annotations

import io
import re
import warnings
from typing import Optional

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .errors import InvalidInput
from .limits import DEFAULT_MAX_PIXELS
_SUPPORTED_MODES = ("RGB", "RGBA", "L")
# The documented formats. Pillow can open many more (GIF, EPS through Ghostscript, ...): untrusted bytes
# must reach no decoder nobody asked for.
FORMATS = ("PNG", "JPEG", "WEBP", "TIFF")
FORMAT_NAMES = "PNG, JPEG, WebP or TIFF"
_OBJECT_REPR = re.compile(r"<[^<>]* at 0x[0-9a-fA-F]+>")


def _reason(exc: BaseException) -> str:
    """A decoder's complaint, fit for a client: no object reprs, no unbounded length."""
    text = _OBJECT_REPR.sub("the data", str(exc)).strip() or "no details"
    return f"{exc.__class__.__name__}: {text if len(text) <= 120 else text[:120] + '…'}"


def open_image(data: bytes, *, field: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open PNG/JPEG/WebP/TIFF bytes, reading only the header, and check the size. No pixel is decoded;
    ``load()`` (or :func:`decode_image`) does that."""
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
    return image


def decode_image(data: bytes, *, field: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode PNG/JPEG/WebP/TIFF bytes. The size is checked from the header *before* pixels are decoded."""
    image = open_image(data, field=field, max_pixels=max_pixels)
    try:
        image.load()
    except Exception as exc:  # truncated or corrupt pixel data
        raise InvalidInput(field, f"cannot decode this {image.format} image ({_reason(exc)})") from None
    return normalize_mode(image)


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
    if image.mode in ("LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        return image.convert("RGBA")
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        scale = 255.0 / 65535.0 if image.mode.startswith("I") else 255.0
        return Image.fromarray(np.clip(array * scale, 0, 255).astype(np.uint8), "L")
    return image.convert("RGB")


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
_RGB_TO_YCC = torch.tensor([[0.299, 0.587, 0.114],
                            [-0.168736, -0.331264, 0.5],
                            [0.5, -0.418688, -0.081312]])
_YCC_TO_RGB = torch.linalg.inv(_RGB_TO_YCC)


def rgb_to_ycc(rgb: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", _RGB_TO_YCC.to(rgb), rgb)


def ycc_to_rgb(ycc: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", _YCC_TO_RGB.to(ycc), ycc)


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
