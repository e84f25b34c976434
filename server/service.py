"""The gRPC service: request handling, auth, health, reflection and the server's lifecycle.

``start_server`` runs a real server in-process (``nst serve`` and the tests both use it):

    handle = start_server(engine=Engine(), address="127.0.0.1:0")
    ...  # StyleClient(handle.address)
    handle.stop(grace=5)
"""
from __future__ import annotations

import dataclasses
import functools
import gc
import hmac
import logging
import os
import queue
import socket
import threading
from concurrent import futures
from typing import Callable, Optional

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from nst_core.cache import TargetCache
from nst_core.contract.errors import InvalidInput, WeightsUnavailable, quote
from nst_core.contract.layers import LAYER_NAMES
from nst_core.interface import StyleEngine
from nst_core.contract.options import CONTENT_LAYERS, DEFAULT_PRESET, PRESETS, STYLE_LAYERS, OptionSpec, option_specs
from nst_core.contract.spec import BLEND_SPEC
from protos.nst.v1 import style_pb2, style_pb2_grpc

from . import __version__, job_input
from .admission import Admission
from .health_service import HealthServicer
from .config import (BUSY_METADATA_KEY, DEFAULT_CACHE_MB, DEFAULT_MAX_PIXELS, DEFAULT_QUEUE_MB, DEFAULT_QUEUE_SIZE,
                     IDLE_HEALTH_NAME, JOB_ELSEWHERE_METADATA_KEY, JOB_SERVER_SEPARATOR, MAX_SETTING_MB,
                     ONLY_IF_IDLE_METADATA_KEY, RESULT_CHUNK_BYTES, TOKEN_METADATA_KEY, check_address,
                     check_server_name, server_name_from)
from .jobs import JobEnd, JobError, JobManager, ResultPayload, busy_error
from .limits import MIB, RECEIVE_SECONDS, STALL_SECONDS, ServerLimits
from .watchdog import Watchdog
from .wire import abort as _abort

log = logging.getLogger("nst.server")

SERVICE_NAME = style_pb2.DESCRIPTOR.services_by_name["StyleService"].full_name
_STYLIZE_METHOD = f"/{SERVICE_NAME}/Stylize"
_JOB_METHODS = (_STYLIZE_METHOD, f"/{SERVICE_NAME}/StylizeSequence")  # calls that queue a job
_BUSY = ((BUSY_METADATA_KEY, "1"),)
# Clients ping a connection every 10 s to notice a server that vanished without closing it; allow that.
_KEEPALIVE_OPTIONS = [("grpc.http2.min_ping_interval_without_data_ms", 5000)]
_HEALTH_PREFIX = "/grpc.health.v1.Health/"
# Calls running or waiting for a thread, all kinds together; each kind has its own, smaller budget
# (``limits``), so this only bounds what a flood of calls can park in gRPC's backlog.
_MAX_CALLS_IN_FLIGHT = 1024


class ServerStartError(RuntimeError):
    """The server could not start (address taken or invalid, weights missing)."""


