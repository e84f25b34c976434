"""Client library for the style server: connect, stylize with typed events, cancel, describe.

Only the standard library, grpcio (with its health-checking stubs), protobuf and the generated stubs are
used, so that it runs in a client-only install (the GIMP plug-in's helper) and starts without loading torch.

    with StyleClient() as client:
        for event in client.stylize(ImageData.encoded(content), [ImageData.encoded(style)]):
            if isinstance(event, Result):
                open("out.png", "wb").write(event.data)

The address may name a fleet of servers (``host:port,host:port``, ``dns:///name:port``; see ``server.fleet``):
gRPC balances new jobs over the idle ones, and ``cancel``/``job_state`` reach the server a job runs on.
"""
from __future__ import annotations

import queue
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from typing import Optional

import grpc
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from nst_core.contract.spec import RegionInput as Region  # a region to send: its images as ImageData
from protos.nst.v1 import style_pb2, style_pb2_grpc

from . import fleet
from .config import (BUSY_METADATA_KEY, ERROR_FIELD_METADATA_KEY, IDLE_HEALTH_NAME, JOB_SERVER_SEPARATOR,
                     ONLY_IF_IDLE_METADATA_KEY, TOKEN_METADATA_KEY, default_address, default_token)
from .events import Event, Finished, Preview, Progress, Queued, Result, Started, Waiting, from_message

__all__ = [
    "StyleClient", "ImageData", "Region", "ClientError", "StylizeStream", "OPTION_KEYS",
    "Queued", "Waiting", "Started", "Progress", "Preview", "Result", "Finished", "Event",
]

#: Keys accepted in ``StyleClient.stylize(options=...)``: the fields of the proto's ``StyleOptions``.
OPTION_KEYS = tuple(f.name for f in style_pb2.StyleOptions.DESCRIPTOR.fields)
_REPEATED_OPTIONS = {f.name for f in style_pb2.StyleOptions.DESCRIPTOR.fields if f.is_repeated}
_FORMATS = {"png": style_pb2.OUTPUT_FORMAT_PNG, "rgba": style_pb2.OUTPUT_FORMAT_RGBA}
_FORMAT_NAMES = {v: k for k, v in _FORMATS.items()} | {style_pb2.OUTPUT_FORMAT_UNSPECIFIED: "png"}
_JOB_STATE_PREFIX = "JOB_STATE_"
_UNARY_TIMEOUT = 30.0
CONNECT_TIMEOUT = 10.0  # a fleet with no server SERVING for this long: UNAVAILABLE naming it
_SERVICE_NAME = style_pb2.DESCRIPTOR.services_by_name["StyleService"].full_name
_STYLIZE_METHOD = {"service": _SERVICE_NAME, "method": "Stylize"}
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


def _region_proto(region: Region) -> style_pb2.Region:
    message = style_pb2.Region(mask=region.mask.to_proto(), styles=[s.to_proto() for s in region.styles],
                               style_blend=list(region.style_blend or ()))
    if region.strength is not None:
        message.strength = region.strength
    return message


def _trailing(error: grpc.RpcError) -> dict:
    return dict(error.trailing_metadata() or ()) if hasattr(error, "trailing_metadata") else {}


def _busy(error: grpc.RpcError) -> bool:
    """A fleet server's refusal because it runs a job (every retry attempt found a busy server)."""
    return BUSY_METADATA_KEY in _trailing(error)


def _error_from_rpc(error: grpc.RpcError, address: str, server_name: Optional[str] = None) -> ClientError:
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = (error.details() if hasattr(error, "details") else None) or str(error)
    trailing = _trailing(error)
    from_server = ERROR_FIELD_METADATA_KEY in trailing
    field = trailing.get(ERROR_FIELD_METADATA_KEY) or None
    if code == grpc.StatusCode.UNAVAILABLE and not from_server and server_name:
        # A fleet's server went away during a job: name it; the fleet's other servers go on.
        details = (f"the style server {server_name} of {address} stopped answering during the job ({details}); "
                   "new jobs go to the other servers until it is SERVING again")
    elif code == grpc.StatusCode.UNAVAILABLE and not from_server:
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


def _pump(call, messages: queue.Queue) -> None:
    try:
        for message in call:
            messages.put(message)
        messages.put(StopIteration())
    except grpc.RpcError as error:
        messages.put(error)


