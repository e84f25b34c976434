"""Each weight source's preprocessing: the network input space and back."""
import pytest
import torch

from nst_core.preprocess import CAFFE_MEAN_BGR, Preprocessing


def test_caffe_preprocessing_is_bgr_0_255_minus_mean_pixel():
    pre = Preprocessing("caffe")
    red = torch.tensor([255.0, 0.0, 0.0]).view(1, 3, 1, 1)
    net = pre.to_network(red).flatten().tolist()
    b, g, r = CAFFE_MEAN_BGR
    assert net == pytest.approx([0 - b, 0 - g, 255 - r])


def test_torch_preprocessing_is_rgb_0_1_normalized():
    pre = Preprocessing("torch")
    white = torch.full((1, 3, 1, 1), 255.0)
    net = pre.to_network(white).flatten().tolist()
    assert net == pytest.approx([(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225], rel=1e-5)


@pytest.mark.parametrize("name", ["caffe", "torch"])
def test_preprocessing_round_trip(name):
    pre = Preprocessing(name)
    img = torch.rand(2, 3, 5, 4) * 255
    assert torch.allclose(pre.from_network(pre.to_network(img)), img, atol=1e-3)
