"""Loss terms against values worked out by hand on tiny tensors."""
import pytest
import torch

from nst_core.losses import content_loss, gram_matrix, style_loss, tv_loss


def test_content_loss_is_mean_squared_error():
    f = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    p = torch.tensor([[[[1.0, 0.0], [3.0, 0.0]]]])
    assert content_loss(f, p).item() == pytest.approx((4 + 16) / 4)


def test_gram_matrix_normalized_by_c_h_w():
    # Two channels, 1×2 pixels: F = [[1, 2], [3, 4]] → F Fᵀ = [[5, 11], [11, 25]], divided by 2·1·2.
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 4
    assert torch.allclose(gram_matrix(f), expected)


def test_gram_matrix_gradient_matches_autograd_reference_in_both_layouts():
    f = torch.randn(1, 5, 4, 3, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(gram_matrix, (f,))
    f_cl = f.detach().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    assert torch.autograd.gradcheck(gram_matrix, (f_cl,))


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_the_gram_matrix_of_a_box_is_that_of_the_slice_with_its_gradient_in_place(layout):
    f = torch.randn(1, 5, 6, 7, dtype=torch.double).contiguous(memory_format=layout).requires_grad_(True)
    box = (1, 5, 2, 6)
    assert torch.allclose(gram_matrix(f, box), gram_matrix(f[:, :, 1:5, 2:6].contiguous()))
    assert torch.autograd.gradcheck(lambda x: gram_matrix(x, box), (f,))
    gram_matrix(f, box).sum().backward()
    assert f.grad[:, :, :1].abs().max() == 0 and f.grad[:, :, :, 6:].abs().max() == 0  # outside: no gradient
    assert f.grad.is_contiguous(memory_format=layout)


def test_style_loss_weights_layers():
    a = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    feats = {"relu1_1": a, "relu2_1": a * 2}
    targets = {"relu1_1": torch.zeros(1, 2, 2), "relu2_1": gram_matrix(a * 2)}
    g = gram_matrix(a)
    expected = 0.25 * (g ** 2).mean().item()  # second layer matches its target exactly
    got = style_loss(feats, targets, ["relu1_1", "relu2_1"], [0.25, 0.75]).item()
    assert got == pytest.approx(expected)


def test_total_variation_by_hand():
    img = torch.tensor([[[[0.0, 1.0], [2.0, 4.0]]]])
    # vertical diffs: 2, 3 → mean 6.5; horizontal diffs: 1, 2 → mean 2.5
    assert tv_loss(img).item() == pytest.approx(6.5 + 2.5)
