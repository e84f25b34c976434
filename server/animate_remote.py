"""``nst animate`` through a server (or a fleet: the whole sequence runs on one server): no torch here."""
from __future__ import annotations

import io
import sys

from PIL import Image

from . import frames_io
from .animate import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, FrameBar, _Output, _partial
from .progress_bar import format_seconds


def animate_remote(args, clip: frames_io.Clip, sequence, output: _Output) -> int:
    from .cli import _options, _read, _region
    from .client import ClientError, Finished, ImageData, Queued, Region, Started, StyleClient, Waiting
    from .events import Frame, SequenceProgress

    try:
        regions = []
        for mask, spec in args.regions:
            files, blend, strength = _region(spec)
            regions.append(Region(ImageData.encoded(_read(mask, "region mask")),
                                  tuple(ImageData.encoded(_read(f, "region style")) for f in files),
                                  style_blend=tuple(blend) if blend else None, strength=strength))
        client = StyleClient(args.server, args.token)
    except ClientError as exc:
        print(f"nst animate: {'--server' if args.server else '$NST_SERVER'}: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - a bad --region argument
        print(f"nst animate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    bar = FrameBar()
    done: list[Image.Image] = []
    with client:
        stream = client.stylize_sequence(
            [ImageData.encoded(frames_io.frame_png(f)) for f in clip.frames],
            [ImageData.encoded(_read(s, "style image")) for s in args.styles], style_blend=args.style_blend,
            options=_options(args), temporal_weight=sequence.temporal_weight, later_steps=sequence.later_steps,
            independent=sequence.independent, regions=regions)
        try:
            for event in stream:
                if isinstance(event, Queued) and event.position > 0:
                    bar.bar.message(f"queued: {event.position} job(s) ahead")
                elif isinstance(event, Waiting):
                    bar.bar.message(f"all {event.servers} servers of the fleet are busy: waiting for a free one")
                elif isinstance(event, Started):
                    bar.bar.message(f"sequence {event.job_id} started on {event.server_name or client.address}")
                elif isinstance(event, SequenceProgress):
                    bar.update(event.frame, event.frames, event.progress, event.eta_seconds)
                elif isinstance(event, Frame):
                    image = Image.open(io.BytesIO(event.data))
                    image.load()
                    done.append(image)
                    output.frame(event.index, image)
                elif isinstance(event, Finished):
                    bar.bar.done()
                    output.finish(done, clip)
                    bar.bar.message(f"wrote {output.target} ({len(done)} frames, {event.steps} steps in "
                                    f"{format_seconds(event.wall_time_seconds)})")
        except ClientError as exc:
            bar.bar.done()
            print(f"nst animate: {exc.message}", file=sys.stderr)
            return _partial(done, clip, output, EXIT_USAGE if exc.code == "INVALID_ARGUMENT" else EXIT_ERROR)
        except KeyboardInterrupt:
            stream.close()  # cancels the sequence on the server
            bar.bar.done()
            print("nst animate: cancelled", file=sys.stderr)
            return _partial(done, clip, output, EXIT_INTERRUPTED)
    return 0
