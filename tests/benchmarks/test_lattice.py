"""The lattice score finds a regular grid of fine dots and leaves a picture without one low."""

import numpy as np
from PIL import Image

from benchmarks.lattice import lattice_scores


def _picture(grid_period=None):
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:256, 0:256]
    grey = 120 + 60 * np.sin(x / 23.0) * np.cos(y / 31.0) + rng.normal(0, 8, (256, 256))  # smooth shapes + grain
    if grid_period:
        grey += 25 * ((x % grid_period == 0) & (y % grid_period == 0))  # a dot every grid_period px
    return Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8), "L")


def test_a_dot_grid_scores_high_at_its_period_and_a_plain_picture_low():
    plain = lattice_scores(_picture(), periods=(2, 4), side=256)
    dotted = lattice_scores(_picture(4), periods=(2, 4), side=256)
    assert all(s[4] < 10 for s in plain)
    assert all(s[4] > 50 for s in dotted)
