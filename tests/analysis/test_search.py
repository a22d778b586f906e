"""The regime-guided search rule on hand-made tables, answers worked out by hand from the module's policy."""

import sys

import pandas as pd

from analysis import classify, select_model
from analysis.search import next_temperatures
from tests.conftest import ROOT

THRESHOLDS = {"mc_threshold": -0.2, "cka_eps": 0.005, "confidence": 0.0}
NINE = [10, 20, 30, 40, 50, 60, 70, 80, 90]  # epochs: position 0 (10) is the hottest


def _cells(rows, density=0.05):
    return pd.DataFrame([{"knob": "epochs", "temperature": t, "density": density, "test_acc": 0.8, "lmc": m, "cka": c}
                         for t, m, c in rows])


def _next(cells, candidates=NINE, densities=(0.05,), **kwargs):
    return next_temperatures(cells, knob="epochs", candidates=candidates, densities=densities, **THRESHOLDS, **kwargs)


def test_first_suggestions_split_the_range_widest_run_first_colder_on_ties():
    empty = pd.DataFrame(columns=["temperature", "density", "test_acc", "lmc", "cka"])
    # 7 candidates: the middle (40) first; then runs 10-30 and 50-70 tie at 3, the colder one's middle (60) goes
    # first, then 20.
    assert _next(empty, candidates=[10, 20, 30, 40, 50, 60, 70], n=3) == [40, 60, 20]


def test_bracket_around_the_best_regime_two_cell():
    # 50 is the only Regime-II cell (so II-B), 90 is Regime I: runs 10-40 (width 4) and 60-80 (width 3);
    # the wider run's middle is 30.
    cells = _cells([(50, 0.0, 0.90), (90, -0.5, 0.80)])
    assert _next(cells) == [30]
    # 30 comes back II-A (lower CKA): the bracket is now 30..90 around 50: runs 40 (1) and 60-80 (3) -> 70.
    cells = _cells([(30, 0.0, 0.85), (50, 0.0, 0.90), (90, -0.5, 0.80)])
    assert _next(cells) == [70]


def test_only_regime_one_visited_sends_the_search_hotter():
    cells = _cells([(50, -0.4, 0.9), (90, -0.6, 0.9)])
    assert _next(cells) == [30]  # run 10-40 hotter than the hottest Regime-I cell: middle 30


def test_two_near_optimal_ends_close_the_run_between_them():
    # Density 0.8: CKA 0.990 and 0.991, both within cka_eps of the best: everything between is II-B.
    cells = _cells([(10, 0.0, 0.990), (90, 0.0, 0.991)], density=0.8)
    assert _next(cells, densities=(0.8,)) is None
    # The same ends 0.02 apart in CKA: the hotter end is II-A, so 20-80 stays open (middle 50).
    cells = _cells([(10, 0.0, 0.970), (90, 0.0, 0.991)], density=0.8)
    assert _next(cells, densities=(0.8,)) == [50]


def test_adjacent_neighbours_resolve_a_density():
    cells = _cells([(40, 0.0, 0.85), (50, 0.0, 0.90), (60, -0.5, 0.8)])
    assert _next(cells, candidates=[40, 50, 60]) is None


def test_pending_temperatures_are_never_suggested_and_covering_runs_means_wait():
    cells = _cells([(40, 0.0, 0.85), (50, 0.0, 0.90), (70, -0.5, 0.8)])
    # The bracket around the best (50) runs from 40 to 70: only 60 is open.
    assert _next(cells, candidates=[10, 20, 30, 40, 50, 60, 70]) == [60]
    assert _next(cells, candidates=[10, 20, 30, 40, 50, 60, 70], pending=[60]) == []
    assert _next(cells, candidates=[10, 20, 30, 40, 50, 60, 70], pending=[60.0], n=2) == []


def test_a_run_open_at_more_densities_wins_a_tie():
    # Density 0.02: Regime I at 50 and 100 -> open run 10-40. Density 0.5: 50 is II-B, 100 II-A (lower CKA) ->
    # runs 10-40 and 60-90, both of width 4.
    rows = [(50, -0.4, 0.90, 0.02), (100, -0.6, 0.90, 0.02), (50, 0.0, 0.95, 0.5), (100, 0.0, 0.90, 0.5)]
    cells = pd.DataFrame([{"knob": "epochs", "temperature": t, "density": d, "test_acc": 0.8, "lmc": m, "cka": c}
                          for t, m, c, d in rows])
    # Runs: 0.02 -> 10-40 (width 4); 0.5 -> 10-40 (4) and 60-90 (4). 10-40 is open at two densities: middle 30.
    assert _next(cells, candidates=[10, 20, 30, 40, 50, 60, 70, 80, 90, 100], densities=(0.02, 0.5)) == [30]


def test_a_run_open_at_more_densities_goes_before_a_wider_one():
    # Visits 30, 50, 100 of 10..100. Density 0.02: 30 II-A, 50 II-B (the best), 100 Regime I -> runs 40 and
    # 60-90. Density 0.5: 30 Regime I, 50 and 100 both II-B (CKA 0.900 and 0.899) -> 60-90 closed, 40 open.
    # 40 is open at two densities, 60-90 (wider) at one: 40 first.
    rows = [(30, 0.0, 0.85, 0.02), (50, 0.0, 0.90, 0.02), (100, -0.5, 0.80, 0.02),
            (30, -0.5, 0.80, 0.5), (50, 0.0, 0.90, 0.5), (100, 0.0, 0.899, 0.5)]
    cells = pd.DataFrame([{"knob": "epochs", "temperature": t, "density": d, "test_acc": 0.8, "lmc": m, "cka": c}
                          for t, m, c, d in rows])
    ten = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert _next(cells, candidates=ten, densities=(0.02, 0.5)) == [40]
    assert _next(cells, candidates=ten, densities=(0.02,)) == [80]  # alone, the wider run: middle of 60-90


