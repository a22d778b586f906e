"""Phase diagrams with plotly: metric heatmaps and the regime map over (density, temperature).

Rows run from the hottest temperature (top) to the coldest (bottom) in the knob's own unit;
columns are the densities in increasing order, as categories (the grid is rarely even).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from contract.knobs import hot_to_cold, knob_words

REGIME_COLORS = {"I": "#d62728", "II-A": "#1f77b4", "II-B": "#2ca02c", "n/a": "#bbbbbb"}
HEATMAPS = {
    "test_err": ("Test error of the pruned model", lambda c: 1 - c["test_acc"], "Viridis"),
    "normalized_test_err": ("Normalized test error (minus the best at each density)",
                            lambda c: c["normalized_test_err"], "Viridis"),
    "lmc": ("Linear mode connectivity mc (training-error scale; < 0: barrier)", lambda c: c["lmc"], "RdBu"),
    "cka": ("CKA similarity of retrained copies", lambda c: c["cka"], "Viridis"),
}
# Drawn when the study measured them (controls.scratch, metrics.beyond_accuracy).
OPTIONAL_HEATMAPS = {
    "inherit_gain": ("Inherit gain: test accuracy minus the from-scratch control's (same mask, fresh init)",
                     lambda c: c["inherit_gain"], "RdBu"),
    "agreement_dense": ("Agreement with the dense model: fraction of test inputs predicted alike",
                        lambda c: c["agreement_dense"], "Viridis"),
}


def _grid(cells: pd.DataFrame, values: pd.Series) -> tuple[list[str], list[str], np.ndarray]:
    knob = str(cells["knob"].iloc[0])
    temps = hot_to_cold(knob, cells["temperature"])
    densities = sorted(cells["density"].unique())
    table = pd.DataFrame({"t": cells["temperature"].astype(float), "d": cells["density"], "v": values})
    pivot = table.pivot_table(index="t", columns="d", values="v", aggfunc="first", dropna=False)
    pivot = pivot.reindex(index=temps, columns=densities)
    return [f"{d:g}" for d in densities], [f"{t:g}" for t in temps], pivot.to_numpy(dtype=object)


def _axes(fig: go.Figure, knob: str, title: str) -> go.Figure:
    fig.update_layout(title=title, xaxis_title="density (fraction of weights kept)",
                      yaxis_title=f"{knob_words(knob).unit} (hot at top, cold at bottom)",
                      template="plotly_white", width=720, height=520)
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category", autorange="reversed")
    return fig


def heatmap(cells: pd.DataFrame, metric: str) -> go.Figure:
    """Return a heatmap of `metric` (a key of HEATMAPS or OPTIONAL_HEATMAPS) over the grid."""
    title, extract, scale = {**HEATMAPS, **OPTIONAL_HEATMAPS}[metric]
    x, y, z = _grid(cells, extract(cells))
    z = np.where(pd.isna(z), None, z)
    kwargs = {"zmid": 0} if metric in ("lmc", "inherit_gain") else {}
    fig = go.Figure(go.Heatmap(x=x, y=y, z=z.tolist(), colorscale=scale, texttemplate="%{z:.3f}",
                               hoverongaps=False, **kwargs))
    return _axes(fig, str(cells["knob"].iloc[0]), title)


def regime_map(cells: pd.DataFrame) -> go.Figure:
    """Return the regime map: cells coloured by regime with the I/II and II-A/II-B boundaries drawn.

    Cells whose call is uncertain (mc within `confidence` standard errors of the threshold:
    "I?", "II?") keep the colour of their point estimate and are hatched.
    """
    labels = ["I", "II-A", "II-B", "n/a"]
    point = cells["regime_point"] if "regime_point" in cells.columns else cells["regime"]
    x, y, z = _grid(cells, cells["regime"])
    _, _, zp = _grid(cells, point)
    codes = np.array([[labels.index(v) if v in labels else labels.index("n/a") for v in row] for row in zp])
    n = len(labels)
    scale = [[edge, REGIME_COLORS[labels[i]]] for i in range(n) for edge in (i / n, (i + 1) / n)]
    fig = go.Figure(go.Heatmap(x=x, y=y, z=codes.tolist(), zmin=-0.5, zmax=n - 0.5, colorscale=scale,
                               text=np.asarray(z, dtype=str).tolist(), texttemplate="%{text}", showscale=False,
                               hovertemplate="density %{x}<br>temperature %{y}<br>regime %{text}<extra></extra>"))
    for (i, j, i2, _), kind in _boundaries(codes):
        dash = "solid" if kind == "I/II" else "dot"
        if i == i2:  # vertical edge between columns j and j + 1 in row i
            fig.add_shape(type="line", x0=j + 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5, xref="x", yref="y",
                          line={"color": "black", "width": 3, "dash": dash})
        else:  # horizontal edge between rows i and i2 in column j
            fig.add_shape(type="line", x0=j - 0.5, x1=j + 0.5, y0=i + 0.5, y1=i + 0.5, xref="x", yref="y",
                          line={"color": "black", "width": 3, "dash": dash})
    for i, row in enumerate(z):
        for j, value in enumerate(row):
            if isinstance(value, str) and value.endswith("?"):
                for dx in (-0.25, 0.0, 0.25):  # three diagonal strokes: a hatched cell
                    fig.add_shape(type="line", x0=j + dx - 0.25, x1=j + dx + 0.25, y0=i + 0.45, y1=i - 0.45,
                                  xref="x", yref="y", line={"color": "white", "width": 2})
    for name, dash in (("I / II boundary", "solid"), ("II-A / II-B boundary", "dot")):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=name,
                                 line={"color": "black", "dash": dash}))
    thresholds = f"mc < {cells['mc_threshold'].iloc[0]:g}: I; CKA within {cells['cka_eps'].iloc[0]:g} of best: II-B"
    if "confidence" in cells.columns and cells["confidence"].iloc[0] > 0:
        thresholds += f"; hatched: within {cells['confidence'].iloc[0]:g} SE of the mc threshold"
    return _axes(fig, str(cells["knob"].iloc[0]), f"Regimes ({thresholds})")


def _boundaries(codes: np.ndarray) -> list[tuple[tuple[int, int, int, int], str]]:
    # Edges between neighbouring cells whose regimes differ: I vs II is the I/II boundary, II-A vs
    # II-B the other; edges touching n/a cells are not boundaries.
    one, two_a, two_b = 0, 1, 2
    edges = []
    rows, cols = codes.shape
    for i in range(rows):
        for j in range(cols):
            for i2, j2 in ((i, j + 1), (i + 1, j)):
                if i2 >= rows or j2 >= cols:
                    continue
                a, b = codes[i, j], codes[i2, j2]
                if a == b or 3 in (a, b):
                    continue
                kind = "I/II" if one in (a, b) else "IIA/IIB" if {a, b} == {two_a, two_b} else None
                if kind:
                    edges.append(((i, j, i2, j2), kind))
    return edges


def prune_potential_figure(potential: pd.DataFrame, knob: str) -> go.Figure:
    """Return prune potential against temperature, one line per test set, with standard-error bars.

    Args:
        potential: `analysis.prunability.prune_potential` of a study.
        knob: the study's knob (axis label and hot-to-cold order).
    """
    order = [f"{t:g}" for t in hot_to_cold(knob, potential["temperature"])]
    fig = go.Figure()
    for test_set, rows in potential.groupby("test_set", sort=False):
        rows = rows.assign(t=rows["temperature"].map(lambda t: f"{t:g}"))
        rows = rows.set_index("t").reindex(order)
        fig.add_trace(go.Scatter(x=order, y=rows["prune_potential"], name=test_set, mode="lines+markers",
                                 error_y={"type": "data", "array": rows["prune_potential_se"].fillna(0)}))
    margin = potential["margin_points"].iloc[0] if len(potential) else float("nan")
    fig.update_layout(title=f"Prune potential: lowest density within {margin:g} accuracy points of the dense "
                            "model (lower prunes further)", xaxis_title=f"{knob_words(knob).unit} (hot at left)",
                      yaxis_title="density (fraction of weights kept)", template="plotly_white", width=720,
                      height=460)
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="log")
    return fig


def all_figures(cells: pd.DataFrame, potential: pd.DataFrame | None = None) -> dict[str, go.Figure]:
    """Return every phase diagram of a classified table, keyed by a short name.

    The inherit-gain and agreement heatmaps appear when the study measured them; the prune
    potential plot when `potential` (`analysis.prunability.prune_potential`) has rows.
    """
    figures = {"regimes": regime_map(cells)}
    figures.update({metric: heatmap(cells, metric) for metric in HEATMAPS})
    figures.update({metric: heatmap(cells, metric) for metric in OPTIONAL_HEATMAPS
                    if metric in cells.columns and cells[metric].notna().any()})
    if potential is not None and len(potential):
        figures["prune_potential"] = prune_potential_figure(potential, str(cells["knob"].iloc[0]))
    return figures
