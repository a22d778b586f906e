"""The transfer table of proxies against their full study, on classified tables made by hand."""

import math
from types import SimpleNamespace

import pandas as pd

from analysis.transfer import transfer_lines, transfer_table
from contract.proxy import ProxySection


def _cells(rows):
    # (temperature, regime, val_acc, test_acc, cka) at density 0.1, standard errors 0.01
    return pd.DataFrame([{"knob": "lr", "temperature": t, "density": 0.1, "regime": r,
                          "regime_point": r.rstrip("?"), "val_acc": v, "val_acc_se": 0.01, "test_acc": a,
                          "test_acc_se": 0.01, "cka": c, "cka_se": 0.001, "lmc": 0.0, "lmc_se": 0.01, "status": "ok",
                          "confidence": 2.0, "mc_threshold": -0.1, "cka_eps": 0.005, "n_seeds": 3}
                         for t, r, v, a, c in rows])


def _study(name, cells, seconds, proxy):
    config = SimpleNamespace(resources=SimpleNamespace(cpu=1.0, gpu=0.0), retrain=SimpleNamespace(epochs=8),
                             study=SimpleNamespace(screen_epochs=None), proxy=proxy)
    rows = pd.DataFrame({"seconds": seconds})  # all of a cell's time unaccounted for: overhead, counted in the total
    return SimpleNamespace(name=name, criterion="val", cells=cells,
                           study=SimpleNamespace(cells=rows, config=config, path="/nonexistent"))


FULL = _study("full", _cells([(0.01, "I", 0.70, 0.71, 0.90), (0.05, "II-B", 0.80, 0.81, 0.99),
                              (0.1, "II-A", 0.60, 0.61, 0.95)]), [60.0, 40.0], ProxySection())


def test_a_proxy_row_counts_its_compute_share_its_calls_its_ranking_and_where_its_answer_moves():
    narrow = _study("full-proxy-width0.25", _cells([(0.01, "I", 0.50, 0.51, 0.90), (0.05, "II-B", 0.60, 0.61, 0.99),
                                                     (0.1, "I", 0.65, 0.66, 0.95)]), [20.0, 5.0],
                    ProxySection(width=0.25))
    (row,) = transfer_table(FULL, [narrow]).to_dict("records")
    assert row["axes"] == "width 0.25" and math.isclose(row["compute"], 25 / 100)
    # Sure in both: all three; equal at 0.01 (I) and 0.05 (II-B), contradicted at 0.1 (II-A against I).
    assert (row["sure"], row["sure_equal"], row["contradicted"], row["uncertain"]) == (3, 2, 1, 0)
    # Validation accuracy ranks the temperatures 1, 2, 0 in the full study and 0, 1, 2 in the proxy:
    # d = (1, 1, 2), Spearman 1 - 6 * 6 / (3 * 8) = -0.5.
    assert math.isclose(row["rho"][0.1], -0.5) and row["metric"] == "val_acc"
    # By val the full study trains at 0.05 (0.80), the proxy at 0.1 (0.65): the full study's test accuracy
    # there, 0.61, is 0.20 below its pick's, beyond the SE of the difference (0.014): not within noise.
    assert (row["answers_equal"], row["answers_agree"], row["answers"]) == (0, 0, 1)
    assert row["moved"] == "d0.1: 0.05 -> 0.1"


def test_a_proxy_with_the_same_answer_reads_as_equal_and_the_lines_say_so():
    short = _study("full-proxy-retrain_epochs0.5", _cells([(0.01, "I?", 0.69, 0.70, 0.90),
                                                             (0.05, "II-B", 0.79, 0.80, 0.99),
                                                             (0.1, "II-A", 0.61, 0.62, 0.95)]), [30.0, 20.0],
                   ProxySection(retrain_epochs=0.5))
    table = transfer_table(FULL, [short])
    (row,) = table.to_dict("records")
    assert (row["sure"], row["sure_equal"], row["uncertain"], row["answers_equal"], row["moved"]) == (2, 2, 1, 1, "")
    lines = transfer_lines(table, full="full", knob="lr")
    assert lines[0].startswith("transfer to full (the full study), answered by its criterion val")
    assert lines[-1].split() == ["full-proxy-retrain_epochs0.5", "retrain_epochs", "0.5", "50.0%", "2/2", "equal,", "0",
                                 "contradicted", "+1.00", "1", "equal,", "1/1", "within", "noise", "-"]
