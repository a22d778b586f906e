"""The self-contained HTML report of a study, and optional PNG export.

The HTML embeds plotly.js once (no network needed to open it). It opens with the study's header,
its answer per density and the regime map (`analysis.answer`), then which criterion answers it
best, every other figure, the checks, the cell table and, collapsed, the config.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from analysis.advice import CRITERIA, NoAnswer, has_validation, select_model
from analysis.answer import answers_html, criteria_html, header_html, words
from analysis.classify import regime_counts
from analysis.cost import LABELS, PARTS, config_split
from analysis.uncertainty import pm
from analysis.plots import all_figures, dense_alpha_figure, layer_alpha_figure
from analysis.spectra import dense_by_temperature, has_spectra, layer_alphas, rank_correlations, spectra_lines
from analysis.validate import criteria_regrets, validate_advice, validation_lines
from contract.config import StudyConfig

TABLE_COLUMNS = ["temperature", "density", "regime", "test_acc", "test_acc_se", "val_acc", "val_acc_se",
                 "normalized_test_err", "lmc",
                 "lmc_se", "cka", "cka_se", "dense_test_acc", "scratch_test_acc", "inherit_gain", "inherit_gain_se",
                 "agreement_dense", "agreement_dense_se", "n_seeds", "se_basis", "status"]


def write_report(cells: pd.DataFrame, config: StudyConfig | None, path: str | Path, *, title: str,
                 pruned_layers: str = "",
                 potential: pd.DataFrame | None = None, per_seed: pd.DataFrame | None = None,
                 map_cells: pd.DataFrame | None = None, screen_rows: pd.DataFrame | None = None,
                 partial: str | None = None, criterion: str = "regime") -> Path:
    """Write the HTML report of a classified, seed-aggregated cell table to `path` and return it.

    Args:
        cells: output of `classify(aggregate(...))`.
        config: the study config (shown in full, defaults included), or None when the study has none.
        path: the HTML file to write; its folder is created.
        title: the page title (the study's name).
        pruned_layers: the trials' "name (Type shape) numel, ..." list of the layers pruning acts on (see
            `layers_of`); "" leaves the section out (studies from before it was recorded).
        potential: `analysis.prunability.prune_potential` of the study's per-seed cells: a
            plot and a table; None leaves them out.
        per_seed: the study's per-seed cells; with the dense spectra (metrics.spectra) the report
            shows alpha against temperature, alpha per layer and how far they predict the map.
        map_cells: the cells the regime map draws (a screened study's with its screened-out cells,
            `analysis.screen.with_screen`); None: `cells`.
        screen_rows: a screened study's screen rows (per seed), counted in the compute.
        partial: for a study that owes cells it has not reported (running, unfinished), the words
            that say so under the title; None for a complete study.
        criterion: the criterion the study is answered by (`ClassifiedStudy.criterion`): the
            answer at the top is its pick per density.
    """
    figures = all_figures(cells, potential)
    if map_cells is not None:
        figures["regimes"] = all_figures(map_cells)["regimes"]
    parts = {name: fig.to_html(full_html=False, include_plotlyjs="inline" if i == 0 else False,
                               default_width="100%") for i, (name, fig) in enumerate(figures.items())}
    counts = ", ".join(f"{k}: {v}" for k, v in regime_counts(cells).items())
    checked = validation_lines(validate_advice(cells), criteria_regrets(cells), knob=str(cells["knob"].iloc[0]))
    thresholds = (f"Regime I when mc &lt; {cells['mc_threshold'].iloc[0]:g}; among Regime-II cells of a density, "
                  f"II-B when CKA is within {cells['cka_eps'].iloc[0]:g} of the best, otherwise II-A.")
    confidence = float(cells["confidence"].iloc[0]) if "confidence" in cells.columns else 0.0
    if confidence > 0:
        thresholds += (f" A call needs mc beyond the threshold by more than {confidence:g} standard errors; "
                       "otherwise it is I? or II? (hatched in the regime map).")
    margin = float(cells["margin"].iloc[0]) if "margin" in cells.columns else 0.0
    if margin > 0:
        thresholds += (f" A call within noise whose whole interval lies within {margin:g} of the threshold is at the "
                       "boundary, I|II: settled, not unresolved.")
    shown = [c for c in TABLE_COLUMNS if c in cells.columns and cells[c].notna().any()]  # no empty columns
    table = cells[shown].to_html(index=False, float_format="%.4f", na_rep="", border=0)
    dump = config.model_dump(mode="json") if config is not None else {}
    dump.pop("faults", None)  # the test suite's fault switches: not part of a study
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="regimes-study" content="{html.escape(title)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}: three-regime pruning study</title>
<style>{_STYLE}</style>
</head><body>
<h1>{html.escape(title)}</h1>
{header_html(config, per_seed, cells)}
{f'<p><b>Partial.</b> {html.escape(partial)}</p>' if partial else ''}
{answers_html(cells, criterion)}
<div class="figure">{parts.pop("regimes")}</div>
{criteria_html(cells, criterion)}
<p><b>Thresholds.</b> {thresholds} <b>Cells per regime.</b> {counts}</p>
{_potential_html(potential, parts.pop("prune_potential", ""))}
{''.join(f'<div class="figure">{p}</div>' for p in parts.values())}
{_spectra_html(per_seed, cells)}
{_cost_html(per_seed if screen_rows is None else pd.concat([per_seed, screen_rows], ignore_index=True), config)}
{_advice_html(cells)}
<h2>The study checks its own advice</h2>
{_lines_html(checked)}
<h2>Cells</h2>
<div class="scroll">{table}</div>
{_layers_html(pruned_layers)}
<details><summary>Study config</summary><pre>{html.escape(json.dumps(dump, indent=2))}</pre></details>
</body></html>
"""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path


