"""The analysis side on a real (tiny) study: report, CLI answers, and a numbers regression."""

import json

import pytest

from analysis import aggregate, classify, load_study
from analysis.report import write_report
from contract.config import StudyConfig
from study.cli import main
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

# From `regimes run configs/tiny.yaml` on the 2-core CPU machine (torch 2.14.1); the tolerance
# absorbs other CPUs' kernels, not a change in the method.
EXPECTED = {(2.0, 0.1): (0.4053, 0.0293), (2.0, 0.5): (0.8008, 0.0186),
            (4.0, 0.1): (0.2822, 0.0117), (4.0, 0.5): (0.8193, -0.0039)}


def test_the_tiny_study_reproduces_stored_numbers(tiny_study):
    cells = load_study(tiny_study[1].path)
    for row in cells.itertuples():
        acc, mc = EXPECTED[(row.temperature, row.density)]
        assert row.test_acc == pytest.approx(acc, abs=0.03) and row.lmc == pytest.approx(mc, abs=0.03)


def test_the_html_report_is_self_contained_and_holds_every_figure(tiny_study, tmp_path):
    cells = classify(aggregate(load_study(tiny_study[1].path)), mc_threshold=-0.2, cka_eps=0.005, confidence=0)
    path = write_report(cells, StudyConfig.model_validate({"study": {"name": "tiny"}}), tmp_path / "r.html", title="tiny")
    page = path.read_text()
    assert page.count('class="plotly-graph-div"') == 5
    assert "<script src=" not in page and len(page) > 1_000_000  # plotly.js embedded, opens offline
    assert "mc &lt; -0.2" in page and "within 0.005" in page and "&quot;name&quot;: &quot;tiny&quot;" in page
    assert "training epochs (hot at top, cold at bottom)" in page


