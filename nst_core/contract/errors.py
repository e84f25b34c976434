"""Errors the engine raises. Callers (CLI, server) map them to messages or status codes."""

QUOTE_LIMIT = 40  # characters of user input an error message repeats


def quote(value, limit: int = QUOTE_LIMIT) -> str:
    """User input as an error message may repeat it: escaped (``repr``) and cut to ``limit`` characters.

    A request can carry megabytes in one string; echoing it whole would swell every status message and
    log line past what clients accept.
    """
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return repr(text) if isinstance(value, str) else text
    shown = repr(text[:limit]) if isinstance(value, str) else text[:limit]
    return f"{shown}… ({len(text)} characters)"


class NSTError(Exception):
    """Base class for every error the engine raises on purpose."""


class InvalidInput(NSTError, ValueError):
    """Bad user input. ``field`` names the offending option or image, e.g. ``"style_weight"``."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class WeightsUnavailable(NSTError, RuntimeError):
    """The requested VGG19 weights cannot be loaded (missing, corrupt, not downloadable)."""


class Cancelled(NSTError):
    """The job's cancel token was set; raised at the next optimizer step."""


class DeviceOutOfMemory(NSTError, MemoryError):
    """The device ran out of memory during a job; the engine has freed what it held."""


_OOM_TEXT = ("out of memory", "can't allocate memory", "not enough memory", "cannot allocate memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """True for allocation failures on any device: torch's OutOfMemoryError (CUDA, MPS), Python's
    MemoryError, and the plain RuntimeError torch's CPU allocator raises."""
    if isinstance(exc, (DeviceOutOfMemory, MemoryError)) or type(exc).__name__ == "OutOfMemoryError":
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(s in text for s in _OOM_TEXT)
