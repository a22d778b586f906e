import pandas as pd
import pytest

from analysis import AdviceError, advise, classify, recommend_rho, select_model


def _cells(rows, knob="epochs"):
    table = pd.DataFrame([{"knob": knob, "temperature": t, "density": d, "test_acc": a, "lmc": m, "cka": c,
                           "status": "ok"} for t, d, a, m, c in rows])
    return classify(table, mc_threshold=-0.2, cka_eps=0.005, confidence=0)


EPOCHS = _cells([(20, 0.05, 0.84, -0.05, 0.970), (60, 0.05, 0.855, -0.10, 0.990), (160, 0.05, 0.826, -0.60, 0.985),
                 (20, 0.8, 0.90, 0.0, 0.980), (60, 0.8, 0.92, 0.0, 0.992), (160, 0.8, 0.923, 0.0, 0.995)])


@pytest.mark.parametrize("temperature,density,regime,words", [
    (160, 0.05, "I", "train fewer epochs"), (20, 0.05, "II-A", "train more epochs"),
    (60, 0.05, "II-B", "keep this setting")])
def test_advise_gives_the_direction_in_the_knobs_words(temperature, density, regime, words):
    answer = advise(EPOCHS, density=density, temperature=temperature)
    assert answer["regime"] == regime and answer["advice"].startswith(words)


def test_advise_uses_each_knobs_words():
    cells = _cells([(0.1, 0.05, 0.8, -0.5, 0.9), (0.8, 0.05, 0.85, 0.0, 0.99)], knob="sam_rho")
    assert advise(cells, density=0.05, temperature=0.1)["advice"] == "use a larger SAM rho"
    cells = _cells([(16, 0.05, 0.8, 0.0, 0.9), (512, 0.05, 0.85, 0.0, 0.99)], knob="batch_size")
    assert advise(cells, density=0.05, temperature=16)["advice"] == "use a larger batch size"


def test_select_picks_the_regime_two_cell_with_best_cka_and_reports_regret_and_gain():
    answer = select_model(EPOCHS, density=0.05)
    assert answer["temperature"] == 60 and answer["regime"] == "II-B"
    assert answer["regret"] == pytest.approx(0.0) and answer["gain_over_coldest"] == pytest.approx(0.855 - 0.826)
    high = select_model(EPOCHS, density=0.8)
    assert high["temperature"] == 160 and high["regret"] == pytest.approx(0.0)


def test_select_with_regret_when_the_best_accuracy_is_elsewhere():
    cells = _cells([(20, 0.1, 0.90, 0.0, 0.999), (60, 0.1, 0.93, 0.0, 0.980)])
    answer = select_model(cells, density=0.1)
    assert answer["temperature"] == 20 and answer["regret"] == pytest.approx(0.03)
    assert answer["gain_over_coldest"] == pytest.approx(-0.03)


def test_select_says_so_when_every_cell_has_a_barrier():
    cells = _cells([(20, 0.02, 0.5, -0.4, 0.9), (60, 0.02, 0.5, -0.5, 0.9)])
    with pytest.raises(AdviceError, match="no Regime-II cell at density 0.02"):
        select_model(cells, density=0.02)


def test_off_grid_questions_name_the_grid():
    with pytest.raises(AdviceError, match="its densities are 0.05, 0.8"):
        advise(EPOCHS, density=0.1, temperature=60)
    with pytest.raises(AdviceError, match="its temperatures are 20, 60, 160"):
        advise(EPOCHS, density=0.05, temperature=70)


