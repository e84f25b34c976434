"""The job queue: one worker thread per engine (device), a bounded FIFO, cancel and job states.

Each job owns a queue of outgoing events that its RPC handler drains; the worker only ever appends to it,
so a slow or vanished client never blocks the device.
"""
from __future__ import annotations

import io
import logging
import queue
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass
from enum import Enum
from typing import Callable, Optional

import grpc

from nst_core.cache import TargetCache
from nst_core.contract.errors import Cancelled, DeviceOutOfMemory, InvalidInput, WeightsUnavailable, is_out_of_memory
from nst_core.interface import StyleEngine
from nst_core.contract.progress import CancelToken
from protos.nst.v1 import style_pb2

from .job_input import JobInput

log = logging.getLogger("nst.server")

_HISTORY = 1000  # finished jobs whose state can still be asked for
MIB = 1024 * 1024


class JobState(Enum):
    QUEUED = style_pb2.JOB_STATE_QUEUED
    RUNNING = style_pb2.JOB_STATE_RUNNING
    SUCCEEDED = style_pb2.JOB_STATE_SUCCEEDED
    FAILED = style_pb2.JOB_STATE_FAILED
    CANCELLED = style_pb2.JOB_STATE_CANCELLED

    @property
    def ended(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class JobError(Exception):
    """A job or submission failed with a definite gRPC status and a message fit for the client."""

    def __init__(self, code: grpc.StatusCode, message: str, field: Optional[str] = None, busy: bool = False):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.busy = busy  # refused only because another job runs here: a fleet's client tries another server


def busy_error(server_name: str) -> JobError:
    return JobError(grpc.StatusCode.UNAVAILABLE,
                    f"the style server {server_name or '(unnamed)'} is busy with another job; asked for an idle "
                    "server only, so the client tries another", busy=True)


@dataclass
class ResultPayload:
    data: bytes
    width: int
    height: int
    format: str


@dataclass
class JobEnd:
    """Last item of a job's event queue; ``error`` is None on success."""

    error: Optional[JobError]


class Job:
    def __init__(self, job_input: JobInput, server_name: str = ""):
        # In a fleet the id names its server, so that GetJob and CancelJob can be sent to the owner.
        self.id = f"{uuid.uuid4().hex}@{server_name}" if server_name else uuid.uuid4().hex
        self.input: Optional[JobInput] = job_input
        self.held_bytes = job_input.held_bytes  # counted against the queue's memory budget while waiting
        self.summary = job_input.describe()
        self.state = JobState.QUEUED
        self.error: Optional[JobError] = None
        self.token = CancelToken()
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.submitted = time.monotonic()
        self.started: Optional[float] = None
        self.position: Optional[int] = None
        self.steps_done = 0  # optimizer steps reported so far
        self.steps_at_cancel: Optional[int] = None  # steps_done when cancel was requested
        self.cancel_reason = "cancelled"
        self.cancel_code = grpc.StatusCode.CANCELLED  # UNAVAILABLE when the server shuts down
        self._listened = True
        self._push_lock = threading.Lock()

    def push(self, item) -> None:
        with self._push_lock:
            if self._listened:
                self.events.put(item)

    def detach(self) -> None:
        """Its handler is gone: drop the events nobody will read (a result, previews), now and later, so
        that the job's record in the history stays small."""
        with self._push_lock:
            self._listened = False
            while not self.events.empty():
                self.events.get_nowait()


def _encode(image, output_format: str) -> ResultPayload:
    if output_format == "rgba":
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        return ResultPayload(rgba.tobytes(), image.width, image.height, "rgba")
    buffer = io.BytesIO()
    # Level 1: results travel over a local socket; deeper compression costs far more time than bytes saved.
    image.save(buffer, "PNG", compress_level=1)
    return ResultPayload(buffer.getvalue(), image.width, image.height, "png")


def _preview_message(image, max_size: int) -> style_pb2.StylizeResponse:
    image = image.copy()
    image.thumbnail((max_size, max_size))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return style_pb2.StylizeResponse(preview=style_pb2.JobPreview(png=buffer.getvalue(), width=image.width,
                                                                   height=image.height))


def _progress_message(progress) -> style_pb2.JobProgress:
    """The engine's Progress as the proto message: the same field names (one shape end to end)."""
    fields = style_pb2.JobProgress.DESCRIPTOR.fields
    return style_pb2.JobProgress(**{f.name: getattr(progress, f.name) for f in fields})


def _failure(exc: BaseException) -> JobError:
    """Map an engine exception to a status; anything unexpected becomes INTERNAL, never UNKNOWN."""
    if isinstance(exc, InvalidInput):
        return JobError(grpc.StatusCode.INVALID_ARGUMENT, str(exc), exc.field)
    if isinstance(exc, DeviceOutOfMemory):  # the engine's message names the size that failed and what to try
        return JobError(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
    if is_out_of_memory(exc):  # allocations outside the engine, e.g. encoding the result
        return JobError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                        "the server ran out of memory; try a smaller max_size or fewer styles")
    if isinstance(exc, WeightsUnavailable):
        return JobError(grpc.StatusCode.FAILED_PRECONDITION, f"weights unavailable: {exc}")
    return JobError(grpc.StatusCode.INTERNAL, f"internal error ({type(exc).__name__}); see the server log")


class JobManager:
    """Runs jobs one at a time on ``engine``; at most ``queue_size`` more wait their turn, holding at most
    ``queue_bytes`` of images together."""

    def __init__(self, engine: StyleEngine, *, queue_size: int, queue_bytes: int = 2**62,
                 style_cache: Optional[TargetCache] = None, server_name: str = "",
                 on_busy: Optional[Callable[[bool], None]] = None):
        self.engine = engine  # its memory budget is its own (set once, when the server took it)
        self.server_name = server_name
        self._on_busy = on_busy  # told (under the lock, so in order) whenever busy() changes
        self._was_busy: Optional[bool] = None
        self.queue_size = queue_size
        self.queue_bytes = queue_bytes
        self.style_cache = style_cache
        self._waiting: deque[Job] = deque()
        self._waiting_bytes = 0
        self._running: Optional[Job] = None
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._cond = threading.Condition()
        self._accepting = True
        self._stopping = False
        self._worker = threading.Thread(target=self._work, name="nst-worker", daemon=True)
        self._worker.start()
        with self._cond:
            self._busy_changed()

    # -- busy or idle (a fleet's clients send new jobs to idle servers) -------------------------------

    def busy(self) -> bool:
        """Whether a job runs or waits (or the server takes no more): a new job would not start at once."""
        with self._cond:
            return self._busy()

    def _busy(self) -> bool:
        return self._running is not None or bool(self._waiting) or not self._accepting

    def _busy_changed(self) -> None:
        # Called with the lock held after any change of the running job, the queue or _accepting.
        busy = self._busy()
        if busy != self._was_busy:
            self._was_busy = busy
            if self._on_busy is not None:
                self._on_busy(busy)

    # -- submission and lookup -------------------------------------------------------------------------

    def check_room(self, held_bytes: int) -> None:
        """Raise the JobError ``submit`` would raise now for a job holding ``held_bytes`` (a cheap early
        refusal, before the request's images are decoded)."""
        with self._cond:
            self._check_room(held_bytes)

    def _check_room(self, held_bytes: int) -> None:
        if not self._accepting:
            raise JobError(grpc.StatusCode.UNAVAILABLE, "the server is shutting down; no new jobs")
        # queue_size wait behind the running job; with none running, one more may wait for the worker.
        if len(self._waiting) + (self._running is not None) > self.queue_size:
            raise JobError(grpc.StatusCode.UNAVAILABLE,
                           f"the job queue is full ({self.queue_size} waiting); try again later")
        if held_bytes > self.queue_bytes:
            raise JobError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                           f"the request's images take {held_bytes / MIB:.1f} MiB, more than the queue's memory "
                           f"budget of {self.queue_bytes / MIB:.1f} MiB for waiting jobs")
        if self._waiting_bytes + held_bytes > self.queue_bytes:
            raise JobError(grpc.StatusCode.UNAVAILABLE,
                           f"the waiting jobs' images would take {(self._waiting_bytes + held_bytes) / MIB:.1f} MiB, "
                           f"over the queue's memory budget of {self.queue_bytes / MIB:.1f} MiB; try again later")

    def submit(self, job_input: JobInput, only_if_idle: bool = False) -> Job:
        """Queue a job; with ``only_if_idle`` refuse it (UNAVAILABLE, ``JobError.busy``) unless it starts at once."""
        job = Job(job_input, self.server_name)
        with self._cond:
            if only_if_idle and self._busy():
                raise busy_error(self.server_name)
            self._check_room(job.held_bytes)
            self._waiting.append(job)
            self._waiting_bytes += job.held_bytes
            self._remember(job)
            self._announce_positions()
            self._busy_changed()
            self._cond.notify_all()
        return job

    def get(self, job_id: str) -> Optional[Job]:
        with self._cond:
            return self._jobs.get(job_id)

    def waiting_bytes(self) -> int:
        """Image bytes the waiting jobs hold together (at most ``queue_bytes``)."""
        with self._cond:
            return self._waiting_bytes

    def _unwait(self, job: Job) -> None:
        self._waiting.remove(job)
        self._waiting_bytes -= job.held_bytes

    def _remember(self, job: Job) -> None:
        self._jobs[job.id] = job
        while len(self._jobs) > _HISTORY:
            oldest = next(iter(self._jobs.values()))
            if not oldest.state.ended:
                break
            self._jobs.popitem(last=False)

    def _announce_positions(self) -> None:
        # Called with the lock held: tell each waiting job its place whenever it changes.
        ahead = 1 if self._running is not None else 0
        for index, job in enumerate(self._waiting):
            position = ahead + index
            if position != job.position:
                job.position = position
                job.push(style_pb2.StylizeResponse(queued=style_pb2.JobQueued(job_id=job.id, position=position)))

    # -- cancel ----------------------------------------------------------------------------------------

    def cancel(self, job_id: str, reason: str = "cancelled by request",
               code: grpc.StatusCode = grpc.StatusCode.CANCELLED) -> bool:
        """Cancel a waiting or running job; False if it had already ended (or is unknown)."""
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None or job.state.ended or job.token.cancelled:
                return False
            job.cancel_reason = reason
            job.cancel_code = code
            job.steps_at_cancel = job.steps_done
            job.token.cancel()
            if job.state is JobState.QUEUED:
                self._unwait(job)
                self._finish(job, JobState.CANCELLED, JobError(code, f"job {reason}"))
                self._announce_positions()
            return True  # a running job stops at the engine's next step check

    def _finish(self, job: Job, state: JobState, error: Optional[JobError]) -> None:
        if self._running is job:  # its place is free once its client can know it ended
            self._running = None
        job.state = state
        job.error = error
        job.input = None  # drop the images now: the handler may still be streaming for a while
        job.push(JobEnd(error))
        self._busy_changed()
        waited = (job.started or time.monotonic()) - job.submitted
        ran = time.monotonic() - job.started if job.started else 0.0
        if state is JobState.CANCELLED:
            outcome = f"cancelled ({job.cancel_reason})"
        elif error is not None:
            outcome = f"failed ({error.code.name}: {error.message})"
        else:
            outcome = "succeeded"
        log.info("job %s: %s, %d steps, %.2f s (queued %.2f s), %s",
                 job.id, job.summary, job.steps_done, ran, waited, outcome)

    # -- the worker ------------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._stopping:
                    self._cond.wait()
                if not self._waiting:
                    return
                job = self._waiting[0]
                self._unwait(job)
                job.state = JobState.RUNNING
                job.started = time.monotonic()
                self._running = job
                self._announce_positions()
                self._busy_changed()
            try:
                self._run(job)
            finally:
                with self._cond:
                    self._running = None
                    self._announce_positions()
                    self._busy_changed()
                    self._cond.notify_all()

    def _run(self, job: Job) -> None:
        if getattr(job.input, "is_sequence", False):  # a sequence runs frame by frame (server/sequence_jobs.py)
            from .sequence_jobs import run_sequence
            return run_sequence(self, job)
        job_input, job.input = job.input, None  # only this frame holds the images while the job runs
        job.push(style_pb2.StylizeResponse(started=style_pb2.JobStarted(job_id=job.id,
                                                                          server_name=self.server_name)))
        last_preview = [0.0]

        def on_progress(p) -> None:
            job.steps_done = p.overall_step
            job.push(style_pb2.StylizeResponse(progress=_progress_message(p)))
            now = time.monotonic()
            if job_input.preview and p.preview is not None and now - last_preview[0] >= job_input.preview_interval:
                last_preview[0] = now
                job.push(_preview_message(p.preview(), job_input.preview_size))

        images = None
        try:
            images = job_input.decode()  # waiting jobs hold their images as sent; pixels exist from here on
            result = self.engine.run(images, progress=on_progress, cancel=job.token, style_cache=self.style_cache)
            payload = _encode(result.image, job_input.output_format)
            result.image = None  # the encoded bytes are all that is streamed
        except Exception as exc:  # noqa: BLE001 - every failure must reach the client as a status
            self.ended_early(job, exc)
            return
        finally:
            del job_input, images  # free the decoded images before the result is streamed
        hits = result.style_cache_hits
        self.succeed(job, payload, style_pb2.StylizeResponse(finished=style_pb2.JobFinished(
            wall_time_seconds=result.wall_time, steps=result.steps, cache_hit=hits > 0, style_cache_hits=hits,
            queue_seconds=job.started - job.submitted, losses=result.losses)))

    def ended_early(self, job: Job, exc: Exception) -> None:
        """A job's run raised: it was cancelled, or it failed with a status the client can read."""
        if isinstance(exc, Cancelled):
            self._end(job, JobState.CANCELLED, JobError(job.cancel_code, f"job {job.cancel_reason}"))
            return
        error = _failure(exc)
        if error.code is grpc.StatusCode.INTERNAL:
            log.exception("job %s failed unexpectedly", job.id)
        self._end(job, JobState.FAILED, error)

    def succeed(self, job: Job, *messages) -> None:
        """Stream a finished job's last messages and end it, unless a cancel came first."""
        with self._cond:  # atomic with cancel(): once it has answered True the job must end CANCELLED
            if job.token.cancelled:  # cancelled after the engine's last step check or during encoding
                self._finish(job, JobState.CANCELLED, JobError(job.cancel_code, f"job {job.cancel_reason}"))
                return
            for message in messages:
                job.push(message)
            self._finish(job, JobState.SUCCEEDED, None)

    def _end(self, job: Job, state: JobState, error: Optional[JobError]) -> None:
        with self._cond:
            self._finish(job, state, error)

    # -- lifecycle -------------------------------------------------------------------------------------

    def running(self) -> Optional[Job]:
        with self._cond:
            return self._running

    def shutdown(self, grace: float) -> None:
        """Refuse new jobs, cancel waiting ones, give the running one ``grace`` seconds, then cancel it."""
        with self._cond:
            self._accepting = False
            self._busy_changed()
            for job in list(self._waiting):
                job.token.cancel()
                job.cancel_reason = "the server is shutting down"
                self._unwait(job)
                self._finish(job, JobState.CANCELLED,
                             JobError(grpc.StatusCode.UNAVAILABLE, "the server is shutting down; job cancelled"))
            self._stopping = True
            self._cond.notify_all()
        self._worker.join(grace)
        running = self.running()
        if running is not None:
            self.cancel(running.id, "cancelled: the server is shutting down", grpc.StatusCode.UNAVAILABLE)
            self._worker.join(30.0)  # the engine stops within one optimizer step
