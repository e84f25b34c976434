"""``StyleClient.stylize_sequence``: an animation's frames as one job (StylizeSequence), with typed events.

The stream yields Queued, Started, SequenceProgress (the frame under way and that frame's Progress),
Preview, Frame (each finished frame, as soon as it is done) and Finished; for a fleet, Waiting first when
every server is busy. A cancel or a dropped call ends the stream with a ClientError, and every Frame that
arrived before it stays with the caller. Standard library, grpcio and the stubs only (no torch).
"""
from __future__ import annotations

from typing import Optional

from protos.nst.v1 import style_pb2

from .events import Frame, Progress, SequenceProgress, from_message


def _stream_class():
    from .client.data import FORMAT_NAMES as _FORMAT_NAMES
    from .client.errors import ClientError
    from .client.stream import StylizeStream

    class SequenceStream(StylizeStream):
        """A StylizeStream whose progress names the frame and whose results are frames (``Frame``)."""

        def _convert(self, message: style_pb2.StylizeSequenceResponse):
            kind = message.WhichOneof("event")
            if kind == "progress":
                p = message.progress
                return SequenceProgress(p.frame, p.frames, from_message(Progress, p.progress), p.eta_seconds)
            if kind == "frame":
                chunk = message.frame.chunk
                self._chunks.append(chunk.data)
                if not chunk.last:
                    return None
                data, self._chunks = b"".join(self._chunks), []
                if len(data) != chunk.total_bytes:
                    raise ClientError("DATA_LOSS", f"frames[{message.frame.index}]: got {len(data)} bytes, "
                                                   f"expected {chunk.total_bytes}")
                return Frame(message.frame.index, data, chunk.width, chunk.height,
                             _FORMAT_NAMES.get(chunk.format, "png"))
            return super()._convert(message)  # queued, started, preview, finished: the same shapes

    return SequenceStream


def stylize_sequence(client, frames: list, styles: list, *, style_blend: Optional[list[float]] = None,
                     options: Optional[dict] = None, temporal_weight: Optional[float] = None,
                     later_steps: Optional[float] = None, independent: bool = False, preview: bool = False,
                     output_format: str = "png", preview_interval: float = 0.0, preview_max_size: int = 0,
                     regions: Optional[list] = None):
    """Submit a sequence (``frames``, ``styles``: ImageData); iterate the stream for its events."""
    from .client.data import FORMATS as _FORMATS, _options_proto, region_proto
    from .client.errors import ClientError

    if output_format not in _FORMATS:
        raise ClientError("INVALID_ARGUMENT", f"output_format: must be png or rgba, got {output_format!r}",
                          "output_format")
    sequence = style_pb2.SequenceOptions(independent=independent)
    if temporal_weight is not None:
        sequence.temporal_weight = temporal_weight
    if later_steps is not None:
        sequence.later_steps = later_steps
    request = style_pb2.StylizeSequenceRequest(
        frames=[f.to_proto() for f in frames], styles=[s.to_proto() for s in styles],
        style_blend=list(style_blend or ()), options=_options_proto(options), sequence=sequence, preview=preview,
        preview_interval_seconds=preview_interval, preview_max_size=preview_max_size,
        output_format=_FORMATS[output_format], regions=[region_proto(r) for r in regions or ()])
    stream = _stream_class()
    if client._fleet is not None:  # one idle server runs the whole sequence, as Stylize picks one
        return client._fleet.stylize(request, client._metadata(), client.timeout, "StylizeSequence", stream)
    call = client._stub.StylizeSequence(request, timeout=client.timeout, metadata=client._metadata())
    return stream(call, client.address)
