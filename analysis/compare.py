"""Several studies side by side: prunability per temperature and where Regime I ends per density.

Made for a sweep of one controlled factor, such as the data's dimension (`data.intrinsic_dim`),
the pruning method or the retraining budget: run one study per value, then `regimes compare`
them. Test accuracy per density is shown side by side, and every study after the first is
checked against the first (`analysis.agreement`: the map, the ranking, the answers). Each study
is labelled by its name and, when it projected its inputs, by k and the fraction of variance the
k components kept.
Pure functions of classified studies; `comparison_html` draws the same two tables.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from analysis.agreement import agreement, agreement_lines
from analysis.transfer import transfer_lines, transfer_table
from analysis.classified import ClassifiedStudy
from analysis.prunability import DEFAULT_MARGIN_POINTS, prune_potential
from analysis.uncertainty import pm
from contract.knobs import hot_to_cold, knob_words


def label_of(study: ClassifiedStudy) -> str:
    """Return the study's column label: its name, with k and the variance kept when its inputs were projected."""
    raw = study.study.cells
    k = study.study.config.data.intrinsic_dim if study.study.config is not None else None
    if k is None:
        return study.name
    kept = raw["pca_variance_kept"].dropna() if "pca_variance_kept" in raw.columns else pd.Series(dtype=float)
    return f"{study.name} (k={k}, {kept.iloc[0]:.0%} var)" if len(kept) else f"{study.name} (k={k})"


def hottest_regime_one(cells: pd.DataFrame) -> pd.DataFrame:
    """Return per density the hottest temperature whose point estimate is Regime I (the I/II boundary's cold side).

    Columns: density, temperature (NaN: no Regime-I cell at that density), confident (its call is
    "I", not the uncertain "I?").
    """
    knob = str(cells["knob"].iloc[0])
    point = cells["regime_point"] if "regime_point" in cells.columns else cells["regime"]
    rows = []
    for density, at in cells.assign(_point=point).groupby("density"):
        one = at[at["_point"] == "I"]
        if one.empty:
            rows.append({"density": float(density), "temperature": math.nan, "confident": False})
            continue
        hottest = hot_to_cold(knob, one["temperature"])[0]
        call = one.loc[one["temperature"].astype(float) == hottest, "regime"].iloc[0]
        rows.append({"density": float(density), "temperature": hottest, "confident": call == "I"})
    return pd.DataFrame(rows, columns=["density", "temperature", "confident"])


def compare(studies: list[ClassifiedStudy], *, margin_points: float = DEFAULT_MARGIN_POINTS) -> dict:
    """Return the comparison of `studies`: prunability per temperature and the I/II boundary per density.

    Returns:
        {"labels": one label per study, "knob": the shared knob,
         "prunability": long table (study, temperature, prunability, prunability_se, n_seeds) on
         the clean test set, "boundary": long table (study, density, temperature, confident)}.

    Raises:
        ValueError: the studies vary different knobs.
    """
    knobs = {str(s.cells["knob"].iloc[0]) for s in studies}
    if len(knobs) > 1:
        raise ValueError(f"the studies vary different knobs ({', '.join(sorted(knobs))}); compare studies of one knob")
    labels = _unique([label_of(s) for s in studies])
    prunability, boundary, accuracy = [], [], []
    for label, study in zip(labels, studies, strict=True):
        ok = study.cells[study.cells["status"] == "ok"]
        accuracy.append(pd.DataFrame({"study": label, "temperature": ok["temperature"], "density": ok["density"],
                                      "test_acc": ok["test_acc"], "test_acc_se": ok["test_acc_se"],
                                      "method": _method(study)}))
        potential = prune_potential(study.study.cells, margin_points=margin_points)
        clean = potential[potential["test_set"] == "clean"]
        prunability.append(pd.DataFrame({"study": label, "temperature": clean["temperature"],
                                         "prunability": clean["prunability"],
                                         "prunability_se": clean["prune_potential_se"], "n_seeds": clean["n_seeds"]}))
        boundary.append(hottest_regime_one(study.cells).assign(study=label))
    return {"labels": labels, "knob": knobs.pop(), "margin_points": margin_points,
            "prunability": pd.concat(prunability, ignore_index=True),
            "boundary": pd.concat(boundary, ignore_index=True), "accuracy": pd.concat(accuracy, ignore_index=True),
            "agreement": [(label, agreement(studies[0], study)) for label, study in zip(labels[1:], studies[1:],
                                                                                          strict=True)],
            "transfer": transfer_table(studies[0], studies[1:]) if any(_is_proxy(s) for s in studies[1:]) else None}


def _is_proxy(study: ClassifiedStudy) -> bool:
    config = study.study.config
    return config is not None and bool(config.proxy.axes())


def _method(study: ClassifiedStudy) -> str:
    config = study.study.config
    return config.pruning.method if config is not None else ""


