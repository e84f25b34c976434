"""Client library for the style server: connect, stylize with typed events, cancel, describe.

Only the standard library, grpcio (with its health-checking stubs), protobuf and the generated stubs are
used, so that it runs in a client-only install (the GIMP plug-in's helper) and starts without loading torch.

    with StyleClient() as client:
        for event in client.stylize(ImageData.encoded(content), [ImageData.encoded(style)]):
            if isinstance(event, Result):
                open("out.png", "wb").write(event.data)
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

import grpc
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos.nst.v1 import style_pb2, style_pb2_grpc

from .config import ERROR_FIELD_METADATA_KEY, TOKEN_METADATA_KEY, default_address, default_token
from .events import Event, Finished, Preview, Progress, Queued, Result, Started, from_message

__all__ = [
    "StyleClient", "ImageData", "Region", "ClientError", "StylizeStream", "OPTION_KEYS",
    "Queued", "Started", "Progress", "Preview", "Result", "Finished", "Event",
]

#: Keys accepted in ``StyleClient.stylize(options=...)``: the fields of the proto's ``StyleOptions``.
OPTION_KEYS = tuple(f.name for f in style_pb2.StyleOptions.DESCRIPTOR.fields)
_REPEATED_OPTIONS = {f.name for f in style_pb2.StyleOptions.DESCRIPTOR.fields if f.is_repeated}
_FORMATS = {"png": style_pb2.OUTPUT_FORMAT_PNG, "rgba": style_pb2.OUTPUT_FORMAT_RGBA}
_FORMAT_NAMES = {v: k for k, v in _FORMATS.items()} | {style_pb2.OUTPUT_FORMAT_UNSPECIFIED: "png"}
_JOB_STATE_PREFIX = "JOB_STATE_"
_UNARY_TIMEOUT = 30.0
# Requests carry whole images (an 8192 x 8192 RGBA is 256 MiB): lift gRPC's 4 MiB defaults on this side;
# the server enforces its own, advertised limit.
_CHANNEL_OPTIONS = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]


class ClientError(Exception):
    """A failed call. ``code`` is the gRPC status name ("INVALID_ARGUMENT", "UNAVAILABLE", …);
    ``field`` names the offending request field when the server said which one."""

    def __init__(self, code: str, message: str, field: Optional[str] = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.field = field


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


@dataclass(frozen=True)
class Region:
    """A part of the picture with its own style: ``mask`` an encoded 8-bit grey file (mode L) at the
    content's size, 0 outside and 255 inside; ``styles`` its style images (none: the content is kept
    there), ``style_blend`` one weight each (None: equal); ``strength`` multiplies its style term (None: 1)."""

    mask: ImageData
    styles: tuple[ImageData, ...] = ()
    style_blend: Optional[tuple[float, ...]] = None
    strength: Optional[float] = None

    def to_proto(self) -> style_pb2.Region:
        region = style_pb2.Region(mask=self.mask.to_proto(), styles=[s.to_proto() for s in self.styles],
                                  style_blend=list(self.style_blend or ()))
        if self.strength is not None:
            region.strength = self.strength
        return region


def _error_from_rpc(error: grpc.RpcError, address: str) -> ClientError:
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = (error.details() if hasattr(error, "details") else None) or str(error)
    trailing = dict(error.trailing_metadata() or ()) if hasattr(error, "trailing_metadata") else {}
    from_server = ERROR_FIELD_METADATA_KEY in trailing
    field = trailing.get(ERROR_FIELD_METADATA_KEY) or None
    if code == grpc.StatusCode.UNAVAILABLE and not from_server:
        # Nothing answered (or the connection broke): say how to get a server running.
        details = f"cannot reach the style server at {address} ({details}); start one with `nst serve`"
    elif code == grpc.StatusCode.UNAUTHENTICATED and not from_server:
        details = f"{details}; pass the server's token with --token or NST_TOKEN"
    return ClientError(code.name, details, field)


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


class StylizeStream:
    """Iterator over one job's events. Closing it (or dropping it) cancels the job on the server."""

    def __init__(self, call, address: str):
        self._call = call
        self._address = address
        self._chunks: list[bytes] = []
        self.job_id: Optional[str] = None

    def __iter__(self) -> "StylizeStream":
        return self

    def __next__(self) -> Event:
        while True:
            try:
                message = next(self._call)
            except StopIteration:
                raise
            except grpc.RpcError as error:
                raise _error_from_rpc(error, self._address) from None
            event = self._convert(message)
            if event is not None:
                return event

    def _convert(self, message: style_pb2.StylizeResponse) -> Optional[Event]:
        kind = message.WhichOneof("event")
        if kind == "queued":
            self.job_id = message.queued.job_id
            return Queued(message.queued.position, message.queued.job_id)
        if kind == "started":
            self.job_id = message.started.job_id
            return Started(message.started.job_id)
        if kind == "progress":
            return from_message(Progress, message.progress)
        if kind == "preview":
            return Preview(message.preview.png, message.preview.width, message.preview.height)
        if kind == "result":
            chunk = message.result
            self._chunks.append(chunk.data)
            if not chunk.last:
                return None
            data = b"".join(self._chunks)
            self._chunks = []
            if len(data) != chunk.total_bytes:
                raise ClientError("DATA_LOSS", f"result: got {len(data)} bytes, expected {chunk.total_bytes}")
            return Result(data, chunk.width, chunk.height, _FORMAT_NAMES.get(chunk.format, "png"))
        if kind == "finished":
            return from_message(Finished, message.finished)
        return None  # an event kind newer than this client: skip it

    def cancel(self) -> None:
        """Cancel the job (a no-op once it has finished)."""
        self._call.cancel()

    close = cancel

    def __enter__(self) -> "StylizeStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self._call.cancel()
        except Exception:  # interpreter shutdown: nothing left to cancel through
            pass