class StyleServicer(style_pb2_grpc.StyleServiceServicer):
    def __init__(self, state: "_ServerState"):
        self._state = state

    def Stylize(self, request, context):
        return self._serve(job_input.build, request, context)

    def _serve(self, build, request, context, as_message=None):
        """Check and queue a request with ``build`` (``InvalidInput`` names the field), then stream the job's
        events until it ends; ``as_message`` puts each event in the RPC's response type."""
        state = self._state
        manager = state.manager
        if manager is None:
            if state.load_error is not None:
                _abort(context, grpc.StatusCode.FAILED_PRECONDITION, f"weights unavailable: {state.load_error}")
            _abort(context, grpc.StatusCode.UNAVAILABLE, "the server is still loading its model; retry shortly")
        only_if_idle = _only_if_idle(context.invocation_metadata())
        try:
            built = build(request, state.limits, manager.check_room)
            del request  # the job holds only its images' bytes; the message's copy of them goes now
            job = manager.submit(built, only_if_idle=only_if_idle)
            del built
        except InvalidInput as exc:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc), exc.field)
        except JobError as exc:
            _abort(context, exc.code, exc.message, exc.field, _BUSY if exc.busy else ())
        except Exception:  # noqa: BLE001 - a bug must not reach the client as UNKNOWN with a traceback
            log.exception("could not accept a job")
            _abort(context, grpc.StatusCode.INTERNAL, "internal error while reading the request; see the server log")
        # Fires when the call ends for any reason; after a normal end the job is over and this is a no-op.
        def went_away() -> None:
            manager.cancel(job.id, "cancelled: the client went away")

        if not context.add_callback(went_away):  # the call already ended (e.g. while the request was decoded)
            went_away()
        try:
            for item in self._stream(job, context, went_away):
                yield item if as_message is None else as_message(item)
        finally:
            job.detach()

    def _stream(self, job, context, went_away):
        while True:
            try:
                item = job.events.get(timeout=1.0)
            except queue.Empty:  # nothing new: stop if the client is gone
                if not context.is_active():
                    went_away()  # no-op if the callback already ran; never leave the job running for no one
                    return
                continue
            if isinstance(item, JobEnd):
                if item.error is not None:
                    _abort(context, item.error.code, item.error.message, item.error.field)
                return
            if isinstance(item, ResultPayload):
                yield from _chunks(item)
            else:
                yield item

    def StylizeSequence(self, request, context):  # read and run by server/sequence_jobs.py
        from .sequence_jobs import as_sequence_message, build_sequence
        return self._serve(build_sequence, request, context, as_sequence_message)

    def CancelJob(self, request, context):
        job = self._find(request.job_id, context)
        cancelled = self._state.manager.cancel(job.id, "cancelled by request")
        return style_pb2.CancelJobResponse(cancelled=cancelled, state=job.state.value)

    def GetJob(self, request, context):
        job = self._find(request.job_id, context)
        return style_pb2.GetJobResponse(state=job.state.value, error=job.error.message if job.error else "")

    def _find(self, job_id: str, context):
        manager = self._state.manager
        job = manager.get(job_id) if manager is not None else None
        if job is None:
            owner = job_id.rpartition(JOB_SERVER_SEPARATOR)[2] if JOB_SERVER_SEPARATOR in job_id else ""
            elsewhere = owner and owner != self._state.name
            # The trailing mark lets a proxy (Envoy, see server.envoy) retry the call on the fleet's other servers.
            _abort(context, grpc.StatusCode.NOT_FOUND,
                   f"job_id: no job {quote(job_id)} on this server ({quote(self._state.name)})"
                   + (f"; it names the server {quote(owner)}" if elsewhere else ""), "job_id",
                   ((JOB_ELSEWHERE_METADATA_KEY, "1"),) if elsewhere else ())
        return job

    def Describe(self, request, context):
        state = self._state
        engine = state.engine  # None while loading
        loaded = {}
        if engine is not None:
            loaded = dict(device=engine.device, weights_source=engine.weights_info.source,
                          weights_sha256=engine.weights_info.sha256, preprocessing=engine.weights_info.preprocessing,
                          auto_precision=engine.auto_precision, auto_precision_reason=engine.auto_precision_reason)
        return style_pb2.DescribeResponse(
            version=__version__,
            **loaded,
            limits=state.limits.to_proto(state.cache.max_bytes,
                                         engine.memory_budget_bytes() if engine is not None else 0),
            presets=[style_pb2.Preset(name=name, **dataclasses.asdict(p)) for name, p in PRESETS.items()],
            default_preset=DEFAULT_PRESET,
            layer_names=LAYER_NAMES,
            default_content_layers=CONTENT_LAYERS,
            default_style_layers=STYLE_LAYERS,
            auth_required=state.token is not None,
            options=_OPTION_INFOS,
            server_name=state.name,
        )


def _option_info(name: str, spec: OptionSpec) -> style_pb2.OptionInfo:
    bounds = {key: value for key, value in (("minimum", spec.minimum), ("maximum", spec.maximum)) if value is not None}
    return style_pb2.OptionInfo(name=name, kind=spec.kind, help=spec.help, choices=spec.choices,
                                exclusive_minimum=spec.exclusive_minimum, max_items=spec.max_items, **bounds)


# Blend weights travel on the request and in each region (nst_core.contract.spec), bounded like an option.
_OPTION_INFOS = [_option_info(name, spec) for name, spec in
                 {**option_specs(), "style_blend": BLEND_SPEC}.items()]


def _chunks(payload: ResultPayload):
    total = len(payload.data)
    view = memoryview(payload.data)
    fmt = style_pb2.OUTPUT_FORMAT_RGBA if payload.format == "rgba" else style_pb2.OUTPUT_FORMAT_PNG
    offset = 0
    while True:
        end = min(offset + RESULT_CHUNK_BYTES, total)
        yield style_pb2.StylizeResponse(result=style_pb2.ResultChunk(
            data=bytes(view[offset:end]), offset=offset, total_bytes=total, width=payload.width,
            height=payload.height, format=fmt, last=end >= total))
        offset = end
        if offset >= total:
            return


