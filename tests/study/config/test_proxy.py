"""Proxy studies: the full config made smaller along named axes, once, with one-line refusals."""

import json

import pytest
import yaml

from contract.config import StudyConfig
from study.config import ConfigError, load_config
from tests.conftest import ROOT

DEMO = ROOT / "configs/demo.yaml"  # 20 dense epochs at [10, 15], 8 retraining at [4, 6], mnist1d (4,000 training)
TINY = ROOT / "configs/tiny.yaml"  # the epochs knob: temperatures [2, 4] of a 4-epoch schedule at [3]


def test_each_axis_scales_its_keys_by_its_fraction_rounding_half_up_and_names_the_study_beside_the_full_one():
    config = load_config(DEMO, {"proxy.width": 0.25, "proxy.train_subset": 0.25, "proxy.dense_epochs": 0.5,
                                "proxy.retrain_epochs": 0.25}, check_paths=False)
    assert config.model.width == 0.25
    assert config.data.train_subset == 1000  # a quarter of mnist1d's 4,000 training signals
    # Dense: 20 x 0.5 = 10 epochs; milestones 10 x 0.5 = 5, 15 x 0.5 = 7.5 -> 8.
    assert (config.dense.epochs, config.dense.milestones) == (10, [5, 8])
    # Retraining: 8 x 0.25 = 2 epochs; 4 -> 1, 6 -> 1.5 -> 2, the end of the schedule: dropped. last_epochs 5 -> 2.
    assert (config.retrain.epochs, config.retrain.milestones, config.retrain.last_epochs) == (2, [1], 2)
    assert config.study.temperatures == [0.005, 0.01, 0.02, 0.035, 0.07, 0.15]  # the lr knob is not epochs
    assert config.study.name == "demo-proxy-width0.25-train_subset0.25-dense_epochs0.5-retrain_epochs0.25"
    assert config.proxy.full == {"model.width": 1.0, "data.train_subset": None, "dense.epochs": 20,
                                 "dense.milestones": [10, 15], "retrain.epochs": 8, "retrain.milestones": [4, 6],
                                 "retrain.last_epochs": 5}
    assert config.proxy.describe() == "width 0.25, train_subset 0.25, dense_epochs 0.5, retrain_epochs 0.25"


def test_a_full_size_study_has_no_proxy_and_keeps_its_name():
    config = load_config(DEMO, check_paths=False)
    assert (config.proxy.axes(), config.proxy.describe(), config.study.name) == ({}, "", "demo")


def test_the_epoch_knobs_temperatures_shrink_with_the_dense_schedule():
    config = load_config(TINY, {"proxy.dense_epochs": 0.5}, check_paths=False)
    # 4 epochs -> 2; milestone 3 -> 1.5 -> 2, the end: dropped; temperatures 2 -> 1 and 4 -> 2.
    assert (config.dense.epochs, config.dense.milestones, config.study.temperatures) == (2, [], [1.0, 2.0])
    quarter = load_config(DEMO, {"proxy.dense_epochs": 0.25}, check_paths=False)
    assert (quarter.dense.epochs, quarter.dense.milestones) == (5, [3, 4])  # 2.5 -> 3 (half up), 3.75 -> 4


def test_a_saved_proxy_config_is_never_scaled_twice(tmp_path):
    config = load_config(DEMO, {"proxy.width": 0.5, "proxy.dense_epochs": 0.5}, check_paths=False)
    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump(json.loads(config.model_dump_json())))
    reloaded = load_config(again, check_paths=False)
    assert reloaded == config and (reloaded.model.width, reloaded.dense.epochs) == (0.5, 10)
    assert StudyConfig.model_validate_json(config.model_dump_json()) == config  # as a trial rebuilds it


@pytest.mark.parametrize("overrides,message", [
    ({"proxy.width": 0.01}, "proxy.width: 0.01 of model.width 1: a width of 0.01 leaves a layer of 32 channels or "
                            "units with none; use a width of at least 0.0156"),
    ({"model.width": 0.01}, "model.width: a width of 0.01 leaves a layer of 32 channels or units with none; use a "
                            "width of at least 0.0156"),
    ({"proxy.train_subset": 0.001}, "proxy.train_subset: 0.001 of 4,000 training examples is 4, fewer than the 10 "
                                    "classes; use at least 0.0025"),
    ({"proxy.width": 1.5}, "proxy.width: got 1.5; input should be less than or equal to 1"),
    ({"proxy.retrain_epochs": 0}, "proxy.retrain_epochs: got 0; input should be greater than 0"),
])
def test_a_proxy_that_means_nothing_is_refused_in_one_line_naming_the_key(overrides, message):
    with pytest.raises(ConfigError) as err:
        load_config(DEMO, overrides, check_paths=False)
    assert len(err.value.problems) == 1 and message in err.value.problems[0], err.value.problems


def test_an_epoch_fraction_that_merges_two_temperatures_is_refused():
    with pytest.raises(ConfigError, match=r"proxy.dense_epochs: 0.25 of the epoch knob's temperatures \[2, 4\] gives "
                                          r"\[1, 1\], two or more the same; use a larger fraction"):
        load_config(TINY, {"proxy.dense_epochs": 0.25}, check_paths=False)


def test_a_width_proxy_of_a_model_without_a_width_multiplier_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="proxy.width: torchvision/resnet18 is not a built-in model"):
        load_config(DEMO, {"model.name": "torchvision/resnet18", "proxy.width": 0.5}, check_paths=False)


@pytest.mark.slow
def test_a_proxy_study_records_its_axes_in_every_row_and_compare_prints_its_transfer_row(tiny_study):
    from analysis import open_study, read_study
    from analysis.compare import compare, comparison_lines
    from study.run.launch import run_study

    config, outcome = tiny_study
    proxy = load_config(TINY, {"study.storage": config.study.storage, "study.name": "clean", "proxy.width": 0.5,
                               "proxy.retrain_epochs": 0.5})
    assert proxy.study.name == "clean-proxy-width0.5-retrain_epochs0.5"
    done = run_study(proxy)
    assert done.complete and done.path.endswith("/clean-proxy-width0.5-retrain_epochs0.5")
    rows = read_study(done.path).cells
    assert len(rows) == 4 and set(rows["proxy"]) == {"width 0.5, retrain_epochs 0.5"}
    assert set(rows["model_width"]) == {0.5} and set(rows["retrain_epochs"]) == {1}  # 2 retraining epochs x 0.5
    assert set(read_study(outcome.path).cells["proxy"]) == {""}
    lines = comparison_lines(compare([open_study(outcome.path), open_study(done.path)]))
    assert lines[0].startswith("transfer to clean (the full study), answered by its criterion regime")
    assert lines[4].split()[:4] == ["clean-proxy-width0.5-retrain_epochs0.5", "width", "0.5,", "retrain_epochs"]
