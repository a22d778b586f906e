import pytest
import torch
from torch import nn

from trainables.models import build_model, preresnet


def test_preresnet20_matches_the_paper_architecture():
    model = preresnet(depth=20, num_classes=10, width=1)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 21
    assert sum(c.weight.numel() for c in convs) == 270_256
    shortcuts = [c for c in convs if c.kernel_size == (1, 1)]
    assert [(c.in_channels, c.out_channels, c.stride) for c in shortcuts] == [(16, 32, (2, 2)), (32, 64, (2, 2))]
    assert (model.fc.in_features, model.fc.out_features) == (64, 10)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_preresnet_init_follows_the_paper():
    torch.manual_seed(0)
    model = preresnet(width=2)
    conv = model.blocks[-1].conv2  # 128 -> 128, 3x3: std sqrt(2 / (9 * 128))
    assert conv.weight.std().item() == pytest.approx((2 / (9 * 128)) ** 0.5, rel=0.02)
    assert torch.all(model.bn.weight == 1) and torch.all(model.bn.bias == 0)


def test_width_multiplier_scales_every_stage():
    model = preresnet(width=2)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    # Conv weights scale with width^2 except the first conv (input has 3 channels): 432 -> 864.
    assert sum(c.weight.numel() for c in convs) == (270_256 - 432) * 4 + 864


@pytest.mark.parametrize("name,shape,depth", [("vgg", (3, 32, 32), 11), ("vgg", (3, 32, 32), 16),
                                              ("cnn1d", (1, 40), 0), ("mlp", (1, 40), 0), ("mlp", (1, 8, 8), 0)])
def test_every_model_maps_a_batch_to_logits(name, shape, depth):
    model = build_model(name, input_shape=shape, num_classes=7, depth=depth or 20)
    assert model(torch.randn(4, *shape)).shape == (4, 7)


def test_vgg16_has_13_convs():
    model = build_model("vgg", input_shape=(3, 32, 32), num_classes=10, depth=16)
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == 13


def test_model_rejects_wrong_input_shape():
    with pytest.raises(ValueError, match="takes images"):
        build_model("preresnet", input_shape=(1, 40), num_classes=10)


def test_the_projection_shortcut_sees_the_blocks_raw_input_as_in_the_papers_code():
    import torch.nn.functional as F

    torch.manual_seed(0)
    model = preresnet()
    block = model.blocks[3]  # first block of stage 2: 16 -> 32 channels, stride 2, 1x1 projection
    with torch.no_grad():  # non-trivial BN so that bn1(x) differs from x
        block.bn1.weight.uniform_(0.5, 1.5)
        block.bn1.bias.uniform_(-0.5, 0.5)
    block.eval()
    x = torch.randn(2, 16, 8, 8)

    def by_hand(x):
        # The paper's PreActBlock (models/cifar/preresnet.py): out = conv1(relu(bn1(x)));
        # out = conv2(relu(bn2(out))); residual = downsample(x); out + residual.
        bn = lambda m, a: F.batch_norm(a, m.running_mean, m.running_var, m.weight, m.bias, False)  # noqa: E731
        out = F.conv2d(F.relu(bn(block.bn1, x)), block.conv1.weight, stride=2, padding=1)
        out = F.conv2d(F.relu(bn(block.bn2, out)), block.conv2.weight, padding=1)
        return out + F.conv2d(x, block.shortcut.weight, stride=2)

    with torch.no_grad():
        assert torch.allclose(block(x.clone()), by_hand(x), atol=1e-5)


def test_the_smallest_hidden_layer_of_each_built_in_model_is_what_the_width_check_assumes():
    # SMALLEST_LAYER decides which widths are refused before a trial; here it is read off the built networks.
    from torch import nn

    from trainables.models import build_model
    from trainables.models.width import SMALLEST_LAYER

    shapes = {"cnn1d": (1, 40), "mlp": (1, 40), "lenet300": (1, 28, 28), "lenet5": (1, 28, 28)}
    for name, smallest in SMALLEST_LAYER.items():
        model = build_model(name, input_shape=shapes.get(name, (3, 32, 32)), num_classes=10,
                            depth=16 if name == "vgg" else 20)
        layers = [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]
        hidden = [m.out_channels if hasattr(m, "out_channels") else m.out_features for m in layers[:-1]]
        assert min(hidden) == smallest, name


def test_a_width_below_one_narrows_every_hidden_layer_rounding_half_up():
    from torch import nn

    from trainables.models import build_model

    cnn = build_model("cnn1d", input_shape=(1, 40), num_classes=10, width=0.5)
    assert [m.out_channels for m in cnn.modules() if isinstance(m, nn.Conv1d)] == [16, 16, 16]
    lenet = build_model("lenet300", input_shape=(1, 28, 28), num_classes=10, width=0.25)
    assert [m.out_features for m in lenet.modules() if isinstance(m, nn.Linear)] == [75, 25, 10]
    resnet = build_model("preresnet", input_shape=(3, 32, 32), num_classes=10, width=0.1)  # 1.6, 3.2, 6.4
    assert resnet.conv1.out_channels == 2 and resnet.fc.in_features == 6
