"""Counting a request's fields on the wire before protobuf builds the message.

Parsed, every entry of a repeated message or string field is an object of its own: an empty ``Region``
(2 bytes on the wire) costs ~66 bytes, an empty ``ImageData`` ~51, an empty layer name ~34. A request under
the size limit made of millions of them cost ~30× its size before any check could see the count. This walks
the raw bytes along the message's descriptor, holding nothing per entry, and stops at ``MAX_ENTRIES``
fields in all (at every depth): far more than any valid request has (a few hundred), few enough that
parsing them costs at most ~140 MiB beyond the bytes themselves.
"""
from __future__ import annotations

import functools

from google.protobuf.descriptor import Descriptor, FieldDescriptor

MAX_ENTRIES = 2**21
_MAX_DEPTH = 64  # protobuf refuses deeper nesting itself; the request types nest 4 deep


class TooManyEntries(Exception):
    """Past ``MAX_ENTRIES``; ``field`` names where (``regions``, ``options.content_layers``)."""

    def __init__(self, field: str):
        super().__init__(field)
        self.field = field


class Malformed(Exception):
    """Not a protobuf encoding (a truncated field, a group, a length past the end): protobuf refuses it too."""


def check(data: bytes, descriptor: Descriptor) -> None:
    """Raise TooManyEntries or Malformed; return if ``data`` may be parsed as ``descriptor`` at bounded cost."""
    _walk(data, 0, len(data), descriptor, MAX_ENTRIES, 0)


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while pos < end and shift < 64:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    raise Malformed()


def _walk(data: bytes, pos: int, end: int, descriptor: Descriptor, left: int, depth: int) -> int:
    """Fields in ``data[pos:end]``, descending into message fields; returns what is left of the budget."""
    if depth > _MAX_DEPTH:
        raise Malformed()
    messages = _message_fields(descriptor)
    seen: dict[int, int] = {}  # entries so far of each message field, to name the one past the budget
    while pos < end:
        tag = data[pos]
        if tag < 0x80:
            pos += 1
        else:
            tag, pos = _varint(data, pos, end)
        left -= 1
        if left < 0 or tag < 8:  # the budget is spent, or field number 0
            if tag < 8:
                raise Malformed()
            field = descriptor.fields_by_number.get(tag >> 3)
            raise TooManyEntries(field.name if field is not None else f"field {tag >> 3}")
        kind = tag & 7
        if kind == 2:
            length = data[pos] if pos < end else 0x80
            if length < 0x80:
                pos += 1
            else:
                length, pos = _varint(data, pos, end)
            if pos + length > end:
                raise Malformed()
            field = messages.get(tag >> 3)
            if field is not None:
                index = seen[tag] = seen.get(tag, -1) + 1
                try:
                    left = _walk(data, pos, pos + length, field.message_type, left, depth + 1)
                except TooManyEntries as exc:
                    where = f"{field.name}[{index}]" if field.is_repeated else field.name
                    raise TooManyEntries(f"{where}.{exc.field}") from None
            pos += length
        elif kind == 0:
            _, pos = _varint(data, pos, end)
        elif kind == 1:
            pos += 8
        elif kind == 5:
            pos += 4
        else:  # groups (3, 4) exist in no proto3 message; 6 and 7 in no encoding
            raise Malformed()
    if pos != end:  # a fixed-size field past the end
        raise Malformed()
    return left


@functools.lru_cache(maxsize=None)
def _message_fields(descriptor: Descriptor) -> dict[int, FieldDescriptor]:
    return {f.number: f for f in descriptor.fields if f.type == FieldDescriptor.TYPE_MESSAGE}