def _advice_html(cells: pd.DataFrame) -> str:
    # The top of the report: per density and criterion, what to prune, how sure, and the caveats.
    knob = str(cells["knob"].iloc[0])
    by_options = [by for by in CRITERIA if by == "regime" or has_validation(cells)]
    rows = []
    for density in sorted(cells["density"].unique()):
        for by in by_options:
            try:
                a = select_model(cells, density=float(density), by=by)
            except NoAnswer as err:
                rows.append((density, by, "no answer", "", "", words(str(err))))
                continue
            within = ", ".join(f"{t:g}" for t in a["indistinguishable_from"])
            notes = ([f"within noise of {knob} {within}"] if within else []) + a["caveats"]
            rows.append((density, by, f"{knob} {a['temperature']:g}", a["regime"],
                         pm(a["test_acc"], a["test_acc_se"], html=True), "<br>".join(words(n) for n in notes)))
    body = "".join(f"<tr><td>{d:g}</td><td>{by}</td><td>{pick}</td><td>{regime}</td><td>{acc}</td>"
                   f"<td class='words'>{notes}</td></tr>" for d, by, pick, regime, acc, notes in rows)
    head = "".join(f"<th>{name}</th>" for name in ("density", "by", "prune the model at", "regime", "test accuracy"))
    head += "<th style='text-align:left'>caveats</th>"
    return ("<h2>Every criterion's pick</h2><p>Per target density, the model each criterion picks (regime: Regime II "
            "with "
            "the highest CKA, training metrics only; val: the best validation accuracy; regime+val: the best "
            "validation accuracy among Regime-II cells), its test accuracy &plusmn; standard error, and what to "
            f"know before acting on it.</p><div class='scroll'><table><tr>{head}</tr>{body}</table></div>")


def _lines_html(lines: list[str]) -> str:
    # Text lines (validate's, the spectra's) as a list that wraps, indentation kept as nesting depth.
    items = "".join(f"<li style='margin-left:{(len(line) - len(line.lstrip())) // 2}em'>{words(line.strip())}</li>"
                    for line in lines if line.strip())
    return f"<ul class='lines'>{items}</ul>"


_STYLE = """body{font-family:sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;line-height:1.4}
table{border-collapse:collapse} td,th{padding:2px 8px;text-align:right;vertical-align:top}
tr:nth-child(even){background:#f4f4f4} .scroll{overflow-x:auto;max-width:100%}
td.words{text-align:left;max-width:46em} pre{background:#f8f8f8;padding:1em;white-space:pre-wrap}
.figure{width:100%} .header{color:#333} .caveat{color:#5a4500} ul.lines{list-style:none;padding-left:0}
ul.answers li{margin:0.3em 0} h2{margin-top:1.2em}"""


def layers_of(raw_cells: pd.DataFrame) -> str:
    """Return the pruned-layers list the trials of a study reported ("" when none did)."""
    if "pruned_layers" not in raw_cells.columns:
        return ""
    reported = [v for v in raw_cells["pruned_layers"].dropna().astype(str) if v]
    return reported[0] if reported else ""


