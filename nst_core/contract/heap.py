"""Give freed heap memory back to the operating system (glibc's ``malloc_trim``; elsewhere a no-op).

glibc keeps what a thread frees in that thread's arena for reuse: with dozens of gRPC threads each decoding
a big image now and then, a server's resident size would creep up to one decode peak per arena, and an
engine's plans would see memory as in use that is only cached.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools

TRIM_AFTER_BYTES = 32 * 1024 * 1024  # trimming walks every arena (a few ms): only after big frees


@functools.cache
def libc():
    """glibc, or None (macOS, Windows, musl: nothing to tune)."""
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return lib if hasattr(lib, "malloc_trim") else None


def release_free_heap() -> None:
    """Give freed heap memory back to the system, so the resident size shows what is in use."""
    lib = libc()
    if lib is not None:
        lib.malloc_trim(0)


def release_after(freed_bytes: int) -> None:
    """:func:`release_free_heap` when what the caller just freed makes it worth a trim."""
    if freed_bytes >= TRIM_AFTER_BYTES:
        release_free_heap()
