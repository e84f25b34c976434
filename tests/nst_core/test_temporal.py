"""Flow, warping and the forward-backward certainty (nst_core.temporal) on exact synthetic flows and a real
photo moved by a known shift."""
import numpy as np
import torch
from PIL import Image

from nst_core import temporal
from tests.helpers import SAMPLES


def constant_flow(h, w, dx, dy):
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0], flow[..., 1] = dx, dy
    return flow


def test_warping_by_an_exact_shift_moves_the_picture_by_that_shift():
    picture = torch.rand(1, 3, 30, 40) * 255
    # Each output pixel p takes the input at p + (3, -2): the picture moves 3 px left and 2 px down.
    out = temporal.warp(picture, constant_flow(30, 40, 3, -2))
    assert torch.allclose(out[:, :, 2:, :-3], picture[:, :, :-2, 3:], atol=1e-3)
    assert not torch.allclose(out, picture, atol=1.0)


def test_certainty_is_zero_where_a_region_appears_and_one_where_nothing_moves():
    h, w = 40, 60
    # A square at columns 10..20 of frame 1 moves to columns 20..30 of frame 2 over a still background.
    forward = np.zeros((h, w, 2), np.float32)  # frame 1 → 2
    forward[10:20, 10:20, 0] = 10
    backward = np.zeros((h, w, 2), np.float32)  # frame 2 → 1
    backward[10:20, 20:30, 0] = -10
    c = temporal.certainty(forward, backward)
    assert c[12:18, 12:18].max() == 0  # background uncovered where the square was: nothing to hold
    assert c[14:16, 24:26].min() > 0.95  # the square itself, inside its motion boundary: its flow is known
    assert c[30:, :].min() > 0.99 and c[:5, 40:].min() > 0.99  # still background


def test_dis_flow_finds_a_real_photo_shift():
    photo = Image.open(SAMPLES / "chelsea.png").convert("RGB").resize((128, 84))
    array = np.asarray(photo)
    moved = Image.fromarray(np.ascontiguousarray(array[:, 4:]))  # the view moved: content 4 px further left
    still = Image.fromarray(np.ascontiguousarray(array[:, :-4]))
    flow = temporal.flow(still, moved)
    inner = flow[10:-10, 10:-10]
    assert abs(float(np.median(inner[..., 0])) + 4) < 0.5 and abs(float(np.median(inner[..., 1]))) < 0.5


def test_temporal_term_adds_its_value_and_exact_gradient():
    target = torch.rand(1, 3, 8, 8) * 255
    c = torch.zeros(1, 1, 8, 8)
    c[..., :4] = 1  # only the left half is held
    term = temporal.TemporalTerm(target, c, weight=5.0)

    def plain(image, tiles, on_tile=None):
        return {"total": 1.0}, torch.zeros_like(image)

    x = torch.rand(1, 3, 8, 8, dtype=torch.float64) * 255
    terms, grad = term.wrap(plain, (8, 8), torch.device("cpu"))(x.float(), [])
    xr = x.clone().requires_grad_(True)
    value = 5.0 * (c.double() * (xr - target.double()) ** 2).sum() / (c.sum().double() * 3 * 255.0 ** 2)
    value.backward()
    value = float(value.detach())
    assert abs(terms["temporal"] - value) < 1e-6 and abs(terms["total"] - 1.0 - value) < 1e-6
    assert torch.allclose(grad.double(), xr.grad, rtol=1e-4, atol=1e-9)
    assert float(grad[..., 4:].abs().max()) == 0  # no pull where the certainty is 0


def test_repeated_warps_keep_the_strokes_sharp():
    """A sequence warps each result into the next frame: eight half-pixel warps there and back must keep most
    of a textured picture's pixel-to-pixel contrast (bilinear kept about a tenth of it)."""
    picture = torch.from_numpy(np.asarray(Image.open(SAMPLES / "starry_night.jpg").convert("RGB").resize((96, 60)),
                                          np.float32)).permute(2, 0, 1)[None]
    moved = picture
    for k in range(8):
        moved = temporal.warp(moved, constant_flow(60, 96, 0.5 if k % 2 == 0 else -0.5, 0.3 if k % 2 == 0 else -0.3))

    def contrast(x):
        return float((x[..., 1:] - x[..., :-1]).pow(2).mean())

    assert contrast(moved) > 0.7 * contrast(picture)
