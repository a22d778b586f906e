"""The contract: the one reader of reported rows, the lenient reading of saved configs, the vocabulary."""

import math

import pandas as pd
import pytest

from contract.cells import finished_cells
from contract.config import StudyConfig
from contract.saved import read_saved_config
from contract.knobs import KNOBS, hot_to_cold, knob_words
from contract.row import CellRow, per_copy_keys, report_keys, row_fields, rule_keys


def _row(density, test_acc, **extra):
    row = CellRow("lr", 0.1, 0, density, density, 0.9, 8, 2, "v").with_values({"test_acc": test_acc}).to_report()
    return {**row, "training_iteration": 1, "trial_id": "t0", "config/temperature": 0.1, **extra}


def test_the_last_report_of_a_density_wins_and_tunes_columns_go():
    # A retried trial reported density 0.1 again (0.71 after 0.70); 0.2 once.
    frame = pd.DataFrame([_row(0.1, 0.70), _row(0.2, 0.80), _row(0.1, 0.71)])
    cells = finished_cells(frame)
    assert list(cells["density"]) == [0.2, 0.1] and list(cells["test_acc"]) == [0.80, 0.71]
    assert not {"training_iteration", "trial_id", "config/temperature"} & set(cells.columns)
    assert set(report_keys(2)) <= set(cells.columns)


def test_nothing_reported_reads_as_no_cells_with_the_rows_keys():
    for empty in (None, pd.DataFrame(), pd.DataFrame([{"training_iteration": 1}])):
        cells = finished_cells(empty)
        assert cells.empty and list(cells.columns) == row_fields()


def test_a_rule_sees_its_keys_and_the_per_copy_values_only():
    row = CellRow("lr", 0.1, 0, 0.1, 0.1, 0.9, 8, 2, "v").with_values(
        {"test_acc": 0.5, "lmc_pair0_1": -0.2, "test_acc_copy1": 0.4}).to_report()
    kept = rule_keys(row)
    assert set(kept) == {"knob", "temperature", "dense_seed", "density", "test_acc", "val_acc", "lmc", "cka", "status",
                         "n_copies"} | set(per_copy_keys(2))
    assert kept["lmc_pair0_1"] == -0.2 and math.isnan(kept["cka"])


def _earlier_version():
    # What a study written before metrics.confidence, controls, tracking and data.intrinsic_dim
    # existed saved, plus a key a later version may have removed.
    config = StudyConfig.model_validate({"study": {"name": "old", "knob": "lr", "temperatures": [0.01, 0.1]},
                                         "pruning": {"densities": [0.05, 0.5]},
                                         "metrics": {"mc_threshold": -0.1}}).model_dump(mode="json")
    for section in ("controls", "tracking"):
        del config[section]
    del config["metrics"]["confidence"], config["data"]["intrinsic_dim"]
    config["metrics"]["old_option"] = True
    return config


def test_a_study_written_by_an_earlier_version_reads_with_its_own_settings():
    config, dropped = read_saved_config(_earlier_version())
    assert dropped == ["metrics.old_option"]
    assert (config.study.name, config.study.knob, config.pruning.densities) == ("old", "lr", [0.05, 0.5])
    assert config.metrics.mc_threshold == -0.1
    assert config.metrics.confidence == 0.0  # such studies were read without confidence, not today's 2.0
    assert config.data.intrinsic_dim is None and not config.controls.scratch  # the defaults of newer sections


def test_a_value_this_version_refuses_is_dropped_and_a_rule_across_sections_does_not_lose_the_study():
    saved = _earlier_version()
    saved["metrics"]["lmc_points"] = "eleven"
    saved["retrain"]["copies"] = 1  # LMC with one copy: refused across sections today
    config, dropped = read_saved_config(saved)
    assert "metrics.lmc_points" in dropped and config.metrics.lmc_points == 11
    assert config.retrain.copies == 1 and config.study.name == "old"
    assert saved["metrics"]["lmc_points"] == "eleven"  # the caller's dict is left alone


def test_targets_default_to_every_pruning_density():
    config = StudyConfig.model_validate({"pruning": {"densities": [0.1, 0.5]}})
    assert config.targets == [0.1, 0.5]
    searched = StudyConfig.model_validate({"study": {"search": "regimes", "target_densities": [0.1]},
                                           "pruning": {"densities": [0.1, 0.5]}})
    assert searched.targets == [0.1]


def test_the_config_takes_its_knob_names_from_the_vocabulary():
    for knob in KNOBS:
        assert StudyConfig.model_validate({"study": {"knob": knob, "temperatures": [1]},
                                           "dense": {"epochs": 1}}).study.knob == knob
    with pytest.raises(ValueError, match="epochs"):
        StudyConfig.model_validate({"study": {"knob": "heat"}})


