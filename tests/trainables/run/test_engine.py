import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from trainables.data import Dataset, load_dataset
from trainables.models import build_model
from trainables.run.engine import evaluate, train
from trainables.run.runtime import bn_momentum, resolve_device, seed_everything
from trainables.run.schedules import epoch_schedule, iteration_schedule
from trainables.run.settings import SGDRun


def test_epoch_schedule_drops_exactly_at_milestone_epochs():
    s = epoch_schedule(0.1, epochs=160, steps_per_epoch=782, milestone_epochs=(80, 120))
    assert s.lr_at(0) == 0.1
    assert s.lr_at(80 * 782 - 1) == 0.1
    assert s.lr_at(80 * 782) == pytest.approx(0.01)
    assert s.lr_at(120 * 782 - 1) == pytest.approx(0.01)
    assert s.lr_at(120 * 782) == pytest.approx(0.001)
    assert s.total_steps == 160 * 782


def test_iteration_schedule_drops_at_fractions_of_the_total():
    # The paper's batch-size knob: 62,400 iterations, decay at 50 % and 75 %.
    s = iteration_schedule(0.1, total_steps=62_400, steps_per_epoch=50_000 // 16, milestone_fractions=(0.5, 0.75))
    assert s.milestones == (31_200, 46_800)
    assert s.lr_at(31_199) == 0.1 and s.lr_at(31_200) == pytest.approx(0.01)
    assert s.lr_at(46_799) == pytest.approx(0.01) and s.lr_at(46_800) == pytest.approx(0.001)


SGD = {"momentum": 0.9, "weight_decay": 1e-4}


def _tiny(seed=0):
    seed_everything(seed)
    data = load_dataset("synthetic")
    return build_model("cnn1d", input_shape=data.input_shape, num_classes=10), data


def test_stopping_at_epoch_e_equals_the_snapshot_of_a_longer_run():
    model_a, data = _tiny()
    model_b = copy.deepcopy(model_a)
    schedule = epoch_schedule(0.1, epochs=10, steps_per_epoch=8, milestone_epochs=(2, 5))
    short = train(model_a, data, SGDRun(schedule, 3 * 8, 64, **SGD), seed=7)
    long = train(model_b, data, SGDRun(schedule, schedule.total_steps, 64, **SGD), seed=7, snapshot_epochs=(3,))
    assert short.steps == 24 and long.steps == 80
    for name, value in model_a.state_dict().items():
        assert torch.equal(value, long.snapshots[3][name]), name
    assert not torch.equal(model_a.state_dict()["0.weight"], model_b.state_dict()["0.weight"])


def test_cpu_training_repeats_bit_for_bit():
    results = []
    for _ in range(2):
        model, data = _tiny(seed=3)
        train(model, data, SGDRun(epoch_schedule(0.05, epochs=2, steps_per_epoch=8, milestone_epochs=(1,)), 16, 64,
                                  sam_rho=0.1, **SGD), seed=3)
        results.append(model.state_dict())
    for name in results[0]:
        assert torch.equal(results[0][name], results[1][name]), name


def test_training_learns_the_synthetic_task():
    model, data = _tiny()
    result = train(model, data, SGDRun(epoch_schedule(0.05, epochs=6, steps_per_epoch=8, milestone_epochs=(4,)), 48,
                                       64, **SGD), seed=0)
    assert result.epoch_losses[-1] < result.epoch_losses[0] / 2
    assert evaluate(model, data.x_test, data.y_test).accuracy > 0.8


def test_sam_step_equals_the_two_pass_update_by_hand():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 3))
    x, y = torch.randn(8, 5), torch.randint(0, 3, (8,))
    data = Dataset(x, y, x, y, 3, "none")
    lr, rho, wd = 0.1, 0.3, 1e-3
    w0 = [p.detach().clone() for p in model.parameters()]

    def grads_at(params):
        params = [p.clone().requires_grad_(True) for p in params]
        loss = F.cross_entropy(F.linear(x, params[0], params[1]), y)
        return torch.autograd.grad(loss, params)

    g1 = grads_at(w0)
    norm = torch.sqrt(sum((g ** 2).sum() for g in g1))
    g2 = grads_at([w + rho * g / (norm + 1e-12) for w, g in zip(w0, g1)])
    expected = [w - lr * (g + wd * w) for w, g in zip(w0, g2)]  # first SGD step: momentum buffer = grad

    train(model, data, SGDRun(epoch_schedule(lr, epochs=1, steps_per_epoch=1, milestone_epochs=()), 1, 8,
                              sam_rho=rho, momentum=0.9, weight_decay=wd, augment=False), seed=0)
    for p, e in zip(model.parameters(), expected):
        assert torch.allclose(p, e, atol=1e-6)


def test_sam_updates_bn_running_stats_in_the_first_pass_only():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, 2))
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    with torch.no_grad():
        pre_bn = model[0](x)  # activations at the unperturbed weights
    expected_mean = 0.1 * pre_bn.mean(0)  # running mean starts at 0, momentum 0.1, one batch
    expected_var = 0.9 + 0.1 * pre_bn.var(0, unbiased=True)
    train(model, Dataset(x, y, x, y, 2, "none"), SGDRun(epoch_schedule(0.1, epochs=1, steps_per_epoch=1,
          milestone_epochs=()), 1, 16, sam_rho=0.5, augment=False, **SGD), seed=0)
    assert torch.allclose(model[1].running_mean, expected_mean, atol=1e-6)
    assert torch.allclose(model[1].running_var, expected_var, atol=1e-5)
    assert model[1].momentum == 0.1  # restored after the second pass


def test_bn_momentum_zero_leaves_running_stats_alone_and_is_restored():
    bn = nn.BatchNorm1d(3)
    with bn_momentum(bn, 0.0):
        bn(torch.randn(10, 3) + 5)
    assert torch.equal(bn.running_mean, torch.zeros(3)) and bn.momentum == 0.1


def test_nan_loss_is_reported_as_divergence_not_a_crash():
    model, data = _tiny()
    result = train(model, data, SGDRun(epoch_schedule(1e6, epochs=5, steps_per_epoch=8, milestone_epochs=()), 40, 64,
                                       **SGD), seed=0)
    assert result.diverged and len(result.epoch_losses) < 5


def test_evaluate_counts_correct_predictions():
    model = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.eye(2))
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 1, 1, 1])
    result = evaluate(model, x, y, batch_size=3)
    assert result.accuracy == 0.75
    expected_loss = F.cross_entropy(x, y).item()
    assert result.loss == pytest.approx(expected_loss)


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            resolve_device("cuda")
