"""The calls that differ for a fleet (several servers behind one address, see server.fleet): its channels,
its health, the server a job runs on, and starting a job on an idle server."""
from __future__ import annotations

import time
from concurrent import futures
from typing import Optional

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos.nst.v1 import style_pb2, style_pb2_grpc

from .. import fleet
from ..config import IDLE_HEALTH_NAME, JOB_SERVER_SEPARATOR, ONLY_IF_IDLE_METADATA_KEY
from ..events import Waiting
from .errors import ClientError, from_rpc
from .stream import StylizeStream

SERVICE_NAME = style_pb2.DESCRIPTOR.services_by_name["StyleService"].full_name
_STYLIZE_METHOD = {"service": SERVICE_NAME, "method": "Stylize"}
# Sequences (server/sequence_client.py) queue a job like Stylize: the same retry and wait for an idle server.
_JOB_METHODS = [_STYLIZE_METHOD, {"service": SERVICE_NAME, "method": "StylizeSequence"}]
# Requests carry whole images (an 8192 x 8192 RGBA is 256 MiB): lift gRPC's 4 MiB defaults on this side;
# the server enforces its own, advertised limit.
CHANNEL_OPTIONS = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]


class FleetCalls:
    """Two channels over the same servers: calls that any server may answer (health, Describe) go to the
    SERVING ones; jobs go to the idle ones. A job's GetJob and CancelJob go to the server its id names."""

    def __init__(self, address: str, target: fleet.Target, connect_timeout: float):
        self.address, self.target, self.connect_timeout = address, target, connect_timeout
        any_options = CHANNEL_OPTIONS + fleet.channel_options(SERVICE_NAME, _JOB_METHODS)
        idle_options = CHANNEL_OPTIONS + fleet.channel_options(IDLE_HEALTH_NAME, _JOB_METHODS)
        self.channel = grpc.insecure_channel(target.target, options=any_options)
        self._jobs_channel = grpc.insecure_channel(target.target, options=idle_options)
        self._jobs_stub = style_pb2_grpc.StyleServiceStub(self._jobs_channel)
        self._direct: dict[str, grpc.Channel] = {}  # one server by address
        self._owners: dict[str, str] = {}  # server name -> address
        self._jobs_state = grpc.ChannelConnectivity.IDLE
        self._jobs_channel.subscribe(self._note_jobs_state, try_to_connect=True)

    def close(self) -> None:
        self._jobs_channel.unsubscribe(self._note_jobs_state)
        for channel in (self.channel, self._jobs_channel):
            _close_after_poller(channel)
        for channel in self._direct.values():
            channel.close()

    def _note_jobs_state(self, state: grpc.ChannelConnectivity) -> None:
        self._jobs_state = state  # READY: some server is idle

    def _server_channel(self, server: str) -> grpc.Channel:
        if server not in self._direct:
            self._direct[server] = grpc.insecure_channel(server, options=CHANNEL_OPTIONS)
        return self._direct[server]

    def health(self, timeout: float) -> str:
        """SERVING when any server is, else the status of one that answers."""
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
            raise from_rpc(answers[0], f"{self.address} (none of {', '.join(self.target.servers)} answers)")
        best = min(statuses, key=lambda status: status != health_pb2.HealthCheckResponse.SERVING)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(best)

    def wait_ready(self, timeout: float) -> bool:
        return _ready(self.channel, max(0.0, timeout))

    def job_stub(self, job_id: str, metadata):
        """The stub that reaches the server running ``job_id`` (the one its id names), and its description."""
        name = job_id.rpartition(JOB_SERVER_SEPARATOR)[2] if JOB_SERVER_SEPARATOR in job_id else ""
        if not name:
            raise ClientError("NOT_FOUND", f"job_id: {job_id[:80]!r} is not a job id of the fleet {self.address} "
                                           "(<id>@<server name>)", "job_id")
        if name not in self._owners:
            self._learn_names(metadata)
        server = self._owners.get(name)
        if server is None:
            raise ClientError("NOT_FOUND", f"job_id: no server named {name[:80]!r} in the fleet {self.address} "
                                           f"(servers answering: {', '.join(sorted(self._owners)) or 'none'})",
                              "job_id")
        return style_pb2_grpc.StyleServiceStub(self._server_channel(server)), f"{name} ({server})"

    def _learn_names(self, metadata) -> None:
        """Ask each server of the fleet its name (Describe), all at once."""
        def name_of(server: str):
            try:
                stub = style_pb2_grpc.StyleServiceStub(self._server_channel(server))
                return stub.Describe(style_pb2.DescribeRequest(), timeout=5.0, metadata=metadata).server_name
            except grpc.RpcError:
                return None  # down, or still loading: it owns no job we could reach now

        with futures.ThreadPoolExecutor(max_workers=min(16, len(self.target.servers))) as pool:
            for server, name in zip(self.target.servers, pool.map(name_of, self.target.servers)):
                if name:
                    self._owners[name] = server

    def _prepare(self) -> Optional[Waiting]:
        """Before a job: fail when no server is SERVING within ``connect_timeout``; a Waiting event when every
        server is busy (the job then waits for the first idle one)."""
        if not _ready(self.channel, self.connect_timeout):
            raise ClientError("UNAVAILABLE", f"no style server of the fleet {self.address} "
                                             f"({', '.join(self.target.servers)}) is SERVING after "
                                             f"{self.connect_timeout:g} s; start them with `nst serve`")
        return None if _ready(self._jobs_channel, 1.0) else Waiting(len(self.target.servers))

    def stylize(self, request: style_pb2.StylizeRequest, metadata, timeout: Optional[float],
                method: str = "Stylize", stream=StylizeStream) -> StylizeStream:  # sequences: StylizeSequence
        """The job on an idle server: gRPC's retry policy moves it past busy ones, and the stream waits
        (saying so) while every server is busy."""
        metadata = (metadata or ()) + ((ONLY_IF_IDLE_METADATA_KEY, "1"),)
        deadline = None if timeout is None else time.monotonic() + timeout

        def start():
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            return getattr(self._jobs_stub, method)(request, timeout=left, metadata=metadata, wait_for_ready=True)

        return stream(None, self.address, start=start, prepare=self._prepare,
                             servers=len(self.target.servers),
                             idle=lambda: self._jobs_state == grpc.ChannelConnectivity.READY)


def _ready(channel: grpc.Channel, timeout: float) -> bool:
    """Whether ``channel`` is READY within ``timeout``. A future left waiting keeps gRPC's connectivity poller
    running, which raises in its thread once the channel is closed: cancelled here, it stops."""
    future = grpc.channel_ready_future(channel)
    try:
        future.result(timeout=timeout)
        return True
    except grpc.FutureTimeoutError:
        future.cancel()
        return False


def _close_after_poller(channel: grpc.Channel, limit: float = 1.0) -> None:
    """Close a channel once gRPC's connectivity poller has stopped (at most ``limit`` s). The poller wakes
    every 0.2 s and, after a wait for readiness, asks the channel's state once more even with nobody
    subscribed; on a channel closed in between it raises in its own thread (a traceback after the caller's
    output). ``_connectivity_state`` is grpc's own: without it, the channel just closes."""
    state = getattr(channel, "_connectivity_state", None)
    deadline = time.monotonic() + limit
    while getattr(state, "polling", False) and time.monotonic() < deadline:
        time.sleep(0.02)
    channel.close()
