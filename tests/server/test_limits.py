"""The server's limits: docs/server.md "Limits" and Describe agree, and inconsistent settings are refused."""
from __future__ import annotations

import math
import re

import pytest

from server.limits import SPARE_THREADS, ServerLimits
from tests.helpers import REPO


def _readme_rows():
    """(limit, default, Describe path) for each row of docs/server.md "Limits" that names a Describe field."""
    section = (REPO / "docs" / "server.md").read_text().split("\n## Limits\n", 1)[1].split("\n## ", 1)[0]
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| ---")]
    assert rows[0] == ["limit", "default", "set with", "`Describe` field"]
    return [(limit, default, path.strip("`")) for limit, default, _, path in rows[1:] if path != "—"]


def _number(text: str):
    """The default's leading number (MiB as bytes), or None when it depends on the machine."""
    match = re.match(r"(\d+)( MiB)?", text)
    return None if match is None else int(match.group(1)) * (2**20 if match.group(2) else 1)


def test_readme_limits_table_matches_describe(client):
    described = client.describe()  # the session server runs with the defaults
    paths = set()
    for limit, default, path in _readme_rows():
        value = described
        for key in path.split("."):
            value = value[key]
        paths.add(path)
        if _number(default) is not None:
            assert value == _number(default), f"README says {default} for {limit}; Describe says {value}"
    limits = described["limits"]
    assert {f"limits.{name}" for name in limits if name != "calls"} <= paths, "a Describe limit is missing"
    assert {f"limits.calls.{kind}.max_calls" for kind in limits["calls"]} <= paths
    assert {f"options.{name}.maximum" for name in ("steps", "max_size", "style_scale", "style_weight",
                                                    "style_strength", "style_blend", "seed")} <= paths
    assert {"options.style_layers.max_items", "options.style_blend.max_items"} <= paths
    options = described["options"]
    for same in (("content_weight", "style_weight", "tv_weight"), ("style_strength", "style_layer_weights"),
                 ("content_layers", "style_layers", "style_layer_weights")):
        key = "max_items" if same[0] == "content_layers" else "maximum"
        assert len({options[name][key] for name in same}) == 1, same  # one README row speaks for each group


def test_defaults_are_consistent():
    limits = ServerLimits()
    assert limits.max_request_pixels == 2 * limits.max_pixels
    assert limits.max_request_bytes == 4 * limits.max_request_pixels + 16 * 2**20
    assert limits.queue_bytes >= limits.max_request_bytes  # a request at every limit can still wait
    assert limits.threads == sum(kind.max_calls for kind in (*limits.calls, limits.other_calls)) + SPARE_THREADS
    stylize = next(kind for kind in limits.calls if kind.name == "stylize")
    assert stylize.max_calls > limits.queue_size + 1 > stylize.max_receiving > 0
    # Every kind is bounded (its own threads); idle callers give their places to newcomers (admission).
    assert all(kind.max_calls > 0 for kind in limits.calls)


@pytest.mark.parametrize("settings", [dict(queue_size=-1), dict(max_pixels=0), dict(max_styles=0),
                                      dict(max_pixels=100, max_request_pixels=50), dict(queue_bytes=-1),
                                      dict(stall_seconds=0), dict(receive_seconds=math.inf)])
def test_inconsistent_settings_are_refused(settings):
    with pytest.raises(ValueError):
        ServerLimits(**settings)