def test_cli_report_and_questions_on_a_real_study(tiny_study, tmp_path, capsys):
    path = tiny_study[1].path
    assert main(["report", path, "--out", str(tmp_path / "report.html")]) == 0
    out = capsys.readouterr().out
    assert f"report: {tmp_path / 'report.html'}" in out and "cells per regime: I " in out
    # cnn1d's three convolutions (1x32x5, 32x32x5, 32x32x5 weights) are pruned; its classifier is not.
    page = (tmp_path / "report.html").read_text()
    assert "<h2>Pruned layers</h2><p>3 layers, 10,400 weights" in page
    assert "<td style='text-align:left'>3 (Conv1d 32x32x5)</td><td>5,120</td>" in page
    assert main(["advise", path, "--density", "0.5", "--temperature", "4", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    # One dense seed and two copies: one pair, so mc has no standard error and no call is certain.
    assert answer["regime"] == "II?" and answer["lmc_se"] is None and answer["direction"] == "unclear"
    assert answer["mc_threshold"] == -0.2 and answer["confidence"] == 2
    assert main(["advise", path, "--density", "0.3", "--temperature", "4"]) == 2
    assert capsys.readouterr().err.strip() == ("regimes: error: density 0.3 is not in the study; its densities "
                                               "are 0.1, 0.5")


def test_analysis_commands_on_a_folder_that_is_not_a_study(tmp_path, capsys):
    assert main(["status", str(tmp_path)]) == 2
    assert "not a study" in capsys.readouterr().err


def test_questions_on_a_study_with_no_cells_yet_are_one_line(tiny_study, tmp_path, capsys):
    import shutil

    empty = tmp_path / "empty"
    shutil.copytree(tiny_study[1].path, empty)
    for result in empty.glob("*/result.json"):
        result.write_text("")
    for progress in empty.glob("*/progress.csv"):
        progress.write_text("")
    assert main(["select", str(empty), "--density", "0.1"]) == 2
    assert capsys.readouterr().err == f"regimes: error: {empty}: no cells reported yet; wait for the study or run it\n"


def test_validate_and_the_report_on_a_real_study(tiny_study, tmp_path, capsys):
    path = tiny_study[1].path
    assert main(["validate", path, "--json", "--confidence", "0"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert set(answer) == {"advice", "select", "missing_cells", "spectra"} and list(answer["select"]) == ["regime"]
    # metrics.spectra is on by default: one correlation row per density and dense metric; two temperatures
    # are too few for a rank correlation.
    assert {(r["density"], r["metric"]) for r in answer["spectra"]["correlations"]} == {
        (d, m) for d in (0.1, 0.5) for m in ("alpha", "alpha_hat", "stable_rank", "log_spectral_norm")}
    assert all(r["n"] == 2 and r["rho_test_acc"] is None for r in answer["spectra"]["correlations"])
    assert answer["missing_cells"] == 0
    assert len(answer["select"]["regime"]) == 2
    assert answer["advice"]["advised"] == len(answer["advice"]["cells"])
    assert main(["validate", path]) == 0  # the study's own confidence 2: one seed, two copies, nothing certain
    assert capsys.readouterr().out.startswith("no confidently advised cell")
    assert main(["report", path, "--out", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text()
    assert "The study checks its own advice" in page and "hatched in the regime map" in page
    assert "Dense spectra" in page and "Dense alpha per layer" in page
    assert "<h2>Compute</h2>" in page and "full retraining" in page
    assert main(["validate", path, "--predict-from", path]) == 0  # fitted and scored on one study: runs
    assert "dense spectra against the map" in capsys.readouterr().out


def test_answering_by_validation_accuracy_without_a_split_is_one_line(tiny_study, capsys):
    path = tiny_study[1].path
    for args in (["select", path, "--density", "0.1", "--by", "val"], ["validate", path, "--by", "regime+val"]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "needs a validation split and this study has none" in err, err


def test_run_by_val_without_a_validation_split_stops_before_ray(tmp_path, capsys):
    args = ["run", str(ROOT / "configs/tiny.yaml"), "--storage", str(tmp_path), "--by", "val"]
    assert main(args) == 2
    assert "data.validation is 0" in capsys.readouterr().err and not list(tmp_path.iterdir())


def test_uncertain_cells_are_hatched_in_the_regime_map():
    import pandas as pd

    from analysis.plots import regime_map

    cells = pd.DataFrame([{"knob": "epochs", "temperature": t, "density": 0.05, "test_acc": 0.8, "lmc": m,
                           "lmc_se": s, "cka": 0.9, "status": "ok"} for t, m, s in [(10, -0.3, 0.01),
                                                                                     (20, -0.12, 0.05)]])
    fig = regime_map(classify(cells, mc_threshold=-0.1, cka_eps=0.005, confidence=2))
    strokes = [s for s in fig.layout.shapes if s.line.color == "white"]
    assert len(strokes) == 2  # one hatched cell (T=20: I?): a stroke in two corners
    for stroke in strokes:  # the cell spans x -0.5..0.5; its label sits in the middle third, left clear
        assert min(abs(stroke.x0), abs(stroke.x1)) >= 0.15 - 1e-9 and max(abs(stroke.x0), abs(stroke.x1)) <= 0.5
    assert "hatched: within 2 SE" in fig.layout.title.text


def test_the_regime_map_draws_uncertain_calls_as_uncertain_with_a_legend_and_the_heatmaps_show_ses():
    import pandas as pd

    from analysis.plots import REGIME_COLORS, heatmap, regime_map

    # One density: T=10 a sure I (mc -0.3 +- 0.01), T=20 I? (-0.12 +- 0.05), T=40 and T=80 II? (-0.05 +- 0.05),
    # T=160 a sure II (0.0 +- 0.001). Threshold -0.1, 2 SE.
    rows = [(10, -0.3, 0.01, 0.90), (20, -0.12, 0.05, 0.91), (40, -0.05, 0.05, 0.95), (80, -0.05, 0.05, 0.99),
            (160, 0.0, 0.001, 0.97)]
    cells = classify(pd.DataFrame([{"knob": "epochs", "temperature": t, "density": 0.05, "test_acc": 0.8,
                                    "test_acc_se": 0.01, "lmc": m, "lmc_se": s, "cka": c, "cka_se": 0.002,
                                    "status": "ok"} for t, m, s, c in rows]), mc_threshold=-0.1, cka_eps=0.005,
                     confidence=2)
    assert list(cells.sort_values("temperature")["regime"]) == ["I", "I?", "II?", "II?", "II-A"]
    fig = regime_map(cells)
    colours = {REGIME_COLORS[label] for label in ("I", "I?", "II?", "II-A")}
    legend = {trace.name: trace.marker.color for trace in fig.data[1:] if trace.mode == "markers"}
    assert set(legend.values()) == colours and "II?: no barrier within noise" in legend
    # The heatmap's colour of each cell is its own call: 5 rows from hot (T=10, top) to cold.
    labels = list(REGIME_COLORS)
    assert [labels[row[0]] for row in fig.data[0].z] == ["I", "I?", "II?", "II?", "II-A"]
    assert not [s for s in fig.layout.shapes if s.line.color == "black"]  # sure calls never touch: no boundary
    assert "mc -0.120 &plusmn; 0.050" in fig.data[0].customdata[1][0]
    lmc = heatmap(cells, "lmc")
    assert lmc.data[0].zmid == -0.1 and lmc.data[0].colorbar.title.text == "mc"
    assert lmc.data[0].text[0][0] == "-0.300 &plusmn; 0.010"


def test_the_report_opens_with_what_to_prune_and_leaves_out_empty_columns_and_test_hooks(tiny_study, tmp_path):
    from analysis import open_study

    page = open_study(tiny_study[1].path).report(tmp_path / "r.html").read_text()
    # The header, the answer by the study's criterion (the tiny study has no validation split:
    # regime), the map, then which criterion: in that order, the map the first figure.
    header = page.index("<p class='header'><b>synthetic</b>, cnn1d; epochs 2, 4 x density 0.1, 0.5; 1 dense seed; "
                        "2 copies a cell; dense 4 epochs, retraining 2 epochs, uniform pruning; code ")
    top = page.index("<h2>The answer, by regime</h2>")
    assert header < top < page.index('<div class="figure">') < page.index("<h2>Which criterion</h2>")
    answer = page[top:page.index('<div class="figure">')]
    assert "<li><b>density 0.5</b>: prune the model at epochs 4 (Regime " in answer
    # Said once for both densities, where both picks sit at the grid's cold edge.
    assert answer.count("is the coldest of the grid") == 1 and "<p>At more than one density:</p>" in answer
    assert "Only regime can answer this study (it has no validation split)." in page
    assert "caveats</th>" in page and " +- " not in page.replace("<pre>", "\0").split("\0")[0]  # one notation: ±
    assert "<details><summary>Study config</summary>" in page and page.count("<pre>") == 1
    assert '"faults"' not in page and "<th>scratch_test_acc</th>" not in page and "<th>val_acc</th>" not in page
    assert "(Conv1d " in page  # the pruned layers by type and shape


def test_the_maps_labels_keep_aa_contrast_and_its_legend_names_only_what_is_drawn():
    import pandas as pd

    from analysis.plots import REGIME_COLORS, regime_map

    def luminance(colour):  # WCAG 2.1 relative luminance
        channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    label = luminance("#222222")
    for name, colour in REGIME_COLORS.items():
        assert (luminance(colour) + 0.05) / (label + 0.05) >= 4.5, name
    # Two densities, two temperatures: I at the hot-dense corner beside II: one I/II edge, no II-A/II-B one.
    rows = [(10, 0.1, -0.5, 0.90), (10, 0.5, 0.0, 0.99), (160, 0.1, 0.0, 0.97), (160, 0.5, 0.0, 0.99)]
    cells = classify(pd.DataFrame([{"knob": "epochs", "temperature": t, "density": d, "test_acc": 0.8, "lmc": m,
                                    "cka": c, "status": "ok"} for t, d, m, c in rows]), mc_threshold=-0.1,
                     cka_eps=0.005, confidence=0)
    names = [trace.name for trace in regime_map(cells).data[1:] if trace.mode == "lines"]
    assert names == ["I / II boundary"]

