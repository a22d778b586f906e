"""Spectral metrics against closed forms and against a port of AlphaPruning's estimator written here.

The port (`_alphapruning_esd`) follows haiquanlu/AlphaPruning `lib/esd_utils.py:net_esd_estimator`
line by line in torch float32 (its `.cuda()` calls dropped): conv weights flattened to (out, in, k)
times sqrt(0.5), transposed to k matrices of out x in; squared singular values sorted; the Hill
estimator over candidate x_min with the smallest KS distance (xmin_peak: a 100-bin histogram
window; xmin_mid: the middle eigenvalue). The module under test runs in float64, so the two agree
to float32's precision on the eigenvalues: the tolerance below (1e-4 relative) is 100x the float32
rounding of a sum of a few hundred logs, far below any difference that matters (alphas differ by
0.1-1 between layers).
"""

import math

import numpy as np
import pytest
import torch
from torch import nn

from trainables.method.spectra import eigenvalues, hill_alpha, layer_means, layer_spectrum, model_spectra


def _alphapruning_esd(weight: torch.Tensor, fix_fingers: str | None, bins: int = 100, conv_norm: float = 0.5):
    matrix = weight.detach().clone()
    if matrix.dim() > 2:
        matrix = torch.flatten(matrix, start_dim=2) * math.sqrt(conv_norm)
        matrix = matrix.transpose(1, 2).transpose(0, 1)
    matrix = matrix.to(torch.float32)
    eigs = torch.square(torch.linalg.svdvals(matrix).flatten())
    eigs, _ = torch.sort(eigs, descending=False)
    spectral_norm = eigs[-1].item()
    nz_eigs = eigs
    N = len(nz_eigs)
    log_nz_eigs = torch.log(nz_eigs)
    if fix_fingers == "xmin_mid":
        i = int(len(nz_eigs) / 2)
        n = float(N - i)
        final_alpha = 1 + n / (torch.sum(log_nz_eigs[i:]) - n * log_nz_eigs[i])
    else:
        alphas = torch.zeros(N - 1)
        Ds = torch.ones(N - 1)
        if fix_fingers == "xmin_peak":
            hist_nz_eigs = torch.log10(nz_eigs)
            min_e, max_e = hist_nz_eigs.min(), hist_nz_eigs.max()
            counts = torch.histc(hist_nz_eigs, bins, min=min_e, max=max_e)
            boundaries = torch.linspace(min_e, max_e, bins + 1)
            ih = torch.argmax(counts)
            xmin2 = 10 ** boundaries[ih]
            xmin_min = torch.log10(0.95 * xmin2)
            xmin_max = 1.5 * xmin2
        for i, xmin in enumerate(nz_eigs[:-1]):
            if fix_fingers == "xmin_peak":
                if xmin < xmin_min:
                    continue
                if xmin > xmin_max:
                    break
            n = float(N - i)
            seq = torch.arange(n)
            alpha = 1 + n / (torch.sum(log_nz_eigs[i:]) - n * log_nz_eigs[i])
            alphas[i] = alpha
            if alpha > 1:
                Ds[i] = torch.max(torch.abs(1 - (nz_eigs[i:] / xmin) ** (-alpha + 1) - seq / n))
        final_alpha = alphas[torch.argmin(Ds)]
    final_alpha = final_alpha.item()
    return {"alpha": final_alpha, "alphahat": final_alpha * math.log10(spectral_norm), "spectral_norm": spectral_norm,
            "eigs": eigs.numpy()}


def _trained_like(shape, seed):
    # Heavy-ish tails like a trained layer's: a random matrix plus a few strong rank-one directions.
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(*shape, generator=gen) / math.sqrt(shape[1])
    flat = w.reshape(shape[0], -1)
    for k in range(4):
        u = torch.randn(shape[0], 1, generator=gen)
        v = torch.randn(1, flat.shape[1], generator=gen)
        flat += (3.0 / (k + 1)) * u @ v / math.sqrt(flat.shape[1] * shape[0])
    return flat.reshape(shape)