class _TokenAuth(grpc.ServerInterceptor):
    """Bearer-token check on every RPC except health (so supervisors can probe without the secret)."""

    def __init__(self, token: str):
        self._expected = f"Bearer {token}".encode()

    def intercept_service(self, continuation, details):
        if details.method.startswith(_HEALTH_PREFIX):
            return continuation(details)
        sent = dict(details.invocation_metadata or ()).get(TOKEN_METADATA_KEY, "")
        if hmac.compare_digest(str(sent).encode(), self._expected):
            return continuation(details)
        handler = continuation(details)
        return None if handler is None else _deny(handler)


def _only_if_idle(metadata) -> bool:
    return any(key == ONLY_IF_IDLE_METADATA_KEY for key, _ in metadata or ())


class _IdleOnly(grpc.ServerInterceptor):
    """A fleet's Stylize call asks for an idle server: a busy one refuses it before its request is read
    (UNAVAILABLE, trailing ``nst-busy``), so that the client's retry policy sends it elsewhere at little cost."""

    def __init__(self, state: "_ServerState"):
        self._state = state

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        manager = self._state.manager
        if (handler is None or details.method not in _JOB_METHODS or manager is None
                or not _only_if_idle(details.invocation_metadata) or not manager.busy()):
            return handler
        error = busy_error(self._state.name)
        return _refusal(handler, lambda request, context: _abort(context, error.code, error.message, None, _BUSY))


