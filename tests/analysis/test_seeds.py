"""The seed rule: seeds go to uncertain cells whose call matters, the least settled first; and the boundary call."""

import pandas as pd
import pytest

from analysis.classify import aggregate, classify
from analysis.seeds import next_seeds

TEMPERATURES = (0.01, 0.02, 0.04, 0.08)


def _cells(mc: dict, val: dict | None = None, *, density=0.05) -> pd.DataFrame:
    # Two dense seeds per temperature: mc and val_acc as given per seed ({temperature: (seed 0, seed 1)}).
    val = val or {0.01: (0.50, 0.52), 0.02: (0.60, 0.62), 0.04: (0.80, 0.82), 0.08: (0.70, 0.72)}
    rows = [{"knob": "lr", "temperature": t, "dense_seed": s, "density": density, "test_acc": val[t][s],
             "val_acc": val[t][s], "lmc": mc[t][s], "cka": 0.9, "status": "ok", "n_copies": 2}
            for t in TEMPERATURES for s in (0, 1)]
    return pd.DataFrame(rows)


# By hand, tau -0.1, 2 SE: 0.01 has mc -0.51 +- 0.01 (sure I); 0.02 has -0.09 +- 0.05 (II?, within
# 0.1 of the threshold); 0.04 and 0.08 have 0.01 and 0.03 +- 0.01 (sure II).
MC = {0.01: (-0.50, -0.52), 0.02: (-0.14, -0.04), 0.04: (0.00, 0.02), 0.08: (0.02, 0.04)}


def _rule(cells, **kwargs):
    settings = dict(knob="lr", densities=[0.05], mc_threshold=-0.1, cka_eps=0.005, confidence=2.0, margin=0.02,
                    max_seeds=4, by="val")
    return next_seeds(cells, **{**settings, **kwargs})


def test_a_seed_goes_to_the_uncertain_cell_between_the_two_sides():
    assert _rule(_cells(MC)) == [0.02]


def test_no_seed_while_it_is_in_flight_and_none_past_max_seeds():
    assert _rule(_cells(MC), pending=[0.02]) == []  # wait: its trial may call it
    assert _rule(_cells(MC), max_seeds=2) is None  # every temperature has its 2 seeds


def test_an_uncertain_cell_flanked_by_sure_calls_of_its_side_cannot_move_the_boundary():
    flanked = {**MC, 0.01: (0.00, 0.02)}  # now sure II on both sides of 0.02's II?
    assert _rule(_cells(flanked)) is None


def test_a_cell_at_the_boundary_is_settled_and_called_so():
    # -0.10 +- 0.005: within 2 SE of the threshold (0.01), and the interval within 0.02 of it.
    at_edge = {**MC, 0.02: (-0.105, -0.095)}
    cells = _cells(at_edge)
    classified = classify(aggregate(cells), mc_threshold=-0.1, cka_eps=0.005, confidence=2.0, margin=0.02)
    assert classified.set_index("temperature").loc[0.02, "regime"] == "I|II"
    assert _rule(cells) is None
    # Without a margin the same cell is unresolved, and wants a seed.
    assert classify(aggregate(cells), mc_threshold=-0.1, cka_eps=0.005,
                    confidence=2.0).set_index("temperature").loc[0.02, "regime"] == "II?"
    assert _rule(cells, margin=0.0) == [0.02]


def test_a_tie_for_the_answer_gets_seeds_before_a_less_settled_map_cell():
    tied = {0.01: (0.50, 0.52), 0.02: (0.60, 0.62), 0.04: (0.80, 0.82), 0.08: (0.80, 0.82)}
    # The tie 0.04/0.08: gap 0, index 0; the map cell 0.02: (0.01 + 0.02) / 0.05 = 0.6.
    assert _rule(_cells(MC, tied), n=3) == [0.04, 0.08, 0.02]


def test_the_least_settled_map_cell_goes_first():
    # Two uncertain cells: 0.02 index (0.01 + 0.02) / 0.05 = 0.6; 0.04 at 0.0 +- 0.1: (0.1 + 0.02) / 0.1 = 1.2.
    two = {**MC, 0.04: (-0.1, 0.1)}
    assert _rule(_cells(two), n=2) == [0.02, 0.04]


@pytest.mark.parametrize("pending, expected", [((), None), ((0.04,), [])])
def test_an_empty_study_waits_for_its_first_trials(pending, expected):
    assert _rule(_cells(MC).iloc[:0], pending=list(pending)) == expected


def test_the_map_validate_and_advise_tell_the_boundary_from_unresolved():
    from analysis.advice import advise
    from analysis.plots import REGIME_COLORS, regime_map
    from analysis.validate import validate_advice

    # 0.02 at the boundary (-0.10 +- 0.005), 0.04 unresolved (0.0 +- 0.1), the rest sure.
    cells = classify(aggregate(_cells({**MC, 0.02: (-0.105, -0.095), 0.04: (-0.1, 0.1)})), mc_threshold=-0.1,
                     cka_eps=0.005, confidence=2.0, margin=0.02)
    assert list(cells.sort_values("temperature")["regime"]) == ["I", "I|II", "II?", "II-B"]
    fig = regime_map(cells)
    legend = {trace.name: trace.marker.color for trace in fig.data[1:] if trace.mode == "markers"}
    assert legend["I|II: at the boundary (mc within the margin)"] == REGIME_COLORS["I|II"]
    assert len([s for s in fig.layout.shapes if s.line.color == "white"]) == 2  # only the II? cell is hatched
    check = validate_advice(cells)
    assert (check["unresolved"], check["boundary"]) == (1, 1)
    said = advise(cells, density=0.05, temperature=0.02)
    assert said["direction"] == "boundary" and said["advice"].startswith("at the I/II boundary: mc -0.100 +- 0.005")


