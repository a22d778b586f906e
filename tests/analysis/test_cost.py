"""Where a study's compute went, on rows whose timings are written by hand."""

import math

import pandas as pd
import pytest

from analysis.cost import compute_split, cost_line


def _rows():
    # One trial, two cells. First cell: dense 10 s, setup 2 s, the cell 8 s (retrain 5, LMC 1.5, CKA 0.5, the
    # other 1 s: pruning, spectra, reporting); second cell: 6 s (retrain 4, LMC 1, CKA 0.5, other 0.5), retrained
    # for 2 epochs where the study's budget is 8 (a screen row). CUDA: the second row only.
    return pd.DataFrame([
        {"seconds": 8.0, "seconds_retrain": 5.0, "seconds_lmc": 1.5, "seconds_cka": 0.5, "seconds_dense": 10.0,
         "seconds_setup": 2.0, "seconds_dense_wait": 0.0, "retrain_epochs": 8, "gpu_peak_mb": math.nan},
        {"seconds": 6.0, "seconds_retrain": 4.0, "seconds_lmc": 1.0, "seconds_cka": 0.5, "seconds_dense": 0.0,
         "seconds_setup": 0.0, "seconds_dense_wait": 0.0, "retrain_epochs": 2, "gpu_peak_mb": 100.0}])


def test_the_split_by_part_in_cpu_and_gpu_seconds():
    split = compute_split(_rows(), cpu=2, gpu=0.5, full_epochs=8)
    # Overhead: setup 2 + (8 - 7) + (6 - 5.5) = 3.5 s. Total 10 + 4 + 5 + 2.5 + 1 + 3.5 = 26 s.
    expected = {"dense": 10.0, "screen": 4.0, "retrain": 5.0, "lmc": 2.5, "cka": 1.0, "overhead": 3.5}
    for part, seconds in expected.items():
        assert split[part]["seconds"] == pytest.approx(seconds), part
        assert split[part]["cpu_s"] == pytest.approx(2 * seconds), part
        assert split[part]["share"] == pytest.approx(seconds / 26.0), part
    # GPU-seconds: the CUDA row's parts times the GPU share: screen 4 x 0.5, LMC 1 x 0.5, CKA 0.25, overhead 0.25.
    assert split["screen"]["gpu_s"] == pytest.approx(2.0) and split["dense"]["gpu_s"] == 0.0
    assert split["total"]["seconds"] == pytest.approx(26.0) and split["total"]["gpu_s"] == pytest.approx(3.0)
    assert cost_line(split).startswith("compute 52 CPU-s and 3 GPU-s: dense training 20 (38%), screen retraining 8")


def test_without_a_budget_every_row_is_full_retraining():
    split = compute_split(_rows(), full_epochs=None)
    assert split["screen"]["seconds"] == 0.0 and split["retrain"]["seconds"] == pytest.approx(9.0)
    assert "screen" not in cost_line(split)


def test_gpu_seconds_follow_the_rows_device_and_older_rows_their_memory_peak():
    # The row's device decides; a row from before `device` was recorded ("" or absent) falls back to its
    # GPU memory peak. Row 1: device cuda:0 but no peak (the peak is NaN when torch reports none): CUDA.
    # Row 2: device cpu with a peak left from a reused worker: not CUDA.
    rows = _rows().assign(device=["cuda:0", "cpu"])
    split = compute_split(rows, cpu=2, gpu=0.5, full_epochs=8)
    # Row 1's parts: dense 10, retrain 5, LMC 1.5, CKA 0.5, overhead 2 + 1 = 3: 20 s x 0.5 GPU.
    assert split["total"]["gpu_s"] == pytest.approx(10.0) and split["screen"]["gpu_s"] == 0.0
    legacy = _rows().assign(device=["", ""])  # as before: the second row, by its peak
    assert compute_split(legacy, cpu=2, gpu=0.5, full_epochs=8)["total"]["gpu_s"] == pytest.approx(3.0)
