"""The dense cache a screened study's two stages share: what one stage leaves, the other reads back."""

import torch

from trainables.cell.state import TrialState
from trainables.trial import cache_dense, cached_dense


def _state():
    return TrialState({"w": torch.arange(4.0)}, False, 0.8, 12.5, 1.0, 20.0, finished=[0.1], dense_val_acc=0.7)


def test_a_cached_dense_model_comes_back_without_its_progress_or_its_cost(tmp_path):
    assert cached_dense(str(tmp_path), 0.1, 0) is None and cached_dense(None, 0.1, 0) is None
    cache_dense(str(tmp_path), 0.1, 0, _state())
    back = cached_dense(str(tmp_path), 0.1, 0)
    assert torch.equal(back.dense_state["w"], torch.arange(4.0))
    assert (back.dense_test_acc, back.dense_val_acc, back.dense_diverged) == (0.8, 0.7, False)
    # The stage that trained it reported its seconds and epochs; this one trained nothing and finished nothing.
    assert (back.seconds_dense, back.dense_epochs_trained, back.finished, back.resumed) == (0.0, 0.0, [], False)
    assert cached_dense(str(tmp_path), 0.1, 1) is None  # another seed's model is not this one
    cache_dense(str(tmp_path), 0.1, 0, TrialState({"w": torch.zeros(4)}, False, 0.5, 1.0, 0.0, 1.0))
    assert torch.equal(cached_dense(str(tmp_path), 0.1, 0).dense_state["w"], torch.arange(4.0))  # the first kept
    assert [p.name for p in tmp_path.iterdir()] == ["0.1_seed0"]  # no staging folder left behind


def test_a_damaged_cache_entry_means_training_again_once(tmp_path):
    cache_dense(str(tmp_path), 2.0, 0, _state())
    (tmp_path / "2_seed0" / "trial_state.pt").write_bytes(b"not a torch file")
    assert cached_dense(str(tmp_path), 2.0, 0) is None  # the trial trains the dense model again
    retrained = TrialState({"w": torch.ones(4)}, False, 0.6, 3.0, 0.0, 2.0, dense_val_acc=0.55)
    cache_dense(str(tmp_path), 2.0, 0, retrained)  # and its model replaces the damaged entry
    back = cached_dense(str(tmp_path), 2.0, 0)
    assert torch.equal(back.dense_state["w"], torch.ones(4))
    assert (back.dense_test_acc, back.dense_val_acc) == (0.6, 0.55)
    assert [p.name for p in tmp_path.iterdir()] == ["2_seed0"]  # the damaged one and the staging folder gone