def test_validate_says_how_many_cells_it_did_not_advise_and_why():
    from analysis.validate import criteria_regrets, validate_advice, validation_lines

    cells = classify(aggregate(_cells({**MC, 0.02: (-0.105, -0.095), 0.04: (-0.1, 0.1)})), mc_threshold=-0.1,
                     cka_eps=0.005, confidence=2.0, margin=0.02)
    lines = validation_lines(validate_advice(cells), criteria_regrets(cells), knob="lr")
    assert ("not advised: 1 cells unresolved (I? or II?: more seeds could call them), 1 at the boundary (I|II: mc "
            "within the margin of the threshold)") in lines


def test_an_unresolved_barrier_flanked_by_sure_barriers_gets_no_seed_and_one_beside_the_other_side_does():
    # lr hot to cold: 0.08, 0.04, 0.02, 0.01. 0.02 is I? (-0.11 +- 0.05) between sure I at 0.04
    # (-0.5 +- 0.01) and sure I at 0.01: no seed. With 0.04 a sure II instead it can move the boundary.
    barrier = {0.01: (-0.50, -0.52), 0.02: (-0.16, -0.06), 0.04: (-0.50, -0.52), 0.08: (0.02, 0.04)}
    assert _rule(_cells(barrier)) is None
    assert _rule(_cells({**barrier, 0.04: (0.00, 0.02)})) == [0.02]


def test_the_hottest_but_one_is_flanked_by_the_hottest_too():
    # 0.04 (second hottest) is II? (-0.08 +- 0.03 within 2 SE of -0.1) between sure II at 0.08 and
    # sure II at 0.02: no seed; with 0.08 unresolved too, both want one.
    cells = _cells({0.01: (-0.50, -0.52), 0.02: (0.00, 0.02), 0.04: (-0.11, -0.05), 0.08: (0.02, 0.04)})
    assert _rule(cells) is None
    both = _cells({0.01: (-0.50, -0.52), 0.02: (0.00, 0.02), 0.04: (-0.11, -0.05), 0.08: (-0.14, -0.04)})
    assert sorted(_rule(both, n=2)) == [0.04, 0.08]


def test_the_index_divides_the_gap_by_the_se_and_the_margin_counts_in_it():
    # 0.02: -0.09 +- 0.05, gap 0.01; 0.04: 0.01 +- 0.1, gap 0.11 (II?, beside 0.02's II?). Margin 0:
    # 0.01 / 0.05 = 0.2 against 0.11 / 0.1 = 1.1, 0.02 first. Margin 0.1 (neither interval within it):
    # 0.11 / 0.05 = 2.2 against 0.21 / 0.1 = 2.1, 0.04 first.
    two = {**MC, 0.04: (-0.09, 0.11)}
    assert _rule(_cells(two), margin=0.0) == [0.02]
    assert _rule(_cells(two), margin=0.1) == [0.04]
    # gap / SE, not gap x SE: 0.02 at -0.12 +- 0.01 (I?, exactly 2 SE) has index 0.02 / 0.01 = 2,
    # more settled than 0.04's 1.1 (as products, 0.0002 against 0.011, it would come first).
    tight = {**two, 0.02: (-0.13, -0.11)}
    assert _rule(_cells(tight), margin=0.0) == [0.04]


SURE = {0.01: (-0.50, -0.52), 0.02: (0.00, 0.02), 0.04: (0.00, 0.02), 0.08: (0.02, 0.04)}  # every call sure


def test_only_target_densities_count_and_ties_at_every_target_density_do():
    # Density 0.05: every call sure, 0.04 and 0.08 tied by validation accuracy; density 0.5: the map
    # as MC (0.02 wants a seed). Each target alone: its own wish, never the other density's.
    tied = {0.01: (0.50, 0.52), 0.02: (0.60, 0.62), 0.04: (0.80, 0.82), 0.08: (0.80, 0.82)}
    cells = pd.concat([_cells(SURE, tied), _cells(MC, density=0.5)], ignore_index=True)
    assert _rule(cells, densities=[0.05], n=4) == [0.04, 0.08]
    assert _rule(cells, densities=[0.5], n=4) == [0.02]
    # Ties at two densities, each its own pair: both pairs want seeds (index 0 each, in temperature order).
    other = {0.01: (0.50, 0.52), 0.02: (0.80, 0.82), 0.04: (0.80, 0.82), 0.08: (0.60, 0.62)}
    two = pd.concat([_cells(SURE, tied), _cells(SURE, other, density=0.5)], ignore_index=True)
    assert _rule(two, densities=[0.05, 0.5], n=4) == [0.02, 0.04, 0.08]
    assert len(_rule(two, densities=[0.05, 0.5])) == 1  # one temperature unless asked for more