def test_recommend_rho_interpolates_on_log_density():
    # rho 0.1 is connected at 0.04 but not at 0.16; rho 0.5 is connected at both with lower CKA at 0.04.
    cells = _cells([(0.1, 0.04, 0.86, -0.05, 0.990), (0.5, 0.04, 0.85, -0.01, 0.970),
                    (0.1, 0.16, 0.90, -0.45, 0.980), (0.5, 0.16, 0.91, 0.00, 0.995)], knob="sam_rho")
    on_grid = recommend_rho(cells, density=0.04, mc_threshold=-0.2, cka_eps=0.005, confidence=0)
    assert on_grid["temperature"] == 0.1 and on_grid["interpolated_between"] is None
    # 0.08 is the log-midpoint of 0.04 and 0.16: rho 0.1 has mc -0.25 (Regime I), rho 0.5 mc -0.005.
    mid = recommend_rho(cells, density=0.08, mc_threshold=-0.2, cka_eps=0.005, confidence=0)
    assert mid["interpolated_between"] == [0.04, 0.16]
    assert mid["temperature"] == 0.5 and mid["lmc"] == pytest.approx(-0.005)
    assert mid["test_acc"] == pytest.approx(0.88)
    with pytest.raises(AdviceError, match="outside"):
        recommend_rho(cells, density=0.5, mc_threshold=-0.2, cka_eps=0.005, confidence=0)
    with pytest.raises(AdviceError, match="needs a SAM-rho study"):
        recommend_rho(EPOCHS, density=0.05, mc_threshold=-0.2, cka_eps=0.005, confidence=0)


# One density, three temperatures (epochs: 10 hottest). By hand: the paper's rule takes the
# Regime-II cell with the highest CKA (10, test 0.81); validation accuracy alone the best
# validation cell (40, Regime I, test 0.88); both together the best validation cell in Regime II
# (20, test 0.85). Regret against the best test accuracy (0.88): 0.07, 0, 0.03.
def _with_validation():
    table = pd.DataFrame([{"knob": "epochs", "temperature": t, "density": 0.05, "test_acc": a, "val_acc": v,
                           "lmc": m, "cka": c, "status": "ok"}
                          for t, a, v, m, c in [(10, 0.81, 0.80, 0.0, 0.99), (20, 0.85, 0.86, 0.0, 0.95),
                                                (40, 0.88, 0.90, -0.5, 0.97)]])
    return classify(table, mc_threshold=-0.2, cka_eps=0.005, confidence=0)


@pytest.mark.parametrize("by,temperature,regret", [("regime", 10, 0.07), ("val", 40, 0.0), ("regime+val", 20, 0.03)])
def test_select_answers_by_the_named_criterion_and_scores_on_test(by, temperature, regret):
    answer = select_model(_with_validation(), density=0.05, by=by)
    assert (answer["by"], answer["temperature"]) == (by, temperature)
    assert answer["regret"] == pytest.approx(regret) and answer["gain_over_coldest"] == pytest.approx(
        answer["test_acc"] - 0.88)  # the coldest model is the 40-epoch one


def test_answering_by_validation_needs_a_split_and_an_unknown_criterion_is_named():
    with pytest.raises(AdviceError, match="needs a validation split and this study has none"):
        select_model(EPOCHS, density=0.05, by="val")
    no_split = _with_validation().assign(val_acc=float("nan"))
    with pytest.raises(AdviceError, match="needs a validation split"):
        select_model(no_split, density=0.05, by="regime+val")
    with pytest.raises(AdviceError, match="unknown criterion 'test'"):
        select_model(_with_validation(), density=0.05, by="test")


def test_validate_puts_every_criterion_side_by_side():
    from analysis.validate import criteria_regrets, validate_advice, validation_lines

    cells = _with_validation()
    regrets = criteria_regrets(cells)
    assert list(regrets) == ["regime", "val", "regime+val"] and list(criteria_regrets(EPOCHS)) == ["regime"]
    lines = validation_lines(validate_advice(cells), regrets, knob="epochs")
    block = lines[lines.index("  density 0.05:") + 1:lines.index("  density 0.05:") + 4]
    assert [line.split()[0:3] for line in block] == [["regime", "epochs", "10"], ["val", "epochs", "40"],
                                                     ["regime+val", "epochs", "20"]]
    assert lines[-1].startswith("mean regret over the densities answered: regime 0.0700")


def _with_se(rows, knob="lr", confidence=0.0, mc_threshold=-0.2):
    # (temperature, density, test_acc, test_acc_se, lmc, lmc_se, cka)
    table = pd.DataFrame([{"knob": knob, "temperature": t, "density": d, "test_acc": a, "test_acc_se": a_se,
                           "lmc": m, "lmc_se": m_se, "cka": c, "cka_se": 0.001, "status": "ok"}
                          for t, d, a, a_se, m, m_se, c in rows])
    return classify(table, mc_threshold=mc_threshold, cka_eps=0.005, confidence=confidence)


