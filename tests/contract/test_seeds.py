"""Seeds added where calls are uncertain: which seeds, how many looks, and the confidence each look needs."""

import math

import pytest

from contract.seeds import added_seeds, looks, spent_confidence


def test_the_seeds_added_follow_the_largest_given_and_count_up_to_max_seeds():
    assert added_seeds([0, 1, 2], 6) == [3, 4, 5]
    assert added_seeds([5, 2], 4) == [6, 7]
    assert added_seeds([0, 1], None) == [] and added_seeds([0, 1], 2) == []


def test_a_cell_gets_one_look_per_seed_count_from_the_first_seeds_to_max_seeds():
    assert looks([0, 1, 2], 6) == 4  # at 3, 4, 5 and 6 seeds
    assert looks([0], None) == 1


@pytest.mark.parametrize("confidence, n_looks, expected", [
    # Two-sided normal quantiles from the tables: 2 SE is a 4.550 % rate; over 4 looks 1.1375 % each,
    # whose quantile is 2.5310; over 5 looks 0.910 %, 2.6083.
    (2.0, 4, 2.5310),
    (2.0, 5, 2.6083),
    (1.959964, 2, 2.2414),  # 5 % over 2 looks: 2.5 % each, the 98.75 % quantile
])
def test_each_look_spends_its_share_of_the_error_rate(confidence, n_looks, expected):
    assert spent_confidence(confidence, n_looks) == pytest.approx(expected, abs=1e-3)


def test_one_look_or_no_confidence_spends_nothing():
    assert spent_confidence(2.0, 1) == 2.0 and spent_confidence(0.0, 4) == 0.0
    assert math.isfinite(spent_confidence(3.0, 100)) and spent_confidence(3.0, 100) > 3.0
