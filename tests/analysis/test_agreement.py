"""Two studies of one grid checked against each other, on classified tables made by hand."""

import math

import pandas as pd

from analysis.agreement import agreement_lines, answer_agreement, map_agreement, rank_agreement


def _cells(rows):
    # (temperature, density, regime, test_acc, test_acc_se, cka)
    return pd.DataFrame([{"knob": "epochs", "temperature": t, "density": d, "regime": r,
                          "regime_point": r.rstrip("?") if r != "II?" else "II-B", "test_acc": a, "test_acc_se": se,
                          "cka": c, "cka_se": 0.001, "lmc": 0.0, "lmc_se": 0.01, "status": "ok", "confidence": 2.0,
                          "mc_threshold": -0.1, "cka_eps": 0.005}
                         for t, d, r, a, se, c in rows])


REFERENCE = _cells([(10, 0.1, "II-A", 0.70, 0.01, 0.90), (20, 0.1, "II-B", 0.80, 0.01, 0.99),
                    (30, 0.1, "I", 0.60, 0.01, 0.95), (40, 0.1, "I?", 0.55, 0.01, 0.93)])


def test_the_map_counts_sure_and_uncertain_cells_apart():
    other = _cells([(10, 0.1, "II-A", 0.68, 0.01, 0.90), (20, 0.1, "II-B", 0.79, 0.01, 0.99),
                    (30, 0.1, "II-B", 0.61, 0.01, 0.99), (40, 0.1, "I", 0.50, 0.01, 0.93)])
    m = map_agreement(REFERENCE, other)
    # Sure in both: 10, 20, 30 (II-A = II-A, II-B = II-B, I != II-B): 2 of 3. Uncertain in either: 40
    # (I? against I: the point estimates agree).
    assert (m["sure"], m["sure_equal"], m["uncertain"], m["uncertain_point_equal"]) == (3, 2, 1, 1)
    assert m["point_share"] == 3 / 4
    # Test accuracies rank 2, 3, 1, 0 in the reference and 2, 3, 1, 0 in the other: rho = 1.
    (r,) = rank_agreement(REFERENCE, other)
    assert r["rho"] == 1.0 and r["n"] == 4


def test_answers_agree_when_the_reference_cannot_tell_the_picks_apart():
    # By regime (highest CKA in Regime II): the reference picks 20 (CKA 0.99). The other's CKA is highest at 30:
    # its pick 30 is 0.20 lower in the reference, far beyond the SE of the difference (0.014): they differ.
    other = _cells([(10, 0.1, "II-A", 0.68, 0.01, 0.90), (20, 0.1, "II-B", 0.79, 0.01, 0.98),
                    (30, 0.1, "II-B", 0.61, 0.01, 0.99), (40, 0.1, "I", 0.50, 0.01, 0.93)])
    (a,) = answer_agreement(REFERENCE, other)
    assert (a["reference"], a["other"], a["agree"]) == (20, 30, False)
    assert math.isclose(a["loss"], 0.20) and math.isclose(a["loss_se"], math.hypot(0.01, 0.01))
    # The reference's 10 within one SE of its 20 (0.795 +- 0.01 against 0.80): a pick of 10 agrees.
    close = REFERENCE.assign(test_acc=[0.795, 0.80, 0.60, 0.55])
    other_10 = close.assign(cka=[0.999, 0.99, 0.95, 0.93], regime=["II-B", "II-B", "I", "I?"])
    (b,) = answer_agreement(close, other_10)
    assert (b["reference"], b["other"], b["agree"]) == (20, 10, True)
    assert "agree" in agreement_lines({"map": map_agreement(close, other_10), "ranking": [], "answers": [b]},
                                      reference="full", other="short", knob="epochs")[-1]