def test_select_names_its_caveats_the_hot_edge_a_better_model_missed_and_no_gain_over_the_coldest():
    cells = _with_se([(0.01, 0.1, 0.80, 0.01, 0.0, 0.01, 0.95), (0.05, 0.1, 0.90, 0.01, 0.0, 0.01, 0.96),
                      (0.1, 0.1, 0.81, 0.01, 0.0, 0.01, 0.99)])
    answer = select_model(cells, density=0.1)
    assert answer["temperature"] == 0.1
    # regret 0.90 - 0.81 = 0.09 with SE sqrt(0.01^2 + 0.01^2) = 0.0141: 6.4 SE; gain 0.81 - 0.80 = 0.01: within 2 SE
    assert answer["caveats"] == [
        "lr 0.1 is the hottest of the grid: a hotter model may do better (use a larger learning rate than the grid "
        "has to see; extend study.temperatures)",
        "its test accuracy is 0.0900 +- 0.0141 below the grid's best at this density (lr 0.05), 6.4 standard "
        "errors: the criterion (regime) missed a better model",
        "no better than the coldest model (lr 0.01) within noise: gain +0.0100 +- 0.0141"]


def test_recommend_rho_says_when_its_pick_does_no_better_than_plain_sgd():
    se = 0.0465 / 2 ** 0.5  # so that the SE of a difference of two cells is 0.0465
    cells = _with_se([(0.0, 0.05, 0.85, se, 0.0, 0.01, 0.95), (0.1, 0.05, 0.8427, se, 0.0, 0.01, 0.99),
                      (0.2, 0.05, 0.80, se, 0.0, 0.01, 0.97)], knob="sam_rho")
    answer = recommend_rho(cells, density=0.05, mc_threshold=-0.2, cka_eps=0.005, confidence=0)
    assert answer["temperature"] == 0.1
    assert answer["caveats"] == ["no better than plain SGD (rho 0) within noise: gain -0.0073 +- 0.0465"]


def test_without_standard_errors_the_answer_says_nothing_is_called_within_noise():
    answer = select_model(EPOCHS, density=0.05)
    assert answer["caveats"] == ["no standard errors for test accuracy: nothing here is called within or beyond "
                                 "noise; add dense seeds (or copies)"]


def test_a_refusal_counts_the_sure_and_the_uncertain_barriers():
    from analysis.advice import NoAnswer

    # mc -0.25 +- 0.05 is within 2 SE of the threshold -0.2 (I?); -0.5 +- 0.01 is not (I)
    cells = _with_se([(0.01, 0.02, 0.5, 0.01, -0.5, 0.01, 0.9), (0.1, 0.02, 0.5, 0.01, -0.25, 0.05, 0.9)],
                     confidence=2)
    with pytest.raises(NoAnswer) as err:
        select_model(cells, density=0.02)
    assert str(err.value) == ("no Regime-II cell at density 0.02: 1 cell in Regime I and 1 called I? (a barrier "
                              "within noise of the threshold); add dense seeds (or copies) to call them, or use a "
                              "larger learning rate than the grid's hottest (lr 0.1)")


def test_advise_answers_whole_for_each_call():
    # lr knob, threshold -0.2, confidence 2. (temperature, density, test_acc, test_acc SE, mc, mc SE, cka)
    cells = _with_se([(0.4, 0.1, 0.70, 0.01, -0.60, 0.01, 0.90),   # I: train hotter
                      (0.2, 0.1, 0.80, 0.01, -0.25, 0.05, 0.95),   # within 2 SE of -0.2: I?
                      (0.1, 0.1, 0.85, 0.01, 0.00, 0.01, 0.99),    # II-B
                      (0.05, 0.1, 0.82, 0.01, 0.00, 0.01, 0.90)],  # II-A (0.90 < 0.99 - 0.005)
                     confidence=2)
    base = {"knob": "lr", "density": 0.1, "cka_se": 0.001, "confidence": 2.0, "mc_threshold": -0.2, "cka_eps": 0.005}
    assert advise(cells, density=0.1, temperature=0.4) == {
        **base, "temperature": 0.4, "regime": "I", "direction": "hotter", "advice": "use a larger learning rate",
        "test_acc": 0.70, "lmc": -0.60, "cka": 0.90, "test_acc_se": 0.01, "lmc_se": 0.01}
    assert advise(cells, density=0.1, temperature=0.05) == {
        **base, "temperature": 0.05, "regime": "II-A", "direction": "colder", "advice": "use a smaller learning rate",
        "test_acc": 0.82, "lmc": 0.0, "cka": 0.90, "test_acc_se": 0.01, "lmc_se": 0.01}
    assert advise(cells, density=0.1, temperature=0.1)["direction"] == "keep"
    unsure = advise(cells, density=0.1, temperature=0.2)
    assert (unsure["regime"], unsure["direction"]) == ("I?", "unclear")
    assert unsure["advice"] == ("within noise: mc -0.250 +- 0.050 is within 2 standard errors of the threshold -0.2; "
                                "add dense seeds (or copies) before moving the temperature")


