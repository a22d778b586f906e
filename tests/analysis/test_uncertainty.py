"""Standard errors and uncertain calls on hand-made tables whose answers are worked out by hand."""

import math

import pandas as pd
import pytest

from analysis import advise, aggregate, classify, select_model


def _seed_rows(values, *, temperature=10, density=0.05):
    # One row per dense seed: (test_acc, mc, cka), two copies each.
    return [{"knob": "epochs", "temperature": temperature, "density": density, "dense_seed": s, "status": "ok",
             "n_copies": 2, "test_acc": a, "lmc": m, "cka": c, "test_acc_copy0": a, "test_acc_copy1": a,
             "lmc_pair0_1": m, "cka_pair0_1": c} for s, (a, m, c) in enumerate(values)]


def test_over_dense_seeds_the_se_is_the_sample_std_over_root_seeds():
    cells = aggregate(pd.DataFrame(_seed_rows([(0.80, -0.30, 0.90), (0.84, -0.10, 0.94), (0.82, -0.20, 0.92)])))
    row = cells.iloc[0]
    # values 0.80, 0.84, 0.82: sample std 0.02, / sqrt(3); mc -0.3, -0.1, -0.2: std 0.1 / sqrt(3)
    assert row.test_acc == pytest.approx(0.82) and row.test_acc_se == pytest.approx(0.02 / math.sqrt(3))
    assert row.lmc_se == pytest.approx(0.1 / math.sqrt(3)) and row.cka_se == pytest.approx(0.02 / math.sqrt(3))
    assert row.se_basis == "seeds" and row.n_seeds == 3


def test_with_one_seed_copies_give_the_se_and_pairs_count_as_disjoint_pairs():
    row = {"knob": "epochs", "temperature": 10, "density": 0.05, "dense_seed": 0, "status": "ok", "n_copies": 4,
           "test_acc": 0.85, "lmc": -0.2, "cka": 0.9}
    row.update({f"test_acc_copy{k}": v for k, v in enumerate([0.80, 0.84, 0.86, 0.90])})
    pairs = {(0, 1): -0.1, (0, 2): -0.2, (0, 3): -0.3, (1, 2): -0.1, (1, 3): -0.2, (2, 3): -0.3}
    row.update({f"lmc_pair{i}_{j}": v for (i, j), v in pairs.items()})
    row.update({f"cka_pair{i}_{j}": 0.9 for i, j in pairs})
    out = aggregate(pd.DataFrame([row])).iloc[0]
    # copies: 0.80 0.84 0.86 0.90, sample std 0.04163, over sqrt(4)
    assert out.test_acc_se == pytest.approx(pd.Series([0.80, 0.84, 0.86, 0.90]).std() / 2)
    # six pairs from 4 copies are 2 independent ones: sample std of the pairs over sqrt(2)
    assert out.lmc_se == pytest.approx(pd.Series(list(pairs.values())).std() / math.sqrt(2))
    assert out.cka_se == 0.0 and out.se_basis == "copies"
    two = aggregate(pd.DataFrame(_seed_rows([(0.8, -0.3, 0.9)]))).iloc[0]
    assert math.isnan(two.lmc_se)  # two copies make one pair: no spread to measure


def _cells(rows, confidence):
    table = pd.DataFrame([{"knob": "epochs", "temperature": t, "density": 0.05, "test_acc": a, "lmc": m,
                           "lmc_se": s, "cka": c, "cka_se": 0.001, "test_acc_se": 0.01, "status": "ok"}
                          for t, a, m, s, c in rows])
    return classify(table, mc_threshold=-0.1, cka_eps=0.005, confidence=confidence)


