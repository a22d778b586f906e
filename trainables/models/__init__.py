"""Models, the second stage of a trial: built-in networks, the lottery-ticket family, models by name.

`networks` (PreResNet, VGG, the 1-D CNN, the MLP), `lottery` (LeNet-300-100, LeNet-5, Conv-2/4/6)
and `catalog` (`build_model`: ours, torchvision's, timm's, plug-ins).
"""

from trainables.models.catalog import build_model, build_plugin_model
from trainables.models.lottery import conv_net, lenet5, lenet300
from trainables.models.networks import PreResNet, cnn1d, mlp, preresnet, vgg

__all__ = ["PreResNet", "build_model", "build_plugin_model", "cnn1d", "conv_net", "lenet300", "lenet5", "mlp",
           "preresnet", "vgg"]