def test_advise_on_a_cell_without_a_regime_says_its_status():
    cells = _with_se([(0.1, 0.1, 0.85, 0.01, 0.0, 0.01, 0.99), (0.2, 0.1, 0.80, 0.01, 0.0, 0.01, 0.95)])
    cells.loc[1, ["status", "regime"]] = ["diverged", "n/a"]
    with pytest.raises(AdviceError) as err:
        advise(cells, density=0.1, temperature=0.2)
    assert str(err.value) == ("the cell at density 0.1, lr 0.2 has no regime (status diverged); its training "
                              "diverged or LMC/CKA were off")


def test_select_answers_whole():
    cells = _with_se([(0.01, 0.1, 0.80, 0.01, 0.0, 0.01, 0.95), (0.05, 0.1, 0.90, 0.01, 0.0, 0.01, 0.96),
                      (0.1, 0.1, 0.81, 0.01, 0.0, 0.01, 0.99)])
    cells["val_acc"] = [0.79, 0.88, 0.82]
    answer = select_model(cells, density=0.1)
    assert answer.pop("indistinguishable_from") == [] and answer.pop("caveats")
    assert answer == pytest.approx({
        "knob": "lr", "density": 0.1, "by": "regime", "temperature": 0.1, "regime": "II-B", "best_test_acc": 0.90,
        "regret": 0.09, "regret_se": 0.01 * 2 ** 0.5, "coldest_temperature": 0.01, "coldest_test_acc": 0.80,
        "gain_over_coldest": 0.01, "gain_se": 0.01 * 2 ** 0.5, "val_acc": 0.82,
        "test_acc": 0.81, "lmc": 0.0, "cka": 0.99, "test_acc_se": 0.01, "lmc_se": 0.01, "cka_se": 0.001,
        "confidence": 0.0, "mc_threshold": -0.2, "cka_eps": 0.005})


def test_select_counts_an_uncertain_cell_by_its_point_call_and_a_plain_table_by_its_regime():
    # mc -0.15 +- 0.05 is II? (within 2 SE of -0.2) with the point call II-B (best CKA): it is a candidate.
    cells = _with_se([(0.1, 0.1, 0.85, 0.01, -0.15, 0.05, 0.99), (0.05, 0.1, 0.80, 0.01, 0.0, 0.01, 0.95)],
                     confidence=2)
    assert list(cells.regime) == ["II?", "II-A"] and select_model(cells, density=0.1)["temperature"] == 0.1
    plain = cells.drop(columns="regime_point")  # a table without point calls is read by its regimes
    assert select_model(plain, density=0.1)["temperature"] == 0.05
    one = _with_se([(0.1, 0.2, 0.85, 0.01, 0.0, 0.01, 0.99)])  # a density with one cell
    assert select_model(one, density=0.2)["temperature"] == 0.1


