import copy

import pytest
import torch
from torch import nn

from trainables.data import load_dataset
from trainables.method.pruning import (
    alpha_densities,
    apply_masks,
    density_of,
    lamp_scores,
    magnitude_masks,
    prunable_weights,
    pruned_layers,
)
from trainables.method.retrain import retrain_copies
from trainables.method.spectra import layer_spectrum
from trainables.models import build_model, preresnet
from trainables.run.engine import train
from trainables.run.runtime import seed_everything
from trainables.run.schedules import epoch_schedule
from trainables.run.settings import SGDRun


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return preresnet()


@pytest.mark.parametrize("density", [0.05, 0.1, 0.37, 1.0])
def test_uniform_keeps_round_d_n_largest_per_layer_and_leaves_fc(resnet, density):
    masks = magnitude_masks(resnet, density, "uniform")
    assert "fc.weight" not in masks and len(masks) == 21
    weights = dict(resnet.named_parameters())
    for name, mask in masks.items():
        w = weights[name].detach().abs()
        assert int(mask.sum()) == round(density * w.numel()), name
        if density < 1:
            assert w[mask].min() >= w[~mask].max(), name


def test_global_keeps_exactly_the_global_top_fraction(resnet):
    masks = magnitude_masks(resnet, 0.1, "global")
    weights = dict(resnet.named_parameters())
    kept = torch.cat([weights[n].detach().abs()[m] for n, m in masks.items()])
    pruned = torch.cat([weights[n].detach().abs()[~m] for n, m in masks.items()])
    assert kept.numel() == round(0.1 * 270_256)
    assert kept.min() >= pruned.max()
    assert density_of(masks) == pytest.approx(0.1, abs=1e-5)


def _two_layer(first, second):
    layers = nn.ModuleList([nn.Conv1d(1, 1, len(first), bias=False), nn.Conv1d(1, 1, len(second), bias=False),
                            nn.Linear(2, 2)])
    with torch.no_grad():
        layers[0].weight.copy_(torch.tensor(first).view(1, 1, -1))
        layers[1].weight.copy_(torch.tensor(second).view(1, 1, -1))
    return layers


def test_lamp_on_a_hand_worked_example():
    model = _two_layer([1.0, 2.0, 3.0], [10.0, 9.9, 9.8, 9.7])
    # Layer 1 ascending w^2 = 1, 4, 9: scores 1/14, 4/13, 1. Layer 2: 9.7^2/388.14, 9.8^2/294.05, 9.9^2/198.01, 1.
    assert torch.allclose(lamp_scores(model[0].weight).flatten(),
                          torch.tensor([1 / 14, 4 / 13, 1.0], dtype=torch.float64))
    masks = magnitude_masks(model, 4 / 7, "lamp")
    # Keep 4 of 7: each layer's largest, then 9.9 (0.495) and 9.8 (0.327, which beats the 2's 0.308).
    assert masks["0.weight"].flatten().tolist() == [False, False, True]
    assert masks["1.weight"].flatten().tolist() == [True, True, True, False]
    # Global magnitude would have emptied the first layer.
    assert magnitude_masks(model, 4 / 7, "global")["0.weight"].sum() == 0


def test_lamp_keeps_a_weight_in_every_layer_even_at_tiny_density(resnet):
    masks = magnitude_masks(resnet, 0.001, "lamp")
    assert all(int(m.sum()) >= 1 for m in masks.values())


def test_ties_are_broken_by_position():
    model = _two_layer([1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0])
    masks = magnitude_masks(model, 3 / 7, "global")
    assert masks["0.weight"].flatten().tolist() == [True, True, True]
    assert masks["1.weight"].sum() == 0


