"""A connection to a style server, or to a fleet of them (server.client.fleet_calls does what differs)."""
from __future__ import annotations

import time
from typing import Optional

import grpc
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos.nst.v1 import style_pb2, style_pb2_grpc

from .. import fleet
from ..config import TOKEN_METADATA_KEY, default_address, default_token
from .data import ImageData, Region, limits_dict, request
from .errors import ClientError, from_rpc
from .fleet_calls import CHANNEL_OPTIONS, FleetCalls
from .stream import StylizeStream

_JOB_STATE_PREFIX = "JOB_STATE_"
_UNARY_TIMEOUT = 30.0
CONNECT_TIMEOUT = 10.0  # a fleet with no server SERVING for this long: UNAVAILABLE naming it


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
        self._fleet = FleetCalls(given, self.target, connect_timeout) if self.fleet else None
        if self._fleet is not None:
            self._channel = self._fleet.channel
        else:
            self._channel = grpc.insecure_channel(self.target.target, options=CHANNEL_OPTIONS)
        self._stub = style_pb2_grpc.StyleServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def __enter__(self) -> "StyleClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._fleet is not None:
            self._fleet.close()
        else:
            self._channel.close()

    def _metadata(self):
        return ((TOKEN_METADATA_KEY, f"Bearer {self.token}"),) if self.token else None

    def _unary(self, method, message, address: Optional[str] = None):
        timeout = min(self.timeout, _UNARY_TIMEOUT) if self.timeout else _UNARY_TIMEOUT
        try:
            return method(message, timeout=timeout, metadata=self._metadata())
        except grpc.RpcError as error:
            raise from_rpc(error, address or self.address) from None

    def health(self, timeout: float = 5.0) -> str:
        """The server's health status name: "SERVING", "NOT_SERVING", … (ClientError if unreachable).
        For a fleet: SERVING when any server is, else the status of one that answers."""
        if self._fleet is not None:
            return self._fleet.health(timeout)
        try:
            reply = self._health.Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.RpcError as error:
            raise from_rpc(error, self.address) from None
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the server (for a fleet: any of its servers) reports SERVING; False on timeout.
        It never starts a server."""
        if self._fleet is not None:
            return self._fleet.wait_ready(timeout)
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
        info["limits"] = limits_dict(reply.limits)  # JSON would write uint64 as text
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

    def _job_stub(self, job_id: str):
        if self._fleet is None:
            return self._stub, self.address
        return self._fleet.job_stub(job_id, self._metadata())

    def stylize(self, content: ImageData, styles: list[ImageData], *, style_blend: Optional[list[float]] = None,
                options: Optional[dict] = None, preview: bool = False, output_format: str = "png",
                init_image: Optional[ImageData] = None, preview_interval: float = 0.0,
                preview_max_size: int = 0, regions: Optional[list[Region]] = None) -> StylizeStream:
        """Submit a job; iterate the returned stream for Queued, Started, Progress, Preview, Result, Finished
        (and, for a fleet whose servers are all busy, Waiting first). ``styles`` may be empty when a region
        has styles (then pixels in no region keep the content).
        Errors surface as ClientError while iterating (or here, for bad arguments)."""
        message = request(content, styles, style_blend=style_blend, options=options, preview=preview,
                          output_format=output_format, init_image=init_image, preview_interval=preview_interval,
                          preview_max_size=preview_max_size, regions=regions)
        if self._fleet is not None:
            return self._fleet.stylize(message, self._metadata(), self.timeout)
        call = self._stub.Stylize(message, timeout=self.timeout, metadata=self._metadata())
        return StylizeStream(call, self.address)

    def stylize_sequence(self, frames: list[ImageData], styles: list[ImageData], **kwargs) -> StylizeStream:
        """An animation's frames as one job; see server.sequence_client for the arguments and events
        (SequenceProgress, Frame as each frame finishes)."""
        from ..sequence_client import stylize_sequence

        return stylize_sequence(self, frames, styles, **kwargs)