def test_a_call_within_confidence_standard_errors_of_the_threshold_is_uncertain():
    # (temperature, test_acc, mc, mc SE, cka); threshold -0.1, confidence 2
    cells = _cells([(10, 0.80, -0.30, 0.05, 0.90),   # -0.30 + 2 * 0.05 = -0.20 < -0.1: I
                    (20, 0.82, -0.15, 0.05, 0.95),   # -0.15 + 0.10 = -0.05 >= -0.1: I?
                    (30, 0.84, -0.05, 0.05, 0.96),   # -0.05 - 0.10 = -0.15 < -0.1: II?
                    (40, 0.85, 0.00, 0.02, 0.99),    # 0.00 - 0.04 >= -0.1: II, best CKA: II-B
                    (50, 0.83, 0.00, float("nan"), 0.97)], confidence=2)  # no SE: II?
    assert list(cells.regime) == ["I", "I?", "II?", "II-B", "II?"]
    assert list(cells.regime_point) == ["I", "I", "II-A", "II-B", "II-A"]
    plain = _cells([(10, 0.80, -0.30, 0.05, 0.90), (20, 0.82, -0.15, 0.05, 0.95)], confidence=0)
    assert list(plain.regime) == ["I", "I"]  # confidence 0: the point estimates alone


def test_advice_on_an_uncertain_cell_says_it_is_within_noise():
    cells = _cells([(10, 0.80, -0.15, 0.05, 0.90), (40, 0.85, 0.00, 0.02, 0.99)], confidence=2)
    answer = advise(cells, density=0.05, temperature=10)
    assert answer["regime"] == "I?" and answer["direction"] == "unclear"
    assert answer["advice"].startswith("within noise: mc -0.150 +- 0.050 is within 2 standard errors")


def test_select_names_the_temperatures_it_cannot_tell_apart():
    # CKA 0.990 +- 0.002 vs 0.986 +- 0.002: difference 0.004 <= 2 * sqrt(2) * 0.002 = 0.0057: tied.
    # 0.970: difference 0.020, clearly worse.
    table = pd.DataFrame([{"knob": "epochs", "temperature": t, "density": 0.02, "test_acc": a, "test_acc_se": 0.01,
                           "lmc": 0.0, "lmc_se": 0.001, "cka": c, "cka_se": 0.002, "status": "ok"}
                          for t, a, c in [(19, 0.60, 0.986), (24, 0.63, 0.990), (40, 0.58, 0.970)]])
    cells = classify(table, mc_threshold=-0.1, cka_eps=0.005, confidence=2)
    answer = select_model(cells, density=0.02)
    assert answer["temperature"] == 24 and answer["indistinguishable_from"] == [19.0]
    assert answer["regret"] == 0.0 and answer["regret_se"] == 0.0  # the chosen cell is the best
    assert answer["gain_over_coldest"] == pytest.approx(0.05) and answer["gain_se"] == pytest.approx(
        math.sqrt(2) * 0.01)


def test_advice_on_a_cell_without_a_standard_error_says_what_it_takes():
    cells = _cells([(10, 0.80, -0.30, float("nan"), 0.90)], confidence=2)
    answer = advise(cells, density=0.05, temperature=10)
    assert answer["regime"] == "I?" and answer["advice"].startswith("within noise: mc -0.300 has no standard error")


def test_three_copies_make_one_independent_pair_and_two_copies_give_an_accuracy_se():
    # K = 3: three pairs but floor(3 / 2) = 1 disjoint pair, so mc's SE is the pairs' std over sqrt(1).
    from analysis.uncertainty import within_seed_se

    row = pd.Series({"n_copies": 3, "test_acc_copy0": 0.75, "test_acc_copy1": 0.875, "test_acc_copy2": 1.0,
                     "lmc_pair0_1": -0.25, "lmc_pair0_2": 0.0, "lmc_pair1_2": 0.25,
                     "cka_pair0_1": 0.5, "cka_pair0_2": 0.5, "cka_pair1_2": 0.5})
    se = within_seed_se(row)
    assert se["lmc_se"] == pytest.approx(0.25)  # std of -0.25, 0, 0.25 is 0.25; / sqrt(1)
    assert se["test_acc_se"] == pytest.approx(0.125 / math.sqrt(3))  # std 0.125 over sqrt(3)
    two = within_seed_se(pd.Series({"n_copies": 2, "test_acc_copy0": 0.75, "test_acc_copy1": 1.0}))
    assert two["test_acc_se"] == pytest.approx(0.125)  # |a - b| / sqrt(2), / sqrt(2)
    # Pairs whose number of copies is unknown: no independent pair, no SE (not a division by zero).
    unknown = within_seed_se(pd.Series({"lmc_pair0_1": -0.25, "lmc_pair0_2": 0.0}))
    assert math.isnan(unknown["lmc_se"]) and math.isnan(unknown["cka_se"])


