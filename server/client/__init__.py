"""Client library for the style server: connect, stylize with typed events, cancel, describe.

Only the standard library, grpcio (with its health-checking stubs), protobuf, the generated stubs and the
torch-free nst_core.contract are used, so that it runs in a client-only install (the GIMP plug-in's helper)
and starts without loading torch.

    with StyleClient() as client:
        for event in client.stylize(ImageData.encoded(content), [ImageData.encoded(style)]):
            if isinstance(event, Result):
                open("out.png", "wb").write(event.data)

The address may name a fleet of servers (``host:port,host:port``, ``dns:///name:port``; see ``server.fleet``):
gRPC balances new jobs over the idle ones, and ``cancel``/``job_state`` reach the server a job runs on.

``data`` holds what a client sends (ImageData, Region, the request), ``errors`` ClientError, ``stream`` one
job's events, ``style_client`` the connection, and ``fleet_calls`` what differs for a fleet.
"""
from __future__ import annotations

from ..events import Event, Finished, Preview, Progress, Queued, Result, Started, Waiting
from .data import OPTION_KEYS, ImageData, Region
from .errors import ClientError
from .stream import StylizeStream
from .style_client import CONNECT_TIMEOUT, StyleClient

__all__ = [
    "StyleClient", "ImageData", "Region", "ClientError", "StylizeStream", "OPTION_KEYS", "CONNECT_TIMEOUT",
    "Queued", "Waiting", "Started", "Progress", "Preview", "Result", "Finished", "Event",
]