def _deny(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    def refuse(request, context):
        _abort(context, grpc.StatusCode.UNAUTHENTICATED,
               "missing or wrong token: send metadata 'authorization: Bearer <token>' (nst --token or NST_TOKEN)")

    return _refusal(handler, refuse)


def _refusal(handler: grpc.RpcMethodHandler, refuse) -> grpc.RpcMethodHandler:
    """A handler of ``handler``'s shape that runs ``refuse`` (which aborts) instead."""
    kind = {(False, False): grpc.unary_unary_rpc_method_handler, (False, True): grpc.unary_stream_rpc_method_handler,
            (True, False): grpc.stream_unary_rpc_method_handler, (True, True): grpc.stream_stream_rpc_method_handler}
    make = kind[(handler.request_streaming, handler.response_streaming)]
    return make(refuse, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)


class _ServerState:
    """What the servicer reads: set up in pieces while the model loads in the background."""

    def __init__(self, *, token, limits: ServerLimits, cache, name: str = ""):
        self.token = token
        self.name = name  # set once the port is bound (host:port by default)
        self.limits = limits
        self.cache = cache
        self.engine: Optional[StyleEngine] = None
        self.manager: Optional[JobManager] = None
        self.load_error: Optional[str] = None


class ServerHandle:
    """A running server. ``address`` is the bound address (the real port when asked for port 0)."""

    def __init__(self, server: grpc.Server, address: str, state: _ServerState, health_servicer,
                 admission: Admission):
        self._server = server
        self.address = address
        self._state = state
        self._health = health_servicer
        self.admission = admission
        self._ready = threading.Event()
        self._stopped = threading.Event()
        self._loader: Optional[threading.Thread] = None

    @property
    def manager(self) -> Optional[JobManager]:
        return self._state.manager

    @property
    def engine(self) -> Optional[StyleEngine]:
        return self._state.engine

    @property
    def load_error(self) -> Optional[str]:
        return self._state.load_error

    def wait_ready(self, timeout: Optional[float] = None) -> bool:
        """True once SERVING; False on timeout or when loading failed (see ``load_error``)."""
        self._ready.wait(timeout)
        return self._ready.is_set() and self._state.load_error is None

    def stop(self, grace: float = 5.0) -> None:
        """NOT_SERVING, refuse new jobs, give the running job ``grace`` seconds, then stop listening."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._health.enter_graceful_shutdown()
        if self._loader is not None:
            # Loading cannot be interrupted inside torch, and a process that exits while a thread is still
            # in there aborts: wait for the step under way (it skips the rest once it sees the stop).
            self._loader.join()
        if self._state.manager is not None:
            self._state.manager.shutdown(grace)
        # A short grace lets handlers send the final status of the jobs just ended.
        self._server.stop(min(grace, 2.0)).wait()
        self.admission.watchdog.stop()
        self.admission.shutdown()
        log.info("server on %s stopped", self.address)

    def _set_busy(self, busy: bool) -> None:
        # Ignored by the health servicer once shutdown has begun (everything stays NOT_SERVING).
        status = health_pb2.HealthCheckResponse.NOT_SERVING if busy else health_pb2.HealthCheckResponse.SERVING
        self._health.set(IDLE_HEALTH_NAME, status)

    @property
    def name(self) -> str:
        """The server's name in a fleet; its job ids end in ``@`` and this name."""
        return self._state.name

    def wait_for_termination(self, timeout: Optional[float] = None) -> bool:
        return self._server.wait_for_termination(timeout)

    def _load(self, load: Callable[[], StyleEngine], warmup: bool) -> None:
        """In the background: load and warm up the engine, then turn SERVING (or record why not)."""
        state = self._state
        try:
            engine = load()
            if warmup and not self._stopped.is_set():  # so the first request pays no one-time setup
                engine.warm_up()
            # The model and libraries are long-lived: move them out of the garbage collector's view, so a
            # full collection per job (the engine frees job memory that way) costs ~1 ms instead of ~250.
            gc.collect()
            gc.freeze()
        except WeightsUnavailable as exc:
            state.load_error = str(exc)
        except Exception as exc:  # noqa: BLE001 - reported through load_error and FAILED_PRECONDITION
            log.exception("loading the model failed")
            state.load_error = f"{type(exc).__name__}: {exc}"
        else:
            state.engine = engine
            if not self._stopped.is_set():  # stopped while loading: no worker to start (or to stop)
                state.manager = JobManager(engine, queue_size=state.limits.queue_size,
                                           queue_bytes=state.limits.queue_bytes, style_cache=state.cache,
                                           server_name=state.name, on_busy=self._set_busy)
                for name in ("", SERVICE_NAME):
                    self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._ready.set()


def _claim_unix_path(address: str) -> None:
    # gRPC unlinks an existing socket file and binds anyway, which would silently take a live server's socket.
    # Only a socket is ever removed, and only one nobody listens on (check_address refuses anything else).
    path = address[len("unix:"):]
    if path.startswith("//"):  # unix:///abs/path
        path = path[2:]
    if not os.path.lexists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:  # stale: nobody listens there any more
        os.unlink(path)
        return
    finally:
        probe.close()
    raise ServerStartError(f"cannot listen on {address}: a server is already listening there")


def _bind(server: grpc.Server, address: str) -> str:
    try:
        check_address(address)
    except ValueError as exc:
        raise ServerStartError(f"cannot listen on {exc}") from None
    if address.startswith("unix:"):
        _claim_unix_path(address)
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise ServerStartError(f"cannot listen on {address}: {exc} (is another server already using it?)") from None
    if port == 0 and not address.startswith("unix:"):
        raise ServerStartError(f"cannot listen on {address}: address in use or unavailable")
    if address.startswith("unix:"):
        return address
    host = address.rsplit(":", 1)[0]
    return f"{host}:{port}"


def _grpc_server(state: _ServerState, admission: Admission) -> tuple[grpc.Server, HealthServicer]:
    """The style service, health (NOT_SERVING until the model is loaded) and reflection on one server."""
    limits = state.limits
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=limits.threads, thread_name_prefix="nst-rpc"),
        # Outermost first: a call with a wrong token is refused before it takes a slot or is read.
        interceptors=([_TokenAuth(state.token)] if state.token else []) + [_IdleOnly(state), admission],
        maximum_concurrent_rpcs=_MAX_CALLS_IN_FLIGHT,
        # Identity only: a compressed request is refused (UNIMPLEMENTED) before it is inflated. gRPC has one
        # message limit per server, so any method's request could otherwise inflate to max_request_bytes.
        options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", limits.max_request_bytes),
                 ("grpc.compression_enabled_algorithms_bitset", 1),
                 ("grpc.max_send_message_length", limits.max_request_bytes)] + _KEEPALIVE_OPTIONS,
    )
    style_pb2_grpc.add_StyleServiceServicer_to_server(StyleServicer(state), server)
    health_servicer = HealthServicer(("", SERVICE_NAME, IDLE_HEALTH_NAME))  # NOT_SERVING until loaded
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    return server, health_servicer


