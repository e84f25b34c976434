"""Jobs through a real server with the real weights: events, formats, sizes, cache, concurrency."""
from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from PIL import Image

from server.client import Finished, ImageData, Preview, Progress, Queued, Result, Started, StyleClient
from tests.helpers import SMALL, content_image, encoded, style_image


def _run(client, content, styles, **kwargs):
    events = list(client.stylize(content, styles, **kwargs))
    results = [e for e in events if isinstance(e, Result)]
    assert len(results) == 1, events
    return events, results[0]


def test_round_trip_png_event_order_and_result(client):
    content = content_image((40, 30))
    # L-BFGS barely moves in its first steps; five make a visible change at 32 px.
    events, result = _run(client, encoded(content), [encoded(style_image(1))], options=dict(SMALL, steps=5))

    kinds = [type(e) for e in events]
    assert kinds[0] is Queued and kinds[1] is Started
    assert kinds[-2:] == [Result, Finished]
    assert set(kinds[2:-2]) == {Progress}
    assert events[0].job_id == events[1].job_id != ""
    progress = [e for e in events if isinstance(e, Progress)]
    assert [p.step for p in progress] == [1, 2, 3, 4, 5] and all(p.total == 5 for p in progress)
    assert {"content", "style", "total"} <= set(progress[-1].losses)
    assert events[-1].steps == 5 and events[-1].wall_time_seconds > 0

    image = Image.open(io.BytesIO(result.data))
    assert (result.format, image.format, image.mode, image.size) == ("png", "PNG", "RGB", (40, 30))
    assert (result.width, result.height) == (40, 30)
    diff = np.abs(np.asarray(image, np.int16) - np.asarray(content, np.int16))
    assert diff.mean() > 1.0, "the result should differ from the content"


def test_raw_rgba_in_and_out_keeps_alpha(client):
    content = content_image((36, 24), "RGBA")
    alpha = Image.linear_gradient("L").resize((36, 24))
    content.putalpha(alpha)
    _, result = _run(client, ImageData.rgba(content.tobytes(), 36, 24), [encoded(style_image(2))],
                     options=SMALL, output_format="rgba")
    assert (result.format, result.width, result.height) == ("rgba", 36, 24)
    assert len(result.data) == 36 * 24 * 4
    out = Image.frombytes("RGBA", (36, 24), result.data)
    assert out.getchannel("A").tobytes() == alpha.tobytes()


def test_grayscale_content_comes_back_grayscale(client):
    _, result = _run(client, encoded(content_image((30, 30), "L")), [encoded(style_image(3))], options=SMALL)
    assert Image.open(io.BytesIO(result.data)).mode == "L"


def test_previews_only_when_asked(client):
    options = dict(SMALL, steps=3)
    with_previews, _ = _run(client, encoded(content_image()), [encoded(style_image(4))], options=options,
                            preview=True, preview_interval=0.001, preview_max_size=16)
    previews = [e for e in with_previews if isinstance(e, Preview)]
    assert previews, "asked for previews, got none"
    first = Image.open(io.BytesIO(previews[0].png))
    assert first.format == "PNG" and max(first.size) <= 16 and first.size == (previews[0].width, previews[0].height)
    without, _ = _run(client, encoded(content_image()), [encoded(style_image(4))], options=options)
    assert not [e for e in without if isinstance(e, Preview)]


def test_request_over_4_mib(client):
    side = 1100  # 1100 * 1100 * 4 bytes = 4.6 MiB, over gRPC's default message limit
    rgba = np.zeros((side, side, 4), np.uint8)
    rgba[..., 0] = np.arange(side, dtype=np.uint8)[None, :]
    rgba[..., 3] = 255
    data = rgba.tobytes()
    assert len(data) > 4 * 1024 * 1024
    _, result = _run(client, ImageData.rgba(data, side, side), [encoded(style_image(5))], options=SMALL,
                     output_format="rgba")
    assert (result.width, result.height) == (side, side) and len(result.data) == len(data)


def test_repeated_style_hits_the_cache(client):
    style = encoded(style_image(6))
    first, _ = _run(client, encoded(content_image()), [style], options=SMALL)
    second, _ = _run(client, encoded(content_image()), [style], options=SMALL)
    assert first[-1].cache_hit is False
    assert second[-1].cache_hit is True and second[-1].style_cache_hits >= 1


def test_multiple_styles_with_blend(client):
    events, result = _run(client, encoded(content_image()), [encoded(style_image(7)), encoded(style_image(8))],
                          style_blend=[3, 1], options=SMALL)
    assert isinstance(events[-1], Finished) and result.width == 40


def test_describe_reports_weights_limits_presets_layers(server, client):
    info = client.describe()
    assert info["weights"]["source"] == "original"
    assert len(info["weights"]["sha256"]) == 64 and info["weights"]["preprocessing"]
    assert info["device"] == server.engine.device  # "cpu" unless NST_TEST_DEVICE says otherwise
    assert info["limits"]["max_pixels"] == 64 * 1024 * 1024 and info["limits"]["queue_size"] == 8
    assert {"draft", "balanced", "fine"} <= set(info["presets"]) and info["default_preset"] == "balanced"
    assert "relu4_2" in info["layer_names"] and info["default_content_layers"] == ["relu4_2"]
    assert info["auth_required"] is False and info["version"]


def test_eight_concurrent_clients_each_get_their_own_result(server):
    sizes = [(24 + 2 * i, 20 + i) for i in range(8)]  # a distinct size per client identifies its result
    outcomes: dict[int, object] = {}

    def one(i: int) -> None:
        try:
            with StyleClient(server.address, timeout=300) as c:
                events = list(c.stylize(encoded(content_image(sizes[i])), [encoded(style_image(100 + i))],
                                        options=dict(SMALL, steps=1)))
            result = next(e for e in events if isinstance(e, Result))
            outcomes[i] = (Image.open(io.BytesIO(result.data)).size, events[-1])
        except Exception as exc:  # reported below with the client's index
            outcomes[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    for i in range(8):
        size, finished = outcomes[i]
        assert size == sizes[i], f"client {i} got a {size} result"
        assert isinstance(finished, Finished) and finished.steps == 1


@pytest.mark.large
def test_8192_square_rgba_round_trip(client):
    side = 8192  # 256 MiB raw each way: optimized at 32 px, returned at the content's full size
    rgba = np.empty((side, side, 4), np.uint8)
    rgba[..., 0] = (np.arange(side) % 256).astype(np.uint8)[None, :]
    rgba[..., 1] = (np.arange(side) % 251).astype(np.uint8)[:, None]
    rgba[..., 2] = 60
    rgba[..., 3] = (np.arange(side) % 253).astype(np.uint8)[None, :]
    _, result = _run(client, ImageData.rgba(rgba.tobytes(), side, side), [encoded(style_image(9))],
                     options={"max_size": 32, "steps": 1, "multiscale": False, "output_size": "content"},
                     output_format="rgba")
    assert (result.width, result.height, len(result.data)) == (side, side, side * side * 4)
    out = np.frombuffer(result.data, np.uint8).reshape(side, side, 4)
    assert np.array_equal(out[..., 3], rgba[..., 3]), "alpha must come back untouched"
    assert np.abs(out[..., :3].astype(np.int16) - rgba[..., :3]).mean() > 1.0
