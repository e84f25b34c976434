"""Give freed heap memory back to the operating system.

glibc keeps memory freed by a thread in that thread's arena for reuse; with dozens of gRPC threads each
decoding a big image now and then, the server's resident size would creep up to one decode peak per arena.
``malloc_trim`` returns it. Elsewhere (macOS, Windows, musl) this is a no-op.
"""
from __future__ import annotations

import ctypes
import ctypes.util

TRIM_AFTER_BYTES = 32 * 1024 * 1024  # trimming walks every arena (a few ms): only after big frees


def _load_trim():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None


_malloc_trim = _load_trim()


def release_free_memory(freed_bytes: int = TRIM_AFTER_BYTES) -> None:
    """Return free heap memory to the OS, if ``freed_bytes`` (what the caller just freed) makes it worth it."""
    if _malloc_trim is not None and freed_bytes >= TRIM_AFTER_BYTES:
        _malloc_trim(0)
