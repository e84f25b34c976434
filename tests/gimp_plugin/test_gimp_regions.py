"""Regions through the plug-in inside real GIMP 3.0: the style only inside a (feathered) selection, one style
inside and another outside, and saved channels as regions; each the result as one new layer over the whole
source layer, the image's channels and selection left as they were."""
import os

from PIL import Image

from gimp_root import install_plugin
from tests.gimp_plugin.test_gimp_integration import LAYER_OFFSETS, LAYER_SIZE, rgba, run_gimp, work  # noqa: F401

SELECTION = (14, 10, 24, 20)  # image coordinates: x 6..29, y 4..23 on the layer
ARGS = {"preset": "draft", "max-size": 48, "steps": 10}


def diff(a, b, inside):
    """Mean absolute RGB difference over the opaque pixels of the layer where ``inside(x, y)``."""
    total = count = 0
    for y in range(LAYER_SIZE[1]):
        for x in range(LAYER_SIZE[0]):
            i = 4 * (y * LAYER_SIZE[0] + x)
            if b[i + 3] and inside(x, y):
                total += sum(abs(a[i + k] - b[i + k]) for k in range(3))
                count += 3
    return total / count


def test_regions_from_the_selection_and_from_channels(work, server):
    host, root = work
    checks = Image.new("RGB", (32, 32))
    checks.putdata([(230, 20, 20) if (x // 4 + y // 4) % 2 else (20, 200, 40) for y in range(32) for x in range(32)])
    checks.save(os.path.join(host, "checks.png"))
    install_plugin(work, server.address)
    stripes = f"{root}/stripes.png"
    left, right = ("left", [8, 6, 20, 40]), ("right", [36, 6, 20, 40])  # image coordinates
    reports, _ = run_gimp(work, [
        {"style_file": stripes, "selection": list(SELECTION), "feather": 4.0,
         "arguments": {**ARGS, "regions": "selection"}},
        {"style_file": stripes, "selection": list(SELECTION), "outside_style_file": f"{root}/checks.png",
         "arguments": {**ARGS, "regions": "inside-outside"}},
        {"channels": [left, right], "arguments": {**ARGS, "regions": "channels",
                                                  "channel-styles": f"left={stripes}; right=none"}},
        {"channels": [left, right], "arguments": {**ARGS, "regions": "channels", "channel-styles": "left=none"}},
        {"style_file": stripes, "arguments": {**ARGS, "regions": "selection"}},  # no selection
    ])
    only_inside, two_styles, channels, unnamed, no_selection = reports
    sx, sy = SELECTION[0] - LAYER_OFFSETS[0], SELECTION[1] - LAYER_OFFSETS[1]

    def in_selection(x, y):
        return sx + 4 <= x < sx + SELECTION[2] - 4 and sy + 4 <= y < sy + SELECTION[3] - 4

    def far_outside(x, y):
        return x >= sx + SELECTION[2] + 8 or y >= sy + SELECTION[3] + 8

    for report in (only_inside, two_styles, channels):
        assert report["status"] == "success", report["message"]
        assert report["layers"][:2] == ["top", report["new_layer"]["name"]] and len(report["layers"]) == 4
        new = report["new_layer"]
        assert new["size"] == list(LAYER_SIZE) and new["offsets"] == list(LAYER_OFFSETS)
        assert report["source_unchanged"] and report["dirty"]
        source, result = rgba(report["source"]), rgba(new["pixels"])
        assert result[3::4] == source[3::4]  # the whole layer, the source's alpha: no cut at the selection

    # (a) The style only inside the feathered selection; the rest exactly as it was.
    source, result = rgba(only_inside["source"]), rgba(only_inside["new_layer"]["pixels"])
    inside, outside = diff(result, source, in_selection), diff(result, source, far_outside)
    assert inside > 5 and outside == 0, (inside, outside)
    assert not only_inside["selection_empty"] and only_inside["channels"] == []

    # (b) Stripes inside, red and green checks outside: the outside repainted too.
    source, result = rgba(two_styles["source"]), rgba(two_styles["new_layer"]["pixels"])
    assert diff(result, source, far_outside) > 5

    # (c) Saved channels: the left one striped, the right one (no style) kept as it was.
    source, result = rgba(channels["source"]), rgba(channels["new_layer"]["pixels"])
    left_diff = diff(result, source, lambda x, y: 4 <= x < 16)
    right_diff = diff(result, source, lambda x, y: 32 <= x < 44)
    assert left_diff > 5 and right_diff == 0, (left_diff, right_diff)
    assert channels["channels"] == ["right", "left"] or sorted(channels["channels"]) == ["left", "right"]
    assert channels["new_layer"]["name"] == "source · regions"

    # A channel without a style, and regions without a selection: a message, the image untouched.
    for report, words in ((unnamed, "right"), (no_selection, "Select")):
        assert report["status"] == "execution-error" and words in report["message"], report["message"]
        assert report["layers"] == ["top", "source", "background"] and not report["dirty"]
