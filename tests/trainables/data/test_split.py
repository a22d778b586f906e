"""The validation split and the training subset: stratified counts worked out by hand, a fixed seed, refusals in one line."""

import copy

import pytest
import torch
import yaml

from study.config import ConfigError, load_config
from trainables.data import Dataset, DatasetError
from trainables.data.split import hold_out_validation, subset_counts, take_subset, validation_counts
from trainables.method.pruning import magnitude_masks
from trainables.method.retrain import retrain_copies
from trainables.models import build_model
from trainables.run.engine import evaluate
from trainables.run.runtime import seed_everything
from trainables.run.schedules import epoch_schedule
from trainables.run.settings import SGDRun

LABELS = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)


def _data(n_classes=3, labels=LABELS):
    x = torch.arange(len(labels), dtype=torch.float32).view(-1, 1, 1).expand(-1, 1, 8).contiguous()
    return Dataset(x, labels.clone(), x[:5], labels[:5], n_classes, "none")


def test_a_fraction_holds_out_that_share_of_every_class():
    assert validation_counts(LABELS, 0.1, num_classes=3) == [5, 3, 2]


def test_a_count_is_shared_by_largest_remainders_and_sums_exactly():
    # 7 of 100: shares 3.5, 2.1, 1.4 -> floors 3, 2, 1 (6), the one left goes to the largest remainder (class 0).
    assert validation_counts(LABELS, 7, num_classes=3) == [4, 2, 1]


def test_the_split_is_a_partition_fixed_by_its_seed_and_keeps_the_training_order():
    data = _data()
    split = hold_out_validation(data, 0.2, seed=3)
    assert torch.bincount(split.y_val).tolist() == [10, 6, 4] and len(split.y_train) == 80
    ids_train, ids_val = split.x_train[:, 0, 0].long(), split.x_val[:, 0, 0].long()  # inputs carry their index
    assert sorted(torch.cat([ids_train, ids_val]).tolist()) == list(range(100))
    assert torch.equal(ids_train, torch.sort(ids_train).values)
    assert torch.equal(split.y_train, LABELS[ids_train]) and torch.equal(split.y_val, LABELS[ids_val])
    again, other = hold_out_validation(data, 0.2, seed=3), hold_out_validation(data, 0.2, seed=4)
    assert torch.equal(again.x_val, split.x_val) and not torch.equal(other.x_val, split.x_val)
    assert torch.equal(split.x_test, data.x_test) and split.has_validation and not data.has_validation


def test_a_split_that_empties_a_class_or_the_training_split_is_refused():
    with pytest.raises(DatasetError, match="leaves class 1 with no training example"):
        validation_counts(torch.tensor([0, 0, 0, 0, 1]), 0.6, num_classes=2)  # round(0.6 x 1) = 1 of 1
    with pytest.raises(DatasetError, match="not smaller than the training split"):
        validation_counts(LABELS, 100, num_classes=3)


def test_a_count_survives_the_saved_config_a_trial_reads_and_other_numbers_are_refused():
    # The trial validates the dumped config again, where a count of 30 has become the float 30.0.
    from pydantic import ValidationError

    from contract.config import StudyConfig

    config = StudyConfig.model_validate({"study": {"name": "v", "temperatures": [2]},
                                         "data": {"name": "synthetic", "validation": 30}})
    again = StudyConfig.model_validate(config.model_dump())
    assert validation_counts(LABELS, again.data.validation, num_classes=3) == [15, 9, 6]  # 30 of 50/30/20
    for bad in (1.5, -1, 2.0 ** 0.5):
        with pytest.raises(ValidationError, match="write a fraction of the training split in \\(0, 1\\)"):
            StudyConfig.model_validate({"study": {"name": "v", "temperatures": [2]}, "data": {"validation": bad}})


def _driver_problems(tmp_path, data: dict, overrides: dict | None = None) -> tuple[str, list[str]]:
    # The config file's path and what the driver's check (before Ray) says of a synthetic study with `data`.
    config = {"study": {"name": "v", "storage": str(tmp_path), "temperatures": [2]},
              "data": {"name": "synthetic", **data}, "dense": {"epochs": 2}}
    path = tmp_path / "v.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as err:
        load_config(path, overrides)
    return str(path), err.value.problems


def test_the_driver_refuses_a_split_as_large_as_the_training_set_before_ray(tmp_path):
    path, problems = _driver_problems(tmp_path, {"validation": 512})
    assert problems == [f"{path}: data.validation: 512 examples is not smaller than the training split "
                        "(512); use fewer, or a fraction such as 0.1"]


