"""Admission: how many calls of each kind may be in progress at once, so that no kind starves another.

gRPC Python has one global limit (``maximum_concurrent_rpcs``): a client holding many idle streams of one
kind used it up, and health checks and Describe were refused. Here every method belongs to a kind with a
budget of its own; past it a call is refused at once with RESOURCE_EXHAUSTED naming the limit. Health
checks are never limited, and the thread pool has a thread for every budgeted call plus spares, so a
health check always finds one.

Every handler is re-registered as request-streaming so that the budget is taken *before* the request is
received (a unary handler gets its request only after gRPC has read it, on a pool thread), and so that
requests are parsed here (see ``wire``).
"""
from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Optional

import grpc

from . import wire
from .watchdog import Watchdog

_END = object()


@dataclass(frozen=True)
class CallKind:
    name: str  # for Describe: "stylize"
    what: str  # for messages: "Stylize calls"
    methods: tuple[str, ...]  # full method names, "/package.Service/Method"
    max_calls: int  # in progress at once; 0: unlimited
    max_receiving: int = 0  # of those, receiving and checking their request; 0: as many as max_calls

    @property
    def receiving(self) -> int:
        return self.max_receiving or self.max_calls


class _Budget:
    def __init__(self, kind: CallKind):
        self.kind = kind
        self._calls = threading.BoundedSemaphore(kind.max_calls) if kind.max_calls else None
        self._receiving = threading.BoundedSemaphore(kind.receiving) if kind.max_calls else None
        self._lock = threading.Lock()
        self.in_progress = 0

    def enter(self, context) -> "_Slot":
        if self._calls is not None and not self._calls.acquire(blocking=False):
            wire.abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED,
                       f"too many {self.kind.what} at once: the server's limit is {self.kind.max_calls}; "
                       "try again shortly")
        with self._lock:
            self.in_progress += 1
        slot = _Slot(self)
        context.add_callback(slot.release)  # also when the call ends without closing the handler
        return slot

    def receive(self, context, seconds: float) -> None:
        """Wait (up to ``seconds``) for one of the receiving places; see ``CallKind.max_receiving``."""
        if self._receiving is not None and not self._receiving.acquire(timeout=seconds):
            wire.abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED,
                       f"too many {self.kind.what} sending their request at once: the server's limit is "
                       f"{self.kind.receiving}; try again shortly")

    def received(self) -> None:
        if self._receiving is not None:
            self._receiving.release()

    def _leave(self) -> None:
        with self._lock:
            self.in_progress -= 1
        if self._calls is not None:
            self._calls.release()


class _Slot:
    def __init__(self, budget: _Budget):
        self._budget = budget
        self._held = True
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            held, self._held = self._held, False
        if held:
            self._budget._leave()

    def __enter__(self) -> "_Slot":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class Admission(grpc.ServerInterceptor):
    """Wraps every handler: budget, request read within ``receive_seconds`` and parsed, responses that the
    client must take within ``stall_seconds``. Methods of no listed kind share the ``other`` budget."""

    def __init__(self, kinds: tuple[CallKind, ...], other: CallKind, *, receive_seconds: float,
                 stall_seconds: float, watchdog: Watchdog):
        self._budgets = {kind.name: _Budget(kind) for kind in (*kinds, other)}
        self._by_method = {method: self._budgets[kind.name] for kind in kinds for method in kind.methods}
        self._other = self._budgets[other.name]
        self.receive_seconds = receive_seconds
        self.stall_seconds = stall_seconds
        self.watchdog = watchdog

    def in_progress(self) -> dict[str, int]:
        """Calls in progress per kind."""
        return {name: budget.in_progress for name, budget in self._budgets.items()}

    def intercept_service(self, continuation, details) -> Optional[grpc.RpcMethodHandler]:
        handler = continuation(details)
        if handler is None:
            return None  # unknown method: gRPC answers UNIMPLEMENTED without a thread
        return _Guarded(self, self._by_method.get(details.method, self._other), handler).handler()


class _Guarded:
    """One method's handler behind its budget."""

    def __init__(self, admission: Admission, budget: _Budget, handler: grpc.RpcMethodHandler):
        self.a, self.budget, self.original = admission, budget, handler
        self.behavior = handler.stream_stream or handler.stream_unary or handler.unary_stream or handler.unary_unary

    def handler(self) -> grpc.RpcMethodHandler:
        h = self.original
        if h.response_streaming:
            return grpc.stream_stream_rpc_method_handler(self._streaming, response_serializer=h.response_serializer)
        return grpc.stream_unary_rpc_method_handler(self._unary, response_serializer=h.response_serializer)

    def _argument(self, requests, context):
        if self.original.request_streaming:
            return wire.parsed(requests, self.original.request_deserializer, context)
        return wire.read_one(requests, self.original.request_deserializer, context, self.a.watchdog,
                             self.a.receive_seconds)

    def _unary(self, requests, context):
        with self.budget.enter(context):
            self.budget.receive(context, self.a.receive_seconds)
            try:
                argument = self._argument(requests, context)
                return self.behavior(argument, context)
            finally:
                self.budget.received()

    def _streaming(self, requests, context):
        with self.budget.enter(context):
            # A streaming handler keeps its receiving place until its first response: for Stylize that is
            # when the request has been checked and queued, and the handler no longer holds it.
            self.budget.receive(context, self.a.receive_seconds)
            try:
                responses = iter(self.behavior(self._argument(requests, context), context))
                first = next(responses, _END)
            finally:
                self.budget.received()
            if first is _END:
                return
            yield from wire.sent_in_time(itertools.chain([first], responses), context, self.a.watchdog,
                                         self.a.stall_seconds)
