"""The stacked copies (DESIGN.md 6.1) against the same copies trained one after another.

Stacked and separate copies compute the same sums in a different order (a grouped convolution,
a batched matmul), so they agree up to rounding, amplified by training and by SAM's
normalisation; how much depends on which kernels the CPU picks (a float32 comparison at 1e-5
failed at 4.8e-5 on another machine). The comparisons therefore run in float64: its unit
roundoff (1.1e-16) is 2^29 = 5.4e8 times smaller than float32's (6.0e-8), so the 4.8e-5 seen
in float32 becomes about 1e-13 here, and a tolerance of 1e-9 leaves four orders of magnitude for
other CPUs while any leak between copies (a shared statistic, a global SAM norm: differences of
order 1e-2 and more) still fails it.
"""

import copy

import pytest
import torch

from trainables.data import Dataset, load_dataset
from trainables.method.pruning import apply_masks, magnitude_masks
from trainables.method.retrain import retrain_copies
from trainables.models import build_model
from trainables.run.engine import evaluate, evaluate_stacked, train, train_stacked
from trainables.run.runtime import seed_everything
from trainables.run.schedules import epoch_schedule
from trainables.run.settings import SGDRun
from trainables.run.stacked import stack_masks, stack_models, unstack_models

SEEDS = [11, 12, 13]
DENSITY = 0.3
SIZE = 16
TOLERANCE = 1e-9  # relative, in float64 (module docstring)


def _images(n=96, size=SIZE):
    # A learnable task (class templates plus noise), as the synthetic signals: on random labels
    # the trajectory itself is chaotic (float32 and float64 runs of one model part by 1e-1).
    gen = torch.Generator().manual_seed(0)
    templates = torch.randn(10, 3, size, size, generator=gen)
    y = torch.arange(n) % 10
    x = templates[y] + 0.5 * torch.randn(n, 3, size, size, generator=gen)
    return Dataset(x, y, x[:32], y[:32], 10, "crop_flip", (-1.0, -1.0, -1.0))


def _double(data):
    return Dataset(data.x_train.double(), data.y_train, data.x_test.double(), data.y_test, data.num_classes,
                   data.augmentation, data.pad_value)


def _setup(name):
    seed_everything(0)
    if name in ("cnn1d", "mlp"):
        data = load_dataset("synthetic")
    else:
        data = _images()
    depth = {"preresnet": 8, "vgg": 11}.get(name, 20)
    model = build_model(name, input_shape=data.input_shape, num_classes=10, depth=depth).double()
    masks = magnitude_masks(model, DENSITY, include_fc=name == "mlp")
    apply_masks(model, masks)
    return model, masks, _double(data)


def _close(a, b):
    scale = b.abs().max().clamp_min(1e-12)
    return ((a - b).abs().max() / scale).item()