def test_random_is_seeded_and_keeps_uniform_counts(resnet):
    a, b = magnitude_masks(resnet, 0.2, "random", seed=1), magnitude_masks(resnet, 0.2, "random", seed=1)
    c = magnitude_masks(resnet, 0.2, "random", seed=2)
    assert all(torch.equal(a[n], b[n]) for n in a) and not all(torch.equal(a[n], c[n]) for n in a)
    assert all(int(a[n].sum()) == round(0.2 * a[n].numel()) for n in a)


def test_include_fc_prunes_the_classifier_and_mlp_hidden_layers_are_prunable():
    assert "fc.weight" in prunable_weights(preresnet(), include_fc=True)
    mlp = build_model("mlp", input_shape=(1, 40), num_classes=10)
    assert list(prunable_weights(mlp)) == ["1.weight", "4.weight"]  # the classifier (7) stays dense


def test_bad_density_and_method_are_rejected(resnet):
    with pytest.raises(ValueError, match="density"):
        magnitude_masks(resnet, 0.0)
    with pytest.raises(ValueError, match="unknown pruning method"):
        magnitude_masks(resnet, 0.5, "magic")


def _pruned_cnn(density):
    seed_everything(0)
    data = load_dataset("synthetic")
    model = build_model("cnn1d", input_shape=data.input_shape, num_classes=10)
    masks = magnitude_masks(model, density)
    apply_masks(model, masks)
    return model, masks, data


@pytest.mark.parametrize("sam_rho", [0.0, 0.5])
def test_masked_weights_stay_exactly_zero_through_training(sam_rho):
    model, masks, data = _pruned_cnn(0.2)
    before = copy.deepcopy(model.state_dict())
    schedule = epoch_schedule(0.1, epochs=20, steps_per_epoch=1, milestone_epochs=())  # 20 steps
    train(model, data, SGDRun(schedule, 20, 64, momentum=0.9, weight_decay=5e-3, sam_rho=sam_rho, drop_last=True),
          seed=0, masks=masks)
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        assert torch.all(params[name][~mask] == 0), name
        assert not torch.equal(params[name][mask], before[name][mask]), name


def test_retrained_copies_start_alike_and_differ_only_by_seed():
    pruned, masks, data = _pruned_cnn(0.3)
    start = copy.deepcopy(pruned.state_dict())
    schedule = epoch_schedule(0.05, epochs=3, steps_per_epoch=8, milestone_epochs=(2,))
    run = SGDRun(schedule, 3 * 8, 64, momentum=0.9, weight_decay=1e-4)
    a, b, a_again = retrain_copies(pruned, masks, data, run=run, seeds=[0, 1, 0], last_epochs=2)
    assert all(torch.equal(v, pruned.state_dict()[k]) for k, v in start.items())  # input untouched
    assert torch.equal(a.model.state_dict()["0.weight"], a_again.model.state_dict()["0.weight"])
    assert not torch.equal(a.model.state_dict()["0.weight"], b.model.state_dict()["0.weight"])
    assert 0.0 <= a.test_acc <= 1.0 and a.test_acc == a_again.test_acc


def test_exclusions_by_module_name_and_the_classifier_found_by_structure():
    # The last linear layer is the classifier whatever its name ("head" here); "stem*" keeps the conv dense.
    model = nn.Sequential()
    model.add_module("stem", nn.Conv1d(1, 4, 3))
    model.add_module("flat", nn.Flatten())
    model.add_module("hidden", nn.Linear(4 * 6, 5))
    model.add_module("head", nn.Linear(5, 2))
    assert list(prunable_weights(model)) == ["stem.weight", "hidden.weight"]
    assert list(prunable_weights(model, exclude=("stem*",))) == ["hidden.weight"]
    masks = magnitude_masks(model, 0.5, exclude=("stem*",))
    assert list(masks) == ["hidden.weight"] and int(masks["hidden.weight"].sum()) == 60  # round(0.5 * 120)
    assert pruned_layers(model) == "stem (Conv1d 4x1x3) 12, hidden (Linear 5x24) 120"  # weights: 4*1*3, 5*24
    with pytest.raises(ValueError, match="'steam' matches no conv or linear layer of this model; its layers are "
                                         "stem, hidden, head"):
        prunable_weights(model, exclude=("steam",))


