"""Every bad input gets its status code with the field named, and the server keeps serving."""
from __future__ import annotations

import io

import grpc
import pytest
from PIL import Image

from nst_core.contract.errors import DeviceOutOfMemory, WeightsUnavailable
from server.client import ClientError, ImageData, Result, StyleClient
from server.jobs import _failure
from tests.helpers import SMALL, content_image, encoded, running_server, style_image

GOOD_CONTENT = encoded(content_image())
GOOD_STYLE = encoded(style_image(11))


def _bomb_png() -> bytes:
    # 9000 x 9000 = 81 MP, over the 64 MP default, yet only a few hundred KiB compressed.
    buffer = io.BytesIO()
    Image.new("L", (9000, 9000)).save(buffer, "PNG")
    return buffer.getvalue()


CASES = {
    "undecodable content": (dict(content=ImageData.encoded(b"not an image at all")), "content"),
    "empty content": (dict(content=ImageData.encoded(b"")), "content"),
    "oversize content (bomb)": (dict(content=ImageData.encoded(_bomb_png())), "content"),
    "raw rgba of the wrong length": (dict(content=ImageData.rgba(b"\0" * 10, 4, 4)), "content"),
    "raw rgba of zero width": (dict(content=ImageData.rgba(b"", 0, 4)), "content"),
    "undecodable second style": (dict(styles=[GOOD_STYLE, ImageData.encoded(b"GIF89a broken")]), "styles[1]"),
    "no style": (dict(styles=[]), "styles"),
    "unknown style layer": (dict(options={"style_layers": ["relu9_9"]}), "style_layers"),
    "unknown content layer": (dict(options={"content_layers": ["conv0_1"]}), "content_layers"),
    "negative style weight": (dict(options={"style_weight": -1.0}), "style_weight"),
    "NaN content weight": (dict(options={"content_weight": float("nan")}), "content_weight"),
    "zero steps": (dict(options={"steps": 0}), "steps"),
    "unknown preset": (dict(options={"preset": "ultra"}), "preset"),
    "unknown colour mode": (dict(options={"preserve_colors": "sepia"}), "preserve_colors"),
    "unknown optimizer": (dict(options={"optimizer": "sgd"}), "optimizer"),
    "unknown precision": (dict(options={"precision": "fp8"}), "precision"),
    "init image missing": (dict(options={"init": "image"}), "init_image"),
    "blend of the wrong length": (dict(style_blend=[1.0, 2.0]), "style_blend"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_invalid_argument_naming_the_field(client, case):
    changes, field = CASES[case]
    kwargs = dict(content=GOOD_CONTENT, styles=[GOOD_STYLE], options=SMALL)
    kwargs.update(changes)
    if "options" in changes:
        kwargs["options"] = dict(SMALL, **changes["options"])
    with pytest.raises(ClientError) as caught:
        list(client.stylize(kwargs.pop("content"), kwargs.pop("styles"), **kwargs))
    error = caught.value
    assert error.code == "INVALID_ARGUMENT", error
    assert error.field == field and field in error.message
    assert "Traceback" not in error.message
    assert client.health() == "SERVING"


def test_tf32_without_cuda_is_refused_naming_precision(client, engine):
    if engine.torch_device.type == "cuda":
        pytest.skip("tf32 runs on CUDA")
    with pytest.raises(ClientError) as caught:
        list(client.stylize(GOOD_CONTENT, [GOOD_STYLE], options=dict(SMALL, precision="tf32")))
    assert (caught.value.code, caught.value.field) == ("INVALID_ARGUMENT", "precision")
    assert "CUDA" in caught.value.message


def test_server_still_runs_jobs_after_bad_input(client):
    with pytest.raises(ClientError):
        list(client.stylize(ImageData.encoded(b"junk"), [GOOD_STYLE], options=SMALL))
    events = list(client.stylize(GOOD_CONTENT, [GOOD_STYLE], options=SMALL))
    assert any(isinstance(e, Result) for e in events)


def test_max_size_beyond_a_small_image_is_accepted(client):
    # The engine never upscales: max_size 20000 on a 40x30 content works at 40x30, far below the pixel limit.
    events = list(client.stylize(GOOD_CONTENT, [GOOD_STYLE], options=dict(SMALL, max_size=20_000)))
    result = next(e for e in events if isinstance(e, Result))
    assert (result.width, result.height) == (40, 30)


def test_unknown_job_id_is_not_found(client):
    for call in (client.cancel, client.job_state):
        with pytest.raises(ClientError) as caught:
            call("no-such-job")
        assert caught.value.code == "NOT_FOUND" and caught.value.field == "job_id"


def test_missing_weights_is_failed_precondition(tmp_path):
    from nst_core.engine import Engine

    missing = tmp_path / "no-such-weights.pth"
    with running_server(load=lambda: Engine(weights=str(missing), preprocessing="caffe"), wait=False) as handle:
        handle.wait_ready(30)
        assert handle.load_error and "no-such-weights" in handle.load_error
        with StyleClient(handle.address) as c:
            assert c.health() == "NOT_SERVING"
            with pytest.raises(ClientError) as caught:
                list(c.stylize(GOOD_CONTENT, [GOOD_STYLE], options=SMALL))
            assert caught.value.code == "FAILED_PRECONDITION" and "weights" in caught.value.message


@pytest.mark.parametrize("exc, code", [
    (DeviceOutOfMemory("cuda ran out of memory"), grpc.StatusCode.RESOURCE_EXHAUSTED),
    (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 10 bytes"),
     grpc.StatusCode.RESOURCE_EXHAUSTED),
    (WeightsUnavailable("file gone"), grpc.StatusCode.FAILED_PRECONDITION),
    (ZeroDivisionError("a bug"), grpc.StatusCode.INTERNAL),
])
def test_engine_failures_map_to_definite_codes(exc, code):
    error = _failure(exc)
    assert error.code == code and error.code != grpc.StatusCode.UNKNOWN
    assert "Traceback" not in error.message
