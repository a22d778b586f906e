"""The search's view of a study whose Tune state is lost: the cells read from its trial folders, once each."""

import json

from study.run.repair import disk_cells


def _trial(folder, temperature, seed, reports):
    # A trial folder in Tune's layout: params.json and one result.json line per report, in order.
    folder.mkdir(parents=True)
    (folder / "params.json").write_text(json.dumps({"temperature": temperature, "dense_seed": seed}))
    (folder / "result.json").write_text("".join(
        json.dumps({"knob": "epochs", "temperature": temperature, "dense_seed": seed, "density": d, "test_acc": a,
                    "lmc": 0.0, "cka": 0.9, "status": "ok", "seconds": 1.0}) + "\n" for d, a in reports))


def test_each_cell_is_read_once_the_last_report_winning_repairs_after_the_study(tmp_path):
    # T=2: density 0.1 reported (0.5), then 0.5, then 0.1 again by a retry (0.7, which wins).
    # T=4: 0.3 in the study's own trial, then 0.8 by the repair experiment, which is read after it.
    _trial(tmp_path / "run_trial_a_00000", 2.0, 0, [(0.1, 0.5), (0.5, 0.6), (0.1, 0.7)])
    _trial(tmp_path / "run_trial_a_00001", 4.0, 0, [(0.1, 0.3)])
    _trial(tmp_path / "repair-1" / "run_trial_b_00000", 4.0, 0, [(0.1, 0.8)])
    cells = disk_cells(str(tmp_path))
    got = sorted((r.temperature, r.dense_seed, r.density, r.test_acc) for r in cells.itertuples())
    assert got == [(2.0, 0, 0.1, 0.7), (2.0, 0, 0.5, 0.6), (4.0, 0, 0.1, 0.8)]
    assert "seconds" not in cells.columns  # the rule's keys only


def test_a_study_with_no_trial_folder_has_no_cells(tmp_path):
    cells = disk_cells(str(tmp_path))
    assert cells.empty and {"temperature", "dense_seed", "density", "test_acc"} <= set(cells.columns)