class StylizeStream:
    """Iterator over one job's events. Closing it (or dropping it) cancels the job on the server.

    For a fleet, ``start`` makes the call (again when every attempt found a busy server) and ``prepare``
    checks first that a server answers; it returns a Waiting event when every server is busy."""

    def __init__(self, call, address: str, *, start=None, prepare=None, servers: int = 0, idle=None):
        self._call = call
        self._servers = servers
        self._idle = idle  # fleet: whether some server is idle now (the jobs channel is READY)
        self._messages: Optional[queue.Queue] = None
        self._address = address
        self._start = start
        self._prepare = prepare
        self._chunks: list[bytes] = []
        self._answered = False  # the server sent an event: the job is committed to that server
        self._waiting_said = False
        self._closed = False
        self.job_id: Optional[str] = None
        self.server_name: Optional[str] = None  # fleet: the server running the job, once known

    def __iter__(self) -> "StylizeStream":
        return self

    def __next__(self) -> Event:
        while True:
            if self._call is None:
                if self._closed:
                    raise StopIteration
                waiting = self._prepare() if not self._waiting_said else None
                self._call = self._start()
                if waiting is not None:
                    self._waiting_said = True
                    return waiting
            try:
                message = self._next_message()
                if message is None:  # waiting in gRPC for an idle server
                    self._waiting_said = True
                    return Waiting(self._servers)
            except StopIteration:
                raise
            except grpc.RpcError as error:
                if self._start is not None and not self._answered and not self._closed and _busy(error):
                    self._call = None  # every attempt met a busy server: wait for the next idle one
                    self._messages = None
                    if not self._waiting_said:
                        self._waiting_said = True
                        return Waiting(self._servers)
                    continue
                raise _error_from_rpc(error, self._address, self.server_name) from None
            self._answered = True
            event = self._convert(message)
            if event is not None:
                return event

    def _next_message(self):
        """The call's next message; for a fleet's job, None once when it waits for a free server."""
        if self._start is None:
            return next(self._call)
        if self._messages is None:
            # A fleet's call may wait inside gRPC for an idle server, silently: read it on a thread, so that
            # the wait can be reported.
            self._messages = queue.Queue()
            threading.Thread(target=_pump, args=(self._call, self._messages), daemon=True,
                             name="nst-stylize-stream").start()
        while True:
            try:
                item = self._messages.get(timeout=None if self._answered or self._waiting_said else 0.5)
            except queue.Empty:
                if not self._idle():
                    return None
                continue
            if isinstance(item, BaseException):
                raise item
            return item

    def _convert(self, message: style_pb2.StylizeResponse) -> Optional[Event]:
        kind = message.WhichOneof("event")
        if kind == "queued":
            self._learn(message.queued.job_id)
            return Queued(message.queued.position, message.queued.job_id)
        if kind == "started":
            self._learn(message.started.job_id, message.started.server_name)
            return Started(message.started.job_id, message.started.server_name or self.server_name or "")
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

    def _learn(self, job_id: str, server_name: str = "") -> None:
        self.job_id = job_id
        if server_name or JOB_SERVER_SEPARATOR in job_id:
            self.server_name = server_name or job_id.rpartition(JOB_SERVER_SEPARATOR)[2]

    def cancel(self) -> None:
        """Cancel the job (a no-op once it has finished)."""
        self._closed = True
        if self._call is not None:
            self._call.cancel()

    close = cancel

    def __enter__(self) -> "StylizeStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if self._call is not None:
                self._call.cancel()
        except Exception:  # interpreter shutdown: nothing left to cancel through
            pass


