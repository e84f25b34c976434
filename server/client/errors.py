"""How a failed call reaches the caller: one ClientError with the gRPC status name and, when the server said
which, the request field at fault; advice where nothing answered."""
from __future__ import annotations

from typing import Optional

import grpc

from ..config import BUSY_METADATA_KEY, ERROR_FIELD_METADATA_KEY


class ClientError(Exception):
    """A failed call. ``code`` is the gRPC status name ("INVALID_ARGUMENT", "UNAVAILABLE", …);
    ``field`` names the offending request field when the server said which one."""

    def __init__(self, code: str, message: str, field: Optional[str] = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.field = field


def trailing(error: grpc.RpcError) -> dict:
    return dict(error.trailing_metadata() or ()) if hasattr(error, "trailing_metadata") else {}


def busy(error: grpc.RpcError) -> bool:
    """A fleet server's refusal because it runs a job (every retry attempt found a busy server)."""
    return BUSY_METADATA_KEY in trailing(error)


def from_rpc(error: grpc.RpcError, address: str, server_name: Optional[str] = None) -> ClientError:
    """The ClientError of a failed call, with advice where the failure came from the connection, not the server."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = (error.details() if hasattr(error, "details") else None) or str(error)
    metadata = trailing(error)
    from_server = ERROR_FIELD_METADATA_KEY in metadata
    field = metadata.get(ERROR_FIELD_METADATA_KEY) or None
    if code == grpc.StatusCode.UNAVAILABLE and not from_server and server_name:
        # A fleet's server went away during a job: name it; the fleet's other servers go on.
        details = (f"the style server {server_name} of {address} stopped answering during the job ({details}); "
                   "new jobs go to the other servers until it is SERVING again")
    elif code == grpc.StatusCode.UNAVAILABLE and not from_server:
        # Nothing answered (or the connection broke): say how to get a server running.
        details = f"cannot reach the style server at {address} ({details}); start one with `nst serve`"
    elif code == grpc.StatusCode.UNAUTHENTICATED and not from_server:
        details = f"{details}; pass the server's token with --token or NST_TOKEN"
    return ClientError(code.name, details, field)
