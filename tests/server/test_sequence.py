"""StylizeSequence through a real server: frames stream back one by one as they finish, a cancel keeps the
finished ones, bad input is INVALID_ARGUMENT naming the field before any frame runs, one frame is a plain
job, and Describe reports the bounds."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from nst_core.contract.sequence_spec import MAX_FRAMES, MAX_SEQUENCE_PIXELS
from server.client import ClientError, ImageData, Result
from server.events import Frame, SequenceProgress
from tests.helpers import SMALL, content_image, encoded, png_bytes, style_image

STYLE = encoded(style_image(71))
OPTIONS = {**SMALL, "steps": 6}  # frames after the first run 3 steps


def moving_frames(count: int, size=(40, 30)):
    """A vertical gradient whose view moves down it 2 px a frame."""
    tall = content_image((size[0], size[1] + 2 * count))
    return [tall.crop((0, 2 * k, size[0], 2 * k + size[1])) for k in range(count)]


def test_frames_stream_back_one_by_one_and_progress_names_the_frame(client):
    events = list(client.stylize_sequence([encoded(f) for f in moving_frames(3)], [STYLE], options=OPTIONS))
    frames = [e for e in events if isinstance(e, Frame)]
    assert [f.index for f in frames] == [0, 1, 2]
    assert all(Image.open(io.BytesIO(f.data)).size == (40, 30) for f in frames)
    progress = [e for e in events if isinstance(e, SequenceProgress)]
    assert {(p.frame, p.frames) for p in progress} == {(1, 3), (2, 3), (3, 3)}
    # Frame k arrives before any progress of frame k + 2: as soon as it is done, not at the end.
    order = [(("f", e.index) if isinstance(e, Frame) else ("p", e.frame - 1)) for e in events
             if isinstance(e, (Frame, SequenceProgress))]
    assert order.index(("f", 0)) < order.index(("p", 1)) and order.index(("f", 1)) < order.index(("p", 2))


def test_a_cancel_after_frame_two_keeps_frames_one_and_two(client):
    stream = client.stylize_sequence([encoded(f) for f in moving_frames(6)], [STYLE],
                                     options={**OPTIONS, "steps": 40})
    got = []
    with pytest.raises(ClientError) as caught:
        for event in stream:
            if isinstance(event, Frame):
                got.append(event)
                if event.index == 1:
                    assert client.cancel(stream.job_id)
    assert caught.value.code == "CANCELLED"
    assert [f.index for f in got][:2] == [0, 1] and len(got) < 6
    assert client.job_state(stream.job_id) == "cancelled"
    assert Image.open(io.BytesIO(got[1].data)).size == (40, 30)


def test_one_frame_is_a_plain_job(client):
    frame = content_image((40, 30))
    [only] = [e for e in client.stylize_sequence([encoded(frame)], [STYLE], options=OPTIONS) if isinstance(e, Frame)]
    [plain] = [e for e in client.stylize(encoded(frame), [STYLE], options=OPTIONS) if isinstance(e, Result)]
    assert Image.open(io.BytesIO(only.data)).tobytes() == Image.open(io.BytesIO(plain.data)).tobytes()


def _big_flat_png(size) -> ImageData:
    return ImageData.encoded(png_bytes(Image.new("L", size, 128)))


@pytest.mark.parametrize("frames, field", [
    (lambda: [], "frames"),
    (lambda: [encoded(content_image((40, 30))), encoded(content_image((41, 30)))], "frames[1]"),
    (lambda: [encoded(content_image())] * 2 + [ImageData.encoded(b"\x89PNG\r\n\x1a\n garbage")], "frames[2]"),
    (lambda: [encoded(content_image((16, 16)))] * (MAX_FRAMES + 1), "frames"),
    (lambda: [_big_flat_png((8192, 4100))] * 2, "frames"),  # 67 MP in all, over 64 MP
])
def test_bad_frames_are_invalid_argument_naming_the_field(client, frames, field):
    with pytest.raises(ClientError) as caught:
        list(client.stylize_sequence(frames(), [STYLE], options=OPTIONS))
    assert caught.value.code == "INVALID_ARGUMENT" and caught.value.field == field, caught.value


def test_bad_sequence_options_name_the_option(client):
    for kwargs, field in (({"temporal_weight": -1.0}, "temporal_weight"), ({"later_steps": 2.0}, "later_steps")):
        with pytest.raises(ClientError) as caught:
            list(client.stylize_sequence([encoded(content_image())], [STYLE], options=OPTIONS, **kwargs))
        assert caught.value.code == "INVALID_ARGUMENT" and caught.value.field == field


def test_describe_reports_the_sequence_bounds(client):
    limits = client.describe()["limits"]
    assert limits["max_frames"] == MAX_FRAMES and limits["max_sequence_pixels"] == MAX_SEQUENCE_PIXELS


def test_in_a_fleet_each_sequence_is_one_job_on_one_idle_server(engine):
    import threading

    from server.client import Started, StyleClient
    from tests.server.test_fleet import addresses, fleet

    records = [{}, {}]
    first_started = threading.Event()

    def run(record):
        with StyleClient(addresses(handles), timeout=300) as fleet_client:
            for event in fleet_client.stylize_sequence([encoded(f) for f in moving_frames(3)], [STYLE],
                                                       options=OPTIONS):
                if isinstance(event, Started):
                    record.setdefault("servers", []).append(event.server_name)
                    first_started.set()
                elif isinstance(event, Frame):
                    record.setdefault("frames", []).append(event.index)

    with fleet(engine, 2) as handles:
        threads = [threading.Thread(target=run, args=(r,)) for r in records]
        threads[0].start()
        # The second asks for an idle server the moment the first sequence runs (a fixed pause let a fast
        # machine finish the first one before the second asked).
        assert first_started.wait(60)
        threads[1].start()
        for t in threads:
            t.join(300)
    assert [r["frames"] for r in records] == [[0, 1, 2], [0, 1, 2]]
    assert all(len(r["servers"]) == 1 for r in records)  # one start: the whole sequence on one server
    assert records[0]["servers"] != records[1]["servers"]