@pytest.mark.parametrize("shape", [(256, 40), (64, 256), (32, 32, 5), (16, 8, 3, 3)])
@pytest.mark.parametrize("mode,reference", [("peak", "xmin_peak"), ("mid", "xmin_mid"), ("ks", None)])
def test_alpha_agrees_with_the_ported_alphapruning_estimator(shape, mode, reference):
    weight = _trained_like(shape, seed=sum(shape))
    ours = layer_spectrum(weight, xmin=mode)
    theirs = _alphapruning_esd(weight, reference)
    assert ours["alpha"] == pytest.approx(theirs["alpha"], rel=1e-4)
    assert ours["alpha_hat"] == pytest.approx(theirs["alphahat"], rel=1e-4)
    assert ours["log_spectral_norm"] == pytest.approx(math.log10(theirs["spectral_norm"]), rel=1e-5)
    np.testing.assert_allclose(eigenvalues(weight), theirs["eigs"], rtol=1e-4, atol=1e-9)


def test_a_matrix_with_a_known_spectrum():
    # W = U diag(s) V^T with orthonormal U, V: the eigenvalues of W^T W are s^2 exactly.
    gen = torch.Generator().manual_seed(0)
    u, _ = torch.linalg.qr(torch.randn(50, 30, generator=gen, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(30, 30, generator=gen, dtype=torch.float64))
    s = torch.linspace(0.5, 4.0, 30, dtype=torch.float64)
    w = u @ torch.diag(s) @ v.T
    np.testing.assert_allclose(eigenvalues(w), np.sort(s.numpy() ** 2), rtol=1e-12)
    spectrum = layer_spectrum(w)
    assert spectrum["log_spectral_norm"] == pytest.approx(math.log10(16.0), rel=1e-12)
    assert spectrum["stable_rank"] == pytest.approx(float((s ** 2).sum() / 16.0), rel=1e-12)


def test_hill_estimator_recovers_the_exponent_of_pareto_quantiles():
    # Eigenvalues at the quantiles of a Pareto law with density ~ x^-alpha above 1:
    # lambda_j = (1 - (j + 0.5) / N)^(-1 / (alpha - 1)). The Hill estimate from the smallest is
    # 1 + N / sum log(lambda_j), and sum log(lambda_j) -> N / (alpha - 1) as N grows.
    for alpha in (2.0, 3.0, 4.5):
        n = 4000
        lam = (1 - (np.arange(n) + 0.5) / n) ** (-1 / (alpha - 1))
        fitted, ks, x_min = hill_alpha(np.sort(lam), xmin="ks")
        assert fitted == pytest.approx(alpha, rel=0.02)
        assert ks < 0.02
        exact_from_smallest = 1 + n / np.sum(np.log(lam / lam.min()))
        assert hill_alpha(np.sort(lam), xmin="mid")[0] == pytest.approx(alpha, rel=0.03)
        assert exact_from_smallest == pytest.approx(alpha, rel=0.02)


def test_conv_weights_pool_their_kernel_slices():
    # A (4, 3, 2) Conv1d weight is 2 slices of 4 x 3, scaled by sqrt(0.5): 2 x 3 eigenvalues, each
    # half the corresponding slice's own squared singular value.
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(4, 3, 2, generator=gen, dtype=torch.float64)
    expected = np.sort(np.concatenate([0.5 * torch.linalg.svdvals(w[:, :, k]).numpy() ** 2 for k in range(2)]))
    np.testing.assert_allclose(eigenvalues(w), expected, rtol=1e-12)


def test_layer_means_skip_layers_too_small_to_fit():
    model = nn.Sequential(nn.Linear(40, 64), nn.ReLU(), nn.Linear(64, 1))
    spectra = model_spectra({"0.weight": model[0].weight, "2.weight": model[2].weight})
    assert math.isnan(spectra["2.weight"]["alpha"])  # one eigenvalue: nothing to fit
    assert layer_means(spectra)["alpha"] == pytest.approx(spectra["0.weight"]["alpha"])
    assert layer_means(spectra)["log_spectral_norm"] == pytest.approx(
        (spectra["0.weight"]["log_spectral_norm"] + spectra["2.weight"]["log_spectral_norm"]) / 2)