def test_the_caveats_at_their_edges():
    # Binary-exact numbers, confidence 0 (so k = 2). The hottest of two temperatures is an edge; one alone is not.
    two = _with_se([(0.5, 0.1, 0.5, 0.0625, 0.0, 0.01, 0.99), (0.25, 0.1, 0.75, 0.0625, 0.0, 0.01, 0.5)])
    answer = select_model(two, density=0.1)  # the best CKA, lr 0.5, is chosen; lr 0.25 has the best accuracy
    # regret 0.25 with SE sqrt(2) x 0.0625 = 0.088: 2.8 SE, a better model missed
    assert answer["caveats"][0].startswith("lr 0.5 is the hottest of the grid")
    assert "missed a better model" in answer["caveats"][1]
    alone = _with_se([(0.5, 0.1, 0.5, 0.0625, 0.0, 0.01, 0.99)])
    assert select_model(alone, density=0.1)["caveats"] == []  # its own best and coldest: nothing to say
    # SEs 3/32 and 4/32: the SE of the difference is exactly 5/32 = 0.15625, and the regret exactly twice it.
    exact = _with_se([(0.5, 0.1, 0.5, 0.09375, 0.0, 0.01, 0.99), (0.25, 0.1, 0.8125, 0.125, 0.0, 0.01, 0.5)])
    notes = select_model(exact, density=0.1)["caveats"]
    assert not any("missed a better model" in n for n in notes)  # 0.3125 is not beyond 2 x 0.15625
    zero = _with_se([(0.5, 0.1, 0.5, 0.0, 0.0, 0.01, 0.99), (0.25, 0.1, 0.75, 0.0, 0.0, 0.01, 0.5)])
    assert not any("missed" in n for n in select_model(zero, density=0.1)["caveats"])  # SE 0: nothing is beyond it


def test_the_gain_over_the_coldest_at_its_edge_and_the_baseline_of_a_rho_grid_without_zero():
    # gain 0.3125 with SE exactly 0.15625 (SEs 3/32 and 4/32): exactly 2 SE is still within noise; the coldest
    # rho is 0.1, not plain SGD.
    cells = _with_se([(0.1, 0.1, 0.5, 0.09375, 0.0, 0.01, 0.5), (0.5, 0.1, 0.8125, 0.125, 0.0, 0.01, 0.99)],
                     knob="sam_rho")
    notes = select_model(cells, density=0.1)["caveats"]
    assert "no better than the coldest model (sam_rho 0.1) within noise: gain +0.3125 +- 0.1562" in notes
    se = 0.1
    coldest = _with_se([(0.1, 0.1, 0.5, se, 0.0, 0.01, 0.99), (0.5, 0.1, 0.75, se, 0.0, 0.01, 0.5)], knob="sam_rho")
    assert not any("no better than" in n for n in select_model(coldest, density=0.1)["caveats"])  # it is the coldest


def _rho_cells(points, *, test_se, val_se, confidence):
    # Per (density, test_acc, val_acc): rho 0.1 at those accuracies and CKA 0.99, rho 0.5 two points better
    # and CKA 0.97; mc 0 everywhere; classified with threshold -0.2, eps 0.005.
    rows = [{"knob": "sam_rho", "temperature": rho, "density": density, "test_acc": acc + shift, "val_acc": val + shift,
             "lmc": 0.0, "cka": 0.99 - shift, "test_acc_se": test_se, "val_acc_se": val_se, "lmc_se": 0.01,
             "cka_se": 0.001, "status": "ok"} for density, acc, val in points for rho, shift in ((0.1, 0.0), (0.5, 0.02))]
    return classify(pd.DataFrame(rows), mc_threshold=-0.2, cka_eps=0.005, confidence=confidence)


def test_recommend_rho_between_the_upper_two_of_three_densities_interpolates_every_column_and_keeps_by():
    # Densities 0.01, 0.04, 0.16; 0.08 is the log-midpoint of the upper two. Every column is the mean of its
    # two neighbours there, standard errors and validation accuracy included; answered by validation.
    cells = _rho_cells([(0.01, 0.5, 0.5), (0.04, 0.80, 0.70), (0.16, 0.90, 0.90)], test_se=0.02, val_se=0.04,
                       confidence=0)
    answer = recommend_rho(cells, density=0.08, mc_threshold=-0.2, cka_eps=0.005, confidence=0, by="val")
    assert (answer["by"], answer["temperature"], answer["interpolated_between"]) == ("val", 0.5, [0.04, 0.16])
    assert answer["test_acc"] == pytest.approx(0.87) and answer["val_acc"] == pytest.approx(0.82)
    assert (answer["test_acc_se"], answer["lmc_se"], answer["cka_se"]) == pytest.approx((0.02, 0.01, 0.001))
    with pytest.raises(AdviceError) as err:
        recommend_rho(cells, density=0.2, mc_threshold=-0.2, cka_eps=0.005, confidence=0)
    assert str(err.value) == ("density 0.2 is outside the study's densities 0.01-0.16; extrapolation is not "
                              "offered")
    with pytest.raises(AdviceError) as err:
        recommend_rho(EPOCHS, density=0.05, mc_threshold=-0.2, cka_eps=0.005, confidence=0)
    assert str(err.value) == "recommend-rho needs a SAM-rho study; this one varies epochs"