def test_the_papers_preresnet20_default_prunes_21_convs_and_leaves_fc_dense(resnet):
    layers = pruned_layers(resnet).split(", ")
    assert len(layers) == 21 and not any(entry.startswith("fc ") for entry in layers)


def test_alpha_densities_on_hand_worked_layers():
    # alphas 2, 3, 4 map onto sparsity shapes 0.8, 1.0, 1.2 (eps 0.2). Equal layers of 100 at density 0.5:
    # c = (300 - 150) / (100 x 3.0) = 0.5, sparsities 0.4, 0.5, 0.6, densities 0.6, 0.5, 0.4.
    assert alpha_densities([2, 3, 4], [100, 100, 100], 0.5, eps=0.2) == pytest.approx([0.6, 0.5, 0.4])
    # Layers of 100, 300, 600: c = (1000 - 500) / (80 + 300 + 720) = 5 / 11, so sparsities 4/11, 5/11, 6/11.
    assert alpha_densities([2, 3, 4], [100, 300, 600], 0.5, eps=0.2) == pytest.approx([7 / 11, 6 / 11, 5 / 11])
    # Density 0.02 with eps 0.3: the small high-alpha layer would lose more than all of its 10 weights
    # (sparsity 1.3 x 989.8 / 713 = 1.80): it keeps one (density 0.1) and the other keeps 20.2 - 1 of 1000.
    assert alpha_densities([2, 6], [1000, 10], 0.02, eps=0.3) == pytest.approx([0.0192, 0.1])
    # eps 0, or equal alphas: every layer at the target.
    assert alpha_densities([2, 3, 4], [100, 300, 600], 0.3, eps=0.0) == pytest.approx([0.3, 0.3, 0.3])
    assert alpha_densities([3, 3], [100, 300], 0.3, eps=0.3) == pytest.approx([0.3, 0.3])


@pytest.mark.parametrize("density", [0.02, 0.05, 0.2, 0.8])
def test_alpha_pruning_keeps_the_target_and_prunes_the_heavier_alpha_layers_more(resnet, density):
    masks = magnitude_masks(resnet, density, "alpha", alpha_eps=0.3)
    weights = dict(resnet.named_parameters())
    total = sum(m.numel() for m in masks.values())
    # Per-layer counts are rounded (as uniform's), so the realised density is the target within half a weight a layer.
    assert abs(density_of(masks) - density) <= len(masks) / (2 * total) + 1e-12
    assert all(int(m.sum()) >= 1 for m in masks.values())
    alphas = {name: layer_spectrum(weights[name])["alpha"] for name in masks}
    kept = {name: int(m.sum()) / m.numel() for name, m in masks.items()}
    low, high = min(alphas, key=alphas.get), max(alphas, key=alphas.get)
    assert kept[high] < density < kept[low]  # the largest alpha (least well trained) keeps the fewest
    for name, mask in masks.items():  # magnitude inside each layer
        w = weights[name].detach().abs()
        if 0 < int(mask.sum()) < w.numel():
            assert w[mask].min() >= w[~mask].max(), name


def test_alpha_pruning_with_eps_zero_is_uniform(resnet):
    for density in (0.03, 0.4):
        alpha, uniform = magnitude_masks(resnet, density, "alpha", alpha_eps=0.0), magnitude_masks(resnet, density)
        assert all(torch.equal(alpha[name], uniform[name]) for name in uniform)


def test_lamp_keeps_a_weight_in_every_layer_even_when_the_density_keeps_fewer_weights_than_layers():
    # 7 weights in 2 layers at density 0.1: round(0.7) = 1 weight, fewer than the 2 layers. LAMP's
    # promise holds: each layer keeps its largest weight (3.0 and 10.0), 2 of 7 kept.
    model = _two_layer([1.0, 2.0, 3.0], [10.0, 9.9, 9.8, 9.7])
    masks = magnitude_masks(model, 0.1, "lamp")
    assert masks["0.weight"].flatten().tolist() == [False, False, True]
    assert masks["1.weight"].flatten().tolist() == [True, False, False, False]


