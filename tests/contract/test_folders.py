"""A study's folders as Tune names them (`contract.folders`), on folders written by hand; no Ray."""

import json

from contract.folders import (has_tune_state, may_hold_results, reported_rows, trial_folders, trial_id, trial_params,
                              trials_params)


def _trial(experiment, name, params, rows=None):
    folder = experiment / name
    folder.mkdir(parents=True)
    (folder / "params.json").write_bytes(params if isinstance(params, bytes) else json.dumps(params).encode())
    if rows is not None:
        (folder / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_trials_are_read_from_their_folders_in_the_study_and_its_repairs(tmp_path):
    study = tmp_path / "demo"
    a = _trial(study, "run_trial_5f2a1_00003_3_temperature=0.1_2026-12-07", {"temperature": 0.1, "dense_seed": 0},
               [{"density": 0.5, "test_acc": 0.9}, {"density": 0.2, "test_acc": 0.8}])
    _trial(study, "run_trial_5f2a1_00004_4", b"{not json")
    (study / "notes").mkdir()  # a folder with no params.json is not a trial
    listed = _trial(tmp_path / "other", "run_trial_0_00000_0", [0.1, 0])  # JSON, but not a trial's config
    _trial(study / "repair-1", "run_trial_77aa0_00000_0", {"temperature": 0.2, "dense_seed": 1},
           [{"density": 0.5, "test_acc": 0.7}])
    assert trial_folders(study) == [a, study / "run_trial_5f2a1_00004_4"]
    assert trial_id(a) == "5f2a1_00003" and trial_id(study / "notes") == "notes"
    assert trial_params(a) == {"temperature": 0.1, "dense_seed": 0} and trial_params(study / "notes") is None
    assert trial_params(listed) is None
    assert trials_params(study) == [{"temperature": 0.1, "dense_seed": 0}, {"temperature": 0.2, "dense_seed": 1}]
    assert [r["test_acc"] for r in reported_rows(study)] == [0.9, 0.8, 0.7]
    assert may_hold_results(study) and not may_hold_results(tmp_path / "empty")
    assert may_hold_results("s3://bucket/study")  # object storage is not listed: it may
    assert not has_tune_state(study)
    (study / "experiment_state-2026-12-07_00-00-00.json").write_text("{}")
    assert has_tune_state(study) and not has_tune_state("s3://bucket/study")
