import math

import pandas as pd
import pytest

from analysis import aggregate, classify
from analysis.classify import hot_to_cold, regime_counts


def _table(rows, knob="epochs"):
    return pd.DataFrame([{"knob": knob, "temperature": t, "density": d, "test_acc": a, "lmc": m, "cka": c,
                          "status": "ok"} for t, d, a, m, c in rows])


def test_a_3x3_grid_classifies_by_the_rule():
    # (temperature, density, test_acc, mc, cka)
    cells = _table([
        (10, 0.05, 0.80, -0.05, 0.950), (80, 0.05, 0.85, -0.10, 0.990), (160, 0.05, 0.82, -0.60, 0.980),
        (10, 0.20, 0.88, -0.01, 0.960), (80, 0.20, 0.90, -0.01, 0.993), (160, 0.20, 0.905, 0.00, 0.996),
        (10, 0.80, 0.90, 0.00, 0.980), (80, 0.80, 0.92, 0.00, 0.990), (160, 0.80, 0.923, 0.00, 0.990)])
    out = classify(cells, mc_threshold=-0.2, cka_eps=0.005, confidence=0)
    regimes = {(r.temperature, r.density): r.regime for r in out.itertuples()}
    assert regimes == {
        (10, 0.05): "II-A", (80, 0.05): "II-B", (160, 0.05): "I",   # 0.95 < 0.99 - 0.005; barrier at 160
        (10, 0.20): "II-A", (80, 0.20): "II-B", (160, 0.20): "II-B",  # 0.993 within 0.005 of 0.996
        (10, 0.80): "II-A", (80, 0.80): "II-B", (160, 0.80): "II-B"}
    assert (out["mc_threshold"] == -0.2).all() and (out["cka_eps"] == 0.005).all()
    norm = {(r.temperature, r.density): r.normalized_test_err for r in out.itertuples()}
    assert norm[(10, 0.05)] == pytest.approx(0.05) and norm[(80, 0.05)] == pytest.approx(0.0)
    assert norm[(160, 0.05)] == pytest.approx(0.03)


def test_a_table_shaped_like_the_papers_figure_2():
    # DESIGN.md 2.6: at densities <= 8 % late-epoch models have mc ~ -0.6 (Regime I) and the 60-80 epoch
    # models beat the 160-epoch one; at high density everything is connected (Regime II).
    rows = []
    for e in range(10, 161, 10):
        for d in (0.05, 0.08, 0.2, 0.8):
            low = d <= 0.08
            mc = -0.6 if (low and e >= 90) else -0.02
            acc = {True: 0.854 - 0.0002 * abs(e - 70), False: 0.92 - (0.015 if e == 10 else 0.0)}[low]
            cka = 0.99 - 0.0004 * abs(e - 70) if low else 0.99 - 0.0001 * (160 - e)
            rows.append((e, d, acc, mc, cka))
    out = classify(_table(rows), mc_threshold=-0.2, cka_eps=0.005, confidence=0)
    regime = {(r.temperature, r.density): r.regime for r in out.itertuples()}
    assert all(regime[(e, d)] == "I" for e in range(90, 161, 10) for d in (0.05, 0.08))
    assert all(regime[(e, d)] != "I" for e in range(10, 161, 10) for d in (0.2, 0.8))
    assert regime[(70, 0.05)] == "II-B" and regime[(10, 0.05)] == "II-A"
    assert regime_counts(out) == {"I": 16, "II-A": out.regime.eq("II-A").sum(), "II-B": out.regime.eq("II-B").sum()}


def test_diverged_cells_get_no_regime_and_do_not_set_the_best():
    cells = _table([(10, 0.1, 0.9, 0.0, 0.99), (20, 0.1, 0.9, 0.0, 0.95)])
    cells.loc[0, "status"] = "diverged"
    out = classify(cells, mc_threshold=-0.2, cka_eps=0.005, confidence=0)
    assert list(out.regime) == ["n/a", "II-B"]
    assert math.isnan(out.normalized_test_err[0]) and out.normalized_test_err[1] == 0