class StyleClient:
    """A connection to a style server. ``address`` defaults to ``$NST_SERVER`` or 127.0.0.1:50051
    (``unix:/path`` works too); ``token`` to ``$NST_TOKEN``; ``timeout`` (seconds) bounds each job."""

    def __init__(self, address: Optional[str] = None, token: Optional[str] = None,
                 timeout: Optional[float] = None):
        self.address = address or default_address()
        self.token = token if token is not None else default_token()
        self.timeout = timeout
        self._channel = grpc.insecure_channel(self.address, options=_CHANNEL_OPTIONS)
        self._stub = style_pb2_grpc.StyleServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def __enter__(self) -> "StyleClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def _metadata(self):
        return ((TOKEN_METADATA_KEY, f"Bearer {self.token}"),) if self.token else None

    def _unary(self, method, request):
        timeout = min(self.timeout, _UNARY_TIMEOUT) if self.timeout else _UNARY_TIMEOUT
        try:
            return method(request, timeout=timeout, metadata=self._metadata())
        except grpc.RpcError as error:
            raise _error_from_rpc(error, self.address) from None

    def health(self, timeout: float = 5.0) -> str:
        """The server's health status name: "SERVING", "NOT_SERVING", … (ClientError if unreachable)."""
        try:
            reply = self._health.Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.RpcError as error:
            raise _error_from_rpc(error, self.address) from None
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the server reports SERVING (weights loaded, warm-up done); False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                if self.health(timeout=max(0.1, min(left, 2.0))) == "SERVING":
                    return True
            except ClientError:
                pass  # not up yet
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def describe(self) -> dict:
        """Version, device, weights (source, sha256, preprocessing), limits, presets by name, layer names and
        every option with its bounds: the DescribeResponse as a dict with the proto's field names."""
        reply = self._unary(self._stub.Describe, style_pb2.DescribeRequest())
        info = json_format.MessageToDict(reply, preserving_proto_field_name=True,
                                         always_print_fields_with_no_presence=True)
        info["weights"] = {"source": info.pop("weights_source"), "sha256": info.pop("weights_sha256"),
                           "preprocessing": info.pop("preprocessing")}
        info["presets"] = {p.pop("name"): p for p in info["presets"]}
        info["options"] = {o.pop("name"): o for o in info["options"]}
        info["limits"] = _limits(reply.limits)  # JSON would write uint64 as text
        return info

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job; False if it had already ended. Unknown id: ClientError NOT_FOUND."""
        return self._unary(self._stub.CancelJob, style_pb2.CancelJobRequest(job_id=job_id)).cancelled

    def job_state(self, job_id: str) -> str:
        """"queued", "running", "succeeded", "failed" or "cancelled"."""
        reply = self._unary(self._stub.GetJob, style_pb2.GetJobRequest(job_id=job_id))
        return style_pb2.JobState.Name(reply.state).removeprefix(_JOB_STATE_PREFIX).lower()

    def stylize(self, content: ImageData, styles: list[ImageData], *, style_blend: Optional[list[float]] = None,
                options: Optional[dict] = None, preview: bool = False, output_format: str = "png",
                init_image: Optional[ImageData] = None, preview_interval: float = 0.0,
                preview_max_size: int = 0, regions: Optional[list[Region]] = None) -> StylizeStream:
        """Submit a job; iterate the returned stream for Queued, Started, Progress, Preview, Result, Finished.
        ``styles`` may be empty when a region has styles (then pixels in no region keep the content).
        Errors surface as ClientError while iterating (or here, for bad arguments)."""
        if output_format not in _FORMATS:
            raise ClientError("INVALID_ARGUMENT", f"output_format: must be png or rgba, got {output_format!r}",
                              "output_format")
        request = style_pb2.StylizeRequest(
            content=content.to_proto(),
            styles=[s.to_proto() for s in styles],
            style_blend=list(style_blend or ()),
            options=_options_proto(options),
            preview=preview,
            preview_interval_seconds=preview_interval,
            preview_max_size=preview_max_size,
            output_format=_FORMATS[output_format],
            regions=[r.to_proto() for r in regions or ()],
        )
        if init_image is not None:
            request.init_image.CopyFrom(init_image.to_proto())
        call = self._stub.Stylize(request, timeout=self.timeout, metadata=self._metadata())
        return StylizeStream(call, self.address)


def _limits(limits: style_pb2.Limits) -> dict:
    """Every Limits field by name; ``calls`` as {kind: {"methods", "max_calls", "max_receiving"}}."""
    values = {f.name: getattr(limits, f.name) for f in limits.DESCRIPTOR.fields if f.name != "calls"}
    values["calls"] = {c.kind: {"methods": list(c.methods), "max_calls": c.max_calls, "max_receiving": c.max_receiving}
                       for c in limits.calls}
    return values
