"""Regions through the real server, the client library and `nst stylize --region`: results, and every bad
region refused as INVALID_ARGUMENT naming ``regions[i]…`` with nothing held afterwards."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nst_core.contract.limits import MAX_REGION_STRENGTH, MAX_REGIONS
from server.client import ClientError, ImageData, Region, Result, StyleClient
from tests.helpers import SMALL, content_image, encoded, png_bytes, running_server, style_image
from tests.server.test_cli import _nst

SIZE = (40, 30)
CONTENT = encoded(content_image(SIZE))
STYLE = encoded(style_image(11))


def mask(value=255, size=SIZE, mode="L"):
    """Left half ``value``, right half 0."""
    array = np.zeros((size[1], size[0]), np.uint8)
    array[:, : size[0] // 2] = value
    return Image.fromarray(array, "L").convert(mode)


def _region(**changes):
    return Region(**{"mask": encoded(mask()), "styles": (STYLE,), **changes})


BAD = {
    "mask of another size": ([_region(mask=encoded(mask(size=(20, 30))))], "regions[0].mask"),
    "all-zero mask": ([_region(), _region(mask=encoded(mask(0)))], "regions[1].mask"),
    "empty mask file": ([_region(mask=ImageData.encoded(b""))], "regions[0].mask"),
    "RGB mask": ([_region(mask=encoded(mask(mode="RGB")))], "regions[0].mask"),
    "16-bit grey mask": ([_region(mask=encoded(mask(mode="I;16")))], "regions[0].mask"),
    "raw RGBA mask": ([_region(mask=ImageData.rgba(bytes(SIZE[0] * SIZE[1] * 4), *SIZE))], "regions[0].mask"),
    "too many regions": ([_region()] * (MAX_REGIONS + 1), "regions"),
    "NaN strength": ([_region(strength=float("nan"))], "regions[0].strength"),
    "negative strength": ([_region(strength=-0.5)], "regions[0].strength"),
    "huge strength": ([_region(strength=MAX_REGION_STRENGTH * 10)], "regions[0].strength"),
    "infinite strength": ([_region(strength=float("inf"))], "regions[0].strength"),
    "blend of the wrong length": ([_region(style_blend=(1.0, 2.0))], "regions[0].style_blend"),
    "all-zero blend": ([_region(style_blend=(0.0,))], "regions[0].style_blend"),
    "undecodable region style": ([_region(styles=(ImageData.encoded(b"GIF89a broken"),))],
                                 "regions[0].styles[0]"),
    "region style too small": ([_region(styles=(encoded(style_image(3, (8, 8))),))], "regions[0].styles[0]"),
    "too many styles in all": ([_region(styles=(STYLE,) * 9), _region(styles=(STYLE,) * 9)],
                               "regions[1].styles"),
}


@pytest.mark.parametrize("mode", ["1", "L"])
def test_a_1_bit_mask_at_the_pixel_limit_is_read_as_grey_like_mode_l(client, mode):
    # 8000 x 8000 at the content's size: 1-bit counted (and converted) as RGB would need 305 MiB to decode.
    size = (8000, 8000)
    big = ImageData.encoded(png_bytes(Image.new("L", size, 128)))
    half = ImageData.encoded(png_bytes(mask(size=size, mode=mode)))
    with pytest.raises(ClientError) as caught:  # the init image, read after the mask, ends the call cheaply
        list(client.stylize(big, [STYLE], options=SMALL, regions=[Region(half, (STYLE,))],
                            init_image=ImageData.encoded(b"not an image")))
    assert caught.value.field == "init_image", caught.value.message


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_region_is_invalid_argument_naming_it(server, client, case):
    regions, field = BAD[case]
    with pytest.raises(ClientError) as caught:
        list(client.stylize(CONTENT, [STYLE], options=SMALL, regions=regions))
    error = caught.value
    assert error.code == "INVALID_ARGUMENT", error
    assert error.field == field and error.message.startswith(field), error.message
    assert server.manager.waiting_bytes() == 0 and server.manager.running() is None
    assert client.health() == "SERVING"


def test_region_images_count_in_the_request_pixel_limit(engine):
    limit = SIZE[0] * SIZE[1] * 2 + 32 * 32 + 100  # content, style and the mask fit; the region's style does not
    with running_server(engine, max_pixels=SIZE[0] * SIZE[1], max_request_pixels=limit) as handle:
        with StyleClient(handle.address, timeout=60) as client:
            with pytest.raises(ClientError) as caught:
                list(client.stylize(CONTENT, [encoded(style_image(4, (30, 30)))], options=SMALL,
                                    regions=[_region(styles=(encoded(style_image(5, (30, 30))),))]))
    assert caught.value.code == "INVALID_ARGUMENT" and caught.value.field == "regions[0].styles[0]"
    assert "masks" in caught.value.message


def test_describe_reports_the_region_limits(client):
    limits = client.describe()["limits"]
    assert limits["max_regions"] == MAX_REGIONS and limits["max_region_strength"] == MAX_REGION_STRENGTH


def test_a_two_region_job_through_the_server(client):
    events = list(client.stylize(CONTENT, [], options=dict(SMALL, steps=4), output_format="rgba",
                                 regions=[_region(strength=2.0), Region(encoded(mask(255).transpose(0)))]))
    result = next(e for e in events if isinstance(e, Result))
    assert (result.width, result.height) == SIZE


def test_a_1_bit_mask_styles_like_its_mode_l_twin(client):
    results = [next(e for e in client.stylize(CONTENT, [STYLE], options=SMALL, output_format="rgba",
                                              regions=[_region(mask=encoded(mask(mode=mode)))])
                    if isinstance(e, Result)).data for mode in ("1", "L")]
    assert results[0] == results[1]


@pytest.fixture
def files(tmp_path):
    paths = {}
    for name, image in (("content", content_image(SIZE)), ("a", style_image(41)), ("b", style_image(42)),
                        ("mask", mask()), ("rgbmask", mask(mode="RGB"))):
        paths[name] = tmp_path / f"{name}.png"
        paths[name].write_bytes(png_bytes(image))
    paths["out"] = tmp_path / "out.png"
    return paths


def test_cli_regions_with_styles_none_and_strength(server, files):
    run = _nst("stylize", str(files["content"]), str(files["a"]), "-o", str(files["out"]), "--server",
               server.address, "--max-size", "32", "--steps", "2",
               "--region", str(files["mask"]), f"{files['b']},{files['a']}@2.5",
               "--region", str(files["mask"]), "none")
    assert run.returncode == 0, run.stderr
    assert Image.open(files["out"]).size == SIZE


def test_cli_only_regions_styled(server, files):
    run = _nst("stylize", str(files["content"]), "none", "-o", str(files["out"]), "--server", server.address,
               "--max-size", "32", "--steps", "2", "--region", str(files["mask"]), str(files["b"]))
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("style,mask_name,field", [("{b}@nan", "mask", "regions[0].strength"),
                                                   ("{b}@-1", "mask", "regions[0].strength"),
                                                   ("{b}", "rgbmask", "regions[0].mask")])
def test_cli_bad_region_names_it(server, files, style, mask_name, field):
    run = _nst("stylize", str(files["content"]), str(files["a"]), "-o", str(files["out"]), "--server",
               server.address, "--max-size", "32", "--steps", "2",
               "--region", str(files[mask_name]), style.format(b=files["b"]))
    assert run.returncode == 1 and field in run.stderr and "Traceback" not in run.stderr
    assert not files["out"].exists()


def test_cli_help_documents_the_region_syntax():
    run = _nst("stylize", "--help", timeout=60)
    text = " ".join(run.stdout.split())
    assert "--region MASK STYLE" in text and "@STRENGTH" in text and "'none'" in text and ":WEIGHT" in text


def test_cli_region_blend_weights(server, files):
    """STYLE:WEIGHT per region style: a style at weight 0 drops out, the other way round differs."""
    outputs = {}
    for name, style in (("a", "{a}"), ("a_only", "{a}:1,{b}:0"), ("b_only", "{a}:0,{b}:1")):
        out = files["out"].with_name(f"out_{name}.png")
        run = _nst("stylize", str(files["content"]), "none", "-o", str(out), "--server", server.address,
                   "--max-size", "32", "--steps", "8", "--coarse-steps", "8", "--region", str(files["mask"]),
                   style.format(**files))
        assert run.returncode == 0, run.stderr
        outputs[name] = Image.open(out).tobytes()
    assert outputs["a_only"] == outputs["a"] and outputs["b_only"] != outputs["a"]


@pytest.mark.parametrize("style,words", [("{a}:2,{b}", "every style of the region a :WEIGHT"),
                                         ("{a}:-1,{b}:1", "regions[0].style_blend")])
def test_cli_bad_region_weights_are_named(server, files, style, words):
    run = _nst("stylize", str(files["content"]), "none", "-o", str(files["out"]), "--server", server.address,
               "--max-size", "32", "--steps", "2", "--region", str(files["mask"]), style.format(**files))
    assert run.returncode in (1, 2) and words in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert not files["out"].exists()


def test_a_region_job_cancels_like_any_other(server, client):
    from server.client import Progress, Started

    stream = client.stylize(CONTENT, [STYLE], options=dict(SMALL, steps=2000), regions=[_region()])
    job_id = next(e for e in stream if isinstance(e, Started)).job_id
    next(e for e in stream if isinstance(e, Progress))
    with StyleClient(server.address) as other:
        assert other.cancel(job_id) is True
        with pytest.raises(ClientError) as caught:
            list(stream)
        assert caught.value.code == "CANCELLED" and other.job_state(job_id) == "cancelled"
    job = server.manager.get(job_id)
    assert job.steps_done - job.steps_at_cancel <= 1
    assert client.health() == "SERVING"