def test_per_seed_rows_are_averaged_before_the_call():
    # Seeds' mc -0.3 and 0.0 average to -0.15 >= -0.2: Regime II (II-B alone), so both sides of 50 are open;
    # read per seed, seed 0 alone would be Regime I and only the hotter side would be. Runs 10-40 and 60-90 tie
    # at width 4: the colder one's middle (80, the colder of its two middles) first, then 30.
    rows = [{"knob": "epochs", "temperature": 50, "density": 0.05, "dense_seed": s, "test_acc": 0.8, "lmc": m,
             "cka": 0.9, "status": "ok"} for s, m in ((0, -0.3), (1, 0.0))]
    assert _next(pd.DataFrame(rows), n=2) == [80, 30]


def test_on_the_paper_shaped_table_the_search_stops_by_itself_at_the_grids_own_answer():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from paper_table import EPOCHS, paper_table

    table = paper_table()
    densities = sorted(table["density"].unique())
    visited = []
    while True:
        nxt = _next(table[table["temperature"].isin(visited)], candidates=EPOCHS, densities=densities)
        if nxt is None:
            break
        assert len(nxt) == 1 and nxt[0] not in visited
        visited += nxt
    assert len(visited) < len(EPOCHS)
    seen = classify(table[table["temperature"].isin(visited)], **THRESHOLDS)
    # The last Regime-II epoch before the barrier (70 at 2-3 %, 90 at 5-10 %: paper_table.BOUNDARY) is the CKA
    # maximum; from 15 % up CKA saturates at 0.99 and any II-B epoch past 100 is within cka_eps.
    picks = {d: select_model(seen, density=d)["temperature"] for d in densities}
    assert picks[0.02] == picks[0.03] == 60 and picks[0.05] == picks[0.08] == picks[0.1] == 80
    assert all(picks[d] >= 100 for d in (0.15, 0.2, 0.5, 0.8))


def _val_cells(rows, density=0.05):
    # (temperature, mc, cka, validation accuracy, its SE over seeds)
    return pd.DataFrame([{"knob": "epochs", "temperature": t, "density": density, "test_acc": 0.8, "lmc": m,
                          "cka": c, "val_acc": v, "val_acc_se": se} for t, m, c, v, se in rows])


def test_by_val_the_best_validation_cell_is_bracketed_and_a_regime_one_best_looks_only_hotter():
    # 50 has the best validation accuracy: runs 10-40 and 60-80 (wider: 10-40, middle 30).
    cells = _val_cells([(50, 0.0, 0.90, 0.85, 0.01), (90, 0.0, 0.95, 0.70, 0.01)])
    assert _next(cells, by="val") == [30]
    # The best is now 30, in Regime I (mc -0.5): hotter is better, so only its hotter run 10-20
    # stays open (middle 20), although the colder run 40-80 is wider (it would give 60). By
    # regime+val the best is the only Regime-II cell, 90: its hotter run 40-80 (middle 60).
    cells = _val_cells([(30, -0.5, 0.90, 0.85, 0.01), (90, 0.0, 0.95, 0.70, 0.01)])
    assert _next(cells, by="val") == [20]
    assert _next(cells, by="regime+val") == [60]


def test_a_run_between_two_ii_b_cells_stays_open_while_their_validation_accuracies_differ():
    # 30 and 70 are both II-B (CKA within 0.005 of the best), with a gap 40-60 between them.
    base = [(10, 0.0, 0.95, 0.70, 0.01), (30, 0.0, 0.99, 0.80, 0.01), (70, 0.0, 0.993, 0.86, 0.01),
            (90, -0.5, 0.90, 0.60, 0.01)]
    assert 50 in (_next(_val_cells(base), n=3) or [])  # 0.80 vs 0.86: 4.2 SEs apart, the run stays open
    close = [(t, m, c, 0.85 if t in (30, 70) else v, se) for t, m, c, v, se in base]
    assert 50 not in (_next(_val_cells(close), n=3) or [])  # indistinguishable ends: closed
    unknown = [(t, m, c, v, float("nan")) for t, m, c, v, _ in close]
    assert 50 in (_next(_val_cells(unknown), n=3) or [])  # an unknown SE cannot close it


def test_indistinguishable_ends_on_a_slope_keep_the_run_between_them_open():
    # By val: 60 has the best validation accuracy (0.64 +- 0.07) and is Regime I, so only its hotter side is
    # searched: the run 40-50 up to 30 (0.61 +- 0.05). The ends are 0.03 apart, within the SE of the
    # difference (hypot(0.05, 0.07) = 0.086), but 60 is on the slope (Regime I): the run stays open (middle 50).
    slope = [(30, 0.0, 0.93, 0.61, 0.05), (60, -0.5, 0.93, 0.64, 0.07)]
    assert _next(_val_cells(slope), by="val") == [50]
    # The same accuracies at two II-B ends (mc 0, equal CKA) are the plateau: closed, and nothing else is open.
    plateau = [(30, 0.0, 0.93, 0.61, 0.05), (60, 0.0, 0.93, 0.64, 0.07)]
    assert _next(_val_cells(plateau), candidates=[30, 40, 50, 60], by="val") is None
