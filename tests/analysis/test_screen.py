"""What a screen rules out, on classified tables written by hand."""

import pandas as pd

from analysis.screen import kept_temperatures


def _cells(rows, density=0.05):
    # (epochs, regime, val_acc, val_acc_se, cka); epochs: 10 is the hottest, 50 the coldest.
    return pd.DataFrame([{"knob": "epochs", "temperature": t, "density": density, "regime": r,
                          "regime_point": r.rstrip("?") if r != "II?" else "II-B", "val_acc": v, "val_acc_se": se,
                          "cka": c, "cka_se": 0.002, "status": "diverged" if v is None else "ok"}
                         for t, r, v, se, c in rows])


ROWS = [(10, "II-A", 0.70, 0.01, 0.90), (20, "II-B", 0.80, 0.01, 0.990), (30, "II-B", 0.79, 0.01, 0.995),
        (40, "I", 0.81, 0.01, 0.95), (50, "I", 0.60, 0.01, 0.93)]


def test_by_val_the_cells_within_a_standard_error_of_the_best_and_not_regime_one_colder():
    # Best validation accuracy: 40 (0.81), but it is Regime I colder than the Regime-II cells 10-30: out,
    # as is 50. Among the rest the best is 0.81 (the pool is every cell under val): 20 (0.80, 0.01 below,
    # within hypot(0.01, 0.01) = 0.014) stays, 30 (0.79, 0.02 below) and 10 go.
    assert kept_temperatures(_cells(ROWS), density=0.05, by="val") == [20.0]


def test_by_regime_the_highest_cka_in_regime_two_and_its_ties():
    # Regime II: 10, 20, 30; best CKA 0.995 at 30; 20 is 0.005 below, beyond hypot(0.002, 0.002) = 0.0028: out.
    assert kept_temperatures(_cells(ROWS), density=0.05, by="regime") == [30.0]
    # By regime+val, the best validation accuracy in Regime II is 20 (0.80); 30 (0.79) within 0.014 stays.
    assert kept_temperatures(_cells(ROWS), density=0.05, by="regime+val") == [20.0, 30.0]


def test_unknown_standard_errors_and_an_all_regime_one_density_rule_nothing_out():
    unknown = [(t, r, v, float("nan"), c) for t, r, v, _, c in ROWS]
    # Without SEs only the colder-than rule acts: 40 and 50 are out.
    assert kept_temperatures(_cells(unknown), density=0.05, by="val") == [10.0, 20.0, 30.0]
    all_one = [(t, "I", v, se, c) for t, _, v, se, c in ROWS]
    assert kept_temperatures(_cells(all_one), density=0.05, by="regime") == [10.0, 20.0, 30.0, 40.0, 50.0]
    diverged = ROWS[:4] + [(50, "n/a", None, None, None)]
    assert 50.0 not in kept_temperatures(_cells(diverged), density=0.05, by="val")
