"""The trial state a checkpoint holds: typed, versioned, and readable from studies written before the type."""

import math

import pytest
import torch

from trainables.cell.state import STATE_FILE, STATE_VERSION, TrialState, TrialStateError


def _state():
    return TrialState({"w": torch.arange(4.0)}, dense_diverged=False, dense_test_acc=0.5, seconds_dense=1.5,
                      seconds_dense_wait=0.25, dense_epochs_trained=10.0, finished=[0.1, 0.05])


def test_a_saved_state_reads_back_equal_and_marked_resumed(tmp_path):
    _state().save(tmp_path)
    back = TrialState.load(tmp_path)
    assert torch.equal(back.dense_state["w"], torch.arange(4.0)) and back.finished == [0.1, 0.05]
    assert (back.dense_test_acc, back.seconds_dense_wait, back.resumed) == (0.5, 0.25, True)
    assert torch.load(tmp_path / STATE_FILE, weights_only=True)["version"] == STATE_VERSION


def test_the_untyped_dict_of_earlier_studies_reads_as_version_one(tmp_path):
    old = {"finished": [0.5], "dense_diverged": True, "dense_test_acc": math.nan, "seconds_dense": 2.0,
           "seconds_dense_wait": 0.0, "dense_epochs_trained": 20.0, "dense_state": {"w": torch.ones(2)}}
    torch.save(old, tmp_path / STATE_FILE)
    back = TrialState.load(tmp_path)
    assert back.dense_diverged and math.isnan(back.dense_test_acc) and back.finished == [0.5]


def test_a_newer_version_or_a_missing_file_is_refused_by_name(tmp_path):
    with pytest.raises(TrialStateError, match="holds no trial_state.pt"):
        TrialState.load(tmp_path)
    torch.save({"version": STATE_VERSION + 1}, tmp_path / STATE_FILE)
    with pytest.raises(TrialStateError, match="newer than this code"):
        TrialState.load(tmp_path)


def test_a_damaged_state_file_is_named_and_the_trial_starts_again_instead_of_failing(tmp_path, capsys):
    # The probe's faults: garbage written over the checkpoint Tune restores, or the file cut short.
    from ray.tune import Checkpoint

    from trainables.cell.state import TrialStateDamaged
    from trainables.trial import _load_state

    state = TrialState(finished=[0.1], dense_diverged=False, dense_test_acc=0.5, seconds_dense=1.0,
                       seconds_dense_wait=0.0, dense_epochs_trained=2.0, dense_state={"w": torch.ones(3)})
    state.save(tmp_path)
    whole = (tmp_path / STATE_FILE).read_bytes()
    assert _load_state(Checkpoint.from_directory(str(tmp_path))).finished == [0.1]
    for damaged in (b"garbage" * 10, whole[: len(whole) // 2]):
        (tmp_path / STATE_FILE).write_bytes(damaged)
        with pytest.raises(TrialStateDamaged, match=f"{tmp_path / STATE_FILE}: the trial state does not load"):
            TrialState.load(tmp_path)
        assert _load_state(Checkpoint.from_directory(str(tmp_path))) is None
        assert capsys.readouterr().err.endswith("; starting this trial again from its dense training\n")
