"""``nst animate INPUT STYLE… -o OUTPUT``: a clip stylized without flicker (nst_core.sequence), on a server or
with ``--local``. INPUT and OUTPUT: an animated GIF/WebP/APNG, a folder or glob of pictures (server.frames_io);
durations and loop count are kept. Every ``stylize`` option applies to every frame. Finished frames are
written as they arrive when OUTPUT is a folder, so an interrupted run keeps them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nst_core.contract.sequence_spec import (DEFAULT_LATER_STEPS, DEFAULT_TEMPORAL_WEIGHT, MAX_FRAMES, MAX_TEMPORAL_WEIGHT,
                                    SequenceOptions)

from . import frames_io
from .progress_bar import ProgressBar, format_seconds

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def add_parser(sub, add_option_flags, region_help: str, number) -> None:
    from nst_core.contract.limits import MAX_REGION_STRENGTH, MAX_REGIONS

    p = sub.add_parser("animate", help="stylize an animation's frames so that what stays still stays still")
    p.add_argument("input", help="an animated GIF, WebP or APNG, a folder of pictures, or a glob ('clip/*.png')")
    p.add_argument("styles", nargs="+", metavar="STYLE", help="one or more style image files")
    p.add_argument("-o", "--output", required=True,
                   help="an animated .gif, .webp or .png (APNG), or a folder for frame-NNNN.png files")
    p.add_argument("--style-blend", dest="style_blend", type=_floats, default=None,
                   help="one weight per style image (default: equal)")
    p.add_argument("--region", dest="regions", nargs=2, action="append", default=[], metavar=("MASK", "STYLE"),
                   help=region_help % (MAX_REGIONS, MAX_REGION_STRENGTH))
    add_option_flags(p)
    p.add_argument("--independent", action="store_true",
                   help="stylize every frame on its own (the flickering baseline, for comparison)")
    p.add_argument("--temporal-weight", type=number(float, 0, MAX_TEMPORAL_WEIGHT), default=DEFAULT_TEMPORAL_WEIGHT,
                   help=f"how firmly a frame holds the previous one where the flow is certain "
                        f"(default {DEFAULT_TEMPORAL_WEIGHT:g})")
    p.add_argument("--later-steps", type=number(float, 0.01, 1), default=DEFAULT_LATER_STEPS,
                   help=f"share of the final steps for frames after the first (default {DEFAULT_LATER_STEPS:g})")
    p.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    p.add_argument("--local", action="store_true", help="run the engine in this process instead of on a server")
    p.add_argument("--server", help="server address (default: $NST_SERVER or the local default)")
    p.add_argument("--token", help="the server's token (default: $NST_TOKEN)")
    p.add_argument("--device", help="--local only: cuda, mps or cpu (default: the best available)")
    p.add_argument("--weights", default="original", help="--local only: original, torchvision or a file path")


def _floats(text: str) -> tuple:
    try:
        return tuple(float(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None


class _Output:
    """Where frames go: a folder gets each frame as it finishes; an animated file is written at the end."""

    def __init__(self, target: str, force: bool):
        self.target = Path(target)
        self.folder = frames_io.is_folder_output(target)
        self.force = force

    def check(self) -> str:
        """An error message, or ""."""
        if self.folder:
            if self.target.exists() and any(self.target.iterdir()) and not self.force:
                return f"{self.target} holds files; pass --force to write into it"
            return ""
        if self.target.exists() and not self.force:
            return f"{self.target} exists; pass --force to overwrite it"
        if not self.target.parent.is_dir():
            return f"folder {self.target.parent} does not exist"
        return ""

    def frame(self, index: int, image) -> None:
        if self.folder:
            self.target.mkdir(parents=True, exist_ok=True)
            _write(self.target / frames_io.folder_frame_name(index), frames_io.frame_png(image))

    def finish(self, frames, clip: frames_io.Clip) -> None:
        if not self.folder:
            _write(self.target, frames_io.encode_animation(frames, clip.durations[:len(frames)], clip.loop,
                                                           self.target.suffix))


def _write(path: Path, data: bytes) -> None:
    from .cli import _write as write_atomically

    write_atomically(path, data)


def animate(args) -> int:
    from nst_core.contract.errors import InvalidInput

    output = _Output(args.output, args.force)
    problem = output.check()
    if problem:
        print(f"nst animate: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        clip = frames_io.read_clip(args.input, max_frames=MAX_FRAMES)
    except InvalidInput as exc:
        print(f"nst animate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    sequence = SequenceOptions(args.temporal_weight, args.later_steps, args.independent)
    if args.local:
        return _animate_local(args, clip, sequence, output)
    from .animate_remote import animate_remote

    return animate_remote(args, clip, sequence, output)


class FrameBar:
    """The stylize progress bar, restarted per frame with a "frame k of n" line."""

    def __init__(self):
        self.bar = ProgressBar()
        self.frame = 0

    def update(self, frame: int, frames: int, progress, eta: float) -> None:
        if frame != self.frame:
            self.bar.done()
            self.bar = ProgressBar()
            self.frame = frame
            self.bar.message(f"frame {frame} of {frames} (ETA for all: {format_seconds(eta)})")
        self.bar.update(progress)


def _animate_local(args, clip: frames_io.Clip, sequence: SequenceOptions, output: _Output) -> int:
    from nst_core.engine import Engine
    from nst_core.contract.errors import InvalidInput, NSTError
    from nst_core.images import decode_image
    from nst_core.contract.options import StyleOptions, with_overrides
    from nst_core.sequence import stylize_sequence
    from nst_core.contract.spec import RegionInput

    from .cli import _options, _read, _region

    bar = FrameBar()
    done: list = []

    def on_frame(index: int, result) -> None:
        done.append(result.image)
        output.frame(index, result.image)

    try:
        styles = [decode_image(_read(s, "style image"), field=f"styles[{i}]") for i, s in enumerate(args.styles)]
        regions = []
        for r, (mask, spec) in enumerate(args.regions):
            files, blend, strength = _region(spec)
            regions.append(RegionInput(decode_image(_read(mask, "region mask"), field=f"regions[{r}].mask"),
                                       [decode_image(_read(f, "region style"), field=f"regions[{r}].styles[{i}]")
                                        for i, f in enumerate(files)], style_blend=blend, strength=strength))
        options = with_overrides(StyleOptions(), **_options(args))
        engine = Engine(weights=args.weights, device=args.device)
        stylize_sequence(engine, clip.frames, styles, options, sequence=sequence, blend=args.style_blend,
                         regions=regions, on_frame=on_frame,
                         progress=lambda p: bar.update(p.frame, p.frames, p.progress, p.eta_seconds))
    except (InvalidInput, argparse.ArgumentTypeError) as exc:
        bar.bar.done()
        print(f"nst animate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NSTError as exc:
        bar.bar.done()
        print(f"nst animate: {exc}", file=sys.stderr)
        return _partial(done, clip, output, EXIT_ERROR)
    except KeyboardInterrupt:
        bar.bar.done()
        print("nst animate: cancelled", file=sys.stderr)
        return _partial(done, clip, output, EXIT_INTERRUPTED)
    bar.bar.done()
    output.finish(done, clip)
    bar.bar.message(f"wrote {output.target} ({len(done)} frames)")
    return 0


def _partial(done: list, clip: frames_io.Clip, output: _Output, code: int) -> int:
    """After a failure or cancel: the finished frames are kept (a folder has them already; an animated file
    gets them as ``NAME.partial.EXT``)."""
    if done and not output.folder:
        partial = output.target.with_name(f"{output.target.stem}.partial{output.target.suffix}")
        _write(partial, frames_io.encode_animation(done, clip.durations[:len(done)], clip.loop,
                                                   output.target.suffix))
        print(f"nst animate: kept the {len(done)} finished frame(s) in {partial}", file=sys.stderr)
    return code
