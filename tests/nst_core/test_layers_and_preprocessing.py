"""Layer-name mapping and each weight source's preprocessing."""
import pytest
import torch
from torch import nn
from torchvision.models import vgg19

from nst_core.layers import CONV_NAMES, LAYER_INDEX, LAYER_NAMES
from nst_core.preprocess import CAFFE_MEAN_BGR, Preprocessing


def test_names_follow_torchvision_module_order():
    features = vgg19(weights=None).features
    assert len(LAYER_NAMES) == len(features) == 37
    kinds = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}
    for name, module in zip(LAYER_NAMES, features):
        assert isinstance(module, kinds[name[:4]]), name
    assert LAYER_INDEX["conv1_1"] == 0 and LAYER_INDEX["relu4_2"] == 22 and LAYER_INDEX["pool5"] == 36
    assert len(CONV_NAMES) == 16 and CONV_NAMES[-1] == "conv5_4"


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
