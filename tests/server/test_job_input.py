"""From a StylizeRequest to the engine's inputs: the contract and the engine's options agree, by name."""
from __future__ import annotations

import dataclasses

import pytest

from nst_core.contract.errors import InvalidInput
from nst_core.contract.options import StyleOptions, option_specs, resolve
from protos.nst.v1 import style_pb2
from server import job_input
from server.limits import ServerLimits
from tests.helpers import content_image, png_bytes, style_image


def test_proto_options_and_engine_options_agree():
    proto = {f.name for f in style_pb2.StyleOptions.DESCRIPTOR.fields}
    engine = {name for name, spec in option_specs().items() if not spec.on_request}
    assert proto == engine, f"only in the proto: {proto - engine}; only in the engine: {engine - proto}"
    request_fields = {f.name for f in style_pb2.StylizeRequest.DESCRIPTOR.fields}
    assert {name for name, spec in option_specs().items() if spec.on_request} <= request_fields
    assert "style_blend" in request_fields  # blend weights: nst_core.contract.spec, on the request and in each region


def test_proto_field_kinds_match_the_declared_kinds():
    kinds = {"int": (3, 5, 13), "float": (1,), "bool": (8,), "choice": (9,), "layers": (9,), "floats": (1,)}
    for f in style_pb2.StyleOptions.DESCRIPTOR.fields:  # protobuf type numbers: 1 double, 3/5 ints, 8 bool, 9 string
        spec = option_specs()[f.name]
        assert f.type in kinds[spec.kind], f.name
        assert f.is_repeated == (spec.kind in ("layers", "floats")), f.name


def _request(**options) -> style_pb2.StylizeRequest:
    request = style_pb2.StylizeRequest(content=style_pb2.ImageData(encoded=png_bytes(content_image())),
                                       styles=[style_pb2.ImageData(encoded=png_bytes(style_image(3)))] * 2,
                                       style_blend=[2.0, 1.0])
    for name, value in options.items():
        field = getattr(request.options, name)
        field.extend(value) if isinstance(value, list) else setattr(request.options, name, value)
    return request


def test_every_option_set_on_the_wire_reaches_the_engine():
    given = dict(preset="draft", max_size=40, steps=3, coarse_steps=2, style_weight=50.0, style_strength=1.5,
                 content_weight=2.0, tv_weight=10.0, preserve_colors="luminance", seed=9, optimizer="adam",
                 init="noise", pooling="avg", multiscale=False, style_scale=0.5, output_size="working",
                 content_layers=["relu3_1"], style_layers=["relu1_1", "relu2_1"], learning_rate=4.0, min_size=32,
                 style_layer_weights=[0.25, 0.75], tile_size=64, precision="float32")
    assert set(given) == {f.name for f in style_pb2.StyleOptions.DESCRIPTOR.fields}  # a new option is tested too
    built = job_input.build(_request(**given), ServerLimits(max_pixels=10**6))
    expected = {k: tuple(v) if isinstance(v, list) else v for k, v in given.items()}
    assert {k: getattr(built.options, k) for k in given} == expected
    assert [s.weight for s in built.spec.styles] == pytest.approx([2 / 3, 1 / 3])


def test_unset_options_keep_the_engine_defaults():
    built = job_input.build(_request(), ServerLimits(max_pixels=10**6))
    assert built.options == resolve(StyleOptions())  # resolved once, here, and handed on as it is


def test_a_count_past_its_bound_is_refused_before_any_image_is_decoded():
    request = _request(steps=2**31 - 1)
    request.content.encoded = b"not an image"  # would be the first error if images were decoded first
    with pytest.raises(InvalidInput) as caught:
        job_input.build(request, ServerLimits(max_pixels=10**6))
    assert caught.value.field == "steps" and "at most" in caught.value.message
