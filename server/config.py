"""Defaults shared by the server, the client library and the CLI (standard library only)."""
from __future__ import annotations

import os

from nst_core.limits import DEFAULT_MAX_PIXELS  # noqa: F401 - one limit for the engine and the server

DEFAULT_ADDRESS = "127.0.0.1:50051"
ADDRESS_ENV = "NST_SERVER"  # overrides DEFAULT_ADDRESS for clients and `nst serve`
TOKEN_ENV = "NST_TOKEN"  # bearer token for clients, and turns on auth for `nst serve`

DEFAULT_QUEUE_SIZE = 8
DEFAULT_QUEUE_MB = 1024  # image data waiting jobs may hold together
DEFAULT_CACHE_MB = 256
DEFAULT_GRACE_SECONDS = 10.0
MAX_STYLES = 16

RESULT_CHUNK_BYTES = 2 * 1024 * 1024  # below gRPC's 4 MiB default so any client (grpcurl) can read results
TOKEN_METADATA_KEY = "authorization"
ERROR_FIELD_METADATA_KEY = "nst-error-field"  # trailing metadata on every error the server itself raises


def default_address() -> str:
    return os.environ.get(ADDRESS_ENV) or DEFAULT_ADDRESS


def default_token() -> str | None:
    return os.environ.get(TOKEN_ENV) or None

