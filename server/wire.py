"""Reading requests off the wire and answering with errors, for every method the server registers.

gRPC Python parses a request before the handler runs and turns any parse failure into INTERNAL
"Exception deserializing request!". Here the raw bytes reach the handler, which parses them itself: a
corrupt message or a string that is not UTF-8 is the client's fault, INVALID_ARGUMENT. Before parsing,
the fields are counted on the wire (``wire_entries``): millions of tiny entries would cost ~30× their bytes.
"""
from __future__ import annotations

from typing import Callable, Iterator, Optional

import grpc

from . import wire_entries
from .config import ERROR_FIELD_METADATA_KEY
from .watchdog import Watchdog

MAX_MESSAGE_CHARS = 1024  # status messages longer than this are cut (clients reject big headers)

Parser = Optional[Callable[[bytes], object]]


def abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str, field: Optional[str] = None,
          extra: tuple = ()):
    """End the call with ``code``. The trailing field marks the error as the server's own (not a transport
    failure) for the client library, and names the offending request field when there is one; ``extra``
    adds trailing metadata pairs."""
    if len(message) > MAX_MESSAGE_CHARS:  # every quote of user input is short; this guards the rest
        message = message[:MAX_MESSAGE_CHARS] + "…"
    context.set_trailing_metadata(((ERROR_FIELD_METADATA_KEY, field or ""),) + tuple(extra))
    context.abort(code, message)


def parse(data: bytes, parser: Parser, context: grpc.ServicerContext):
    if parser is None:
        return data
    descriptor = getattr(getattr(parser, "__self__", None), "DESCRIPTOR", None)
    try:
        if descriptor is not None:  # a protobuf message: its entries are counted before it is built
            wire_entries.check(data, descriptor)
        return parser(data)
    except wire_entries.TooManyEntries as exc:
        abort(context, grpc.StatusCode.INVALID_ARGUMENT,
              f"{exc.field}: the request holds over {wire_entries.MAX_ENTRIES} fields and list entries, refused "
              "before they are read (a valid request holds a few hundred)", exc.field)
    except Exception:  # noqa: BLE001 - protobuf's DecodeError, wire_entries.Malformed, a custom parser's error
        what = f"a {descriptor.full_name}" if descriptor is not None else "a valid request"
        abort(context, grpc.StatusCode.INVALID_ARGUMENT,
              f"the request is not {what} message (corrupt data, or a string field that is not UTF-8)")


def read_one(requests: Iterator[bytes], parser: Parser, context: grpc.ServicerContext, watchdog: Watchdog,
             seconds: float):
    """The one request of a unary-request method, which must arrive within ``seconds``: a client that opens
    a call and never finishes its request would otherwise hold a server thread for good."""
    alarm = watchdog.arm(seconds, context.cancel)
    try:
        data = next(requests, None)
    finally:
        alarm.disarm()
    if data is None:
        abort(context, grpc.StatusCode.INVALID_ARGUMENT, "the call carried no request message")
    return parse(data, parser, context)


def parsed(requests: Iterator[bytes], parser: Parser, context: grpc.ServicerContext):
    """The requests of a request-streaming method, each parsed as it arrives."""
    for data in requests:
        yield parse(data, parser, context)


def sent_in_time(responses, context: grpc.ServicerContext, watchdog: Watchdog, seconds: float):
    """Pass responses on; a response the client has not taken within ``seconds`` (it stopped reading and flow
    control is full) ends the call, so its thread, slot and job are freed."""
    for response in responses:
        alarm = watchdog.arm(seconds, context.cancel)
        try:
            yield response  # gRPC sends it before asking for the next one
        finally:
            alarm.disarm()
