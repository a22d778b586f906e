"""Models, the second stage of a trial: the built-in networks (`networks`), the lottery-ticket family
(`lottery`) and models by name (`catalog`)."""

from trainables.models.catalog import build_model, build_plugin_model
from trainables.models.lottery import conv_net, lenet5, lenet300
from trainables.models.networks import PreResNet, cnn1d, mlp, preresnet, vgg

__all__ = ["PreResNet", "build_model", "build_plugin_model", "cnn1d", "conv_net", "lenet300", "lenet5", "mlp",
           "preresnet", "vgg"]