def test_alpha_densities_by_hand_with_a_small_spread_and_a_layer_without_an_alpha():
    # Three layers of 100 weights, density 0.5 (S = 0.5), eps 0.3. alphas 2.0, NaN (read as the mean, 2.25) and
    # 2.5: normalised 0, 0.5, 1; shape 0.7, 1.0, 1.3; c = (300 - 150) / (100 x 3.0) = 0.5; densities 1 - c x shape.
    import math

    from trainables.method.pruning import alpha_densities

    got = alpha_densities([2.0, math.nan, 2.5], [100, 100, 100], 0.5, eps=0.3)
    assert got == pytest.approx([0.65, 0.5, 0.35])


def test_prune_passes_its_options_through_and_leaves_the_model_alone(resnet):
    from trainables.method.pruning import prune, pruned_layers

    before = {k: v.clone() for k, v in resnet.state_dict().items()}
    pruned, masks = prune(resnet, density=0.2, method="random", seed=3, include_fc=True, exclude=("conv1",))
    assert all(torch.equal(v, resnet.state_dict()[k]) for k, v in before.items())  # a pruned copy, not the model
    expected = magnitude_masks(resnet, 0.2, "random", seed=3, include_fc=True, exclude=("conv1",))
    assert masks.keys() == expected.keys() and all(torch.equal(masks[k], expected[k]) for k in masks)
    assert "fc.weight" in masks and "conv1.weight" not in masks
    listed = pruned_layers(resnet, include_fc=True, exclude=("conv1",))
    assert "fc (Linear" in listed and not listed.startswith("conv1 (")
    assert pruned_layers(resnet).startswith("conv1 (Conv2d")  # the defaults: the stem pruned, the classifier not
    _, default = prune(resnet, density=0.2, method="random")  # the defaults: seed 0, the classifier left dense
    assert "fc.weight" not in default
    assert all(torch.equal(default[k], v) for k, v in magnitude_masks(resnet, 0.2, "random", seed=0).items())
    _, spread = prune(resnet, density=0.2, method="alpha", alpha_eps=0.0)  # eps 0: uniform's masks
    uniform = magnitude_masks(resnet, 0.2, "uniform")
    assert all(torch.equal(spread[k], uniform[k]) for k in uniform)


def test_global_magnitude_keeps_exactly_its_count_even_below_one_weight_a_layer():
    # 7 weights, density 0.1: round(0.7) = 1, the largest overall (10.0); the first layer is emptied. Only LAMP
    # promises a weight in every layer.
    model = _two_layer([1.0, 2.0, 3.0], [10.0, 9.9, 9.8, 9.7])
    masks = magnitude_masks(model, 0.1, "global")
    assert masks["0.weight"].sum() == 0 and masks["1.weight"].flatten().tolist() == [True, False, False, False]


def test_masks_refuse_a_density_above_one_and_default_to_seed_zero(resnet):
    with pytest.raises(ValueError) as err:
        magnitude_masks(resnet, 1.5, "uniform")
    assert str(err.value) == "density must be in (0, 1], got 1.5"
    default, zero = magnitude_masks(resnet, 0.2, "random"), magnitude_masks(resnet, 0.2, "random", seed=0)
    assert all(torch.equal(default[k], zero[k]) for k in zero)


def test_a_model_without_a_linear_layer_prunes_all_its_convolutions():
    from trainables.method.pruning import prunable_weights

    model = nn.Sequential(nn.Conv1d(1, 2, 3), nn.ReLU(), nn.Conv1d(2, 2, 3))
    assert list(prunable_weights(model)) == ["0.weight", "2.weight"]
