"""The study's own check of its advice, on a hand-made table with answers worked out by hand."""

import pandas as pd
import pytest

from analysis.validate import at_least, select_regrets, validate_advice, wilson_interval


def _table(rows):
    return pd.DataFrame([{"knob": "epochs", "temperature": t, "density": 0.05, "test_acc": a, "regime": r}
                         for t, a, r in rows])


def test_agreement_random_rate_and_exact_p_value_by_hand():
    cells = _table([(10, 0.80, "II-A"),   # colder neighbour 20 is better: agrees; only direction: chance 1
                    (20, 0.85, "II-A"),   # colder 30 (0.84) is worse: disagrees; neither neighbour better: 0
                    (30, 0.84, "I"),      # hotter 20 (0.85) is better: agrees; colder 40 is worse: chance 1/2
                    (40, 0.83, "II-B"),   # no direction: not advised
                    (50, 0.90, "I?")])    # uncertain: not advised
    result = validate_advice(cells)
    assert (result["advised"], result["agreed"]) == (3, 2) and result["rate"] == pytest.approx(2 / 3)
    assert result["random_rate"] == pytest.approx((1 + 0 + 0.5) / 3)
    # random agreements: 1 + 0 + Bernoulli(1/2), so P(>= 2) = 1/2
    assert result["p_value"] == pytest.approx(0.5)
    assert result["ci95"] == pytest.approx([0.2077, 0.9385], abs=1e-4)  # Wilson, z = 1.96, by hand
    assert [c["neighbour"] for c in result["cells"]] == [20.0, 30.0, 20.0]


def test_exact_tail_of_coin_flips_and_the_wilson_interval_edges():
    assert at_least(4, [0.5] * 4) == pytest.approx(1 / 16)
    assert at_least(0, [0.3, 0.9]) == 1.0 and at_least(2, [0.3, 0.9]) == pytest.approx(0.27)
    low, high = wilson_interval(10, 10)
    assert high == pytest.approx(1.0) and low == pytest.approx(0.7225, abs=1e-4)


def test_select_regrets_per_density_report_a_missing_regime_two():
    cells = pd.DataFrame([{"knob": "epochs", "temperature": t, "density": d, "test_acc": a, "test_acc_se": 0.01,
                           "lmc": m, "cka": c, "regime": r, "regime_point": r, "mc_threshold": -0.1,
                           "cka_eps": 0.005, "confidence": 2.0}
                          for t, d, a, m, c, r in [(10, 0.05, 0.80, 0.0, 0.99, "II-B"), (40, 0.05, 0.85, 0.0, 0.95, "II-A"),
                                                   (10, 0.02, 0.50, -0.3, 0.9, "I"), (40, 0.02, 0.55, -0.3, 0.9, "I")]])
    rows = {r["density"]: r for r in select_regrets(cells)}
    assert rows[0.02]["temperature"] is None and "no Regime-II cell" in rows[0.02]["error"]
    assert rows[0.05]["temperature"] == 10 and rows[0.05]["regret"] == pytest.approx(0.05)
    assert rows[0.05]["regret_se"] == pytest.approx(2 ** 0.5 * 0.01) and rows[0.05]["gain_over_coldest"] == \
        pytest.approx(-0.05)


def _advised_table(rows):
    # (lr, test_acc, regime) at one density; the lr knob: the largest lr is the hottest.
    return pd.DataFrame([{"knob": "lr", "temperature": t, "density": 0.1, "test_acc": a, "regime": r}
                         for t, a, r in rows])


def test_a_regime_one_cell_at_the_hottest_temperature_has_no_hotter_neighbour():
    # Regime I advises "hotter"; lr 0.2 is the hottest of the grid, so the cell is not advised at all.
    # Wrapping the index around would judge it against the coldest, lr 0.05 (0.90 > 0.80: "agreed").
    check = validate_advice(_advised_table([(0.2, 0.80, "I"), (0.1, 0.85, "II-B"), (0.05, 0.90, "II-B")]))
    assert (check["advised"], check["agreed"]) == (0, 0)


def test_random_directions_are_weighed_by_the_neighbours_each_cell_has():
    # lr 0.4 (II-A, the hottest): only a colder neighbour, 0.75 > 0.70, so a random direction agrees
    # surely (chance 1). lr 0.1 (I): hotter 0.75 > 0.72 agrees, colder 0.60 does not (chance 1/2).
    # Both advised cells agree: random_rate (1 + 0.5) / 2 = 0.75, p = P(both agree) = 1 x 0.5 = 0.5.
    check = validate_advice(_advised_table([(0.4, 0.70, "II-A"), (0.2, 0.75, "II-B"), (0.1, 0.72, "I"),
                                            (0.05, 0.60, "II-B")]))
    assert (check["advised"], check["agreed"]) == (2, 2)
    assert check["random_rate"] == 0.75 and check["p_value"] == 0.5


