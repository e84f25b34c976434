"""Defaults shared by the server, the client library and the CLI (standard library and the torch-free
nst_core.contract only)."""
from __future__ import annotations

import os
import stat

from nst_core.contract.limits import DEFAULT_MAX_PIXELS  # noqa: F401 - one limit for the engine and the server
from nst_core.contract.limits import MAX_STYLE_IMAGES as MAX_STYLES  # noqa: F401

DEFAULT_ADDRESS = "127.0.0.1:50051"
ADDRESS_ENV = "NST_SERVER"  # overrides DEFAULT_ADDRESS for clients and `nst serve`
TOKEN_ENV = "NST_TOKEN"  # bearer token for clients, and turns on auth for `nst serve`

DEFAULT_QUEUE_SIZE = 8
DEFAULT_QUEUE_MB = 1024  # image data waiting jobs may hold together
DEFAULT_CACHE_MB = 256
DEFAULT_GRACE_SECONDS = 10.0
# Upper bounds of the operator's settings: each keeps Describe's uint32/uint64 fields and the server's own
# arithmetic in range, far past any machine's need.
MAX_QUEUE_SIZE = 10_000
MAX_SETTING_PIXELS = 2**32  # --max-pixels, --max-request-pixels
MAX_SETTING_MB = 2**30  # --queue-mb, --cache-mb, --memory-budget-mb: 1 PiB

RESULT_CHUNK_BYTES = 2 * 1024 * 1024  # below gRPC's 4 MiB default so any client (grpcurl) can read results
TOKEN_METADATA_KEY = "authorization"
ERROR_FIELD_METADATA_KEY = "nst-error-field"  # trailing metadata on every error the server itself raises

# Fleets (several servers behind one name). A server's health under this service name is SERVING only while
# it is idle (no job running or waiting), so a fleet's clients, whose channel checks it, send new jobs to
# idle servers only; the plain service name stays SERVING while the server takes jobs at all.
IDLE_HEALTH_NAME = "nst.v1.StyleService/idle"
# Request metadata of a fleet's Stylize calls: refuse the job (UNAVAILABLE) unless it starts at once, so that
# gRPC's retry policy sends it to another server. Such a refusal carries the trailing BUSY_METADATA_KEY.
ONLY_IF_IDLE_METADATA_KEY = "nst-only-if-idle"
BUSY_METADATA_KEY = "nst-busy"
JOB_SERVER_SEPARATOR = "@"  # a job id is <uuid>@<server name>
# Trailing metadata of GetJob's and CancelJob's NOT_FOUND when the id names another server.
JOB_ELSEWHERE_METADATA_KEY = "nst-job-elsewhere"
MAX_SERVER_NAME_CHARS = 128


def _name_char(c: str) -> bool:
    return "!" <= c <= "~" and c != "@"


def server_name_from(text: str) -> str:
    """``text`` (a host name, a socket path) cut down to what ``check_server_name`` accepts; may be empty."""
    return "".join(filter(_name_char, text))[:MAX_SERVER_NAME_CHARS]


def check_server_name(name: str) -> str:
    """A server name: printable ASCII without spaces or '@' (it ends every job id of the server)."""
    if not name or len(name) > MAX_SERVER_NAME_CHARS or not all(map(_name_char, name)):
        raise ValueError(f"server name {name[:40]!r} must be 1 to {MAX_SERVER_NAME_CHARS} printable ASCII "
                         "characters without spaces or '@'")
    return name


def check_address(address: str) -> str:
    """``host:port`` (port 0-65535, 0 picks a free one) or ``unix:/path`` where the path is free or a socket;
    raises ValueError saying what is wrong. gRPC itself would wrap a port past 65535 to another one."""
    if address.startswith("unix:"):
        path = address[len("unix:"):]
        path = path[2:] if path.startswith("//") else path
        if not path:
            raise ValueError(f"{address!r} names no socket path")
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            folder = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(folder):
                raise ValueError(f"{address!r}: folder {folder} does not exist") from None
            return address
        except OSError as exc:  # a file where a folder should be, a name too long for the file system
            raise ValueError(f"{address!r} cannot be a socket path: {exc.strerror}") from None
        if not stat.S_ISSOCK(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a file that is not a socket"
            raise ValueError(f"{address!r}: {path} is {kind}; the server only replaces a stale socket")
        return address
    host, sep, port = address.rpartition(":")
    # ASCII digits only: str.isdigit() also takes '²' or '③', which int() refuses.
    if not sep or not host or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise ValueError(f"{address!r} is not HOST:PORT with a port from 0 to 65535, nor unix:/path")
    return address


def default_address() -> str:
    return os.environ.get(ADDRESS_ENV) or DEFAULT_ADDRESS


def default_token() -> str | None:
    return os.environ.get(TOKEN_ENV) or None

