"""The client library on its own terms: keys from the contract, describe, health, errors it makes itself."""
from __future__ import annotations

import pytest

from nst_core.contract.limits import MAX_STEPS
from nst_core.contract.options import PRESETS
from protos.nst.v1 import style_pb2
from server.client import OPTION_KEYS, ClientError, StyleClient
from tests.helpers import SMALL, content_image, encoded, free_address, style_image

GOOD_CONTENT = encoded(content_image())
GOOD_STYLE = encoded(style_image(11))


def test_option_keys_are_the_contract_fields():
    assert OPTION_KEYS == tuple(f.name for f in style_pb2.StyleOptions.DESCRIPTOR.fields)
    assert {"preset", "steps", "style_layers", "style_layer_weights"} <= set(OPTION_KEYS)


def test_unknown_option_key_is_refused_by_the_client(client):
    with pytest.raises(ClientError) as caught:
        client.stylize(GOOD_CONTENT, [GOOD_STYLE], options={"stepz": 3})
    assert (caught.value.code, caught.value.field) == ("INVALID_ARGUMENT", "options")
    assert "stepz" in caught.value.message


def test_wrong_type_for_an_option_names_it(client):
    with pytest.raises(ClientError) as caught:
        client.stylize(GOOD_CONTENT, [GOOD_STYLE], options={"steps": "many"})
    assert (caught.value.code, caught.value.field) == ("INVALID_ARGUMENT", "steps")


def test_describe_reports_every_option_with_its_bounds(client):
    info = client.describe()
    options = info["options"]
    assert list(options)[:3] == ["preset", "max_size", "steps"]
    assert options["steps"]["maximum"] == MAX_STEPS and options["steps"]["exclusive_minimum"] is True
    assert options["preset"]["choices"] == list(PRESETS)
    assert info["presets"]["draft"]["label"] == PRESETS["draft"].label
    assert info["limits"]["max_styles"] == 16


@pytest.mark.parametrize("forced, expected", [("1", "bf16"), ("0", "float32")])
def test_describe_says_what_auto_precision_means_and_why(client, engine, monkeypatch, forced, expected):
    from nst_core import precision

    if engine.torch_device.type != "cpu":
        pytest.skip("the CPU's bf16 probe decides auto only on a CPU engine")
    monkeypatch.setenv(precision.FORCE_ENV, forced)
    precision.cpu_bf16.cache_clear()
    try:
        info = client.describe()
    finally:
        monkeypatch.delenv(precision.FORCE_ENV)
        precision.cpu_bf16.cache_clear()
    assert info["auto_precision"] == expected
    assert info["auto_precision_reason"].startswith(f"auto = {expected}") and precision.FORCE_ENV in info[
        "auto_precision_reason"]


def test_health_names_the_serving_status(client):
    assert client.health() == "SERVING" and client.wait_ready(1) is True


def test_unreachable_server_is_unavailable_naming_nst_serve():
    with StyleClient(free_address()) as c:
        with pytest.raises(ClientError) as caught:
            list(c.stylize(GOOD_CONTENT, [GOOD_STYLE], options=SMALL))
        assert caught.value.code == "UNAVAILABLE" and "nst serve" in caught.value.message
        with pytest.raises(ClientError) as caught:
            c.describe()
        assert caught.value.code == "UNAVAILABLE" and "nst serve" in caught.value.message
        assert c.wait_ready(0.3) is False
