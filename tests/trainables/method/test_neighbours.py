"""The neighbouring studies' measurements inside a trial: the from-scratch control, pruning beyond
test accuracy, and data dimension (trainables.method.controls, trainables.method.beyond, trainables.data.dimension)."""

import math

import pytest
import torch

from contract.row import CellRow
from trainables.data import load_dataset
from trainables.data.dimension import fit_projection, project, reduce_dimension
from trainables.method import beyond
from trainables.method.controls import scratch_seeds, scratch_start
from trainables.method.pruning import prune
from trainables.models import build_model
from trainables.run.engine import evaluate


def _cnn(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model("cnn1d", input_shape=(1, 32), num_classes=10)


def test_the_scratch_start_has_the_cells_mask_and_fresh_weights_not_the_dense_ones():
    dense = _cnn(0)
    _, masks = prune(dense, density=0.2, method="uniform")
    start = scratch_start(lambda: build_model("cnn1d", input_shape=(1, 32), num_classes=10), masks, seed=123)
    params, dense_params = dict(start.named_parameters()), dict(dense.named_parameters())
    for name, mask in masks.items():
        # Exactly the cell's pattern: zero where pruned, and a (almost surely) non-zero init where kept.
        assert torch.equal(params[name] != 0, mask.bool()), name
        kept = mask.bool()
        assert not torch.allclose(params[name][kept], dense_params[name][kept]), name
    again = scratch_start(lambda: build_model("cnn1d", input_shape=(1, 32), num_classes=10), masks, seed=123)
    assert all(torch.equal(a, b) for a, b in zip(start.state_dict().values(), again.state_dict().values()))


def test_scratch_seeds_are_distinct_per_dense_seed_and_copy_and_apart_from_copy_seeds():
    seeds = scratch_seeds(0, 3) + scratch_seeds(1, 3)
    assert len(set(seeds)) == 6
    copy_seeds = {1000 * s + k + 1 for s in range(100) for k in range(10)}  # trial.py's retraining seeds
    assert not set(seeds) & copy_seeds


def test_a_model_agrees_with_itself_everywhere_and_agreement_counts_equal_positions():
    data = load_dataset("synthetic")
    model = _cnn(1)
    mine = beyond.predictions(model, data.x_test)
    assert beyond.agreement(mine, beyond.predictions(model, data.x_test)) == 1.0
    assert beyond.agreement(torch.tensor([1, 2, 3, 4]), torch.tensor([1, 0, 3, 0])) == 0.5


def test_noise_at_level_zero_is_the_clean_test_set_and_noise_scales_with_each_features_std():
    data = load_dataset("synthetic")
    sets = beyond.perturbed_test_sets(data.x_train, data.x_test, [0.0, 2.0])
    assert list(sets) == ["noise0", "noise2"]  # signals: no image corruptions
    assert torch.equal(sets["noise0"], data.x_test)
    model = _cnn(2)
    clean = evaluate(model, data.x_test, data.y_test).accuracy
    assert beyond.perturbed_accuracies(model, sets, data.y_test)["noise0"] == pytest.approx(clean, abs=1e-12)
    # The added noise has, per feature, about 2x the training split's std of that feature.
    ratio = (sets["noise2"] - data.x_test).std(0) / data.x_train.std(0)
    assert ratio.mean().item() == pytest.approx(2.0, rel=0.05)


def test_image_corruptions_do_what_they_say_on_hand_made_images():
    x_train = torch.randn(64, 3, 8, 8)
    x = torch.randn(2, 3, 8, 8)
    sets = beyond.perturbed_test_sets(x_train, x, [])
    assert list(sets) == ["contrast", "brightness", "blur"]
    mean = x.mean(dim=(2, 3), keepdim=True)
    # Contrast keeps each image's channel means and shrinks deviations to 0.4 of themselves.
    assert torch.allclose(sets["contrast"].mean(dim=(2, 3), keepdim=True), mean, atol=1e-6)
    assert torch.allclose(sets["contrast"] - mean, 0.4 * (x - mean), atol=1e-6)
    # Brightness adds half of each channel's training std everywhere.
    shift = sets["brightness"] - x
    assert torch.allclose(shift, 0.5 * x_train.std(dim=(0, 2, 3)).view(1, 3, 1, 1).expand_as(x), atol=1e-6)
    # Blur leaves a constant image constant and spreads a single bright pixel to its neighbours.
    flat = torch.full((1, 3, 8, 8), 0.7)
    assert torch.allclose(beyond.gaussian_blur(flat, sigma_px=1.0), flat, atol=1e-6)
    dot = torch.zeros(1, 1, 9, 9)
    dot[0, 0, 4, 4] = 1.0
    blurred = beyond.gaussian_blur(dot, sigma_px=1.0)
    centre_1d = 1 / sum(math.exp(-d * d / 2) for d in range(-2, 3))
    assert blurred[0, 0, 4, 4].item() == pytest.approx(centre_1d ** 2, rel=1e-5)
    assert blurred.sum().item() == pytest.approx(1.0, rel=1e-5)


def test_perturbed_accuracies_are_reported_under_stable_row_keys():
    keys = beyond.robust_keys([0.5, 1.0], image=False)
    assert keys == ["test_acc_noise0.5", "test_acc_noise1", "dense_test_acc_noise0.5", "dense_test_acc_noise1"]
    row = CellRow("lr", 0.1, 0, 0.5, 0.5, 0.9, 2, 2, "test").with_values(dict.fromkeys(keys, math.nan))
    report = row.with_values({"test_acc_noise1": 0.4}).to_report()
    assert report["test_acc_noise1"] == 0.4 and math.isnan(report["dense_test_acc_noise0.5"])
    assert set(beyond.robust_keys([1.0], image=True)) >= {"test_acc_blur", "dense_test_acc_contrast"}
    with pytest.raises(KeyError):
        row.with_values({"test_acc_fog": 0.1})


def test_pca_at_full_rank_is_the_identity_and_at_rank_k_spans_k_dimensions():
    generator = torch.Generator().manual_seed(0)
    x_train = torch.randn(300, 1, 12, generator=generator) @ torch.randn(12, 12, generator=generator)
    x_test = torch.randn(50, 1, 12, generator=generator)
    full = fit_projection(x_train, 12)
    assert torch.allclose(project(x_test, full), x_test, atol=1e-5)
    assert full.variance_kept == pytest.approx(1.0)
    three = fit_projection(x_train, 3)
    reduced = project(x_test, three)
    assert reduced.shape == x_test.shape and reduced.dtype == x_test.dtype
    centred = reduced.flatten(1).double() - three.mean
    assert torch.linalg.matrix_rank(centred, rtol=1e-5).item() == 3  # float32 round-off aside
    assert 0 < three.variance_kept < 1
    # Projecting twice changes nothing (a projection), and the kept variance is the top eigenvalues'.
    assert torch.allclose(project(reduced, three), reduced, atol=1e-5)
    eigenvalues = torch.linalg.eigvalsh(torch.cov(x_train.flatten(1).double().T))
    assert three.variance_kept == pytest.approx(float(eigenvalues[-3:].sum() / eigenvalues.sum()), rel=1e-9)


def test_reduce_dimension_projects_both_splits_with_the_training_fit_and_refuses_too_many_components():
    data = load_dataset("synthetic")
    reduced, projection = reduce_dimension(data, 4)
    assert projection.rank == 4 and reduced.x_train.shape == data.x_train.shape
    assert torch.equal(reduced.y_test, data.y_test)
    assert torch.allclose(reduced.x_test, project(data.x_test, projection))
    with pytest.raises(ValueError, match="more than the 32 input features"):
        reduce_dimension(data, 33)
