"""Paper layer names for the modules of torchvision's VGG19."""
from torch import nn
from torchvision.models import vgg19

from nst_core.contract.layers import CONV_NAMES, LAYER_INDEX, LAYER_NAMES


def test_names_follow_torchvision_module_order():
    features = vgg19(weights=None).features
    assert len(LAYER_NAMES) == len(features) == 37
    kinds = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}
    for name, module in zip(LAYER_NAMES, features):
        assert isinstance(module, kinds[name[:4]]), name
    assert LAYER_INDEX["conv1_1"] == 0 and LAYER_INDEX["relu4_2"] == 22 and LAYER_INDEX["pool5"] == 36
    assert len(CONV_NAMES) == 16 and CONV_NAMES[-1] == "conv5_4"
