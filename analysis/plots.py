"""Phase diagrams with plotly: metric heatmaps and the regime map over (density, temperature).

Rows run from the hottest temperature (top) to the coldest (bottom) in the knob's own unit;
columns are the densities in increasing order, as categories (the grid is rarely even).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.uncertainty import pm, se_of

from contract.knobs import hot_to_cold, knob_words

# Uncertain calls (mc within `confidence` standard errors of the threshold) have their own pale
# colours: a cell is never drawn as a call it did not make.
# Mid and pale tones on which the cells' dark labels (#222) keep WCAG AA contrast (4.5:1 or more):
# sure calls stronger, uncertain ones paler and hatched.
REGIME_COLORS = {"I": "#ee8080", "I?": "#f8d0d0", "II?": "#dde6ef", "II-A": "#7fb3e0", "II-B": "#80c980",
                 "I|II": "#d9c8e8", "n/a": "#bbbbbb", "out": "#f3f3f3"}
HEATMAPS = {
    "test_err": ("Test error of the pruned model", "test error", lambda c: 1 - c["test_acc"], "test_acc_se",
                 "Viridis"),
    "normalized_test_err": ("Normalized test error (minus the best at each density)", "test error - best",
                            lambda c: c["normalized_test_err"], "test_acc_se", "Viridis"),
    "lmc": ("Linear mode connectivity mc (training-error scale; below the threshold: a barrier)", "mc",
            lambda c: c["lmc"], "lmc_se", "RdBu"),
    "cka": ("CKA similarity of retrained copies", "CKA", lambda c: c["cka"], "cka_se", "Viridis"),
}
# Drawn when the study measured them (controls.scratch, metrics.beyond_accuracy).
OPTIONAL_HEATMAPS = {
    "inherit_gain": ("Inherit gain: test accuracy minus the from-scratch control's (same mask, fresh init)",
                     "inherit gain", lambda c: c["inherit_gain"], "inherit_gain_se", "RdBu"),
    "agreement_dense": ("Agreement with the dense model: fraction of test inputs predicted alike",
                        "agreement", lambda c: c["agreement_dense"], "agreement_dense_se", "Viridis"),
}


def _grid(cells: pd.DataFrame, values: pd.Series) -> tuple[list[str], list[str], np.ndarray]:
    knob = str(cells["knob"].iloc[0])
    temps = hot_to_cold(knob, cells["temperature"])
    densities = sorted(cells["density"].unique())
    table = pd.DataFrame({"t": cells["temperature"].astype(float), "d": cells["density"], "v": values})
    pivot = table.pivot_table(index="t", columns="d", values="v", aggfunc="first", dropna=False)
    pivot = pivot.reindex(index=temps, columns=densities)
    return [f"{d:g}" for d in densities], [f"{t:g}" for t in temps], pivot.to_numpy(dtype=object)


def _axes(fig: go.Figure, knob: str, title: str, subtitle: str = "") -> go.Figure:
    # Full width of the page (the report sets it), the title on one line, its details under it.
    text = title + (f"<br><sup>{subtitle}</sup>" if subtitle else "")
    fig.update_layout(title={"text": text, "x": 0, "xanchor": "left"}, xaxis_title="density (fraction of weights kept)",
                      yaxis_title=f"{knob_words(knob).unit} (hot at top, cold at bottom)",
                      template="plotly_white", height=540, margin={"t": 90})
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category", autorange="reversed")
    return fig


def heatmap(cells: pd.DataFrame, metric: str) -> go.Figure:
    """Return a heatmap of `metric` (a key of HEATMAPS or OPTIONAL_HEATMAPS) over the grid.

    Each cell shows its value and standard error (hover too); the colour bar is titled; mc's
    scale is centred on the Regime-I threshold, the inherit gain's on 0.
    """
    title, short, extract, se_column, scale = {**HEATMAPS, **OPTIONAL_HEATMAPS}[metric]
    x, y, z = _grid(cells, extract(cells))
    se = _grid(cells, cells[se_column])[2] if se_column in cells.columns else np.full(z.shape, None, dtype=object)
    z = np.where(pd.isna(z), None, z)
    text = [[_value_text(v, e) for v, e in zip(row, err_row, strict=True)] for row, err_row in zip(z, se, strict=True)]
    kwargs = {"zmid": float(cells["mc_threshold"].iloc[0])} if metric == "lmc" else \
        {"zmid": 0} if metric == "inherit_gain" else {}
    fig = go.Figure(go.Heatmap(x=x, y=y, z=z.tolist(), colorscale=scale, text=text, texttemplate="%{text}",
                               hovertemplate=f"density %{{x}}<br>temperature %{{y}}<br>{short} %{{text}}"
                                             "<extra></extra>",
                               hoverongaps=False, colorbar={"title": {"text": short}}, **kwargs))
    centre = f"colour centred on the mc threshold {kwargs['zmid']:g}" if metric == "lmc" else ""
    return _axes(fig, str(cells["knob"].iloc[0]), title, "value &plusmn; standard error per cell" +
                 (f"; {centre}" if centre else ""))


def _value_text(value, se) -> str:
    return "" if value is None or pd.isna(value) else pm(value, se, digits=3, html=True)


def regime_map(cells: pd.DataFrame) -> go.Figure:
    """Return the regime map: cells coloured by their call, the I/II and II-A/II-B boundaries drawn.

    Uncertain calls (mc within `confidence` standard errors of the threshold: "I?", "II?") have
    their own pale colours and are hatched; cells at the boundary ("I|II": the whole mc interval
    within seeds.margin of the threshold) have their own, unhatched, as they are settled;
    boundaries are drawn between sure calls only. The
    legend names every colour; hover gives mc, CKA and test accuracy with standard errors.
    """
    labels = list(REGIME_COLORS)
    x, y, z = _grid(cells, cells["regime"])
    codes = np.array([[labels.index(v) if v in labels else labels.index("n/a") for v in row] for row in z])
    n = len(labels)
    scale = [[edge, REGIME_COLORS[labels[i]]] for i in range(n) for edge in (i / n, (i + 1) / n)]
    hover = [[_cell_hover(cells, t, d) for d in x] for t in y]
    fig = go.Figure(go.Heatmap(x=x, y=y, z=codes.tolist(), zmin=-0.5, zmax=n - 0.5, colorscale=scale,
                               text=np.asarray(z, dtype=str).tolist(), texttemplate="%{text}", showscale=False,
                               textfont={"color": "#222"}, customdata=hover,
                               hovertemplate="density %{x}<br>temperature %{y}<br>regime %{text}<br>%{customdata}"
                                             "<extra></extra>"))
    edges = _boundaries(codes, labels)
    for (i, j, i2, _), kind in edges:
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
                for x0, y0 in ((j - 0.45, i + 0.05), (j + 0.15, i - 0.45)):  # hatched corners: the label stays clear
                    fig.add_shape(type="line", x0=x0, x1=x0 + 0.3, y0=y0 + 0.4, y1=y0,
                                  xref="x", yref="y", line={"color": "white", "width": 2})
    present = set(np.asarray(z, dtype=str).ravel())
    for label in labels:  # the legend: one square per call on the map
        if label in present:
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=_LEGEND[label],
                                     marker={"symbol": "square", "size": 14, "color": REGIME_COLORS[label]}))
    drawn = {kind for _, kind in edges}
    for kind, name, dash in (("I/II", "I / II boundary", "solid"), ("IIA/IIB", "II-A / II-B boundary", "dot")):
        if kind in drawn:  # the legend names only lines the map draws
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=name,
                                     line={"color": "black", "dash": dash}))
    thresholds = f"Regime I when mc < {cells['mc_threshold'].iloc[0]:g}; II-B when CKA is within " \
                 f"{cells['cka_eps'].iloc[0]:g} of the density's best"
    if "confidence" in cells.columns and cells["confidence"].iloc[0] > 0:
        thresholds += f"; pale and hatched: within {cells['confidence'].iloc[0]:g} SE of the mc threshold"
    return _axes(fig, str(cells["knob"].iloc[0]), "Regimes", thresholds)


_LEGEND = {"I": "I: barrier (train hotter)", "I?": "I?: barrier within noise", "II?": "II?: no barrier within noise",
           "II-A": "II-A: train colder", "II-B": "II-B: keep", "I|II": "I|II: at the boundary (mc within the margin)",
           "n/a": "n/a: diverged",
           "out": "out: ruled out by the screen (short budget only)"}


def _cell_hover(cells: pd.DataFrame, temperature: str, density: str) -> str:
    rows = cells[(cells["temperature"].map(lambda t: f"{t:g}") == temperature) &
                 (cells["density"].map(lambda d: f"{d:g}") == density)]
    if rows.empty:
        return ""
    row = rows.iloc[0]
    parts = []
    for key, name in (("lmc", "mc"), ("cka", "CKA"), ("test_acc", "test acc")):
        parts.append(f"{name} {_value_text(row[key], se_of(row, key))}")
    return "<br>".join(parts)


def _boundaries(codes: np.ndarray, labels: list[str]) -> list[tuple[tuple[int, int, int, int], str]]:
    # Edges between neighbouring cells whose sure calls differ: I vs II is the I/II boundary, II-A
    # vs II-B the other; edges touching uncertain (I?, II?) or n/a cells are not boundaries.
    one, two_a, two_b = labels.index("I"), labels.index("II-A"), labels.index("II-B")
    edges = []
    rows, cols = codes.shape
    for i in range(rows):
        for j in range(cols):
            for i2, j2 in ((i, j + 1), (i + 1, j)):
                if i2 >= rows or j2 >= cols:
                    continue
                a, b = codes[i, j], codes[i2, j2]
                if a == b or not {a, b} <= {one, two_a, two_b}:
                    continue
                edges.append(((i, j, i2, j2), "I/II" if one in (a, b) else "IIA/IIB"))
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
    fig.update_layout(title={"text": f"Prune potential<br><sup>the lowest density within {margin:g} accuracy "
                                     "points of the dense model (lower prunes further)</sup>", "x": 0},
                      xaxis_title=f"{knob_words(knob).unit} (hot at left)",
                      yaxis_title="density (fraction of weights kept)", template="plotly_white", height=460)
    fig.update_xaxes(type="category")
    ticks = sorted({float(v) for v in potential["prune_potential"].dropna()} | {1.0}) if len(potential) else []
    fig.update_yaxes(type="log", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])  # labelled, no bare minor ticks
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


def dense_alpha_figure(by_temperature: pd.DataFrame, knob: str) -> go.Figure:
    """Return the dense models' layer-mean alpha against temperature (mean and SE over dense seeds).

    Args:
        by_temperature: `analysis.spectra.dense_by_temperature` (temperature, mean, se, n).
        knob: the study's knob (axis label and hot-to-cold order).
    """
    order = [f"{t:g}" for t in hot_to_cold(knob, by_temperature["temperature"])]
    rows = by_temperature.set_index(by_temperature["temperature"].map(lambda t: f"{t:g}")).reindex(order)
    fig = go.Figure(go.Scatter(x=order, y=rows["mean"], mode="lines+markers", name="dense alpha",
                               error_y={"type": "data", "array": rows["se"].fillna(0)}))
    fig.update_layout(title={"text": "Dense models' alpha<br><sup>the heavy-tail exponent, mean over prunable "
                                     "layers (smaller: heavier tail, better trained)</sup>", "x": 0},
                      xaxis_title=f"{knob_words(knob).unit} (hot at left)",
                      yaxis_title="alpha (Hill, x_min at the peak)", template="plotly_white", height=460)
    fig.update_xaxes(type="category")
    return fig


def layer_alpha_figure(table: pd.DataFrame, knob: str) -> go.Figure:
    """Return a layer x temperature heatmap of the dense alpha (`analysis.spectra.layer_alphas`)."""
    order = hot_to_cold(knob, list(table.columns))
    values = table[order]
    fig = go.Figure(go.Heatmap(z=values.to_numpy(), x=[f"{t:g}" for t in order], y=list(values.index),
                               colorscale="Viridis", colorbar={"title": {"text": "alpha"}},
                               text=np.vectorize(lambda v: f"{v:.2f}")(values.to_numpy()), texttemplate="%{text}",
                               hovertemplate="layer %{y}, " + knob + " %{x}: alpha %{z:.3f}<extra></extra>"))
    fig.update_layout(title="Dense alpha per layer (mean over dense seeds)", template="plotly_white", height=460,
                      xaxis_title=f"{knob_words(knob).unit} (hot at left)", yaxis_title="layer (model order)")
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category", autorange="reversed")
    return fig
