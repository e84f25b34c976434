"""One job's events as an iterator: the proto's stream turned into typed events, the result reassembled
from its chunks, and for a fleet the wait for an idle server."""
from __future__ import annotations

import queue
import threading
from typing import Optional

import grpc

from protos.nst.v1 import style_pb2

from ..config import JOB_SERVER_SEPARATOR
from ..events import Event, Finished, Preview, Progress, Queued, Result, Started, Waiting, from_message
from .data import FORMAT_NAMES
from .errors import ClientError, busy, from_rpc


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
                if self._start is not None and not self._answered and not self._closed and busy(error):
                    self._call = None  # every attempt met a busy server: wait for the next idle one
                    self._messages = None
                    if not self._waiting_said:
                        self._waiting_said = True
                        return Waiting(self._servers)
                    continue
                raise from_rpc(error, self._address, self.server_name) from None
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
            return Result(data, chunk.width, chunk.height, FORMAT_NAMES.get(chunk.format, "png"))
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
