"""The two sides of the V agree: the result row the trial builds and the keys the analysis reads,
the knob vocabulary of `trainables` and that of `analysis`."""

import math
import typing

import pytest

from analysis.knobs import KNOBS as ANALYSIS_KNOBS
from analysis.load import CELL_KEYS
from trainables.knobs import KNOBS as TRAINABLE_KNOBS
from trainables.row import CellRow, report_keys
from trainables.spec import StudySection


def test_every_key_the_analysis_reads_is_in_the_row_the_trial_reports():
    assert set(CELL_KEYS) <= set(report_keys(2))


def test_the_knobs_agree_on_both_sides_and_with_the_config():
    assert set(TRAINABLE_KNOBS) == set(ANALYSIS_KNOBS)
    assert set(typing.get_args(StudySection.model_fields["knob"].annotation)) == set(TRAINABLE_KNOBS)
    for name, knob in TRAINABLE_KNOBS.items():
        words = ANALYSIS_KNOBS[name]
        assert (words.unit, words.hotter_is_larger) == (knob.unit, knob.hotter_is_larger), name


def _row(**values):
    row = CellRow("epochs", 10.0, 0, 0.05, 0.0501, 0.9, 12, 2, "test")
    return row.with_values(values)


def test_a_diverged_row_has_the_same_keys_as_an_ok_one_with_nan_metrics():
    ok = _row(test_acc=0.8, test_acc_std=0.01, lmc=-0.1, cka=0.9, test_acc_copy0=0.79, test_acc_copy1=0.81,
              lmc_pair0_1=-0.1, cka_pair0_1=0.9).to_report()
    diverged = _row(test_acc_copy0=float("nan")).to_report()
    assert list(ok) == list(diverged) == report_keys(2)
    assert ok["status"] == "ok" and diverged["status"] == "diverged"
    assert all(math.isnan(diverged[k]) for k in ("test_acc", "lmc", "cka", "test_acc_copy1", "cka_pair0_1"))
    assert all(isinstance(v, (int, float, str)) for v in ok.values())


def test_a_key_outside_the_row_is_refused():
    with pytest.raises(KeyError, match="not a result-row key"):
        _row(test_accuracy=0.8)
