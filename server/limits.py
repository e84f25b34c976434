"""Every limit the server enforces, in one place; Describe reports them and docs/server.md "Limits" lists them."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from grpc_health.v1 import health
from grpc_reflection.v1alpha import reflection

from nst_core.contract.limits import MAX_REGION_STRENGTH, MAX_REGIONS
from nst_core.contract.sequence_spec import MAX_FRAMES, MAX_SEQUENCE_PIXELS
from protos.nst.v1 import style_pb2

from .admission import CallKind
from .config import (DEFAULT_MAX_PIXELS, DEFAULT_QUEUE_MB, DEFAULT_QUEUE_SIZE, MAX_QUEUE_SIZE, MAX_SETTING_MB,
                     MAX_SETTING_PIXELS, MAX_STYLES)

MIB = 1024 * 1024
MAX_PREVIEW_SIZE = 4096  # long side of previews, pixels
RECEIVE_SECONDS = 30.0  # a call's request must have arrived by then
STALL_SECONDS = 60.0  # a response the client has not taken by then ends the call
# Stylize calls beyond the queue's jobs: results still streaming, requests being checked or refused.
STYLIZE_SPARE = 8
STYLIZE_RECEIVING = 2  # Stylize requests received and checked at once: each may be max_request_bytes
# A Stylize request may be max_request_bytes: a caller still sending after this long gives its receiving
# place up when another caller waits for one (a local 528 MiB request arrives within a few seconds).
STYLIZE_IDLE_SECONDS = 10.0
HEALTH_CHECKS = 64  # health checks in progress at once (each answers at once; idle ones give way, see admission)
# Health Watch streams last as long as a client's channel: a fleet's client (server.fleet) keeps two to each
# server, so this is room for 32 such clients at once. Health needs no token: one client address may hold
# a quarter of them (8 fleet clients on one host), so that no single caller locks the fleet out.
HEALTH_WATCHES = 64
HEALTH_WATCHES_PER_ADDRESS = 16
SPARE_THREADS = 16  # for health checks and prompt refusals, beyond every budgeted call


def _methods(service: str, *names: str) -> tuple[str, ...]:
    return tuple(f"/{service}/{name}" for name in names)


_STYLE = style_pb2.DESCRIPTOR.services_by_name["StyleService"].full_name


@dataclass(frozen=True)
class ServerLimits:
    """What one request, the queue and each kind of call may use. Raises ValueError when inconsistent."""

    queue_size: int = DEFAULT_QUEUE_SIZE  # jobs that may wait behind the running one
    max_pixels: int = DEFAULT_MAX_PIXELS  # per image
    max_request_pixels: int = 0  # content + styles + init image; 0: twice max_pixels
    queue_bytes: int = DEFAULT_QUEUE_MB * MIB  # image bytes waiting jobs may hold together
    max_styles: int = MAX_STYLES
    max_preview_size: int = MAX_PREVIEW_SIZE
    receive_seconds: float = RECEIVE_SECONDS
    stall_seconds: float = STALL_SECONDS
    max_frames: int = MAX_FRAMES  # per sequence (StylizeSequence)
    max_sequence_pixels: int = MAX_SEQUENCE_PIXELS  # a sequence's frames together
    calls: tuple[CallKind, ...] = field(init=False)

    def __post_init__(self):
        if self.max_request_pixels == 0:
            object.__setattr__(self, "max_request_pixels", 2 * self.max_pixels)
        uppers = dict(queue_size=MAX_QUEUE_SIZE, queue_bytes=MAX_SETTING_MB * MIB, max_pixels=MAX_SETTING_PIXELS,
                      max_request_pixels=2 * MAX_SETTING_PIXELS, max_styles=1024,
                      max_preview_size=65536)
        for name, upper in uppers.items():
            if getattr(self, name) > upper:
                raise ValueError(f"{name} must be at most {upper}")
        for name in ("queue_size", "queue_bytes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("max_pixels", "max_request_pixels", "max_styles", "max_preview_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        for name in ("receive_seconds", "stall_seconds"):
            if not 0 < getattr(self, name) < math.inf:
                raise ValueError(f"{name} must be a positive number of seconds")
        if self.max_request_pixels < self.max_pixels:
            raise ValueError("max_request_pixels must be at least max_pixels")
        object.__setattr__(self, "calls", (
            CallKind("stylize", "Stylize calls", _methods(_STYLE, "Stylize", "StylizeSequence"),
                     self.queue_size + 1 + STYLIZE_SPARE, STYLIZE_RECEIVING, STYLIZE_IDLE_SECONDS),
            CallKind("jobs", "CancelJob, GetJob and Describe calls", _methods(_STYLE, "CancelJob", "GetJob", "Describe"),
                     16),
            CallKind("reflection", "reflection streams",
                     _methods(reflection.SERVICE_NAME, "ServerReflectionInfo"), 8),
            CallKind("health watch", "health Watch streams", _methods(health.SERVICE_NAME, "Watch"), HEALTH_WATCHES,
                     max_per_peer=HEALTH_WATCHES_PER_ADDRESS),
            CallKind("health check", "health checks", _methods(health.SERVICE_NAME, "Check"), HEALTH_CHECKS),
        ))

    @property
    def other_calls(self) -> CallKind:
        """Methods of no listed kind (none today): a small shared budget rather than none."""
        return CallKind("other", "calls of other methods", (), 4)

    @property
    def max_request_bytes(self) -> int:
        """Largest request message: the request's pixel budget as raw RGBA, plus room for the rest."""
        return min(2**31 - 1, self.max_request_pixels * 4 + 16 * MIB)

    @property
    def max_decoded_bytes(self) -> int:
        """What decoding one image may hold while a request is checked (pixels as stored, decoder buffers,
        8-bit copy; nst_core.images.decode_peak): 4 bytes per pixel of the largest image, 256 MiB at the default."""
        return 4 * self.max_pixels

    @property
    def threads(self) -> int:
        return sum(kind.max_calls for kind in (*self.calls, self.other_calls)) + SPARE_THREADS

    def to_proto(self, cache_bytes: int, memory_budget_bytes: int) -> style_pb2.Limits:
        return style_pb2.Limits(
            max_pixels=self.max_pixels, max_request_bytes=self.max_request_bytes, queue_size=self.queue_size,
            cache_bytes=cache_bytes, max_request_pixels=self.max_request_pixels, max_styles=self.max_styles,
            queue_bytes=self.queue_bytes, max_preview_size=self.max_preview_size,
            memory_budget_bytes=memory_budget_bytes, max_decoded_bytes=self.max_decoded_bytes,
            receive_seconds=self.receive_seconds, stall_seconds=self.stall_seconds,
            max_regions=MAX_REGIONS, max_region_strength=MAX_REGION_STRENGTH,
            max_frames=self.max_frames, max_sequence_pixels=self.max_sequence_pixels,
            calls=[style_pb2.CallLimit(kind=k.name, methods=[m.lstrip("/") for m in k.methods],
                                       max_calls=k.max_calls, max_receiving=k.receiving)
                   for k in self.calls])