def test_aggregate_averages_over_dense_seeds_without_diverged_ones():
    cells = pd.concat([_table([(10, 0.1, 0.8, -0.1, 0.9)]).assign(dense_seed=0),
                       _table([(10, 0.1, 0.9, -0.3, 0.95)]).assign(dense_seed=1),
                       _table([(10, 0.1, float("nan"), float("nan"), float("nan"))]).assign(dense_seed=2,
                                                                                         status="diverged")])
    out = aggregate(cells)
    assert len(out) == 1 and out.n_seeds[0] == 2 and out.status[0] == "ok"
    assert out.test_acc[0] == pytest.approx(0.85) and out.test_acc_seed_std[0] == pytest.approx(0.05)
    assert out.lmc[0] == pytest.approx(-0.2)


def test_hot_to_cold_follows_the_knob():
    assert hot_to_cold("epochs", [40, 10, 20]) == [10, 20, 40]
    assert hot_to_cold("batch_size", [512, 16]) == [16, 512]
    assert hot_to_cold("sam_rho", [0.1, 0.8]) == [0.8, 0.1]
    assert hot_to_cold("lr", [0.01, 0.1]) == [0.1, 0.01]


def test_a_cell_exactly_at_the_threshold_is_regime_two():
    # The rule: Regime I when mc < threshold, Regime II when mc >= threshold. -0.125 is exact in binary,
    # so the cell sits on the threshold itself; the other cell of its density is clearly Regime I.
    cells = _table([(10, 0.1, 0.80, -0.125, 0.97), (20, 0.1, 0.70, -0.5, 0.99)])
    out = classify(cells, mc_threshold=-0.125, cka_eps=0.005, confidence=0)
    assert list(out.regime) == ["II-B", "I"]


def test_the_best_cka_is_taken_over_regime_two_cells_only():
    # The Regime-I cell has the highest CKA of its density (0.999); the II-B test compares the Regime-II
    # cells with the best Regime-II CKA (0.97): 0.968 is within 0.005 of it, so II-B. Taking the best over
    # every cell would make both II-A (0.97 < 0.999 - 0.005).
    cells = _table([(10, 0.1, 0.80, -0.01, 0.970), (20, 0.1, 0.82, -0.02, 0.968), (40, 0.1, 0.70, -0.5, 0.999)])
    out = classify(cells, mc_threshold=-0.2, cka_eps=0.005, confidence=0)
    assert list(out.regime) == ["II-B", "II-B", "I"]


def test_a_cell_missing_any_of_its_three_metrics_or_diverged_gets_no_regime_even_when_uncertain_calls_are_made():
    # Usable means ok with test accuracy, mc and CKA all present. A diverged cell below the threshold
    # is not Regime I; with confidence 2 no unusable cell turns into "II?" either.
    nan = float("nan")
    cells = _table([(10, 0.1, nan, -0.01, 0.97), (20, 0.1, 0.8, nan, 0.97), (30, 0.1, 0.8, -0.01, nan),
                    (40, 0.1, 0.8, -0.50, 0.90), (50, 0.1, 0.8, -0.01, 0.97)])
    cells.loc[3, "status"] = "diverged"
    for confidence in (0, 2):
        out = classify(cells, mc_threshold=-0.2, cka_eps=0.005, confidence=confidence)
        assert list(out.regime[:4]) == ["n/a"] * 4, confidence
    assert classify(cells, mc_threshold=-0.2, cka_eps=0.005, confidence=0).regime[4] == "II-B"


def test_a_cka_exactly_eps_below_the_best_is_still_ii_b():
    # Binary-exact values: best 0.75, eps 0.25, so 0.5 is exactly at the edge and II-B (>=); 0.4375 is II-A.
    # With eps 0 the best cell itself is II-B.
    cells = _table([(10, 0.1, 0.8, 0.0, 0.75), (20, 0.1, 0.8, 0.0, 0.5), (30, 0.1, 0.8, 0.0, 0.4375)])
    assert list(classify(cells, mc_threshold=-0.2, cka_eps=0.25, confidence=0).regime) == ["II-B", "II-B", "II-A"]
    assert list(classify(cells, mc_threshold=-0.2, cka_eps=0.0, confidence=0).regime) == ["II-B", "II-A", "II-A"]


