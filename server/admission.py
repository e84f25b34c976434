"""Admission: how many calls of each kind may be in progress at once, so that no kind starves another.

gRPC Python has one global limit (``maximum_concurrent_rpcs``): a client holding many idle streams of one
kind used it up, and health checks and Describe were refused. Here every method belongs to a kind with a
budget of its own; past it a call is refused at once with RESOURCE_EXHAUSTED naming the limit. Health
checks are never limited, and the thread pool has a thread for every budgeted call plus spares, so a
health check always finds one.

Every handler is re-registered as request-streaming so that the budget is taken *before* the request is
received (a unary handler gets its request only after gRPC has read it, on a pool thread), and so that
requests are parsed here (see ``wire``).

gRPC Python gives every call a pool thread from its start, also while its request has not arrived, so a
caller that opens calls and sends nothing holds threads and places. Hence: each kind runs on a thread pool
of its own (one thread per place, plus spares for refusals), so idle calls of one kind never take another
kind's threads; and a call still waiting for its request after ``idle_seconds`` gives its place up as soon
as another caller of its kind needs one (it is cancelled). A small request travels with its call's headers,
so only a silent or stalled caller is ever still waiting after a second; a Stylize request may be hundreds
of MiB, and its callers get longer. Places are thus kept by callers whose bytes arrive.
"""
from __future__ import annotations

import functools
import itertools
import threading
import time
from concurrent import futures
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
    idle_seconds: float = 1.0  # a call still without its request after this gives its place to a newcomer
    max_per_peer: int = 0  # in progress at once from one client address; 0: no limit of its own

    @property
    def receiving(self) -> int:
        return self.max_receiving or self.max_calls


SPARE_THREADS = 4  # per kind: refusals run on these while every place is taken


class _Budget:
    def __init__(self, kind: CallKind):
        self.kind = kind
        self._calls = threading.BoundedSemaphore(kind.max_calls) if kind.max_calls else None
        self._receiving = threading.BoundedSemaphore(kind.receiving) if kind.max_calls else None
        self._lock = threading.Lock()
        self.in_progress = 0
        self._waiting: dict[object, tuple[float, object]] = {}  # calls without their request: since, context
        self._per_peer: dict[str, int] = {}  # calls in progress by client address, with max_per_peer
        self._sending: dict[object, tuple[float, object]] = {}  # of those, holding a receiving place
        self.pool = futures.ThreadPoolExecutor(max_workers=(kind.max_calls or 64) + SPARE_THREADS,
                                               thread_name_prefix=f"nst-{kind.name.replace(' ', '-')}")

    def _evict(self, calls: dict) -> bool:
        """Cancel the call that has waited longest for its request, if past ``idle_seconds``."""
        with self._lock:
            idle = [(since, key) for key, (since, _) in calls.items()
                    if time.monotonic() - since >= self.kind.idle_seconds]
            if not idle:
                return False
            _, key = min(idle, key=lambda item: item[0])
            _, context = calls.pop(key)
            self._waiting.pop(key, None)
        context.cancel()  # its handler ends and gives its place back
        return True

    def enter(self, context) -> "_Slot":
        peer = self._enter_peer(context) if self.kind.max_per_peer else None
        if self._calls is not None and not self._calls.acquire(blocking=False):
            if not (self._evict(self._waiting) and self._calls.acquire(timeout=5)):
                self._leave_peer(peer)
                wire.abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED,
                           f"too many {self.kind.what} at once: the server's limit is {self.kind.max_calls}; "
                           "try again shortly")
        slot = _Slot(self, peer)
        with self._lock:
            self.in_progress += 1
            self._waiting[slot] = (time.monotonic(), context)
        context.add_callback(slot.release)  # also when the call ends without closing the handler
        return slot

    def receive(self, slot: "_Slot", context, seconds: float) -> None:
        """Wait (up to ``seconds``) for one of the receiving places; see ``CallKind.max_receiving``. While it
        waits, a holder still sending after ``idle_seconds`` loses its place."""
        if self._receiving is None:
            return
        deadline = time.monotonic() + seconds
        while not self._receiving.acquire(timeout=0.1):
            if time.monotonic() >= deadline or not context.is_active():
                wire.abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED,
                           f"too many {self.kind.what} sending their request at once: the server's limit is "
                           f"{self.kind.receiving}; try again shortly")
            self._evict(self._sending)
        with self._lock:
            self._sending[slot] = (time.monotonic(), context)

    def received(self, slot: "_Slot") -> None:
        with self._lock:
            self._waiting.pop(slot, None)
            self._sending.pop(slot, None)
        if self._receiving is not None:
            self._receiving.release()

    def _enter_peer(self, context) -> str:
        peer = _address_of(context.peer())
        with self._lock:
            held = self._per_peer.get(peer, 0)
            if held < self.kind.max_per_peer:
                self._per_peer[peer] = held + 1
                return peer
        wire.abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED,
                   f"too many {self.kind.what} from one address at once: the server's limit is "
                   f"{self.kind.max_per_peer} per address; try again shortly")

    def _leave_peer(self, peer: Optional[str]) -> None:
        if peer is not None:
            with self._lock:
                left = self._per_peer.pop(peer) - 1
                if left:
                    self._per_peer[peer] = left

    def _leave(self, slot) -> None:
        with self._lock:
            self.in_progress -= 1
            self._waiting.pop(slot, None)
        self._leave_peer(slot.peer)
        if self._calls is not None:
            self._calls.release()