def test_two_dense_seeds_are_enough_for_a_seed_based_se():
    cells = aggregate(pd.DataFrame(_seed_rows([(0.75, -0.25, 0.5), (1.0, 0.25, 0.75)])))
    row = cells.iloc[0]
    assert row.se_basis == "seeds"
    assert (row.test_acc_se, row.lmc_se, row.cka_se) == pytest.approx((0.125, 0.25, 0.125))  # |a - b| / 2


def test_mc_calls_at_the_threshold_and_at_the_edge_of_the_confidence_band():
    from analysis.uncertainty import mc_call

    assert mc_call(-0.125, math.nan, mc_threshold=-0.125, confidence=0) == "II"  # at the threshold: Regime II
    # Binary-exact edge: |-0.25 - (-0.125)| = 0.125 = 2 x 0.0625 is within the band: uncertain.
    assert mc_call(-0.25, 0.0625, mc_threshold=-0.125, confidence=2) == "I?"
    assert mc_call(-0.3125, 0.0625, mc_threshold=-0.125, confidence=2) == "I"
    # A confidence below 1 is still a band: 0.05 from the threshold within 0.5 x 0.2.
    assert mc_call(-0.15, 0.2, mc_threshold=-0.1, confidence=0.5) == "I?"


def test_indistinguishable_values_at_confidence_zero_below_one_and_at_the_edge():
    from analysis.uncertainty import indistinguishable

    assert indistinguishable(0.5, 0.1, 0.5, 0.1, confidence=0)  # equal values
    assert not indistinguishable(0.5, math.nan, 0.6, math.nan, confidence=0)  # unequal, SEs unknown
    assert indistinguishable(0.5, 0.1, 0.55, 0.1, confidence=0.5)  # 0.05 <= 0.5 x 0.1414
    # Binary-exact edge: sqrt(0.375^2 + 0.5^2) = 0.625 = |0 - 0.625|: within one SE of the difference.
    assert indistinguishable(0.0, 0.375, 0.625, 0.5, confidence=1)
    assert not indistinguishable(0.0, 0.375, 0.6875, 0.5, confidence=1)


def test_one_standard_error_and_one_notation_for_it():
    from analysis.uncertainty import combined_se, pm, se_of, standard_error

    # By hand: 0.80, 0.84, 0.88 have sample std 0.04 (ddof 1); over sqrt(3): 0.023094.
    assert math.isclose(standard_error([0.80, 0.84, float("nan"), 0.88]), 0.04 / math.sqrt(3))
    # Three pairs' values sharing copies, over floor(4/2) = 2 independent pairs: 0.04 / sqrt(2).
    assert math.isclose(standard_error([0.80, 0.84, 0.88], 2), 0.04 / math.sqrt(2))
    assert math.isnan(standard_error([0.8])) and math.isnan(standard_error([0.8, 0.9], 0))
    assert math.isclose(combined_se(0.03, 0.04), 0.05) and math.isnan(combined_se(0.03, float("nan")))
    assert se_of(pd.Series({"lmc": 0.1, "lmc_se": 0.02}), "lmc") == 0.02
    assert math.isnan(se_of(pd.Series({"lmc": 0.1}), "lmc")) and math.isnan(se_of({"lmc_se": None}, "lmc"))
    assert pm(0.01, 0.002, digits=3, sign="+") == "+0.010 +- 0.002"
    assert pm(0.01, 0.002, digits=3, sign="+", html=True) == "+0.010 &plusmn; 0.002"
    assert pm(0.5, float("nan")) == "0.5000" and pm(0.5, None, missing=" (no SE)") == "0.5000 (no SE)"


def test_the_side_of_a_call_and_which_calls_are_unresolved():
    from analysis.uncertainty import UNRESOLVED, is_sure, mc_side

    sides = {r: mc_side(r) for r in ("I", "I?", "II-A", "II-B", "II?", "I|II", "n/a")}
    assert sides == {"I": "I", "I?": "I", "II-A": "II", "II-B": "II", "II?": "II", "I|II": None, "n/a": None}
    assert UNRESOLVED == ("I?", "II?") and [r for r in sides if is_sure(r)] == ["I", "II-A", "II-B"]
