"""Random search and TPE as rules of the searcher: distinct temperatures, fixed by a seed, fair objectives."""

import pandas as pd
import pytest

from study.search.baselines import RandomRule, TPERule, baseline_rule, validation_scores

CANDIDATES = [0.01, 0.02, 0.05, 0.1, 0.2, 0.3]


def _cells(scores, densities=(0.05, 0.5), seeds=(0, 1)):
    # Per temperature its validation accuracy, the same at every density and seed.
    return pd.DataFrame([{"temperature": t, "dense_seed": s, "density": d, "val_acc": v, "status": "ok"}
                         for t, v in scores.items() for s in seeds for d in densities])


def test_random_visits_every_candidate_once_in_a_seeded_order_skipping_what_is_in_flight():
    rule, again = RandomRule(CANDIDATES, seed=3), RandomRule(CANDIDATES, seed=3)
    assert rule.order == again.order and sorted(rule.order) == CANDIDATES
    assert RandomRule(CANDIDATES, seed=4).order != rule.order
    first = rule(_cells({}), pending=[])[0]
    assert first == rule.order[0]
    second = rule(_cells({}), pending=[first])[0]
    assert second == rule.order[1]
    done = _cells({t: 0.5 for t in CANDIDATES[:-1]})
    assert rule(done, pending=[]) == [CANDIDATES[-1]] and rule(done, pending=[CANDIDATES[-1]]) is None


def test_the_objective_is_the_mean_validation_accuracy_over_seeds_and_target_densities():
    cells = pd.DataFrame([{"temperature": 0.1, "dense_seed": s, "density": d, "val_acc": v}
                          for s, d, v in [(0, 0.05, 0.6), (1, 0.05, 0.8), (0, 0.5, 0.9), (1, 0.5, float("nan"))]])
    assert validation_scores(cells, [0.05]) == {0.1: pytest.approx(0.7)}
    assert validation_scores(cells, [0.05, 0.5]) == {0.1: pytest.approx((0.6 + 0.8 + 0.9 + 0.0) / 4)}  # NaN: 0


def test_tpe_suggests_untried_candidates_and_asks_the_same_after_the_same_history():
    rule = baseline_rule("optuna", candidates=CANDIDATES, densities=[0.05, 0.5], seed=0, budget=6)
    assert isinstance(rule, TPERule) and rule.startup == 3
    history, pending = {}, []
    for step in range(len(CANDIDATES)):
        cells = _cells(history)
        answer = rule(cells, pending=pending)
        assert answer is not None and answer[0] in CANDIDATES and answer[0] not in history
        again = baseline_rule("optuna", candidates=CANDIDATES, densities=[0.05, 0.5], seed=0, budget=6)
        assert again(cells, pending=pending) == answer  # a resumed search asks the same
        history[answer[0]] = 0.9 - abs(answer[0] - 0.1)  # a peak at 0.1
    assert sorted(history) == CANDIDATES and rule(_cells(history), pending=[]) is None


def test_tpe_after_its_random_start_leans_to_the_best_validation_accuracy():
    # Four of eight temperatures told, the best (0.1) among them; untried: 0.01, 0.05, 0.2, 0.3.
    # Random picks would land next to the best (0.05 or 0.2) half the time; TPE, which sees the
    # candidates' order, should do so far more often (a categorical parameter could not).
    candidates = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5]
    scores = {0.005: 0.4, 0.02: 0.5, 0.1: 0.9, 0.5: 0.3}
    picks = [TPERule(candidates, densities=[0.05], seed=s, startup=3)(_cells(scores, densities=(0.05,)),
                                                                      pending=[])[0] for s in range(20)]
    assert set(picks) <= {0.01, 0.05, 0.2, 0.3}
    assert sum(p in (0.05, 0.2) for p in picks) >= 16, picks
