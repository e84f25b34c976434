"""Tiled jobs through the real server: tile progress, cancel mid-step, the memory budget, and shapes that
used to reach pooling with nothing left (INTERNAL) now working or refused by name."""
from __future__ import annotations

import grpc
import pytest
from PIL import Image

from nst_core.memory import resident_bytes
from protos.nst.v1 import style_pb2, style_pb2_grpc
from server.client import ClientError, Progress, Result, Started, StyleClient
from tests.helpers import content_image, encoded, png_bytes, running_server, style_image, wait_for

TILED = {"max_size": 96, "steps": 40, "multiscale": False, "tile_size": 48}


def test_tiled_progress_and_cancel_within_one_tile_then_the_server_keeps_serving(server, client):
    stream = client.stylize(encoded(content_image((96, 64))), [encoded(style_image(61))], options=TILED)
    job_id = next(e for e in stream if isinstance(e, Started)).job_id
    tile_event = next(e for e in stream if isinstance(e, Progress) and e.tiles > 1 and e.tile == 2)
    assert (tile_event.step, tile_event.width, tile_event.height) == (1, 96, 64)
    assert client.cancel(job_id) is True
    with pytest.raises(ClientError) as caught:
        list(stream)
    assert caught.value.code == "CANCELLED"
    job = server.manager.get(job_id)
    assert job.steps_done <= 2  # stopped in the first step or the next: within a tile, not at the end
    assert client.health() == "SERVING"
    events = list(client.stylize(encoded(content_image()), [encoded(style_image(62))],
                                 options={"max_size": 32, "steps": 2, "multiscale": False}))
    assert any(isinstance(e, Result) for e in events)


def test_a_job_that_cannot_fit_the_budget_fails_at_once_naming_it(engine):
    budget_mb = resident_bytes(engine.torch_device) // 2**20 + 1  # hardly more than the model itself holds
    with running_server(engine, memory_budget_mb=budget_mb) as handle:
        with StyleClient(handle.address, timeout=60) as client:
            assert client.describe()["limits"]["memory_budget_bytes"] == budget_mb * 2**20
            with pytest.raises(ClientError) as caught:
                list(client.stylize(encoded(content_image()), [encoded(style_image(63))],
                                    options={"max_size": 32, "steps": 2}))
            assert (caught.value.code, caught.value.field) == ("INVALID_ARGUMENT", "memory_budget_mb")
            assert "cannot fit" in caught.value.message
            assert client.health() == "SERVING"
    assert engine.memory_budget_mb is None  # the server planned with a view of it; the engine kept its own


def test_describe_reports_the_default_budget(client):
    assert client.describe()["limits"]["memory_budget_bytes"] > 2**30


@pytest.mark.parametrize("options,style_size", [
    ({}, (1000, 50)),  # a panorama under the default preset's 128 px coarse scale
    ({"style_scale": 0.1}, (64, 48)),
])
def test_thin_styles_work(client, options, style_size):
    events = list(client.stylize(encoded(content_image((40, 30))), [encoded(style_image(64, style_size))],
                                 options={"max_size": 40, "steps": 1, "coarse_steps": 1, **options}))
    assert any(isinstance(e, Result) for e in events)


def test_what_cannot_work_is_invalid_argument_naming_the_image(server):
    # Raw stubs: the answer is the server's own status, whatever the client library would add.
    small = Image.new("RGB", (24, 24), (90, 120, 60))
    cases = [
        (small, style_image(65), {"content_layers": ["pool5"]}, "content"),
        (content_image(), style_image(66, (5000, 2)), {}, "styles[0]"),
    ]
    with grpc.insecure_channel(server.address) as channel:
        stub = style_pb2_grpc.StyleServiceStub(channel)
        for content, style, options, field in cases:
            request = style_pb2.StylizeRequest(
                content=style_pb2.ImageData(encoded=png_bytes(content)),
                styles=[style_pb2.ImageData(encoded=png_bytes(style))],
                options=style_pb2.StyleOptions(steps=1, **options))
            with pytest.raises(grpc.RpcError) as caught:
                list(stub.Stylize(request, timeout=60))
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
            assert caught.value.details().startswith(field)
    assert wait_for(lambda: server.manager.running() is None, timeout=30)