def test_hot_to_cold_follows_each_knobs_direction_and_unknown_knobs_get_neutral_words():
    assert hot_to_cold("epochs", [40, 10, 20]) == [10.0, 20.0, 40.0]
    assert hot_to_cold("sam_rho", [0.1, 0.8]) == [0.8, 0.1]
    assert knob_words("lr").hotter == "use a larger learning rate"
    assert knob_words("width").hotter == "raise width"


def test_a_trial_reads_what_the_launcher_writes():
    from contract.trial import TrialInput, param_space_keys

    config = StudyConfig.model_validate({"study": {"knob": "lr", "temperatures": [0.1]}})
    given = TrialInput.model_validate({"study_config": config.model_dump(mode="json"), "temperature": 0.1,
                                       "dense_seed": 2, "code_version": "v", "dense_prefix": None,
                                       "__trial_index__": 0})  # Tune's own keys are ignored
    assert (given.study_config, given.temperature, given.dense_seed, given.dense_prefix) == (config, 0.1, 2, None)
    assert given.densities is None  # every density of the study
    assert param_space_keys() == ["study_config", "temperature", "dense_seed", "code_version", "dense_prefix",
                                  "densities", "dense_cache"]
    assert given.dense_cache is None  # no other stage shares its dense model
    repair = TrialInput.model_validate({"study_config": config.model_dump(mode="json"), "temperature": 0.1,
                                        "dense_seed": 2, "densities": [0.05, 0.4]})
    assert repair.densities == [0.05, 0.4]  # a repair computes only the cells its study owes


def test_a_screens_config_is_the_grid_at_the_short_budget_stored_inside_the_study(tmp_path):
    from contract.results import owed_cells
    from contract.screen import screen_config

    config = StudyConfig.model_validate({"study": {"screen_epochs": 2, "temperatures": [10, 20]},
                                         "retrain": {"epochs": 8, "milestones": [4, 6], "last_epochs": 5},
                                         "pruning": {"densities": [0.1, 0.5]}})
    screen = screen_config(config, str(tmp_path / "s"))
    # Milestones x 2/8: 4 -> 1, 6 -> 1.5, which rounds to 2, the end of a 2-epoch schedule: dropped.
    assert (screen.retrain.epochs, screen.retrain.milestones, screen.retrain.last_epochs) == (2, [1], 2)
    assert (screen.study.name, screen.study.storage, screen.study.screen_epochs) == ("screen", str(tmp_path / "s"), None)
    assert screen.study.temperatures == config.study.temperatures and screen.dense == config.dense
    # Before the screen has recorded its decision the full stage owes nothing; then what it recorded.
    assert owed_cells(config, tmp_path) == {}
    (tmp_path / "regimes_manifest.json").write_text('{"owes": [[10.0, 0, [0.5]], [20.0, 0, [0.1, 0.5]]]}')
    assert owed_cells(config, tmp_path) == {(10.0, 0): [0.5], (20.0, 0): [0.1, 0.5]}
    grid = StudyConfig.model_validate({"study": {"temperatures": [10, 20]}, "pruning": {"densities": [0.1, 0.5]}})
    assert owed_cells(grid, tmp_path) == {(10.0, 0): [0.1, 0.5], (20.0, 0): [0.1, 0.5]}


def test_a_trial_of_a_study_moved_to_another_root_finds_its_shared_folders_there():
    from contract.trial import TrialInput

    config = StudyConfig.model_validate({"study": {"knob": "epochs", "temperatures": [2], "storage": "/old/root",
                                                   "name": "s"}, "data": {"root": "/old/data"}})
    given = TrialInput.model_validate({"study_config": config.model_dump(mode="json"), "temperature": 2,
                                       "dense_seed": 0, "dense_prefix": "/old/root/s/dense_prefix",
                                       "dense_cache": "/elsewhere/cache"})
    moved = given.moved_to("/new/place", "/new/data")
    assert moved.dense_prefix == "/new/place/s/dense_prefix"
    assert moved.dense_cache == "/elsewhere/cache"  # not under the old root: as given
    assert (moved.study_config.study.storage, moved.study_config.data.root) == ("/new/place", "/new/data")
    assert moved.study_config.dense == config.dense and moved.temperature == 2
    assert given.moved_to("/old/root/") is given  # the same root, however spelled: unchanged
    kept = given.moved_to("/new/place")  # no snapshot there to say where the data is: as it was
    assert kept.study_config.data.root == "/old/data"
    assert given.with_trial_timeout(30.0).study_config.resources.trial_timeout_s == 30.0
    assert config.resources.trial_timeout_s == 1800.0  # the stated default: half an hour without progress
    here = given.moved_to("/old/root", "/mounted/elsewhere")  # the data moved, the study did not
    assert here.study_config.data.root == "/mounted/elsewhere" and here.dense_prefix == given.dense_prefix
