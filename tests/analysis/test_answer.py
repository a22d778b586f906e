"""The top of the report (`analysis.answer`): the header, the answer per density, which criterion; no Ray."""

from contract.config import StudyConfig
from analysis import classify


def test_which_criterion_compares_only_criteria_that_answered_as_many_densities():
    import pandas as pd

    from analysis.answer import criteria_html

    def cells(rows):  # (temperature, density, test_acc, mc, cka, val_acc)
        table = pd.DataFrame([{"knob": "epochs", "temperature": t, "density": d, "test_acc": a, "lmc": m, "cka": c,
                               "val_acc": v, "status": "ok"} for t, d, a, m, c, v in rows])
        return classify(table, mc_threshold=-0.2, cka_eps=0.005, confidence=0)

    # At 0.05 every cell has a barrier: regime answers 1 density, val 2 (and at 0.5 val loses 0.02).
    two = cells([(20, 0.05, 0.80, -0.5, 0.9, 0.80), (60, 0.05, 0.82, -0.6, 0.9, 0.81),
                 (20, 0.5, 0.90, 0.0, 0.99, 0.95), (60, 0.5, 0.92, 0.0, 0.98, 0.90)])
    page = criteria_html(two, "val")
    assert "<tr><td>regime</td><td>0.0200</td><td>1 of 2</td></tr>" in page  # picks T=20 at 0.5 (CKA 0.99)
    assert "<tr><td>val</td><td>0.0100</td><td>2 of 2</td></tr>" in page  # mean of 0 (0.05) and 0.02 (0.5)
    assert "val picks best (the lowest mean regret among the criteria that answered 2 densities); it is answered " \
           "by val." in page
    # Both answer both densities and regime loses less: the study should be answered by regime.
    both = cells([(20, 0.05, 0.80, 0.0, 0.95, 0.85), (60, 0.05, 0.82, 0.0, 0.99, 0.80),
                  (20, 0.5, 0.90, 0.0, 0.99, 0.95), (60, 0.5, 0.92, 0.0, 0.98, 0.90)])
    verdict = criteria_html(both, "val")
    assert "regime picks best" in verdict and verdict.endswith("set study.criterion: regime to answer by it.</p>")


def test_the_reports_top_names_the_study_and_answers_each_density_with_shared_caveats_once():
    import pandas as pd

    from analysis.answer import answers_html, header_html, words

    config = StudyConfig.model_validate({"study": {"knob": "epochs", "temperatures": [20, 60],
                                                   "dense_seeds": [0, 1, 2]},
                                         "data": {"name": "mnist1d"}, "model": {"name": "preresnet", "depth": 20},
                                         "pruning": {"densities": [0.05, 0.2, 0.8]}})
    # 60 epochs is the cold edge everywhere; at 0.05 every cell has a barrier: no answer there.
    cells = classify(pd.DataFrame([{"knob": "epochs", "temperature": t, "density": d, "test_acc": a,
                                    "test_acc_se": 0.01, "lmc": m, "cka": c, "status": "ok"}
                                   for t, d, a, m, c in [(20, 0.05, 0.5, -0.5, 0.9), (60, 0.05, 0.5, -0.6, 0.9),
                                                         (20, 0.2, 0.80, 0.0, 0.95), (60, 0.2, 0.85, 0.0, 0.99),
                                                         (20, 0.8, 0.90, 0.0, 0.97), (60, 0.8, 0.91, 0.0, 0.99)]]),
                     mc_threshold=-0.2, cka_eps=0.005, confidence=0)
    rows = pd.DataFrame({"timestamp": [1_800_000_000, 1_800_000_600], "code_version": ["0.1.0+gaaa", "0.1.0+gbbb"]})
    assert header_html(config, rows, cells) == (
        "<p class='header'><b>mnist1d</b>, preresnet (depth 20); epochs 20, 60 x density 0.05, 0.2, 0.8; 3 dense "
        "seeds; 3 copies a cell; dense 160 epochs, retraining 160 epochs, uniform pruning; last cell 2027-01-15 "
        "08:10 UTC; code 0.1.0+gbbb.</p>")
    assert header_html(None, None, cells) == "<p class='header'>epochs 20, 60 x density 0.05, 0.2, 0.8.</p>"
    seeded = config.model_copy(update={"seeds": config.seeds.model_copy(update={"max_seeds": 6})})
    assert "; 3 to 6 dense seeds a temperature (added where a call was uncertain); " in header_html(seeded, None, cells)
    page = answers_html(cells, "regime")
    assert page.startswith("<h2>The answer, by regime</h2>")
    assert "<li><b>density 0.05</b>: no answer: no Regime-II cell at density 0.05" in page
    assert ("<li><b>density 0.2</b>: prune the model at epochs 60 (Regime II-B), test accuracy 0.8500 &plusmn; "
            "0.0100</li>") in page
    assert page.count("epochs 60 is the coldest of the grid") == 1  # shared by 0.2 and 0.8: said once, below
    assert page.index("<p>At more than one density:</p>") > page.index("<b>density 0.8</b>")
    assert words("a +- b <c>") == "a &plusmn; b &lt;c&gt;"


def test_the_command_lines_answer_lines_say_the_answer_with_its_standard_errors():
    from analysis.answer import advise_text, select_text

    advised = {"density": 0.05, "knob": "lr", "temperature": 0.01, "regime": "I", "lmc": -0.245, "lmc_se": 0.011,
               "cka": 0.7797, "advice": "use a larger learning rate"}
    assert advise_text(advised) == ("density 0.05, lr 0.01: Regime I (mc -0.245 +- 0.011, CKA 0.7797) -> use a "
                                    "larger learning rate")
    chosen = {"by": "regime", "knob": "lr", "temperature": 0.15, "regime": "II-B", "cka": 0.99, "cka_se": float("nan"),
              "test_acc": 0.9, "test_acc_se": 0.01, "regret": 0.0, "regret_se": 0.0, "gain_over_coldest": 0.2,
              "gain_se": 0.03, "coldest_temperature": 0.005, "indistinguishable_from": [0.07], "density": 0.05,
              "confidence": 2.0, "interpolated_between": [0.03, 0.1], "caveats": ["the hottest of the grid"]}
    assert select_text(chosen, given_by=False) == (
        "prune the model at lr 0.15 (Regime II-B, by regime, the study's criterion: CKA 0.9900 (no SE: too few dense "
        "seeds or copies)): test accuracy 0.9000 +- 0.0100, regret +0.0000 +- 0.0000 against the grid's best, gain "
        "+0.2000 +- 0.0300 over the coldest model (lr 0.005); within noise: lr 0.07 and 0.15 are indistinguishable at "
        "density 0.05 (CKA within 2 standard errors); density 0.05 is interpolated on log-density between 0.03 and "
        "0.1\ncaveat: the hottest of the grid")
    by_val = {**chosen, "by": "val", "val_acc": 0.8962, "indistinguishable_from": [], "interpolated_between": None,
              "caveats": []}
    assert select_text(by_val, given_by=True).startswith(
        "prune the model at lr 0.15 (Regime II-B, by val: validation accuracy 0.8962): test accuracy")
