"""A job's pictures in the form the optimization works on, and the finished picture composed from the
optimized image: colours, size, alpha and the content's own pixels where no style reaches."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

import torch
import torch.nn.functional as F
from PIL import Image

from . import images
from .contract.spec import JobSpec, Region
from .regions import styled_cover

PREVIEW_PIXELS = 2 ** 20  # previews of larger scales are reduced to about this many pixels


@dataclass(frozen=True)
class Pictures:
    """RGB content (its alpha kept aside, its mode remembered), the style groups with RGB styles and L masks,
    and the RGB init image."""

    mode: str
    content: Image.Image
    alpha: Optional[Image.Image]
    groups: tuple[Region, ...]  # as the job's: the main group, then each region
    init: Optional[Image.Image]

    @classmethod
    def of(cls, job: JobSpec) -> "Pictures":
        rgb, alpha = images.split_alpha(images.normalize_mode(job.content))

        def group(g: Region) -> Region:
            return replace(g, mask=None if g.mask is None else g.mask.convert("L"),
                           styles=tuple(replace(s, image=images.normalize_mode(s.image).convert("RGB"))
                                        for s in g.styles))

        init = images.normalize_mode(job.init_image).convert("RGB") if job.init_image is not None else None
        return cls(job.content.mode, rgb, alpha, tuple(map(group, job.groups)), init)


def snapshot(image: torch.Tensor) -> torch.Tensor:
    """A copy of the image being optimized (L-BFGS updates it in place), reduced to about PREVIEW_PIXELS."""
    h, w = image.shape[2:]
    if h * w <= PREVIEW_PIXELS:
        return image.detach().clone()
    factor = (PREVIEW_PIXELS / (h * w)) ** 0.5
    return F.interpolate(image.detach(), size=(max(1, int(h * factor)), max(1, int(w * factor))), mode="area")


def picture(image: torch.Tensor, pictures: Pictures, preserve_colors: str, full_size: bool,
            final: bool = False) -> Image.Image:
    """The optimized image as a picture in the content's mode: at the content's size (``full_size``) or its
    own; ``final`` keeps the content's pixels where no style reaches."""
    target = pictures.content.size if full_size else (image.shape[3], image.shape[2])
    if preserve_colors == "luminance":
        # Upscale the optimized luma, then take chroma from the content at the output size.
        grey = images.to_image(image)
        if grey.size != target:
            grey = grey.resize(target, Image.Resampling.LANCZOS)
        chroma = images.to_tensor(pictures.content, target)
        rgb = images.to_image(images.combine_luma_chroma(images.to_tensor(grey), chroma))
    else:
        rgb = images.to_image(image)
        if rgb.size != target:
            rgb = rgb.resize(target, Image.Resampling.LANCZOS)
    if final:
        rgb = keep_unstyled(rgb, pictures)
    if pictures.mode == "L":
        return rgb.convert("L")
    alpha = pictures.alpha
    if alpha is not None:
        rgb.putalpha(alpha if alpha.size == rgb.size else alpha.resize(rgb.size, Image.Resampling.LANCZOS))
    return rgb


def keep_unstyled(rgb: Image.Image, pictures: Pictures) -> Image.Image:
    """The finished picture with the content's own pixels where no style reaches (regions.styled_cover)."""
    regions = pictures.groups[1:]
    cover = styled_cover([r.mask for r in regions], [bool(g.styles) for g in pictures.groups]) if regions else None
    if cover is None:
        return rgb
    content = pictures.content
    if content.size != rgb.size:
        content = content.resize(rgb.size, Image.Resampling.LANCZOS)
        cover = cover.resize(rgb.size, Image.Resampling.BOX)
    return Image.composite(rgb, content, cover)
