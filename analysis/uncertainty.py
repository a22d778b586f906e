"""Standard errors of a cell's test accuracy, mc and CKA, and what they make of a regime call.

Dense seeds are the independent unit: two dense seeds give two dense models, two pruned
models, and independent copies. With two or more ok dense seeds a cell's standard error is the
sample std (ddof 1) of its per-seed values over sqrt(seeds), for test accuracy, mc and CKA
alike ("seeds"). With one dense seed only the copies vary ("copies"): the copies are
independent retrainings of the same pruned model, so test accuracy's SE is the std over the K
copies over sqrt(K); this ignores the dense model's own variation and understates the noise. mc
and CKA come from pairs of copies, which share copies: K copies make only floor(K/2) disjoint,
independent pairs, so their SE is the std over all pairs over sqrt(floor(K/2)), and with K = 2
(one pair) there is none (NaN). A NaN standard error makes every call that needs it uncertain.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from contract.row import COPY_KEYS

SE_METRICS = ("test_acc", "lmc", "cka")


def within_seed_se(row: pd.Series) -> dict[str, float]:
    """Return {"test_acc_se", "lmc_se", "cka_se"} of one (seed, temperature, density) row from its copies and pairs."""
    out = {}
    for metric, pattern in COPY_KEYS.items():
        values = np.array([row[k] for k in row.index if pattern.match(k) and pd.notna(row[k])], dtype=float)
        if metric == "test_acc":
            independent = len(values)
        else:  # pairs share copies: count the disjoint pairs of the K copies
            copies = int(row["n_copies"]) if "n_copies" in row and pd.notna(row["n_copies"]) else 0
            independent = copies // 2
        enough = len(values) >= 2 and independent >= 1
        out[f"{metric}_se"] = float(values.std(ddof=1) / math.sqrt(independent)) if enough else math.nan
    return out


def cell_standard_errors(ok: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Return, per cell of `ok` (ok rows, one per dense seed), `{metric}_se` and `se_basis` ("seeds" or "copies")."""
    rows = []
    for key, group in ok.groupby(keys):
        entry = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        if len(group) >= 2:
            for metric in SE_METRICS:
                values = group[metric].dropna() if metric in group else pd.Series(dtype=float)
                entry[f"{metric}_se"] = float(values.std(ddof=1) / math.sqrt(len(values))) \
                    if len(values) >= 2 else math.nan
            entry["se_basis"] = "seeds"
        else:
            entry.update(within_seed_se(group.iloc[0]))
            entry["se_basis"] = "copies"
        rows.append(entry)
    columns = keys + [f"{m}_se" for m in SE_METRICS] + ["se_basis"]
    return pd.DataFrame(rows, columns=columns)


BOUNDARY = "I|II"  # an equivalence call: the whole mc interval within seeds.margin of the threshold


def mc_call(lmc: float, se: float, *, mc_threshold: float, confidence: float, margin: float = 0.0) -> str:
    """Return "I", "II", "I?", "II?" or "I|II": the call of an mc against the threshold.

    With `confidence` 0 the point estimate decides alone (the paper's rule); otherwise mc must be
    beyond the threshold by more than `confidence` standard errors, and a NaN SE is uncertain. An
    uncertain mc whose interval (mc +- confidence SEs) lies within `margin` of the threshold is at
    the boundary, BOUNDARY (`contract.seeds`); otherwise it is unresolved, "I?" or "II?".
    """
    side = "I" if lmc < mc_threshold else "II"
    if confidence <= 0:
        return side
    if math.isnan(se) or abs(lmc - mc_threshold) <= confidence * se:
        near = not math.isnan(se) and abs(lmc - mc_threshold) + confidence * se <= margin
        return BOUNDARY if near else side + "?"
    return side


def is_sure(regime: str) -> bool:
    """Return whether a classified cell's regime is a sure call (not unresolved, not at the boundary, not n/a)."""
    return regime in ("I", "II-A", "II-B")


def indistinguishable(a: float, se_a: float, b: float, se_b: float, *, confidence: float) -> bool:
    """Return whether values a and b (independent cells) differ by no more than `confidence` SEs of their difference."""
    if confidence <= 0:
        return a == b
    spread = math.sqrt(se_a ** 2 + se_b ** 2)
    return math.isnan(spread) or abs(a - b) <= confidence * spread
