"""The spectral metrics against weightwatcher 0.7.7 on the same weights (the `reference` extra, in `dev`).

weightwatcher fits alpha with the powerlaw package over every x_min, keeping the smallest KS
distance: our `xmin="ks"`. It reads a Conv2d weight as its kh x kw slices with the same
normalisation AlphaPruning uses; it skips Conv1d layers (0.7.7 has no such layer type), so the
1-D CNN's convolutions are checked against the ported AlphaPruning estimator only
(tests/trainables/method/test_spectra.py). Tolerance: 1e-6 relative (both in float64 on the same
eigenvalues up to the SVD's rounding; measured agreement 1e-10 or better on these layers).
"""

import logging
import warnings

import pytest
import torch
from torch import nn

from tests.trainables.method.test_spectra import _trained_like
from trainables.method.spectra import layer_spectrum

ww = pytest.importorskip("weightwatcher", reason="needs weightwatcher: pip install '.[reference]'")


def _model():
    model = nn.Sequential(nn.Conv2d(16, 32, 3, bias=False), nn.ReLU(), nn.Conv2d(32, 64, 3, bias=False), nn.ReLU(),
                          nn.Flatten(), nn.LazyLinear(256, bias=False), nn.ReLU(), nn.Linear(256, 128, bias=False))
    model(torch.zeros(1, 16, 8, 8))
    with torch.no_grad():
        for i, layer in enumerate(m for m in model if isinstance(m, (nn.Conv2d, nn.Linear))):
            layer.weight.copy_(_trained_like(tuple(layer.weight.shape), seed=10 + i))
    return model


def test_alpha_and_the_norms_agree_with_weightwatcher_layer_by_layer():
    model = _model()
    logging.getLogger("weightwatcher").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        details = ww.WeightWatcher(model=model).analyze()
    layers = [m for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(details) == len(layers) == 4
    for (_, theirs), layer in zip(details.iterrows(), layers):
        ours = layer_spectrum(layer.weight, xmin="ks")
        assert ours["n_eigs"] == theirs["num_evals"]
        assert ours["alpha"] == pytest.approx(theirs["alpha"], rel=1e-6)
        assert ours["alpha_hat"] == pytest.approx(theirs["alpha_weighted"], rel=1e-6)
        assert ours["log_spectral_norm"] == pytest.approx(theirs["log_spectral_norm"], rel=1e-6)
        assert ours["stable_rank"] == pytest.approx(theirs["stable_rank"], rel=1e-6)
        assert ours["xmin"] == pytest.approx(theirs["xmin"], rel=1e-6)
