"""Frames in and out of files for ``nst animate``: an animated GIF, WebP or APNG, a folder of pictures, or a
glob pattern; out the same kinds, or a folder of PNGs. Frame durations (ms) and the loop count are kept.
Pillow only, no torch (the client path starts fast).
"""
from __future__ import annotations

import glob
import io
from dataclasses import dataclass, field
from pathlib import Path
from PIL import Image, ImageSequence

from nst_core.contract.errors import InvalidInput

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".gif", ".bmp")
ANIMATED_SUFFIXES = (".gif", ".webp", ".png", ".apng")
DEFAULT_DURATION = 100  # ms per frame when the input says nothing (a folder of pictures)


@dataclass
class Clip:
    frames: list[Image.Image]
    durations: list[int] = field(default_factory=list)  # ms, one per frame
    loop: int = 0  # 0: forever
    names: list[str] = field(default_factory=list)  # where each frame came from, for messages


def read_clip(source: str, *, max_frames: int) -> Clip:
    """The frames of an animated file, a folder (pictures in name order) or a glob pattern. A frame that does
    not decode is InvalidInput naming ``frames[k]`` and its file; more than ``max_frames`` is refused before
    any is decoded."""
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in PICTURE_SUFFIXES)
        return _from_files([str(p) for p in files], source, max_frames)
    if any(ch in source for ch in "*?["):
        return _from_files(sorted(glob.glob(source)), source, max_frames)
    if not path.is_file():
        raise InvalidInput("input", f"{source!r} is no file, folder or glob pattern that matches anything")
    frames: list[Image.Image] = []
    try:
        image = Image.open(path)
        count = getattr(image, "n_frames", 1)
        if count > max_frames:
            raise InvalidInput("frames", f"{source} has {count} frames, at most {max_frames} per sequence")
        durations = []
        for k, frame in enumerate(ImageSequence.Iterator(image)):
            frames.append(_plain(frame.copy()))  # copying loads the frame, which sets its duration (WebP)
            durations.append(int(frame.info.get("duration", image.info.get("duration", DEFAULT_DURATION))
                                 or DEFAULT_DURATION))
        loop = int(image.info.get("loop", 0) or 0)
    except InvalidInput:
        raise
    except Exception as exc:
        raise InvalidInput(f"frames[{len(frames)}]",
                           f"{source}: cannot decode ({exc})") from None
    return Clip(frames, durations, loop, [f"{source} frame {k + 1}" for k in range(len(frames))])


def _from_files(files: list[str], source: str, max_frames: int) -> Clip:
    if not files:
        raise InvalidInput("frames", f"{source!r} holds no pictures: the sequence is empty")
    if len(files) > max_frames:
        raise InvalidInput("frames", f"{source!r} holds {len(files)} pictures, at most {max_frames} per sequence")
    frames = []
    for k, name in enumerate(files):
        try:
            with Image.open(name) as image:
                image.load()
                frames.append(_plain(image.copy()))
        except Exception as exc:
            raise InvalidInput(f"frames[{k}]", f"{name}: cannot decode ({exc})") from None
    return Clip(frames, [DEFAULT_DURATION] * len(frames), 0, files)


def _plain(image: Image.Image) -> Image.Image:
    """RGB, or RGBA where the frame has transparency (palettes and grey become RGB/RGBA)."""
    if image.mode == "RGBA" and image.getchannel("A").getextrema() == (255, 255):
        return image.convert("RGB")  # WebP decodes every frame as RGBA: opaque ones stay RGB
    if image.mode in ("RGB", "RGBA"):
        return image
    has_alpha = image.mode in ("LA", "PA") or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def is_folder_output(target: str) -> bool:
    path = Path(target)
    return target.endswith(("/", "\\")) or path.is_dir() or path.suffix.lower() not in ANIMATED_SUFFIXES


def encode_animation(frames: list[Image.Image], durations: list[int], loop: int, suffix: str) -> bytes:
    """One animated file: GIF (adaptive palette per frame), lossless WebP, or APNG."""
    buffer = io.BytesIO()
    kind = {".gif": "GIF", ".webp": "WEBP", ".png": "PNG", ".apng": "PNG"}[suffix.lower()]
    extra = {"lossless": True, "quality": 90} if kind == "WEBP" else {}
    if kind == "GIF":
        extra = {"disposal": 2 if any(f.mode == "RGBA" for f in frames) else 1, "optimize": False}
    first, *rest = frames
    first.save(buffer, kind, save_all=True, append_images=rest, duration=list(durations), loop=loop, **extra)
    return buffer.getvalue()


def frame_png(frame: Image.Image) -> bytes:
    buffer = io.BytesIO()
    frame.save(buffer, "PNG")
    return buffer.getvalue()


def folder_frame_name(index: int) -> str:
    return f"frame-{index + 1:04d}.png"


__all__ = ["Clip", "read_clip", "is_folder_output", "encode_animation", "frame_png", "folder_frame_name"]