def _potential_html(potential: pd.DataFrame | None, figure: str = "") -> str:
    # Prune potential per temperature (rows) and test set (columns), mean +- SE over dense seeds.
    if potential is None or potential.empty:
        return ""
    text = potential.assign(value=[pm(p, se, digits=3, html=True) for p, se in
                                   zip(potential["prune_potential"], potential["prune_potential_se"], strict=True)])
    table = text.pivot(index="temperature", columns="test_set", values="value")
    table = table[list(dict.fromkeys(potential["test_set"]))].rename_axis(columns=None).reset_index()  # one header row
    margin = potential["margin_points"].iloc[0]
    return (f"<h2>Prune potential</h2><p>The lowest density whose pruned models stay within {margin:g} accuracy "
            "points of the dense model on the same test set (walking down from the highest density; 1 = none "
            "does), mean &plusmn; standard error over dense seeds. Noisy sets add Gaussian noise in units of "
            "each input feature's std (Liebenwein et al. 2021: the potential shrinks off-distribution).</p>"
            + f'<div class="figure">{figure}</div>' * bool(figure) + table.to_html(escape=False, border=0, index=False))


def _spectra_html(per_seed: pd.DataFrame | None, cells: pd.DataFrame) -> str:
    # The dense models' spectra: alpha against temperature, per layer, and their rank correlations with the map.
    if per_seed is None or not has_spectra(per_seed):
        return ""
    knob = str(cells["knob"].iloc[0])
    figures = [dense_alpha_figure(dense_by_temperature(per_seed), knob)]
    layers = layer_alphas(per_seed)
    if not layers.empty:
        figures.append(layer_alpha_figure(layers, knob))
    plots = "".join(f'<div class="figure">{f.to_html(full_html=False, include_plotlyjs=False, default_width="100%")}'
                    "</div>" for f in figures)
    text = "\n".join(spectra_lines(rank_correlations(per_seed, cells)))
    return ("<h2>Dense spectra</h2><p>Heavy-tailed self-regularisation read from the weights alone: per prunable "
            "layer the Hill estimate of the tail exponent alpha of the eigenvalues of W<sup>T</sup>W (x_min at "
            "the histogram's peak, as AlphaPruning), averaged over layers; no data and no retraining needed. "
            f"Whether it tracks the measured map:</p>{plots}{_lines_html(text.splitlines())}")


def _cost_html(per_seed: pd.DataFrame | None, config: StudyConfig | None) -> str:
    # Where the study's compute went (analysis.cost), from the rows' timings.
    if per_seed is None or per_seed.empty:
        return ""
    split = config_split(per_seed, config)
    gpu = split["total"]["gpu_s"] > 0
    rows = "".join(f"<tr><td style='text-align:left'>{LABELS[p]}</td><td>{split[p]['cpu_s']:,.0f}</td>"
                   + (f"<td>{split[p]['gpu_s']:,.0f}</td>" if gpu else "") + f"<td>{split[p]['share']:.1%}</td></tr>"
                   for p in (*PARTS, "total") if p == "total" or split[p]["seconds"] > 0)
    head = "<tr><th>part</th><th>CPU-seconds</th>" + ("<th>GPU-seconds</th>" if gpu else "") + "<th>share</th></tr>"
    return ("<h2>Compute</h2><p>What the trials spent their slots on, from every row's timings (seconds on a slot "
            "times the threads it holds; Ray's start-up and idle slots are not in the rows).</p>"
            f"<table>{head}{rows}</table>")


def _layers_html(pruned_layers: str) -> str:
    if not pruned_layers:
        return ""
    rows = [entry.rsplit(" ", 1) for entry in pruned_layers.split(", ")]
    total = sum(int(n) for _, n in rows)
    body = "".join(f"<tr><td style='text-align:left'>{html.escape(name)}</td><td>{int(n):,}</td></tr>"
                   for name, n in rows)
    return (f"<h2>Pruned layers</h2><p>{len(rows)} layers, {total:,} weights; density counts these only "
            f"(biases, BatchNorm and the layers left dense are never pruned).</p>"
            f"<table><tr><th>layer</th><th>weights</th></tr>{body}</table>")


def write_pngs(cells: pd.DataFrame, folder: str | Path) -> list[Path]:
    """Write every figure as a PNG under `folder` (needs kaleido and a Chromium) and return the paths.

    Raises:
        RuntimeError: kaleido or a browser is missing; the message says which and how to get it.
    """
    folder = Path(folder)
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fig in all_figures(cells).items():
        target = folder / f"{name}.png"
        try:
            fig.write_image(target)
        except Exception as err:  # plotly raises ValueError or RuntimeError depending on what is missing
            if made and not any(folder.iterdir()):
                folder.rmdir()  # no empty folder left behind
            why = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise RuntimeError(f"PNG export needs the kaleido package and a Chromium browser "
                               f"(pip install kaleido; apt-get install chromium): {why}") from None
        written.append(target)
    return written
