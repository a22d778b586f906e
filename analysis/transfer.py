"""Whether a proxy study's answers transfer to its full-size study: one row per proxy (docs/proxies.md).

A proxy (`contract.proxy`) asks the full study's question of a smaller model, less data or
fewer epochs. Against the full study (the reference), per proxy:

- **compute**: the proxy's measured compute (`analysis.cost.study_compute`, dense training
  included) as a fraction of the full study's, both read from their rows (run them on one machine);
- **map**: the cells both call surely (I, II-A, II-B) that are equal, and those contradicted;
- **ranking**: per density, Spearman's rho over temperatures of the criterion's accuracy
  (validation accuracy where both hold a split, else test accuracy);
- **answers**: per density, `select` by the full study's criterion in both, equal or within the
  full study's noise (`analysis.agreement.answer_agreement`), and where the pick moves, from
  which temperature to which (a learning rate that scales with width shows here).

Pure: two classified studies in, a table out.
"""

from __future__ import annotations

import math

import pandas as pd

from analysis.agreement import answer_agreement, map_agreement, rank_agreement
from analysis.cost import study_compute


def _axes(study) -> str:
    config = study.study.config
    return (config.proxy.describe() if config is not None else "") or "full size"


def transfer(full, proxy, *, full_cost: float | None = None) -> dict:
    """Return how `proxy`'s map, rankings and answers agree with `full`'s (two `ClassifiedStudy` objects).

    `full_cost`: the full study's compute in CPU-s, where the caller has read it (else read here).
    """
    by = full.criterion
    metric = "val_acc" if by in ("val", "regime+val") else "test_acc"
    full_cost = study_compute(full.study)["total"]["cpu_s"] if full_cost is None else full_cost
    proxy_cost = study_compute(proxy.study)["total"]["cpu_s"]
    answers = answer_agreement(full.cells, proxy.cells, criteria=[by])
    return {"study": proxy.name, "axes": _axes(proxy), "compute": proxy_cost / full_cost if full_cost else math.nan,
            "by": by, "metric": metric, "map": map_agreement(full.cells, proxy.cells),
            "ranking": rank_agreement(full.cells, proxy.cells, metric=metric), "answers": answers}


def transfer_table(full, proxies: list) -> pd.DataFrame:
    """Return one row per proxy: axes, compute share, sure calls equal and contradicted, rho per density, answers."""
    rows, full_cost = [], study_compute(full.study)["total"]["cpu_s"]  # read once, not once per proxy
    for proxy in proxies:
        t = transfer(full, proxy, full_cost=full_cost)
        m, answered = t["map"], [a for a in t["answers"] if "why" not in a]
        moved = [f"d{a['density']:g}: {a['reference']:g} -> {a['other']:g}" for a in answered
                 if not math.isclose(a["reference"], a["other"])]
        rows.append({"study": t["study"], "axes": t["axes"], "compute": t["compute"],
                     "sure_equal": m["sure_equal"], "sure": m["sure"], "contradicted": m["sure"] - m["sure_equal"],
                     "uncertain": m["uncertain"],
                     "rho": {r["density"]: r["rho"] for r in t["ranking"]}, "metric": t["metric"],
                     "answers_agree": sum(a["agree"] for a in t["answers"]), "answers": len(t["answers"]),
                     "answers_equal": sum(math.isclose(a["reference"], a["other"]) for a in answered),
                     "by": t["by"], "moved": "; ".join(moved)})
    return pd.DataFrame(rows)


def transfer_lines(table: pd.DataFrame, *, full: str, knob: str) -> list[str]:
    """Return the transfer table as text, one line per proxy, with a heading that says what each column is."""
    if table.empty:
        return []
    by, metric = table["by"].iloc[0], table["metric"].iloc[0]
    densities = sorted({d for rho in table["rho"] for d in rho})
    lines = [f"transfer to {full} (the full study), answered by its criterion {by}: each proxy's compute as a "
             f"share of {full}'s;",
             "  the cells both call surely (I, II-A, II-B); Spearman's rho of "
             f"{metric} over temperatures per density; the answers equal to {full}'s,",
             f"  and within {full}'s noise; where an answer's {knob} moves (full -> proxy)"]
    shown = pd.DataFrame({
        "study": table["study"], "axes": table["axes"], "compute": [f"{c:.1%}" for c in table["compute"]],
        "sure calls": [f"{e}/{s} equal, {c} contradicted" for e, s, c in
                       zip(table["sure_equal"], table["sure"], table["contradicted"], strict=True)],
        **{f"rho d{d:g}": [_rho(rho.get(d, math.nan)) for rho in table["rho"]] for d in densities},
        "answers": [f"{e} equal, {a}/{n} within noise" for e, a, n in
                    zip(table["answers_equal"], table["answers_agree"], table["answers"], strict=True)],
        "moves": [m or "-" for m in table["moved"]]})
    return lines + ["  " + line for line in shown.to_string(index=False).splitlines()]


def _rho(value: float) -> str:
    return f"{value:+.2f}" if math.isfinite(value) else "n/a"