def comparison_lines(result: dict) -> list[str]:
    """Return the comparison as text: prunability (temperatures x studies) and the boundary (densities x studies)."""
    knob, labels = result["knob"], result["labels"]
    p = result["prunability"].assign(text=[pm(v, se, digits=3) for v, se in zip(result["prunability"]["prunability"],
                                                            result["prunability"]["prunability_se"], strict=True)])
    table = p.pivot(index="temperature", columns="study", values="text").reindex(
        index=hot_to_cold(knob, p["temperature"]), columns=labels).fillna("-")
    table.index = [f"{knob} {t:g}" for t in table.index]
    b = result["boundary"].assign(text=[("none" if t != t else f"{t:g}" + ("" if c else "?"))
                                        for t, c in zip(result["boundary"]["temperature"],
                                                        result["boundary"]["confident"], strict=True)])
    bounds = b.pivot(index="density", columns="study", values="text").reindex(columns=labels).fillna("-")
    bounds.index = [f"density {d:g}" for d in bounds.index]
    transfer = result.get("transfer")
    first = [] if transfer is None else transfer_lines(transfer, full=labels[0], knob=knob) + [""]
    return (first + [f"prunability: fraction of weights pruned while staying within {result['margin_points']:g} "
                     "accuracy points of the dense model (clean test set), mean +- SE over dense seeds"]
            + table.to_string().splitlines()
            + ["", f"I/II boundary: the hottest {knob} whose cell is Regime I at each density (point estimate; "
               "?: an uncertain call; none: no Regime-I cell)"]
            + bounds.to_string().splitlines() + accuracy_lines(result)
            + [line for label, agreed in result.get("agreement", [])
               for line in ["", *agreement_lines(agreed, reference=labels[0], other=label, knob=knob)]])


def accuracy_lines(result: dict) -> list[str]:
    """Return per density shared by two or more studies a temperature x study table of test accuracy +- SE.

    Studies that differ only in pruning.method (uniform, global, lamp, alpha) compare their
    allocations at the same densities and temperatures here.
    """
    acc, knob, labels = result.get("accuracy"), result["knob"], result["labels"]
    if acc is None or acc.empty:
        return []
    methods = acc.drop_duplicates("study").set_index("study")["method"]
    lines = ["", "test accuracy, mean +- SE over dense seeds (pruning method: "
             + ", ".join(f"{label} {methods.get(label, '')}" for label in labels) + ")"]
    for density, at in acc.groupby("density"):
        if at["study"].nunique() < 2:
            continue
        text = at.assign(text=[pm(a, se) for a, se in zip(at["test_acc"], at["test_acc_se"], strict=True)])
        table = text.pivot(index="temperature", columns="study", values="text").reindex(
            index=hot_to_cold(knob, at["temperature"].unique()), columns=labels).fillna("-")
        table.index = [f"{knob} {t:g}" for t in table.index]
        lines += [f"density {density:g}"] + table.to_string().splitlines()
    return lines


def comparison_html(result: dict, path, *, title: str = "Studies compared") -> None:
    """Write the comparison's two plots (prunability per temperature, I/II boundary per density) as one HTML file."""
    knob, unit = result["knob"], knob_words(result["knob"]).unit
    order = [f"{t:g}" for t in hot_to_cold(knob, result["prunability"]["temperature"])]
    left = go.Figure()
    for label, rows in result["prunability"].groupby("study", sort=False):
        rows = rows.set_index(rows["temperature"].map(lambda t: f"{t:g}")).reindex(order)
        left.add_trace(go.Scatter(x=order, y=rows["prunability"], name=label, mode="lines+markers",
                                  error_y={"type": "data", "array": rows["prunability_se"].fillna(0)}))
    left.update_layout(title=f"Prunability (within {result['margin_points']:g} points of the dense model)",
                       xaxis_title=f"{unit} (hot at left)", yaxis_title="fraction of weights pruned",
                       template="plotly_white", width=720, height=460)
    left.update_xaxes(type="category")
    right = go.Figure()
    for label, rows in result["boundary"].groupby("study", sort=False):
        right.add_trace(go.Scatter(x=[f"{d:g}" for d in rows["density"]], y=rows["temperature"], name=label,
                                   mode="lines+markers"))
    right.update_layout(title="I/II boundary: hottest temperature in Regime I (gaps: no Regime I)",
                        xaxis_title="density (fraction of weights kept)", yaxis_title=unit,
                        template="plotly_white", width=720, height=460)
    right.update_xaxes(type="category")
    body = left.to_html(full_html=False, include_plotlyjs="inline") + right.to_html(full_html=False,
                                                                                   include_plotlyjs=False)
    text = html.escape("\n".join(comparison_lines(result)))
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body style='font-family:sans-serif;max-width:1100px;margin:2em auto'><h1>{html.escape(title)}</h1>"
            f"{body}<pre>{text}</pre></body></html>")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(page)


def _unique(labels: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out