def start_server(engine: Optional[StyleEngine] = None, *, load: Optional[Callable[[], StyleEngine]] = None,
                 address: str = "127.0.0.1:0", weights: str = "original", device: Optional[str] = None,
                 preprocessing: Optional[str] = None, token: Optional[str] = None,
                 queue_size: int = DEFAULT_QUEUE_SIZE, max_pixels: int = DEFAULT_MAX_PIXELS,
                 max_request_pixels: int = 0, queue_mb: float = DEFAULT_QUEUE_MB,
                 memory_budget_mb: Optional[int] = None, cache_mb: int = DEFAULT_CACHE_MB,
                 receive_seconds: float = RECEIVE_SECONDS, stall_seconds: float = STALL_SECONDS,
                 warmup: bool = True, wait: bool = True, name: Optional[str] = None) -> ServerHandle:
    """Start a real gRPC server around a loaded ``engine``, or one that ``load()`` returns, or else
    ``Engine(weights, device, preprocessing=…)``. Listening starts at once with health NOT_SERVING; loading
    and warm-up run in the background, then health turns SERVING. ``wait`` blocks until then and raises
    ServerStartError if loading failed. The limits are explained in ``server.limits`` (ValueError if invalid);
    ``memory_budget_mb`` bounds each job's memory (None: the engine's own budget): it becomes the engine's
    state when the server takes it (a view of a given engine, or the loaded one's constructor argument), so
    jobs never carry it (InvalidInput naming it if out of range). ``name`` names the server in a fleet
    (default: this host's name and the bound port) and ends each of its job ids."""
    if name is not None:
        check_server_name(name)
    if not 0 <= cache_mb <= MAX_SETTING_MB:
        raise ValueError(f"cache_mb must be from 0 to {MAX_SETTING_MB}, got {cache_mb}")
    if not 0 <= queue_mb <= MAX_SETTING_MB:  # NaN fails this too
        raise ValueError(f"queue_mb must be from 0 to {MAX_SETTING_MB}, got {queue_mb}")
    limits = ServerLimits(queue_size=queue_size, max_pixels=max_pixels, max_request_pixels=max_request_pixels,
                          queue_bytes=int(queue_mb * MIB),
                          receive_seconds=receive_seconds, stall_seconds=stall_seconds)
    if engine is not None:
        if memory_budget_mb is not None:
            engine = engine.with_memory_budget(memory_budget_mb)
        load = lambda: engine  # noqa: E731
    elif load is None:
        load = functools.partial(_product_engine, weights, device, preprocessing, memory_budget_mb)
    elif memory_budget_mb is not None:
        load = functools.partial(_with_budget, load, memory_budget_mb)
    state = _ServerState(token=token, limits=limits, cache=TargetCache(max_bytes=cache_mb * 1024 * 1024))
    admission = Admission(limits.calls, limits.other_calls, receive_seconds=receive_seconds,
                          stall_seconds=stall_seconds, watchdog=Watchdog())
    server, health_servicer = _grpc_server(state, admission)
    try:
        bound = _bind(server, address)
    except ServerStartError:
        admission.watchdog.stop()
        raise
    state.name = name or _default_name(bound)
    handle = ServerHandle(server, bound, state, health_servicer, admission)
    server.start()
    handle._loader = threading.Thread(target=handle._load, args=(load, warmup), name="nst-load", daemon=True)
    handle._loader.start()
    if wait and not handle.wait_ready():
        message = handle.load_error
        handle.stop(0)
        raise ServerStartError(f"the model could not be loaded: {message}")
    return handle


def _default_name(bound: str) -> str:
    """``host:port`` with this machine's name: unique in a fleet of hosts and of ports on one host."""
    where = bound.rsplit(":", 1)[1] if not bound.startswith("unix:") else bound
    # The --name rule holds for it too: an '@' from a socket path would split its own job ids wrongly.
    return check_server_name(server_name_from(f"{server_name_from(socket.gethostname()) or 'localhost'}:{where}"))


def _product_engine(weights: str, device: Optional[str], preprocessing: Optional[str],
                    memory_budget_mb: Optional[int]) -> StyleEngine:
    from nst_core.engine import Engine  # torch: imported only by the process that serves

    return Engine(weights=weights, device=device, preprocessing=preprocessing, memory_budget_mb=memory_budget_mb)


def _with_budget(load: Callable[[], StyleEngine], memory_budget_mb: int) -> StyleEngine:
    return load().with_memory_budget(memory_budget_mb)