@pytest.mark.parametrize("name", ["cnn1d", "mlp"])
@pytest.mark.parametrize("sam_rho", [0.0, 0.3])
def test_stacked_copies_after_20_steps_equal_the_sequential_ones(name, sam_rho):
    # 20 steps across an epoch boundary and an lr drop, with augmentation, weight decay and
    # momentum, masks held, on the well-conditioned 1-D task. The image models on tiny random
    # tasks are chaotic over many steps (VGG's float32 and float64 runs part by 6e-2), so they
    # are checked step by step below.
    pruned, masks, data = _setup(name)
    steps = 20
    schedule = epoch_schedule(0.02, epochs=20, steps_per_epoch=-(-data.x_train.shape[0] // 32),
                              milestone_epochs=(1,))
    run = SGDRun(schedule, steps, 32, momentum=0.9, weight_decay=5e-4, sam_rho=sam_rho)
    sequential = []
    for seed in SEEDS:
        model = copy.deepcopy(pruned)
        train(model, data, run, seed=seed, masks=masks)
        sequential.append(model)
    stacked = stack_models(pruned, [pruned.state_dict()] * len(SEEDS))
    assert next(stacked.parameters()).dtype == torch.float64
    results = train_stacked(stacked, data, run, seeds=SEEDS, masks=stack_masks(masks, stacked))
    assert [r.steps for r in results] == [steps] * 3 and not any(r.diverged for r in results)
    for seq, ours in zip(sequential, unstack_models(stacked, pruned, len(SEEDS)), strict=True):
        for (key, a), b in zip(ours.state_dict().items(), seq.state_dict().values(), strict=True):
            if a.is_floating_point():
                assert _close(a, b) < TOLERANCE, (key, _close(a, b))
        params = dict(ours.named_parameters())
        for key, mask in masks.items():
            assert torch.all(params[key][~mask] == 0), key


@pytest.mark.parametrize("name", ["cnn1d", "mlp", "preresnet", "vgg"])
@pytest.mark.parametrize("sam_rho", [0.0, 0.3])
def test_one_stacked_step_from_distinct_copies_equals_each_copys_own_step(name, sam_rho):
    # Copies with different weights and different batches: any leak between copies (a shared
    # statistic, a global SAM norm) would show here, in train mode, for every shipped model.
    pruned, masks, data = _setup(name)
    states = []
    for seed in SEEDS:
        model = copy.deepcopy(pruned)
        train(model, data, SGDRun(epoch_schedule(0.05, epochs=1, steps_per_epoch=2, milestone_epochs=()), 2, 32,
                                  momentum=0.0, weight_decay=0.0), seed=seed, masks=masks)
        states.append(model.state_dict())
    run = SGDRun(epoch_schedule(0.05, epochs=1, steps_per_epoch=1, milestone_epochs=()), 1, 32, momentum=0.9,
                 weight_decay=5e-4, sam_rho=sam_rho)
    stacked = stack_models(pruned, states)
    train_stacked(stacked, data, run, seeds=SEEDS, masks=stack_masks(masks, stacked))
    for k, (seed, state) in enumerate(zip(SEEDS, states, strict=True)):
        alone = copy.deepcopy(pruned)
        alone.load_state_dict(state)
        train(alone, data, run, seed=seed, masks=masks)
        ours = unstack_models(stacked, pruned, len(SEEDS))[k]
        for (key, a), b in zip(ours.state_dict().items(), alone.state_dict().values(), strict=True):
            if a.is_floating_point():
                assert _close(a, b) < TOLERANCE, (k, key, _close(a, b))


def test_stacked_evaluation_equals_one_model_at_a_time():
    pruned, _, data = _setup("cnn1d")
    others = [build_model("cnn1d", input_shape=data.input_shape, num_classes=10).double() for _ in range(2)]
    models = [pruned] + others
    stacked = stack_models(pruned, [m.state_dict() for m in models])
    ours = evaluate_stacked(stacked, data.x_test, data.y_test, copies=3, batch_size=100)
    for model, result in zip(models, ours, strict=True):
        expected = evaluate(model, data.x_test, data.y_test)
        # Logits in float64, the loss summed in float32 (evaluate's accumulator): float32's rounding of a
        # sum of 256 terms, far below 1e-5 relative.
        assert result.accuracy == expected.accuracy and result.loss == pytest.approx(expected.loss, rel=1e-5)


def test_retrain_copies_stacked_and_sequential_agree_and_a_diverging_copy_marks_only_itself():
    pruned, masks, data = _setup("cnn1d")
    schedule = epoch_schedule(0.05, epochs=3, steps_per_epoch=8, milestone_epochs=(2,))
    run = SGDRun(schedule, 3 * 8, 64, momentum=0.9, weight_decay=1e-4)
    fast = retrain_copies(pruned, masks, data, run=run, seeds=SEEDS, last_epochs=2, stacked=True)
    slow = retrain_copies(pruned, masks, data, run=run, seeds=SEEDS, last_epochs=2, stacked=False)
    for a, b in zip(fast, slow, strict=True):
        assert a.test_acc == pytest.approx(b.test_acc, abs=1 / 256)  # at most one test example apart
        # Epoch losses are float32 sums on the device (the engine's accumulator): 1e-6 relative.
        assert a.train.epoch_losses == pytest.approx(b.train.epoch_losses, rel=1e-6)
    stacked = stack_models(pruned, [pruned.state_dict()] * 3)
    with torch.no_grad():
        next(stacked.parameters())[32:64].fill_(float("nan"))  # copy 1's first conv
    results = train_stacked(stacked, data, SGDRun(schedule, 16, 64, momentum=0.9, weight_decay=0.0), seeds=SEEDS)
    assert [r.diverged for r in results] == [False, True, False]
    healthy = unstack_models(stacked, pruned, 3)[0]
    assert all(torch.isfinite(v).all() for v in healthy.state_dict().values())


@pytest.mark.parametrize("stacked", [True, False])
def test_pruned_weights_are_exactly_zero_after_retraining(stacked):
    # Momentum and weight decay would move a pruned weight off zero in one step if the masks were
    # not applied to gradients and weights: checked on the retrained copies themselves, both paths.
    pruned, masks, data = _setup("cnn1d")
    schedule = epoch_schedule(0.05, epochs=2, steps_per_epoch=8, milestone_epochs=())
    copies = retrain_copies(pruned, masks, data, run=SGDRun(schedule, 16, 64, momentum=0.9, weight_decay=1e-3),
                            seeds=SEEDS[:2], last_epochs=1, stacked=stacked)
    for retrained in copies:
        params = dict(retrained.model.named_parameters())
        for name, mask in masks.items():
            assert torch.count_nonzero(params[name][~mask.bool()]) == 0, name
            assert torch.count_nonzero(params[name][mask.bool()]) > 0, name  # the kept weights did train


@pytest.mark.parametrize("stacked", [True, False])
def test_test_accuracy_is_the_mean_over_exactly_the_last_epochs(monkeypatch, stacked):
    # Each evaluation returns accuracy epoch / 10 for the epoch that just ended. Five epochs, the last
    # two scored: (0.4 + 0.5) / 2 = 0.45; one epoch off either way gives 0.5 or 0.4.
    import trainables.method.retrain as retrain
    from trainables.run.engine import Evaluation, TrainResult

    epoch = {"now": 0}

    def fake_train(model, data, run, *, on_epoch, copies=1, **_):
        for e in range(1, 6):
            epoch["now"] = e
            on_epoch(e, [0.0] * copies)
        return [TrainResult() for _ in range(copies)]

    accuracy = lambda: Evaluation(epoch["now"] / 10, 0.0)  # noqa: E731
    monkeypatch.setattr(retrain, "train", lambda m, d, r, *, seed, masks, on_epoch: fake_train(m, d, r,
                                                                                              on_epoch=on_epoch)[0])
    monkeypatch.setattr(retrain, "train_stacked", lambda m, d, r, *, seeds, masks, on_epoch: fake_train(
        m, d, r, on_epoch=on_epoch, copies=len(seeds)))
    monkeypatch.setattr(retrain, "evaluate", lambda model, x, y: accuracy())
    monkeypatch.setattr(retrain, "evaluate_stacked", lambda model, x, y, *, copies: [accuracy()] * copies)
    pruned, masks, data = _setup("cnn1d")
    schedule = epoch_schedule(0.05, epochs=5, steps_per_epoch=8, milestone_epochs=())
    copies = retrain_copies(pruned, masks, data, run=SGDRun(schedule, 40, 64, momentum=0.9, weight_decay=0.0),
                            seeds=SEEDS[:2], last_epochs=2, stacked=stacked)
    assert [c.test_acc for c in copies] == [pytest.approx(0.45)] * 2


def _fake_engine(monkeypatch, *, diverged: list[bool], scored_epochs: int = 5):
    # train / train_stacked that call on_epoch for `scored_epochs` epochs with accuracy epoch / 10 and
    # report copy k diverged per `diverged`; returns the list of paths taken.
    import trainables.method.retrain as retrain
    from trainables.run.engine import Evaluation, TrainResult

    epoch, paths = {"now": 0}, []

    def run(on_epoch, copies):
        for e in range(1, scored_epochs + 1):
            epoch["now"] = e
            on_epoch(e, [0.0] * copies)

    def fake_train(model, data, run_, *, seed, masks, on_epoch):
        paths.append("sequential")
        run(on_epoch, 1)
        return TrainResult(diverged=diverged[(paths.count("sequential") - 1) % len(diverged)])

    def fake_stacked(model, data, run_, *, seeds, masks, on_epoch):
        paths.append("stacked")
        run(on_epoch, len(seeds))
        return [TrainResult(diverged=d) for d in diverged]

    monkeypatch.setattr(retrain, "train", fake_train)
    monkeypatch.setattr(retrain, "train_stacked", fake_stacked)
    monkeypatch.setattr(retrain, "evaluate", lambda model, x, y: Evaluation(epoch["now"] / 10, 0.0))
    monkeypatch.setattr(retrain, "evaluate_stacked",
                        lambda model, x, y, *, copies: [Evaluation(epoch["now"] / 10, 0.0)] * copies)
    return paths


@pytest.mark.parametrize("stacked", [True, False, None])
def test_a_diverged_copy_scores_nan_and_the_path_follows_stacked(monkeypatch, stacked):
    # None: the default, which stacks. Copy 1 diverged: NaN; copy 0 keeps (0.4 + 0.5) / 2.
    import math

    paths = _fake_engine(monkeypatch, diverged=[False, True])
    pruned, masks, data = _setup("cnn1d")
    run = SGDRun(epoch_schedule(0.05, epochs=5, steps_per_epoch=8, milestone_epochs=()), 40, 64, momentum=0.9,
                 weight_decay=0.0)
    kwargs = {} if stacked is None else {"stacked": stacked}
    copies = retrain_copies(pruned, masks, data, run=run, seeds=SEEDS[:2], last_epochs=2, **kwargs)
    assert copies[0].test_acc == pytest.approx(0.45) and math.isnan(copies[1].test_acc)
    assert paths == (["sequential", "sequential"] if stacked is False else ["stacked"])


def test_a_copy_that_diverged_before_its_scored_epochs_scores_nan(monkeypatch):
    import math

    import dataclasses

    _fake_engine(monkeypatch, diverged=[True], scored_epochs=1)  # stopped at epoch 1 of 5: nothing scored
    pruned, masks, data = _setup("cnn1d")
    data = dataclasses.replace(data, x_val=data.x_test, y_val=data.y_test)  # with a validation split
    run = SGDRun(epoch_schedule(0.05, epochs=5, steps_per_epoch=8, milestone_epochs=()), 40, 64, momentum=0.9,
                 weight_decay=0.0)
    [copy_] = retrain_copies(pruned, masks, data, run=run, seeds=SEEDS[:1], last_epochs=2, stacked=False)
    assert math.isnan(copy_.test_acc) and math.isnan(copy_.val_acc)


def test_a_model_without_a_stacked_form_is_retrained_one_copy_after_another_with_a_warning(monkeypatch):
    paths = _fake_engine(monkeypatch, diverged=[False, False])
    pruned, masks, data = _setup("cnn1d")
    pruned.norm = torch.nn.LayerNorm(4).double()  # a layer with parameters and no stacked form
    run = SGDRun(epoch_schedule(0.05, epochs=5, steps_per_epoch=8, milestone_epochs=()), 40, 64, momentum=0.9,
                 weight_decay=0.0)
    with pytest.warns(UserWarning, match="retraining the copies one after another: layer norm is a LayerNorm"):
        retrain_copies(pruned, masks, data, run=run, seeds=SEEDS[:2], last_epochs=2, stacked=True)
    assert paths == ["sequential", "sequential"]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # asked for one after another: nothing to warn about
        retrain_copies(pruned, masks, data, run=run, seeds=SEEDS[:2], last_epochs=2, stacked=False)


def test_a_diverged_copy_with_scored_epochs_has_nan_validation_accuracy_too(monkeypatch):
    import dataclasses
    import math

    _fake_engine(monkeypatch, diverged=[False, True])
    pruned, masks, data = _setup("cnn1d")
    data = dataclasses.replace(data, x_val=data.x_test, y_val=data.y_test)
    run = SGDRun(epoch_schedule(0.05, epochs=5, steps_per_epoch=8, milestone_epochs=()), 40, 64, momentum=0.9,
                 weight_decay=0.0)
    ok, bad = retrain_copies(pruned, masks, data, run=run, seeds=SEEDS[:2], last_epochs=2, stacked=False)
    assert ok.val_acc == pytest.approx(0.45) and math.isnan(bad.val_acc) and math.isnan(bad.test_acc)