class StyleClient:
    """A connection to a style server or a fleet of them. ``address`` defaults to ``$NST_SERVER`` or
    127.0.0.1:50051 (``unix:/path`` works too; a fleet: ``host:port,host:port`` or ``dns:///name:port``);
    ``token`` to ``$NST_TOKEN``; ``timeout`` (seconds) bounds each job; ``connect_timeout`` how long a
    fleet's job waits for any server to be SERVING before it fails UNAVAILABLE.
    A bad address raises ClientError INVALID_ARGUMENT (field "address") naming the entry."""

    def __init__(self, address: Optional[str] = None, token: Optional[str] = None,
                 timeout: Optional[float] = None, connect_timeout: float = CONNECT_TIMEOUT):
        given = default_address() if address is None else address
        try:
            self.target = fleet.parse(given)
        except fleet.AddressError as exc:
            raise ClientError("INVALID_ARGUMENT", str(exc), "address") from None
        self.address = given
        self.fleet = self.target.fleet
        self.token = token if token is not None else default_token()
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        if self.fleet:
            # Two channels over the same servers: calls that any server may answer (health, Describe) go to
            # the SERVING ones; jobs go to the idle ones (see server.fleet).
            any_options = _CHANNEL_OPTIONS + fleet.channel_options(_SERVICE_NAME, _STYLIZE_METHOD)
            idle_options = _CHANNEL_OPTIONS + fleet.channel_options(IDLE_HEALTH_NAME, _STYLIZE_METHOD)
            self._channel = grpc.insecure_channel(self.target.target, options=any_options)
            self._jobs_channel = grpc.insecure_channel(self.target.target, options=idle_options)
            self._jobs_stub = style_pb2_grpc.StyleServiceStub(self._jobs_channel)
            self._direct: dict[str, grpc.Channel] = {}  # one server by address: a job's GetJob and CancelJob
            self._owners: dict[str, str] = {}  # server name -> address
            self._jobs_state = grpc.ChannelConnectivity.IDLE
            self._jobs_channel.subscribe(self._note_jobs_state, try_to_connect=True)
        else:
            self._channel = grpc.insecure_channel(self.target.target, options=_CHANNEL_OPTIONS)
        self._stub = style_pb2_grpc.StyleServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def __enter__(self) -> "StyleClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()
        if self.fleet:
            self._jobs_channel.unsubscribe(self._note_jobs_state)
            self._jobs_channel.close()
            for channel in self._direct.values():
                channel.close()

    def _note_jobs_state(self, state: grpc.ChannelConnectivity) -> None:
        self._jobs_state = state  # READY: some server is idle

    def _metadata(self):
        return ((TOKEN_METADATA_KEY, f"Bearer {self.token}"),) if self.token else None

    def _unary(self, method, request, address: Optional[str] = None):
        timeout = min(self.timeout, _UNARY_TIMEOUT) if self.timeout else _UNARY_TIMEOUT
        try:
            return method(request, timeout=timeout, metadata=self._metadata())
        except grpc.RpcError as error:
            raise _error_from_rpc(error, address or self.address) from None

    def health(self, timeout: float = 5.0) -> str:
        """The server's health status name: "SERVING", "NOT_SERVING", … (ClientError if unreachable).
        For a fleet: SERVING when any server is, else the status of one that answers."""
        if self.fleet:
            return self._fleet_health(timeout)
        try:
            reply = self._health.Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.RpcError as error:
            raise _error_from_rpc(error, self.address) from None
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    def _fleet_health(self, timeout: float) -> str:
        def check(server: str):
            try:
                stub = health_pb2_grpc.HealthStub(self._server_channel(server))
                return stub.Check(health_pb2.HealthCheckRequest(), timeout=timeout).status
            except grpc.RpcError as error:
                return error

        with futures.ThreadPoolExecutor(max_workers=min(16, len(self.target.servers))) as pool:
            answers = list(pool.map(check, self.target.servers))
        statuses = [a for a in answers if not isinstance(a, grpc.RpcError)]
        if not statuses:
            raise _error_from_rpc(answers[0], f"{self.address} (none of {', '.join(self.target.servers)} answers)")
        best = min(statuses, key=lambda status: status != health_pb2.HealthCheckResponse.SERVING)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(best)

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the server (for a fleet: any of its servers) reports SERVING; False on timeout.
        It never starts a server."""
        if self.fleet:
            try:
                grpc.channel_ready_future(self._channel).result(timeout=max(0.0, timeout))
                return True
            except grpc.FutureTimeoutError:
                return False
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
        every option with its bounds: the DescribeResponse as a dict with the proto's field names.
        For a fleet: any one SERVING server's."""
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
        stub, address = self._job_stub(job_id)
        return self._unary(stub.CancelJob, style_pb2.CancelJobRequest(job_id=job_id), address).cancelled

    def job_state(self, job_id: str) -> str:
        """"queued", "running", "succeeded", "failed" or "cancelled"."""
        stub, address = self._job_stub(job_id)
        reply = self._unary(stub.GetJob, style_pb2.GetJobRequest(job_id=job_id), address)
        return style_pb2.JobState.Name(reply.state).removeprefix(_JOB_STATE_PREFIX).lower()

    # -- a fleet's servers one by one -----------------------------------------------------------------

    def _server_channel(self, server: str) -> grpc.Channel:
        if server not in self._direct:
            self._direct[server] = grpc.insecure_channel(server, options=_CHANNEL_OPTIONS)
        return self._direct[server]

    def _job_stub(self, job_id: str):
        """The stub that reaches the server running ``job_id``: the one its id names, in a fleet."""
        if not self.fleet:
            return self._stub, self.address
        name = job_id.rpartition(JOB_SERVER_SEPARATOR)[2] if JOB_SERVER_SEPARATOR in job_id else ""
        if not name:
            raise ClientError("NOT_FOUND", f"job_id: {job_id[:80]!r} is not a job id of the fleet {self.address} "
                                           "(<id>@<server name>)", "job_id")
        if name not in self._owners:
            self._learn_names()
        server = self._owners.get(name)
        if server is None:
            raise ClientError("NOT_FOUND", f"job_id: no server named {name[:80]!r} in the fleet {self.address} "
                                           f"(servers answering: {', '.join(sorted(self._owners)) or 'none'})",
                              "job_id")
        return style_pb2_grpc.StyleServiceStub(self._server_channel(server)), f"{name} ({server})"

    def _learn_names(self) -> None:
        """Ask each server of the fleet its name (Describe), all at once."""
        def name_of(server: str):
            try:
                stub = style_pb2_grpc.StyleServiceStub(self._server_channel(server))
                return stub.Describe(style_pb2.DescribeRequest(), timeout=5.0, metadata=self._metadata()).server_name
            except grpc.RpcError:
                return None  # down, or still loading: it owns no job we could reach now

        with futures.ThreadPoolExecutor(max_workers=min(16, len(self.target.servers))) as pool:
            for server, name in zip(self.target.servers, pool.map(name_of, self.target.servers)):
                if name:
                    self._owners[name] = server

    def _fleet_prepare(self) -> Optional[Waiting]:
        """Before a fleet's job: fail when no server is SERVING within ``connect_timeout``; a Waiting event
        when every server is busy (the job then waits for the first idle one)."""
        try:
            grpc.channel_ready_future(self._channel).result(timeout=self.connect_timeout)
        except grpc.FutureTimeoutError:
            raise ClientError("UNAVAILABLE", f"no style server of the fleet {self.address} "
                                             f"({', '.join(self.target.servers)}) is SERVING after "
                                             f"{self.connect_timeout:g} s; start them with `nst serve`") from None
        try:
            grpc.channel_ready_future(self._jobs_channel).result(timeout=1.0)
            return None
        except grpc.FutureTimeoutError:
            return Waiting(len(self.target.servers))

    # -- jobs -------------------------------------------------------------------------------------------

    def stylize(self, content: ImageData, styles: list[ImageData], *, style_blend: Optional[list[float]] = None,
                options: Optional[dict] = None, preview: bool = False, output_format: str = "png",
                init_image: Optional[ImageData] = None, preview_interval: float = 0.0,
                preview_max_size: int = 0, regions: Optional[list[Region]] = None) -> StylizeStream:
        """Submit a job; iterate the returned stream for Queued, Started, Progress, Preview, Result, Finished
        (and, for a fleet whose servers are all busy, Waiting first). ``styles`` may be empty when a region
        has styles (then pixels in no region keep the content).
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
            regions=[_region_proto(r) for r in regions or ()],
        )
        if init_image is not None:
            request.init_image.CopyFrom(init_image.to_proto())
        if not self.fleet:
            call = self._stub.Stylize(request, timeout=self.timeout, metadata=self._metadata())
            return StylizeStream(call, self.address)
        metadata = (self._metadata() or ()) + ((ONLY_IF_IDLE_METADATA_KEY, "1"),)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout

        def start():
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            return self._jobs_stub.Stylize(request, timeout=left, metadata=metadata, wait_for_ready=True)

        return StylizeStream(None, self.address, start=start, prepare=self._fleet_prepare,
                             servers=len(self.target.servers),
                             idle=lambda: self._jobs_state == grpc.ChannelConnectivity.READY)


def _limits(limits: style_pb2.Limits) -> dict:
    """Every Limits field by name; ``calls`` as {kind: {"methods", "max_calls", "max_receiving"}}."""
    values = {f.name: getattr(limits, f.name) for f in limits.DESCRIPTOR.fields if f.name != "calls"}
    values["calls"] = {c.kind: {"methods": list(c.methods), "max_calls": c.max_calls, "max_receiving": c.max_receiving}
                       for c in limits.calls}
    return values