def _address_of(peer: str) -> str:
    """The client's address without its port: "ipv4:10.0.0.7:51234" -> "ipv4:10.0.0.7"; every unix socket
    client is "unix" (their peer names say nothing of who they are)."""
    scheme, _, rest = peer.partition(":")
    return f"{scheme}:{rest.rpartition(':')[0]}" if scheme in ("ipv4", "ipv6") else scheme


class _Slot:
    def __init__(self, budget: _Budget, peer: Optional[str] = None):
        self._budget = budget
        self.peer = peer
        self._held = True
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            held, self._held = self._held, False
        if held:
            self._budget._leave(self)

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

    def shutdown(self) -> None:
        for budget in self._budgets.values():
            budget.pool.shutdown(wait=False)

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
        behavior = functools.partial(self._streaming if h.response_streaming else self._unary)
        behavior.experimental_thread_pool = self.budget.pool  # gRPC runs the call on its kind's threads
        if h.response_streaming:
            return grpc.stream_stream_rpc_method_handler(behavior, response_serializer=h.response_serializer)
        return grpc.stream_unary_rpc_method_handler(behavior, response_serializer=h.response_serializer)

    def _argument(self, requests, context):
        if self.original.request_streaming:
            return wire.parsed(requests, self.original.request_deserializer, context)
        return wire.read_one(requests, self.original.request_deserializer, context, self.a.watchdog,
                             self.a.receive_seconds)

    def _unary(self, requests, context):
        with self.budget.enter(context) as slot:
            self.budget.receive(slot, context, self.a.receive_seconds)
            try:
                argument = self._argument(requests, context)
            finally:
                self.budget.received(slot)
            return self.behavior(argument, context)

    def _streaming(self, requests, context):
        with self.budget.enter(context) as slot:
            # A streaming handler keeps its receiving place until its first response: for Stylize that is
            # when the request has been checked and queued, and the handler no longer holds it.
            self.budget.receive(slot, context, self.a.receive_seconds)
            try:
                argument = self._argument(requests, context)
                with self.budget._lock:  # arrived: no longer idle, though still checking
                    self.budget._waiting.pop(slot, None)
                    self.budget._sending.pop(slot, None)
                responses = iter(self.behavior(argument, context))
                first = next(responses, _END)
            finally:
                self.budget.received(slot)
            if first is _END:
                return
            yield from wire.sent_in_time(itertools.chain([first], responses), context, self.a.watchdog,
                                         self.a.stall_seconds)
