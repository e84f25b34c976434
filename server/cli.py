"""The ``nst`` command: ``serve``, ``stylize`` (through the server, or ``--local``) and ``install-gimp-plugin``.

Only ``serve`` and ``stylize --local`` import the engine (and so torch), and only when they run: the client
path must start fast because the GIMP plug-in spawns it for every call.
"""
from __future__ import annotations

import argparse
import io
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Optional

from .config import (DEFAULT_CACHE_MB, DEFAULT_GRACE_SECONDS, DEFAULT_MAX_PIXELS, DEFAULT_QUEUE_MB,
                     DEFAULT_QUEUE_SIZE, MAX_QUEUE_SIZE, MAX_SETTING_MB, MAX_SETTING_PIXELS, check_address,
                     check_server_name, default_address, default_token)
from nst_core.contract.options import option_defaults, option_specs
from nst_core.contract.spec import RegionInput
from .progress_bar import ProgressBar, format_seconds

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _list_of(kind):
    def parse(text: str) -> tuple:
        try:
            return tuple(kind(item.strip()) for item in text.split(",") if item.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}") from None
    return parse


def _number(kind, low, high):
    """An argparse type: a ``kind`` number from ``low`` to ``high`` (finite), else a usage error (exit 2)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not low <= value <= high:  # NaN fails this too
            raise argparse.ArgumentTypeError(f"must be from {low:g} to {high:g}, got {text}")
        return value
    return parse


def _address(text: str) -> str:
    try:
        return check_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _server_name(text: str) -> str:
    try:
        return check_server_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_FLAG_TYPES = {"int": dict(type=int), "float": dict(type=float), "layers": dict(type=_list_of(str)),
               "floats": dict(type=_list_of(float)), "bool": dict(action=argparse.BooleanOptionalAction)}


def _add_option_flags(p: argparse.ArgumentParser) -> None:
    """One flag per job option, from the engine's declaration (help, choices, defaults)."""
    for name, spec in option_specs().items():
        if not spec.cli:
            continue
        default = option_defaults()[name]
        shown = "the preset's" if default is None else ",".join(default) if isinstance(default, tuple) else default
        # A help text that states its own default (style_blend: "equal") keeps it, and only it.
        text = spec.help if "(default:" in spec.help else f"{spec.help} (default: {shown})"
        # argparse %-formats help texts: a literal "%" in an option's help must reach it doubled.
        kwargs = dict(_FLAG_TYPES.get(spec.kind, {}), default=None, help=text.replace("%", "%%"))
        if spec.choices:
            kwargs["choices"] = spec.choices
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, **kwargs)


REGION_HELP = (
    "a part of the picture with its own style (repeatable, at most %d): MASK an 8-bit grey image (mode L) "
    "of the content's size, 0 outside and 255 inside, soft in between; STYLE a style file, several joined "
    "by commas, each with an optional :WEIGHT, its blend weight (default: equal), or 'none' to keep the "
    "content there; append @STRENGTH to multiply the region's style term (0 to %g, default 1), e.g. "
    "--region sky.png starry.jpg@0.5 or --region sea.png a.jpg:3,b.jpg:1@2. Pixels in no region follow the "
    "main STYLE(s); 'none' as the only main STYLE keeps them as they are")


def _number_after(text: str, mark: str) -> tuple[str, Optional[float]]:
    """``HEAD<mark>NUMBER`` -> (HEAD, NUMBER); anything else (a file name with ``mark`` in it, such as
    ``C:\\x.jpg``) -> (text, None)."""
    head, found, tail = text.rpartition(mark)
    if found:
        try:
            return head, float(tail)
        except ValueError:
            pass
    return text, None


def _region(mask: str, text: str) -> RegionInput:
    """MASK and STYLE[:WEIGHT][,STYLE[:WEIGHT]…][@STRENGTH] or none[@STRENGTH] -> the region with its files
    (blend weights None for equal ones, strength None for 1)."""
    head, strength = _number_after(text, "@")
    if head.strip().lower() == "none":
        return RegionInput(mask, [], None, strength)
    parts = [_number_after(part, ":") for part in head.split(",") if part]
    if not parts or any(not name for name, _ in parts):
        raise argparse.ArgumentTypeError(f"--region: expected STYLE[:WEIGHT][,STYLE[:WEIGHT]…][@STRENGTH] or "
                                         f"none, got {text!r}")
    weights = [w for _, w in parts]
    if any(w is None for w in weights) and not all(w is None for w in weights):
        raise argparse.ArgumentTypeError(f"--region {text!r}: give every style of the region a :WEIGHT, or none")
    return RegionInput(mask, [name for name, _ in parts], None if weights[0] is None else weights, strength)


