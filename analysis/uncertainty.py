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

import pandas as pd

from contract.row import COPY_KEYS

SE_METRICS = ("test_acc", "lmc", "cka")


def standard_error(values, independent: int | None = None) -> float:
    """Return the standard error of the mean of `values`: sample std (ddof 1) over sqrt(independent units).

    NaNs are dropped; `independent` defaults to the number of values left (pairs of copies that
    share copies pass fewer). NaN with fewer than two values or no independent unit.
    """
    kept = pd.Series(values, dtype=float).dropna()
    units = len(kept) if independent is None else independent
    return float(kept.std(ddof=1) / math.sqrt(units)) if len(kept) >= 2 and units >= 1 else math.nan


def combined_se(*ses: float) -> float:
    """Return the standard error of a sum or difference of independent estimates: the root of their squared SEs.

    NaN when any SE is unknown. The SE of a mean of n such estimates is this over n.
    """
    return math.hypot(*ses)


def se_of(row, metric: str) -> float:
    """Return a cell row's standard error of `metric` (its `{metric}_se`), NaN where it has none."""
    value = row.get(f"{metric}_se")
    return math.nan if pd.isna(value) else float(value)  # pd.isna(None) too


def pm(value: float, se: float | None, *, digits: int = 4, sign: str = "", html: bool = False,
       missing: str = "") -> str:
    """Return "value +- se", the one notation of a standard error ("&plusmn;" in HTML).

    Without a standard error (None or NaN) the value alone, followed by `missing` (a reason, if
    the reader should see one).
    """
    shown = f"{value:{sign}.{digits}f}"
    if se is None or pd.isna(se):
        return shown + missing
    return f"{shown} {'&plusmn;' if html else '+-'} {se:.{digits}f}"


def within_seed_se(row: pd.Series) -> dict[str, float]:
    """Return {"test_acc_se", "lmc_se", "cka_se"} of one (seed, temperature, density) row from its copies and pairs."""
    out = {}
    for metric, pattern in COPY_KEYS.items():
        values = [row[k] for k in row.index if pattern.match(k)]
        if metric == "test_acc":
            independent = None
        else:  # pairs share copies: count the disjoint pairs of the K copies
            copies = int(row["n_copies"]) if "n_copies" in row and pd.notna(row["n_copies"]) else 0
            independent = copies // 2
        out[f"{metric}_se"] = standard_error(values, independent)
    return out


def cell_standard_errors(ok: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Return, per cell of `ok` (ok rows, one per dense seed), `{metric}_se` and `se_basis` ("seeds" or "copies")."""
    rows = []
    for key, group in ok.groupby(keys):
        entry = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        if len(group) >= 2:
            for metric in SE_METRICS:
                entry[f"{metric}_se"] = standard_error(group[metric] if metric in group else [])
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


UNRESOLVED = ("I?", "II?")  # uncertain calls that more seeds could resolve (not at the boundary)


def is_sure(regime: str) -> bool:
    """Return whether a classified cell's regime is a sure call (not unresolved, not at the boundary, not n/a)."""
    return regime in ("I", "II-A", "II-B")


def mc_side(regime: str) -> str | None:
    """Return the side of the mc threshold a call is on, sure or not: "I" (I, I?), "II" (II-A, II-B, II?), else None."""
    return {"I": "I", "I?": "I", "II-A": "II", "II-B": "II", "II?": "II"}.get(regime)


def indistinguishable(a: float, se_a: float, b: float, se_b: float, *, confidence: float) -> bool:
    """Return whether values a and b (independent cells) differ by no more than `confidence` SEs of their difference."""
    if confidence <= 0:
        return a == b
    spread = combined_se(se_a, se_b)
    return math.isnan(spread) or abs(a - b) <= confidence * spread
