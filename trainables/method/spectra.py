"""Heavy-tailed spectra of a layer's weights (HT-SR; DESIGN.md 7.2): a temperature gauge that needs no data.

Per prunable layer the empirical spectral density (ESD) is the set of eigenvalues of W^T W,
computed as AlphaPruning's `net_esd_estimator` does (haiquanlu/AlphaPruning,
`lib/esd_utils.py`): a linear weight as it is; a conv weight (out, in, *kernel) flattened to
(out, in, k) with k the kernel's size, times sqrt(conv_norm) (0.5), and read as k matrices of
out x in whose squared singular values are pooled. Everything here runs in float64 on the CPU,
whatever the model's device and dtype (metrics never run under autocast).

From the sorted eigenvalues lambda_1 <= ... <= lambda_N:

- **alpha**, the power-law exponent of the tail, by the Hill (maximum-likelihood) estimator
  alpha = 1 + n / sum_{j >= i} log(lambda_j / lambda_i) over the n = N - i eigenvalues at or
  above x_min = lambda_i. Which i (the x_min choice, `XMIN_CHOICES`):
  "peak" (the default, what AlphaPruning's pruning scripts use): the candidates whose x_min lies
  in AlphaPruning's window around the peak of a 100-bin histogram of log10 lambda, keeping the
  one with the smallest Kolmogorov-Smirnov distance D = max_j |1 - (lambda_j / x_min)^(1 - alpha)
  - j / n|. As in its code the window's lower end is log10(0.95 x peak) compared against lambda
  itself, and its upper end 1.5 x peak: for eigenvalues below 1 the window starts at the
  smallest one; kept as written so that the numbers agree with AlphaPruning's;
  "mid": i = N // 2, the upper half of the spectrum;
  "ks": every i, smallest D (powerlaw's and weightwatcher's choice).
  Smaller alpha = heavier tail = better trained (Martin & Mahoney); typical 2-6.
  A pruned layer's matrix is rank-deficient: its zero eigenvalues (below `ZERO_EIG`, 1e-5,
  AlphaPruning's `filter_zeros` threshold) are left out of the fit (`pruned=True`).
- **alpha_hat** = alpha x log10(lambda_max) (alpha weighted by the scale of the layer).
- **log_spectral_norm** = log10(lambda_max) (the squared largest singular value, as weightwatcher).
- **stable_rank** = sum(lambda) / lambda_max (squared Frobenius over squared spectral norm).
"""

from __future__ import annotations

import math

import numpy as np
import torch

XMIN_CHOICES = ("peak", "mid", "ks")
METRICS = ("alpha", "alpha_hat", "log_spectral_norm", "stable_rank")
CONV_NORM = 0.5
BINS = 100
ZERO_EIG = 1e-5


def eigenvalues(weight: torch.Tensor, *, conv_norm: float = CONV_NORM) -> np.ndarray:
    """Return the eigenvalues of W^T W of one layer's weight, ascending, float64 (conv: kernel slices pooled)."""
    w = weight.detach().to("cpu", torch.float64)
    if w.dim() > 2:  # (out, in, *kernel) -> k matrices of out x in
        w = (w.flatten(start_dim=2) * math.sqrt(conv_norm)).permute(2, 0, 1)
    return np.sort(np.square(torch.linalg.svdvals(w).flatten().numpy()))


def hill_alpha(eigs: np.ndarray, *, xmin: str = "peak", bins: int = BINS, above: float = 0.0
               ) -> tuple[float, float, float]:
    """Return (alpha, D, x_min) of ascending eigenvalues `eigs` by the Hill estimator with the `xmin` choice.

    Only eigenvalues above `above` are fitted. NaN when fewer than two are left.
    """
    if xmin not in XMIN_CHOICES:
        raise ValueError(f"xmin must be one of {', '.join(XMIN_CHOICES)}, got {xmin!r}")
    lam = np.asarray(eigs, dtype=np.float64)
    lam = lam[lam > max(above, 0.0)]
    if lam.size < 2:
        return math.nan, math.nan, math.nan
    logs = np.log(lam)
    n_all = lam.size
    if xmin == "mid":
        candidates = np.array([n_all // 2])
    else:
        candidates = np.arange(n_all - 1)
        if xmin == "peak":
            counts, edges = np.histogram(np.log10(lam), bins=bins)
            peak = 10 ** edges[int(np.argmax(counts))]
            inside = (lam[:-1] >= np.log10(0.95 * peak)) & (lam[:-1] <= 1.5 * peak)
            candidates = candidates[inside]
            if candidates.size == 0:
                return math.nan, math.nan, math.nan
    suffix = np.cumsum(logs[::-1])[::-1]  # sum_{j >= i} log lambda_j
    best = (math.inf, math.nan, math.nan)
    for i in candidates:
        n = n_all - i
        alpha = 1 + n / (suffix[i] - n * logs[i])
        if not alpha > 1:
            continue
        ks = float(np.max(np.abs(1 - (lam[i:] / lam[i]) ** (1 - alpha) - np.arange(n) / n)))
        if ks < best[0]:
            best = (ks, float(alpha), float(lam[i]))
    if not math.isfinite(best[0]):
        return math.nan, math.nan, math.nan
    return best[1], best[0], best[2]


def layer_spectrum(weight: torch.Tensor, *, xmin: str = "peak", pruned: bool = False) -> dict[str, float]:
    """Return alpha, alpha_hat, log_spectral_norm, stable_rank (and the fit's D and x_min) of one layer's weight.

    `pruned`: fit alpha on the eigenvalues above `ZERO_EIG` only (a masked weight's zeros).
    """
    eigs = eigenvalues(weight)
    top = float(eigs[-1])
    alpha, ks, x_min = hill_alpha(eigs, xmin=xmin, above=ZERO_EIG if pruned else 0.0)
    log_top = math.log10(top) if top > 0 else math.nan
    return {"alpha": alpha, "alpha_hat": alpha * log_top, "log_spectral_norm": log_top,
            "stable_rank": float(eigs.sum()) / top if top > 0 else math.nan, "ks_distance": ks, "xmin": x_min,
            "n_eigs": int(eigs.size)}


def model_spectra(weights: dict[str, torch.Tensor], *, xmin: str = "peak", pruned: bool = False
                  ) -> dict[str, dict[str, float]]:
    """Return layer name -> `layer_spectrum` of every weight in `weights` (the prunable ones; `pruned`: masked)."""
    return {name: layer_spectrum(w, xmin=xmin, pruned=pruned) for name, w in weights.items()}


def layer_means(spectra: dict[str, dict[str, float]]) -> dict[str, float]:
    """Return the mean over layers of each of `METRICS` (layers whose value is NaN left out; NaN if none)."""
    out = {}
    for key in METRICS:
        values = [s[key] for s in spectra.values() if math.isfinite(s[key])]
        out[key] = float(np.mean(values)) if values else math.nan
    return out