def _add_job_options(p: argparse.ArgumentParser) -> None:
    from nst_core.contract.limits import MAX_REGION_STRENGTH, MAX_REGIONS

    p.add_argument("content", help="content image file (PNG, JPEG, WebP, TIFF)")
    p.add_argument("styles", nargs="+", metavar="STYLE",
                   help="one or more style image files ('none': only the regions are styled)")
    p.add_argument("-o", "--output", required=True, help="where to write the result (PNG)")
    p.add_argument("--style-blend", dest="style_blend", type=_list_of(float), default=None,
                   help="one weight per style image (default: equal)")
    p.add_argument("--region", dest="regions", nargs=2, action="append", default=[], metavar=("MASK", "STYLE"),
                   help=REGION_HELP % (MAX_REGIONS, MAX_REGION_STRENGTH))
    _add_option_flags(p)
    p.add_argument("--init-image", help="starting image file, with --init image")
    p.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    p.add_argument("--preview-dir", help="write progress previews here as preview-NNNN.png")
    p.add_argument("--local", action="store_true", help="run the engine in this process instead of on a server")
    p.add_argument("--server", help=f"server address, or a fleet: host:port,host:port or dns:///name:port "
                                    f"(default: $NST_SERVER or {default_address()})")
    p.add_argument("--token", help="the server's token (default: $NST_TOKEN)")
    p.add_argument("--device", help="--local only: cuda, mps or cpu (default: the best available)")
    p.add_argument("--weights", default="original", help="--local only: original, torchvision or a file path")
    p.add_argument("--preprocessing", choices=("caffe", "torch"), help="--local only: for a weights file path")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nst", description="Neural style transfer: server, client and tools.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the style server (loads VGG19 once and keeps it resident)")
    serve.add_argument("--address", default=None, type=_address,
                       help="host:port or unix:/path (default: $NST_SERVER or 127.0.0.1:50051)")
    serve.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
    serve.add_argument("--weights", default="original", help="original (default), torchvision or a file path")
    serve.add_argument("--preprocessing", choices=("caffe", "torch"),
                       help="input preprocessing a weights file path was trained with (required for a path)")
    serve.add_argument("--token", help="require this bearer token on every call but health (default: $NST_TOKEN)")
    serve.add_argument("--queue-size", type=_number(int, 0, MAX_QUEUE_SIZE), default=DEFAULT_QUEUE_SIZE,
                       help="jobs that may wait (default 8)")
    serve.add_argument("--max-pixels", type=_number(int, 1, MAX_SETTING_PIXELS), default=DEFAULT_MAX_PIXELS,
                       help="largest image, width*height")
    serve.add_argument("--max-request-pixels", type=_number(int, 0, 2 * MAX_SETTING_PIXELS), default=0,
                       help="largest width*height of a request's images together (default: twice --max-pixels)")
    serve.add_argument("--queue-mb", type=_number(float, 0, MAX_SETTING_MB), default=DEFAULT_QUEUE_MB,
                       help=f"image data waiting jobs may hold together, MiB (default {DEFAULT_QUEUE_MB})")
    serve.add_argument("--cache-mb", type=_number(int, 0, MAX_SETTING_MB), default=DEFAULT_CACHE_MB,
                       help="style-target cache size, MiB")
    serve.add_argument("--memory-budget-mb", type=_number(int, 1, MAX_SETTING_MB), default=None,
                       help="memory a job may use, the model included (on a CPU the process's RSS), MiB; jobs "
                            "are tiled to stay under it (default: 95%% of the GPU's free memory, or half the RAM)")
    serve.add_argument("--name", type=_server_name, default=None,
                       help="this server's name in a fleet, the end of its job ids (default: host name:port)")
    serve.add_argument("--grace", type=_number(float, 0, 86400), default=DEFAULT_GRACE_SECONDS,
                       help="seconds a running job may finish after SIGINT/SIGTERM before it is cancelled")

    stylize = sub.add_parser("stylize", help="stylize CONTENT with STYLE(s) and write a PNG")
    _add_job_options(stylize)
    from .animate import add_parser as add_animate  # `nst animate`: sequences, in their own module
    add_animate(sub, _add_option_flags, REGION_HELP, _number)

    envoy = sub.add_parser("envoy-config", help="print an Envoy configuration that puts SERVERs behind one address")
    envoy.add_argument("servers", nargs="+", metavar="SERVER",
                       help="host:port of each style server (a comma-separated list works too)")
    envoy.add_argument("--listen", default="0.0.0.0:50050", help="where Envoy listens (default 0.0.0.0:50050)")
    envoy.add_argument("--admin", help="address of Envoy's admin page (default: none)")
    envoy.add_argument("--max-request-bytes", type=_number(int, 1, 2**32 - 1), default=None,
                       help="largest request to pass on: the servers' limits.max_request_bytes (default: that "
                            "of a server with default limits, 528 MiB)")

    sub.add_parser("install-gimp-plugin", add_help=False, help="install the GIMP 3 plug-in (see its --help)")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "install-gimp-plugin":
        from gimp_plugin.installer import main as install  # written with the plug-in; imported only here

        return install(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        if args.address is None:  # $NST_SERVER is checked like the flag
            if "," in default_address() or default_address().startswith(("dns:", "ipv4:", "ipv6:")):
                parser.error(f"$NST_SERVER names a fleet of servers ({default_address()[:80]}); "
                             "give this server its own --address HOST:PORT")
            try:
                args.address = check_address(default_address())
            except ValueError as exc:
                parser.error(f"$NST_SERVER: {exc}")
        return serve(args)
    if args.command == "envoy-config":
        return envoy_config(args)
    if args.command == "animate":
        from .animate import animate
        return animate(args)
    return stylize(args)


def envoy_config(args) -> int:
    from . import envoy

    servers = [s.strip() for entry in args.servers for s in entry.split(",") if s.strip()]
    extra = {"max_request_bytes": args.max_request_bytes} if args.max_request_bytes else {}
    try:
        text = envoy.config_text(servers, args.listen, admin=args.admin, **extra)
    except ValueError as exc:
        print(f"nst envoy-config: {exc}", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(text)
    return 0


# -- serve ---------------------------------------------------------------------------------------------


def serve(args) -> int:
    # Handlers first: a stop request while torch is imported or the model loads must end cleanly too.
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        return _serve(args, stop)
    finally:
        # As Python exits it restores the default action of each signal it handled, so an impatient
        # supervisor's next SIGTERM would kill the process then; it leaves ignored signals ignored.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)


def _serve(args, stop: threading.Event) -> int:
    from .service import ServerStartError, start_server  # imports the engine (torch)

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    if stop.is_set():
        return 0
    address = args.address
    token = args.token or default_token()
    try:
        handle = start_server(address=address, weights=args.weights, device=args.device,
                              preprocessing=args.preprocessing, token=token,
                              queue_size=args.queue_size, max_pixels=args.max_pixels,
                              max_request_pixels=args.max_request_pixels, queue_mb=args.queue_mb,
                              cache_mb=args.cache_mb, memory_budget_mb=args.memory_budget_mb, wait=False,
                              name=args.name)
    except ValueError as exc:  # settings that do not fit together (max_request_pixels below max_pixels)
        print(f"nst serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ServerStartError as exc:
        print(f"nst serve: {exc}", file=sys.stderr)
        return EXIT_ERROR
    logging.getLogger("nst.server").info("loading %s weights and warming up (health NOT_SERVING until done)",
                                         args.weights)
    while not handle.wait_ready(0.2):
        if handle.load_error is not None:
            print(f"nst serve: cannot load the model: {handle.load_error}", file=sys.stderr)
            handle.stop(0)
            return EXIT_ERROR
        if stop.is_set():
            handle.stop(0)  # waits for the loading step under way: exiting during it would abort
            return 0
    engine = handle.engine
    print(f"listening on {handle.address}", file=sys.stderr, flush=True)
    logging.getLogger("nst.server").info("name %s, device %s, queue %d, auth %s", handle.name, engine.device,
                                         args.queue_size, "on" if token else "off")
    logging.getLogger("nst.server").info("precision %s", engine.auto_precision_reason)
    while not stop.wait(0.5):
        pass
    logging.getLogger("nst.server").info("shutting down (grace %.1f s)", args.grace)
    handle.stop(args.grace)
    return 0


# -- stylize -------------------------------------------------------------------------------------------


def _options(args) -> dict:
    """The job options given on the command line (unset ones are left to the preset and the engine)."""
    return {name: getattr(args, name) for name, spec in option_specs().items()
            if spec.cli and not spec.on_request and getattr(args, name) is not None}


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SystemExit(f"nst stylize: cannot read {what} {path!r}: {exc.strerror or exc}")


def _write(path: Path, data: bytes) -> None:
    # Write beside the target, then rename: a cancelled run never leaves a half-written file behind.
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def stylize(args) -> int:
    out = Path(args.output)
    if out.exists() and not args.force:
        print(f"nst stylize: {out} exists; pass --force to overwrite it", file=sys.stderr)
        return EXIT_USAGE
    if not out.parent.is_dir():
        print(f"nst stylize: folder {out.parent} does not exist", file=sys.stderr)
        return EXIT_USAGE
    preview_dir = Path(args.preview_dir) if args.preview_dir else None
    if preview_dir is not None:
        preview_dir.mkdir(parents=True, exist_ok=True)
    content = _read(args.content, "content image")
    main = [] if [s.lower() for s in args.styles] == ["none"] else args.styles
    styles = [_read(s, "style image") for s in main]
    regions = []
    for mask, style in args.regions:
        try:
            region = _region(mask, style)
        except argparse.ArgumentTypeError as exc:
            print(f"nst stylize: {exc}", file=sys.stderr)
            return EXIT_USAGE
        regions.append(replace(region, mask=_read(mask, "region mask"),
                               styles=[_read(f, "region style") for f in region.styles]))
    init = _read(args.init_image, "init image") if args.init_image else None
    if args.local:
        return _stylize_local(args, content, styles, regions, init, out, preview_dir)
    return _stylize_remote(args, content, styles, regions, init, out, preview_dir)


def _stylize_remote(args, content: bytes, styles: list[bytes], regions: list[RegionInput], init: Optional[bytes],
                    out: Path, preview_dir: Optional[Path]) -> int:
    from .client import ClientError, Finished, ImageData, Preview, Progress, Queued, Result, Started, StyleClient, Waiting

    bar = ProgressBar()
    previews = 0
    try:
        client = StyleClient(args.server, args.token)
    except ClientError as exc:
        where = "--server" if args.server is not None else "$NST_SERVER"
        print(f"nst stylize: {where}: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    with client:
        stream = client.stylize(ImageData.encoded(content), [ImageData.encoded(s) for s in styles],
                                style_blend=args.style_blend, options=_options(args),
                                init_image=ImageData.encoded(init) if init else None,
                                preview=preview_dir is not None,
                                regions=[replace(r, mask=ImageData.encoded(r.mask),
                                                 styles=tuple(map(ImageData.encoded, r.styles))) for r in regions])
        try:
            for event in stream:
                if isinstance(event, Queued) and event.position > 0:
                    bar.message(f"queued: {event.position} job(s) ahead")
                elif isinstance(event, Waiting):
                    bar.message(f"all {event.servers} servers of the fleet are busy: waiting for a free one")
                elif isinstance(event, Started):
                    bar.message(f"job {event.job_id} started on {event.server_name or client.address}")
                elif isinstance(event, Progress):
                    bar.update(event)
                elif isinstance(event, Preview):
                    previews += 1
                    (preview_dir / f"preview-{previews:04d}.png").write_bytes(event.png)
                elif isinstance(event, Result):
                    _write(out, event.data)
                elif isinstance(event, Finished):
                    bar.done()
                    hit = ", style cache hit" if event.cache_hit else ""
                    bar.message(f"wrote {out} ({event.steps} steps in {format_seconds(event.wall_time_seconds)}{hit})")
        except ClientError as exc:
            bar.done()
            print(f"nst stylize: {exc.message}", file=sys.stderr)
            return EXIT_ERROR
        except KeyboardInterrupt:
            stream.close()  # cancels the job on the server
            bar.done()
            print("nst stylize: cancelled", file=sys.stderr)
            return EXIT_INTERRUPTED
    return 0


def _stylize_local(args, content: bytes, styles: list[bytes], regions: list[RegionInput], init: Optional[bytes],
                   out: Path, preview_dir: Optional[Path]) -> int:
    from nst_core.contract import spec
    from nst_core.engine import Engine
    from nst_core.contract.errors import InvalidInput, NSTError
    from nst_core.images import decode_image
    from nst_core.contract.options import StyleOptions, with_overrides

    bar = ProgressBar()
    last_preview = [0.0, 0]

    def on_progress(p) -> None:
        bar.update(p)
        if preview_dir is not None and p.preview is not None and time.monotonic() - last_preview[0] >= 1.0:
            last_preview[0] = time.monotonic()
            last_preview[1] += 1
            p.preview().save(preview_dir / f"preview-{last_preview[1]:04d}.png")

    try:
        job = spec.build(content, styles, with_overrides(StyleOptions(), **_options(args)), blend=args.style_blend,
                         regions=regions, init_image=init,
                         read=lambda field, data: decode_image(data, field=field, max_pixels=DEFAULT_MAX_PIXELS))
        engine = Engine(weights=args.weights, device=args.device, preprocessing=args.preprocessing)
        result = engine.run(job, progress=on_progress)
    except InvalidInput as exc:
        bar.done()
        print(f"nst stylize: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NSTError as exc:
        bar.done()
        print(f"nst stylize: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        bar.done()
        print("nst stylize: cancelled", file=sys.stderr)
        return EXIT_INTERRUPTED
    bar.done()
    buffer = io.BytesIO()
    result.image.save(buffer, "PNG")
    _write(out, buffer.getvalue())
    bar.message(f"wrote {out} ({result.steps} steps in {format_seconds(result.wall_time)})")
    return 0