def test_the_refusals_word_for_word():
    from analysis.advice import NoAnswer

    every = _with_se([(0.01, 0.02, 0.5, 0.01, -0.5, 0.01, 0.9), (0.1, 0.02, 0.5, 0.01, -0.6, 0.01, 0.9)])
    with pytest.raises(NoAnswer) as err:
        select_model(every, density=0.02)
    assert str(err.value) == ("no Regime-II cell at density 0.02: every model has a barrier (Regime I) there; use a "
                              "larger learning rate than the grid's hottest (lr 0.1), or prune to a higher density")
    unsure = _with_se([(0.01, 0.02, 0.5, 0.01, -0.25, 0.05, 0.9), (0.1, 0.02, 0.5, 0.01, -0.22, 0.05, 0.9)],
                      confidence=2)
    with pytest.raises(NoAnswer) as err:
        select_model(unsure, density=0.02)
    assert str(err.value).startswith("no Regime-II cell at density 0.02: 0 cells in Regime I and 2 called I?")
    with pytest.raises(AdviceError) as err:
        select_model(_with_validation(), density=0.05, by="test")
    assert str(err.value) == "unknown criterion 'test'; answer by one of regime, val, regime+val"
    with pytest.raises(AdviceError) as err:
        select_model(EPOCHS, density=0.05, by="val")
    assert str(err.value).endswith("run the study with data.validation (e.g. 0.1)")


def test_a_hand_made_table_without_a_confidence_reads_as_confidence_zero():
    answer = select_model(EPOCHS.drop(columns="confidence"), density=0.05)
    assert answer["confidence"] == 0.0


def test_advise_on_an_uncertain_regime_two_cell_without_a_standard_error_and_on_a_table_without_status():
    cells = _with_se([(0.1, 0.1, 0.85, 0.01, -0.15, float("nan"), 0.99), (0.2, 0.1, 0.80, 0.01, 0.0, 0.01, 0.95)],
                     confidence=2)
    answer = advise(cells, density=0.1, temperature=0.1)
    assert (answer["regime"], answer["direction"]) == ("II?", "unclear")
    assert answer["advice"] == ("within noise: mc -0.150 has no standard error (that takes 2 dense seeds, or 4 copies "
                                "of one); add dense seeds before moving the temperature")
    bare = cells.drop(columns="status")
    bare.loc[1, "regime"] = "n/a"
    with pytest.raises(AdviceError, match=r"has no regime \(status n/a\)"):
        advise(bare, density=0.1, temperature=0.2)


def test_select_by_validation_when_every_cell_diverged_and_an_epochs_refusal_names_the_fewest_epochs():
    from analysis.advice import NoAnswer

    diverged = _with_validation().assign(val_acc=[float("nan"), float("nan"), 0.9], test_acc=[0.8, 0.8, float("nan")])
    with pytest.raises(NoAnswer) as err:
        select_model(diverged, density=0.05, by="val")
    assert str(err.value) == "no cell with a validation accuracy at density 0.05: every one diverged"
    barriers = _cells([(20, 0.02, 0.5, -0.4, 0.9), (60, 0.02, 0.5, -0.5, 0.9)])
    with pytest.raises(NoAnswer, match=r"train fewer epochs than the grid's hottest \(epochs 20\)"):
        select_model(barriers, density=0.02)