def test_each_advised_cell_is_described_and_a_tie_is_not_an_agreement():
    # lr 0.2 (I, the second hottest) has a hotter neighbour, lr 0.4 with the same accuracy: a tie does not
    # agree. lr 0.8 (II-A, the hottest) is listed first and has a colder neighbour (0.4, 0.70 > 0.60).
    import math

    check = validate_advice(_advised_table([(0.8, 0.60, "II-A"), (0.4, 0.70, "II-B"), (0.2, 0.70, "I")]))
    assert check["cells"] == [
        {"density": 0.1, "temperature": 0.8, "regime": "II-A", "direction": "colder", "neighbour": 0.4,
         "agreed": True},
        {"density": 0.1, "temperature": 0.2, "regime": "I", "direction": "hotter", "neighbour": 0.4,
         "agreed": False}]
    nothing = validate_advice(_advised_table([(0.2, 0.80, "I")]))  # one cell: nothing to check, no p-value
    assert nothing["advised"] == 0 and math.isnan(nothing["p_value"]) and math.isnan(nothing["random_rate"])


def test_a_cell_without_a_neighbour_in_its_direction_does_not_end_the_check_of_its_density():
    # Rows in this order: lr 0.05 (II-A, the coldest: no colder neighbour) first, then lr 0.1 (I, hotter 0.2
    # is better): the second is still advised.
    check = validate_advice(_advised_table([(0.05, 0.60, "II-A"), (0.1, 0.70, "I"), (0.2, 0.80, "II-B")]))
    assert (check["advised"], check["agreed"]) == (1, 1)


def test_the_chance_of_at_least_k_agreements_by_hand():
    # Chances 0.3, 0.6, 0.9: P(all three) = 0.162; P(exactly two) = 0.3*0.6*0.1 + 0.3*0.4*0.9 + 0.7*0.6*0.9 = 0.504;
    # P(none) = 0.7*0.4*0.1 = 0.028, so P(>= 1) = 0.972.
    assert at_least(3, [0.3, 0.6, 0.9]) == pytest.approx(0.162)
    assert at_least(2, [0.3, 0.6, 0.9]) == pytest.approx(0.666)
    assert at_least(1, [0.3, 0.6, 0.9]) == pytest.approx(0.972)
    assert at_least(0, [0.3, 0.6, 0.9]) == pytest.approx(1.0)


def test_the_validation_text_by_hand():
    from analysis.validate import validation_lines

    answer = {"density": 0.05, "by": "val", "temperature": 0.1, "regime": "II-B", "test_acc": 0.9, "regret": 0.02,
              "regret_se": 0.03, "gain_over_coldest": 0.1, "gain_se": 0.01, "indistinguishable_from": [0.05, 0.2]}
    other = {**answer, "density": 0.5, "temperature": 0.2, "regret": 0.04, "regret_se": 0.04,
             "indistinguishable_from": []}
    failed = {"density": 0.05, "by": "regime", "temperature": None, "error": "no Regime-II cell at density 0.05"}
    check = {"advised": 3, "agreed": 2, "rate": 2 / 3, "ci95": [0.2, 0.9], "random_rate": 0.5, "p_value": 0.5}
    lines = validation_lines(check, {"val": [answer, other], "regime": [failed, {**other, "by": "regime"}]}, knob="lr")
    assert lines == [
        "advice agrees with the study's own accuracies in 2 of 3 advised cells (67%, 95 % interval 20%-90%); random "
        "directions would agree 50% on this table: p = 0.5",
        "select at each density, by criterion (test-accuracy regret against the grid's best, gain over the coldest "
        "model, +- standard errors):",
        "  density 0.05:",
        "    val        lr 0.1 (II-B), regret +0.0200 +- 0.0300, gain +0.1000 +- 0.0100; indistinguishable from "
        "0.05, 0.2",
        "    regime     no Regime-II cell at density 0.05",
        "  density 0.5:",
        "    val        lr 0.2 (II-B), regret +0.0400 +- 0.0400, gain +0.1000 +- 0.0100",
        "    regime     lr 0.2 (II-B), regret +0.0400 +- 0.0400, gain +0.1000 +- 0.0100",
        # val: mean (0.02 + 0.04) / 2, SE sqrt(0.03^2 + 0.04^2) / 2 = 0.025; regime: one answered
        "mean regret over the densities answered: val 0.0300 +- 0.0250 (2 of 2); regime 0.0400 +- 0.0400 (1 of 2)"]
    nothing = validation_lines({**check, "advised": 0}, {"val": [answer]}, knob="lr")
    assert nothing[0] == "no confidently advised cell has a neighbour in its direction: nothing to check"


def test_a_density_the_criterion_cannot_answer_is_a_row_that_says_why():
    cells = pd.DataFrame([{"knob": "epochs", "temperature": t, "density": 0.05, "test_acc": 0.8, "lmc": -0.5,
                           "cka": 0.9, "regime": "I", "status": "ok"} for t in (10, 20)])
    [row] = select_regrets(cells, by="regime")
    assert set(row) == {"density", "by", "temperature", "error"}
    assert (row["density"], row["by"], row["temperature"]) == (0.05, "regime", None) and row["error"]