def test_the_thresholds_travel_with_the_classified_table():
    out = classify(_table([(10, 0.1, 0.8, 0.0, 0.9)]), mc_threshold=-0.1, cka_eps=0.01, confidence=1.5)
    assert out.attrs == {"mc_threshold": -0.1, "cka_eps": 0.01, "confidence": 1.5, "margin": 0.0}


def test_regime_counts_list_the_definite_regimes_always_and_uncertain_and_na_ones_when_present():
    table = pd.DataFrame({"regime": ["I", "I?", "I?", "II?", "n/a"]})
    assert regime_counts(table) == {"I": 1, "II-A": 0, "II-B": 0, "I?": 2, "II?": 1, "n/a": 1}
    assert regime_counts(pd.DataFrame({"regime": ["II-B"]})) == {"I": 0, "II-A": 0, "II-B": 1}


def test_aggregate_keeps_a_cell_whose_every_seed_diverged_and_a_single_seed_cell():
    # (10, 0.1): both seeds diverged: kept, status diverged, 0 seeds (an int). (20, 0.1): one ok seed: ok.
    nan = float("nan")
    cells = pd.concat([_table([(20, 0.1, 0.8, -0.1, 0.9)]).assign(dense_seed=0)]  # listed first: sorted after
                      + [_table([(10, 0.1, nan, nan, nan)]).assign(dense_seed=s, status="diverged") for s in (0, 1)],
                      ignore_index=True)
    out = aggregate(cells)
    assert list(out.temperature) == [10, 20] and list(out.index) == [0, 1]
    assert list(out.status) == ["diverged", "ok"] and list(out.n_seeds) == [0, 1]
    assert out.n_seeds.dtype.kind == "i"


def test_aggregate_without_a_status_column_or_without_mc_and_cka():
    # Hand-made tables: without "status" every row counts; without lmc and cka there is no SE to compute.
    cells = _table([(10, 0.1, 0.8, -0.1, 0.9)]).drop(columns="status")
    assert aggregate(cells).n_seeds[0] == 1
    bare = aggregate(_table([(10, 0.1, 0.8, -0.1, 0.9)]).drop(columns=["lmc", "cka"]))
    assert bare.test_acc[0] == 0.8 and "lmc_se" not in bare.columns


def test_aggregate_averages_the_perturbed_accuracies_of_the_copies_and_of_the_dense_model():
    cells = pd.concat([_table([(10, 0.1, 0.8, -0.1, 0.9)]).assign(**{"dense_seed": s, "test_acc_noise0.5": a,
                                                                      "dense_test_acc_noise0.5": a + 0.1})
                       for s, a in ((0, 0.5), (1, 0.7))])
    out = aggregate(cells)
    assert out["test_acc_noise0.5"][0] == pytest.approx(0.6)
    assert out["dense_test_acc_noise0.5"][0] == pytest.approx(0.7)


def test_the_text_map_puts_the_hottest_row_first_and_a_dot_where_a_cell_is_still_owed():
    from analysis.classify import map_lines

    # lr: larger is hotter. At 0.05 lr 0.1 has a barrier (I); at 0.5 lr 0.1 has the best CKA
    # (II-B), lr 0.02 is 0.04 below it (II-A); lr 0.005 has reported nothing yet.
    cells = classify(pd.DataFrame([{"knob": "lr", "temperature": t, "density": d, "test_acc": 0.8, "lmc": m, "cka": c,
                                    "status": "ok"} for t, d, m, c in [(0.1, 0.05, -0.5, 0.9), (0.1, 0.5, 0.0, 0.99),
                                                                      (0.02, 0.5, 0.0, 0.95)]]),
                     mc_threshold=-0.2, cka_eps=0.005, confidence=0)
    assert map_lines(cells, knob="lr", temperatures=[0.02, 0.1, 0.005], densities=[0.5, 0.05]) == [
        "             0.05    0.5",
        "  lr 0.1        I   II-B",
        " lr 0.02        .   II-A",
        "lr 0.005        .      .",
    ]