def test_without_a_confidence_no_other_cell_is_called_indistinguishable_and_the_coldest_edge_of_two():
    answer = select_model(EPOCHS.drop(columns="confidence"), density=0.05)
    assert answer["indistinguishable_from"] == []
    two = _cells([(20, 0.3, 0.80, 0.0, 0.90), (60, 0.3, 0.82, 0.0, 0.99)])
    notes = select_model(two, density=0.3)["caveats"]
    assert notes[0].startswith("epochs 60 is the coldest of the grid: a colder model may do better (train more epochs")


def test_the_coldest_pick_is_not_called_worse_than_itself():
    se = 0.01
    cells = _with_se([(0.01, 0.1, 0.80, se, 0.0, 0.01, 0.99), (0.1, 0.1, 0.81, se, 0.0, 0.01, 0.90)])
    notes = select_model(cells, density=0.1)["caveats"]
    assert not any(n.startswith(("worse than", "no better than")) for n in notes), notes


def test_recommend_rho_on_the_grid_keeps_the_criterion_and_interpolated_standard_errors_decide_ties():
    cells = _rho_cells([(0.04, 0.80, 0.80), (0.16, 0.90, 0.90)], test_se=0.01, val_se=0.001, confidence=2)
    on_grid = recommend_rho(cells, density=0.04, mc_threshold=-0.2, cka_eps=0.005, confidence=2, by="val")
    assert (on_grid["by"], on_grid["temperature"]) == ("val", 0.5)
    mid = recommend_rho(cells, density=0.08, mc_threshold=-0.2, cka_eps=0.005, confidence=2, by="val")
    # val 0.87 vs 0.85 with SEs 0.001 interpolated: 0.02 is far beyond 2 x 0.0014, so nothing is tied
    assert (mid["knob"], mid["temperature"], mid["indistinguishable_from"]) == ("sam_rho", 0.5, [])


def test_recommend_rho_interpolates_a_one_seed_study_whose_mc_has_no_standard_error():
    # One dense seed, two copies: no SE for mc (one pair). The interpolated cells must not be dropped for it.
    rows = [{"knob": "sam_rho", "temperature": rho, "density": density, "test_acc": acc, "lmc": 0.0, "cka": cka,
             "test_acc_se": 0.01, "lmc_se": float("nan"), "cka_se": float("nan"), "status": "ok"}
            for density, acc in ((0.04, 0.80), (0.16, 0.90)) for rho, cka in ((0.1, 0.99), (0.5, 0.95))]
    cells = classify(pd.DataFrame(rows), mc_threshold=-0.2, cka_eps=0.005, confidence=0)
    answer = recommend_rho(cells, density=0.08, mc_threshold=-0.2, cka_eps=0.005, confidence=0)
    assert (answer["temperature"], answer["interpolated_between"]) == (0.1, [0.04, 0.16])


def test_a_pick_with_a_barrier_says_so_first_and_the_study_object_answers_by_its_own_criterion():
    # By validation accuracy the 160-epoch cell wins (0.9 against 0.85) though its copies have a
    # barrier (mc -0.6 < -0.2): Regime I, which the paper's rule would never prune.
    rows = [(20, 0.05, 0.84, -0.05, 0.970), (60, 0.05, 0.855, -0.10, 0.990), (160, 0.05, 0.826, -0.60, 0.985)]
    cells = _cells(rows).assign(val_acc=[0.80, 0.85, 0.90])
    answer = select_model(cells, density=0.05, by="val")
    assert (answer["temperature"], answer["regime"]) == (160, "I")
    assert answer["caveats"][0] == ("it is in Regime I: its pruned copies have a loss barrier between them (mc -0.600 "
                                    "below the threshold -0.2); the paper's rule would prune a Regime-II model and "
                                    "says to train fewer epochs")
    unsure = classify(cells.drop(columns=["regime"]).assign(lmc_se=[0.01, 0.01, 0.3]), mc_threshold=-0.2,
                      cka_eps=0.005, confidence=2)
    answer = select_model(unsure, density=0.05, by="val")
    assert answer["regime"] == "I?" and answer["caveats"][0].startswith("its copies may have a barrier: mc -0.600 "
                                                                        "is within noise of the threshold -0.2")
    assert select_model(cells, density=0.05, by="regime")["regime"] == "II-B"  # no such caveat there
    assert not any("barrier" in c for c in select_model(cells, density=0.05, by="regime")["caveats"])