def test_a_training_subset_keeps_the_classes_in_proportion_and_the_validation_split_comes_out_of_it():
    # 30 of 100 (50/30/20): shares 15, 9, 6, exact; 7 of 100 as for the validation count: [4, 2, 1].
    assert subset_counts(LABELS, 30, num_classes=3) == [15, 9, 6]
    assert subset_counts(LABELS, 7, num_classes=3) == [4, 2, 1]
    data = _data()
    subset = take_subset(data, 30, seed=5)
    ids = subset.x_train[:, 0, 0].long()
    assert torch.bincount(subset.y_train).tolist() == [15, 9, 6] and torch.equal(subset.y_train, LABELS[ids])
    assert torch.equal(ids, torch.sort(ids).values) and len(set(ids.tolist())) == 30
    assert torch.equal(take_subset(data, 30, seed=5).x_train, subset.x_train)
    assert not torch.equal(take_subset(data, 30, seed=6).x_train, subset.x_train)
    assert torch.equal(subset.x_test, data.x_test)  # the test split stays whole
    split = hold_out_validation(subset, 0.2, seed=0)  # 20 % of 15/9/6: 3, 2 (1.8), 1 (1.2)
    assert torch.bincount(split.y_val).tolist() == [3, 2, 1] and len(split.y_train) == 24
    assert set(split.x_val[:, 0, 0].long().tolist()) <= set(ids.tolist())
    with pytest.raises(DatasetError, match="data.train_subset: 101 examples is more than the training split \\(100\\)"):
        take_subset(data, 101, seed=0)


def test_the_driver_refuses_a_subset_larger_than_the_training_set_and_a_split_too_large_for_the_subset(tmp_path):
    path, problems = _driver_problems(tmp_path, {"train_subset": 600})
    assert problems == [f"{path}: data.train_subset: 600 examples is more than the training split (512); "
                        "use at most 512, or leave it out for the whole split"]
    path, problems = _driver_problems(tmp_path, {"train_subset": 600}, {"data.train_subset": 100,
                                                                          "data.validation": 100})
    assert problems == [f"{path}: data.validation: 100 examples is not smaller than the training split "
                        "(100); use fewer, or a fraction such as 0.1"]


@pytest.mark.parametrize("stacked", [True, False])
def test_retrained_copies_score_the_validation_split_like_the_test_split(stacked):
    seed_everything(0)
    from trainables.data import load_dataset

    data = hold_out_validation(load_dataset("synthetic"), 0.25, seed=0)
    model = build_model("cnn1d", input_shape=data.input_shape, num_classes=10)
    masks = magnitude_masks(model, 0.3)
    run = SGDRun(epoch_schedule(0.05, epochs=2, steps_per_epoch=6, milestone_epochs=()), 12, 64, momentum=0.9,
                 weight_decay=0.0)
    copies = retrain_copies(copy.deepcopy(model), masks, data, run=run, seeds=[1, 2], last_epochs=1, stacked=stacked)
    for c in copies:  # one scored epoch: the final model's accuracies, exactly
        assert c.val_acc == evaluate(c.model, data.x_val, data.y_val).accuracy
        assert c.test_acc == evaluate(c.model, data.x_test, data.y_test).accuracy


def test_held_out_examples_of_the_users_files_never_inform_the_training_statistics(tmp_path):
    # Channel 0 of the training split: 80 examples of value 1.0 and 20 of value 101.0. Whichever
    # examples the split holds out, the training split the model sees must have mean 0 and std 1
    # per channel, and every split must map back to its raw values.
    import numpy as np

    from contract.config import StudyConfig
    from trainables.trial import _load_data

    y_train = np.repeat([0, 1], 50)
    x_train = np.where(np.arange(100)[:, None, None] % 5 == 0, 101.0, 1.0) * np.ones((100, 1, 4))
    x_train[:, :, 1] += np.arange(100)[:, None] * 0.01  # a second position, so std is not degenerate
    np.savez(tmp_path / "d.npz", x_train=x_train.astype(np.float32), y_train=y_train,
             x_test=np.ones((10, 1, 4), np.float32), y_test=np.repeat([0, 1], 5))
    for data_keys in ({"validation": 0.3}, {"train_subset": 60}, {"train_subset": 60, "validation": 0.25}):
        spec = StudyConfig.model_validate({"study": {"knob": "lr", "temperatures": [0.1]},
                                           "data": {"name": "npz", "root": str(tmp_path / "d.npz"), **data_keys}})
        data, _ = _load_data(spec)
        trained = data.x_train.double()
        assert abs(trained.mean().item()) < 1e-5 and abs(trained.std().item() - 1) < 1e-4, data_keys
        mean, std = data.stats
        raw = [float(v) for v in (data.x_train[:, 0, 0] * std[0] + mean[0])]
        assert all(abs(v - 1.0) < 1e-3 or abs(v - 101.0) < 1e-3 for v in raw)
        if data.x_val is not None:
            assert torch.allclose(data.x_test * std[0] + mean[0], torch.ones_like(data.x_test), atol=1e-4)
