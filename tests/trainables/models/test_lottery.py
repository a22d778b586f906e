"""The lottery-ticket family: weight counts worked out by hand on 28x28 grey and 32x32 colour inputs."""

import pytest
import torch
from torch import nn

from trainables.method.pruning import prunable_weights
from trainables.models import build_model

GREY, COLOUR = (1, 28, 28), (3, 32, 32)


def _weights(model):
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return sum(m.weight.numel() for m in layers), layers[-1].weight.numel()


# (model, input, weights by hand, classifier weights)
CASES = [
    # 784*300 + 300*100 + 100*10
    ("lenet300", GREY, 784 * 300 + 300 * 100 + 100 * 10, 1000),
    # conv 1*20*25 + 20*50*25; 28 -> 24 -> 12 -> 8 -> 4: fc 50*4*4*500 + 500*10 (Han et al.'s 431K with biases)
    ("lenet5", GREY, 500 + 25_000 + 800 * 500 + 5000, 5000),
    # 32 -> 28 -> 14 -> 10 -> 5: conv 3*20*25 + 25,000, fc 50*25*500 + 5,000
    ("lenet5", COLOUR, 1500 + 25_000 + 1250 * 500 + 5000, 5000),
    # Frankle & Carbin's Figure 2 on CIFAR: Conv-2 4.3M, Conv-4 2.4M, Conv-6 2.3M
    ("conv2", COLOUR, 3 * 64 * 9 + 64 * 64 * 9 + 16 * 16 * 64 * 256 + 256 * 256 + 2560, 2560),
    ("conv4", COLOUR, 1728 + 36_864 + 64 * 128 * 9 + 128 * 128 * 9 + 8 * 8 * 128 * 256 + 65_536 + 2560, 2560),
    ("conv6", COLOUR, 259_776 + 128 * 256 * 9 + 256 * 256 * 9 + 4 * 4 * 256 * 256 + 65_536 + 2560, 2560),
    # on MNIST: 28 -> 14 -> 7 -> 3 (floor) after each pool
    ("conv2", GREY, 1 * 64 * 9 + 36_864 + 14 * 14 * 64 * 256 + 65_536 + 2560, 2560),
    ("conv4", GREY, 576 + 36_864 + 73_728 + 147_456 + 7 * 7 * 128 * 256 + 65_536 + 2560, 2560),
    ("conv6", GREY, 576 + 36_864 + 73_728 + 147_456 + 294_912 + 589_824 + 3 * 3 * 256 * 256 + 65_536 + 2560, 2560),
]


@pytest.mark.parametrize("name,shape,weights,classifier", CASES, ids=lambda c: str(c))
def test_weight_counts_by_hand_and_the_classifier_left_dense(name, shape, weights, classifier):
    model = build_model(name, input_shape=shape, num_classes=10)
    assert _weights(model) == (weights, classifier)
    assert model(torch.randn(2, *shape)).shape == (2, 10)
    pruned = sum(w.numel() for w in prunable_weights(model).values())
    assert pruned == weights - classifier  # the final classifier is not pruned by default


def test_the_paper_totals_are_reproduced():
    counts = {n: _weights(build_model(n, input_shape=COLOUR, num_classes=10))[0] for n in ("conv2", "conv4", "conv6")}
    assert counts == {"conv2": 4_300_992, "conv4": 2_425_024, "conv6": 2_261_184}  # 4.3M, 2.4M, 2.3M in the paper
    lenet = build_model("lenet5", input_shape=GREY, num_classes=10)
    assert sum(p.numel() for p in lenet.parameters()) == 431_080  # Han et al. 2015: 431K


def test_width_scales_every_hidden_width_and_conv_models_refuse_flat_inputs():
    wide = build_model("lenet300", input_shape=GREY, num_classes=10, width=2)
    assert _weights(wide)[0] == 784 * 600 + 600 * 200 + 200 * 10
    assert _weights(build_model("conv2", input_shape=GREY, num_classes=10, width=2))[0] == \
        1 * 128 * 9 + 128 * 128 * 9 + 14 * 14 * 128 * 512 + 512 * 512 + 5120
    with pytest.raises(ValueError, match="takes images"):
        build_model("conv4", input_shape=(1, 40), num_classes=10)
