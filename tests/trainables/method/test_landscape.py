import copy
import math

import pytest
import torch

from trainables.data import load_dataset
from trainables.method.landscape import (
    interpolate_state,
    linear_cka,
    linear_mode_connectivity,
    mode_connectivity,
    output_cka,
    reestimate_bn_statistics,
    softmax_outputs,
)
from trainables.models import build_model
from trainables.run.engine import evaluate
from trainables.run.runtime import seed_everything


def _gram_cka(x, y):
    # Kornblith et al. 2019, eq. for linear CKA with the biased HSIC estimator, from the n x n Gram matrices.
    n = x.shape[0]
    h = torch.eye(n, dtype=torch.float64) - 1.0 / n
    k, l_ = x @ x.T, y @ y.T
    hsic = lambda a, b: torch.trace(a @ h @ b @ h) / (n - 1) ** 2  # noqa: E731
    return (hsic(k, l_) / torch.sqrt(hsic(k, k) * hsic(l_, l_))).item()


def test_cka_matches_the_gram_matrix_form():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(200, 10, generator=gen, dtype=torch.float64)
    y = x[:, :7] @ torch.randn(7, 5, generator=gen, dtype=torch.float64) + torch.randn(200, 5, generator=gen,
                                                                                       dtype=torch.float64)
    assert linear_cka(x, y) == pytest.approx(_gram_cka(x, y), abs=1e-6)


def test_cka_is_one_for_identical_and_invariant_to_rotation_and_scale():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(100, 8, generator=gen)
    q, _ = torch.linalg.qr(torch.randn(8, 8, generator=gen))
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x, x @ q) == pytest.approx(1.0, abs=1e-6)
    y = torch.randn(100, 4, generator=gen)
    assert linear_cka(x, 3.7 * y) == pytest.approx(linear_cka(x, y), abs=1e-9)
    assert linear_cka(x @ q, y) == pytest.approx(linear_cka(x, y), abs=1e-6)


def test_mode_connectivity_on_hand_values():
    assert mode_connectivity([0.1, 0.3, 0.5, 0.3, 0.1]) == pytest.approx(-0.4)  # barrier
    assert mode_connectivity([0.2, 0.1, 0.3]) == pytest.approx(0.15)  # middle below both ends
    assert mode_connectivity([0.2, 0.2, 0.2]) == 0.0


BN = {"bn_batch_size": 64, "bn_stats": "paper"}
BN_BATCH = {"batch_size": 64, "stats": "paper"}


def _net():
    seed_everything(0)
    data = load_dataset("synthetic")
    return build_model("cnn1d", input_shape=data.input_shape, num_classes=10), data


def test_exact_bn_reestimation_gives_the_pooled_statistics_of_the_set():
    model, data = _net()
    x = data.x_train[:300]
    reestimate_bn_statistics(model, x, batch_size=128, stats="exact")  # uneven batches: 128, 128, 44
    with torch.no_grad():
        pre_bn = model[0](x.double().float())  # the first conv's output feeds the first BN
    expected_mean = pre_bn.double().mean((0, 2))
    expected_var = pre_bn.double().permute(1, 0, 2).flatten(1).var(1, unbiased=True)
    assert torch.allclose(model[1].running_mean.double(), expected_mean, atol=1e-5)
    assert torch.allclose(model[1].running_var.double(), expected_var, rtol=1e-4)


def test_lmc_of_a_model_with_itself_is_flat():
    model, data = _net()
    result = linear_mode_connectivity(model, model, (data.x_train, data.y_train), points=5, **BN)
    assert result["t"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert len(set(result["train_err"])) == 1 and result["mc"] == 0.0


def test_lmc_end_points_use_reestimated_statistics_and_leave_inputs_alone():
    model_a, data = _net()
    model_b = build_model("cnn1d", input_shape=data.input_shape, num_classes=10)
    state_a = copy.deepcopy(model_a.state_dict())
    result = linear_mode_connectivity(model_a, model_b, (data.x_train, data.y_train), points=3, subset=200, **BN)
    expected = copy.deepcopy(model_b)
    reestimate_bn_statistics(expected, data.x_train[:200], **BN_BATCH)
    assert result["train_err"][-1] == pytest.approx(evaluate(expected, data.x_train[:200], data.y_train[:200]).error)
    assert all(torch.equal(v, model_a.state_dict()[k]) for k, v in state_a.items())


def test_interpolation_covers_bn_affine_parameters():
    model_a, data = _net()
    model_b = build_model("cnn1d", input_shape=data.input_shape, num_classes=10)
    with torch.no_grad():
        model_b[1].weight.fill_(3.0)
    mid = interpolate_state(model_a, model_b, 0.5)
    assert torch.allclose(mid["1.weight"], torch.full((32,), 2.0))
    assert torch.allclose(mid["0.weight"], (model_a[0].weight + model_b[0].weight) / 2)


def test_output_cka_uses_softmax_outputs_in_eval_mode():
    model_a, data = _net()
    model_b = build_model("cnn1d", input_shape=data.input_shape, num_classes=10)
    model_a.train()
    x = data.x_train[:100]
    value = output_cka(model_a, model_b, x)
    assert model_a.training  # mode restored
    model_a.eval()
    model_b.eval()
    with torch.no_grad():
        expected = _gram_cka(torch.softmax(model_a(x), 1).double(), torch.softmax(model_b(x), 1).double())
    assert value == pytest.approx(expected, abs=1e-6)
    assert softmax_outputs(model_a, x).sum(1).allclose(torch.ones(100))


def test_cka_rejects_mismatched_rows():
    with pytest.raises(ValueError, match="same examples"):
        linear_cka(torch.zeros(3, 2), torch.zeros(4, 2))


def test_bn_reestimation_in_one_batch_is_exact_at_every_layer():
    model, data = _net()
    x = data.x_train[:300]
    reestimate_bn_statistics(model, x, batch_size=300, stats="exact")
    model.eval()
    with torch.no_grad():
        second_input = model[3](model[2](model[1](model[0](x))))  # layer 2's input with layer 1's new stats
    # Train mode normalised layer 1 by the biased variance, eval mode by the stored unbiased one: a
    # factor sqrt(n / (n - 1)), n = 12,000 activations per channel, hence the 5e-4 tolerance.
    assert torch.allclose(model[4].running_mean, second_input.mean((0, 2)), atol=5e-4)
    assert torch.allclose(model[4].running_var, second_input.permute(1, 0, 2).flatten(1).var(1), rtol=5e-4)
    assert model[1].momentum == 0.1 and not model.training


def test_bn_reestimation_by_default_equals_torch_update_bn_with_batch_64():
    # The paper's procedure: reset, batches of 64 in train mode, cumulative average of the batch
    # statistics. With equal batches (256 = 4 x 64) it is torch.optim.swa_utils.update_bn exactly.
    model, data = _net()
    x = data.x_train[:256]
    reference = copy.deepcopy(model)
    torch.optim.swa_utils.update_bn([(x[i:i + 64],) for i in range(0, 256, 64)], reference)
    reestimate_bn_statistics(model, x, batch_size=64)
    for (name, ours), theirs in zip(model.state_dict().items(), reference.state_dict().values()):
        if "running" in name:
            assert torch.allclose(ours, theirs, rtol=1e-6, atol=1e-6), name


def test_bn_reestimation_weights_a_partial_last_batch_by_its_size_as_the_papers_code():
    model, data = _net()
    x = data.x_train[:150]  # batches of 64, 64, 22
    reestimate_bn_statistics(model, x, batch_size=64)
    with torch.no_grad():
        first_bn_input = model[0](x).double()  # does not depend on any BatchNorm statistics
    batches = [first_bn_input[i:i + 64] for i in (0, 64, 128)]
    sizes = torch.tensor([64.0, 64.0, 22.0], dtype=torch.float64)
    means = torch.stack([b.mean((0, 2)) for b in batches])
    variances = torch.stack([b.permute(1, 0, 2).flatten(1).var(1, unbiased=True) for b in batches])
    weights = (sizes / sizes.sum()).view(-1, 1)
    assert torch.allclose(model[1].running_mean.double(), (weights * means).sum(0), atol=1e-6)
    assert torch.allclose(model[1].running_var.double(), (weights * variances).sum(0), rtol=1e-5)
    assert model[1].momentum == 0.1  # restored


SEEN = []  # module-level: LMC works on deep copies of the models it is given


class _AutocastSpy(torch.nn.Module):
    """Wraps a model and records, at every forward, whether autocast is on and the input's dtype."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        SEEN.append((torch.is_autocast_enabled(x.device.type), x.dtype))
        return self.inner(x)


def test_metrics_never_run_under_autocast_even_inside_a_callers_bf16_autocast():
    model, data = _net()
    SEEN.clear()
    spy_a, spy_b = _AutocastSpy(model), _AutocastSpy(copy.deepcopy(model))
    x, y = data.x_train[:128], data.y_train[:128]
    with torch.autocast("cpu", dtype=torch.bfloat16):  # what the CUDA training path enters
        evaluate(spy_a, x, y)
        output_cka(spy_a, spy_b, x)
        linear_mode_connectivity(spy_a, spy_b, (x, y), points=3, stacked=False, **BN)
        reestimate_bn_statistics(spy_a, x, batch_size=64, stats="exact")
        # evaluate 1, CKA 2, LMC 3 points x (2 BN batches + 1 error pass), exact BN 2 batches
        assert len(SEEN) == 14
        # stacked: the 3 points together, BN in 2 passes and their errors in 1
        linear_mode_connectivity(spy_a, spy_b, (x, y), points=3, stacked=True, **BN)
        assert len(SEEN) == 14 + 2 + 1
    assert set(SEEN) == {(False, torch.float32)}


def _two_trained_copies():
    from trainables.run.engine import train
    from trainables.run.schedules import epoch_schedule
    from trainables.run.settings import SGDRun

    model_a, data = _net()
    model_b = copy.deepcopy(model_a)
    schedule = epoch_schedule(0.1, epochs=2, steps_per_epoch=8, milestone_epochs=())
    for model, seed in ((model_a, 1), (model_b, 2)):
        train(model, data, SGDRun(schedule, 16, 64, momentum=0.9, weight_decay=0.0), seed=seed)
    return model_a, model_b, data


@pytest.mark.parametrize("bn_stats", ["paper", "exact"])
def test_the_stacked_lmc_line_equals_the_point_by_point_one(bn_stats):
    model_a, model_b, data = _two_trained_copies()
    settings = {"points": 11, "subset": 300, "batch_size": 128, "bn_batch_size": 64, "bn_stats": bn_stats}
    ours = linear_mode_connectivity(model_a, model_b, (data.x_train, data.y_train), stacked=True, **settings)
    one_by_one = linear_mode_connectivity(model_a, model_b, (data.x_train, data.y_train), stacked=False, **settings)
    assert ours["t"] == one_by_one["t"]
    # Errors are counts over 300 examples: equal curves, not merely close ones.
    assert ours["train_err"] == pytest.approx(one_by_one["train_err"], abs=1e-5)
    assert ours["mc"] == pytest.approx(one_by_one["mc"], abs=1e-5) and max(ours["train_err"]) > 0


def test_stacked_measurement_of_three_copies_equals_the_pairwise_one():
    from trainables.method.landscape import measure_copies

    model_a, model_b, data = _two_trained_copies()
    model_c = build_model("cnn1d", input_shape=data.input_shape, num_classes=10)
    settings = {"lmc": True, "lmc_points": 5, "lmc_subset": 200, "cka": True, "cka_examples": 300, "batch_size": 100,
                "bn_batch_size": 64, "bn_stats": "paper"}
    models = [model_a, model_b, model_c]
    ours = measure_copies(models, (data.x_train, data.y_train), stacked=True, **settings)
    pairwise = measure_copies(models, (data.x_train, data.y_train), stacked=False, **settings)
    for (i, j) in ((0, 1), (0, 2), (1, 2)):
        expected = output_cka(models[i], models[j], data.x_train[:300])
        assert ours[f"cka_pair{i}_{j}"] == pytest.approx(expected, abs=1e-6)
        assert ours[f"lmc_pair{i}_{j}"] == pytest.approx(pairwise[f"lmc_pair{i}_{j}"], abs=1e-5)
    assert ours["train_err"] == pytest.approx(pairwise["train_err"], abs=1e-6)


def test_a_copy_with_constant_outputs_gives_nan_cka_not_a_crashed_trial():
    # Seen in an lr 0.4 study: a retrained copy that outputs the same for every input makes CKA 0/0;
    # the cell must report NaN (analysis leaves it out), not raise inside statistics.pstdev.
    from trainables.method.landscape import measure_copies

    model_a, model_b, data = _two_trained_copies()
    with torch.no_grad():
        for p in model_b.parameters():
            p.zero_()
    row = measure_copies([model_a, model_b], (data.x_train, data.y_train), stacked=False, lmc=False, lmc_points=3,
                         lmc_subset=200, cka=True, cka_examples=300, batch_size=100, bn_batch_size=64,
                         bn_stats="paper")
    assert math.isnan(row["cka_pair0_1"]) and math.isnan(row["cka"]) and math.isnan(row["cka_std"])


@pytest.mark.parametrize("stacked", [True, False])
def test_measure_copies_whole_on_copies_worked_out_by_hand(stacked):
    # Copies a and a (the same weights) and b: pair (0, 1) has mc 0 and CKA 1 exactly; the row's means
    # and population stds are over the three pairs, and train_err is the mean over the copies of their
    # error on the first lmc_subset examples (evaluated one model at a time here, independently).
    from trainables.method.landscape import measure_copies

    model_a, model_b, data = _two_trained_copies()
    models = [model_a, copy.deepcopy(model_a), model_b]
    x, y = data.x_train, data.y_train
    row = measure_copies(models, (x, y), stacked=stacked, lmc=True, lmc_points=3, lmc_subset=200, cka=True,
                         cka_examples=300, batch_size=100, bn_batch_size=64, bn_stats="paper")
    errors = [evaluate(m, x[:200], y[:200]).error for m in models]
    assert row["train_err"] == pytest.approx(sum(errors) / 3, abs=1e-6)
    assert row["lmc_pair0_1"] == pytest.approx(0.0, abs=1e-6) and row["cka_pair0_1"] == pytest.approx(1.0, abs=1e-6)
    lmcs = [row["lmc_pair0_1"], row["lmc_pair0_2"], row["lmc_pair1_2"]]
    ckas = [row["cka_pair0_1"], row["cka_pair0_2"], row["cka_pair1_2"]]
    for metric, values in (("lmc", lmcs), ("cka", ckas)):
        mean = sum(values) / 3
        assert row[metric] == pytest.approx(mean, abs=1e-9)
        assert row[f"{metric}_std"] == pytest.approx(math.sqrt(sum((v - mean) ** 2 for v in values) / 3), abs=1e-9)
    assert ckas[1] < 1 - 1e-4  # b is not a: the std is not zero by construction
    alone = linear_mode_connectivity(models[0], models[2], (x, y), points=3, subset=200, batch_size=100,
                                     bn_batch_size=64, bn_stats="paper", stacked=False)
    assert row["lmc_pair0_2"] == pytest.approx(alone["mc"], abs=1e-6)  # on the LMC subset, not every example
    assert 0 <= row["seconds_lmc_bn"] <= row["seconds_lmc"] and row["seconds_cka"] >= 0


def test_a_metric_switched_off_is_nan_and_costs_nothing():
    from trainables.method.landscape import measure_copies

    model_a, model_b, data = _two_trained_copies()
    row = measure_copies([model_a, model_b], (data.x_train, data.y_train), stacked=False, lmc=True, lmc_points=3,
                         lmc_subset=200, cka=False, cka_examples=300, batch_size=100, bn_batch_size=64,
                         bn_stats="paper")
    assert math.isnan(row["cka"]) and math.isnan(row["cka_std"]) and "cka_pair0_1" not in row
    assert math.isfinite(row["lmc"])


def test_lmc_times_are_the_sums_over_its_points(monkeypatch):
    # A clock that advances 1 s per read: per point, BN re-estimation is read-to-read 1 s and evaluation 1 s.
    from trainables.method import landscape

    ticks = iter(range(1000))
    monkeypatch.setattr(landscape, "time", type("Clock", (), {"perf_counter": staticmethod(lambda: next(ticks))}))
    model_a, model_b, data = _two_trained_copies()
    for stacked, bn_s, eval_s in ((False, 3.0, 3.0), (True, 1.0, 1.0)):  # 3 points one by one, or one stacked line
        curve = landscape.linear_mode_connectivity(model_a, model_b, (data.x_train, data.y_train), points=3,
                                                   subset=200, batch_size=100, bn_batch_size=64, bn_stats="paper",
                                                   stacked=stacked)
        assert (curve["seconds_bn"], curve["seconds_eval"]) == (bn_s, eval_s), stacked


def test_exact_bn_statistics_count_every_position_of_a_signal_whose_length_is_not_its_channels():
    # 4 channels over 8 positions (not 4): the pooled mean and unbiased variance of the 50 x 8 values per
    # channel, in batches of 16 (the last one of 2); the statistics are accumulated in float32, so to 1e-6.
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv1d(1, 4, 3), torch.nn.BatchNorm1d(4)).double()
    x = torch.randn(50, 1, 10, dtype=torch.float64)
    reestimate_bn_statistics(model, x, batch_size=16, stats="exact")
    with torch.no_grad():
        pre = model[0](x).permute(1, 0, 2).flatten(1)  # (channels, 400)
    assert torch.allclose(model[1].running_mean, pre.mean(1), rtol=0, atol=1e-6)
    assert torch.allclose(model[1].running_var, pre.var(1, unbiased=True), rtol=1e-6, atol=0)


def test_lmc_defaults_and_its_refusal():
    model_a, model_b, data = _two_trained_copies()
    curve = linear_mode_connectivity(model_a, model_b, (data.x_train[:300], data.y_train[:300]), bn_batch_size=64,
                                     bn_stats="paper")
    assert len(curve["t"]) == 11  # the paper's 11 points, on every example given
    explicit = linear_mode_connectivity(model_a, model_b, (data.x_train[:300], data.y_train[:300]), points=11,
                                        subset=300, bn_batch_size=64, bn_stats="paper")
    assert curve["train_err"] == pytest.approx(explicit["train_err"], abs=1e-6)
    with pytest.raises(ValueError) as err:
        linear_mode_connectivity(model_a, model_b, (data.x_train, data.y_train), points=1, bn_batch_size=64,
                                 bn_stats="paper")
    assert str(err.value) == "LMC needs at least 2 points, got 1"
    with pytest.raises(ValueError) as err:
        linear_cka(torch.zeros(3, 2), torch.zeros(4, 2))
    assert str(err.value) == "CKA needs the same examples in both: 3 vs 4 rows"


def test_measure_copies_times_its_metrics_by_the_clock(monkeypatch):
    # A clock that advances 1 s per read. One after another, each LMC point reads it 3 times (start, after
    # BatchNorm, after evaluation): 3 pairs x 3 points: seconds_lmc = 1 + 27 = 28, of which BatchNorm 9; the
    # CKA block reads it only at its start and end: 1 s.
    from trainables.method import landscape

    model_a, model_b, data = _two_trained_copies()
    models = [model_a, copy.deepcopy(model_a), model_b]
    ticks = iter(range(10_000))
    monkeypatch.setattr(landscape, "time", type("Clock", (), {"perf_counter": staticmethod(lambda: next(ticks))}))
    row = landscape.measure_copies(models, (data.x_train, data.y_train), stacked=False, lmc=True, lmc_points=3,
                                   lmc_subset=200, cka=True, cka_examples=300, batch_size=100, bn_batch_size=64,
                                   bn_stats="paper")
    assert (row["seconds_lmc"], row["seconds_lmc_bn"], row["seconds_cka"]) == (28, 9, 1)


def test_a_model_without_a_stacked_form_is_measured_one_copy_at_a_time():
    from trainables.method.landscape import measure_copies

    model_a, model_b, data = _two_trained_copies()
    for model in (model_a, model_b):
        model.scale = torch.nn.Parameter(torch.ones(1))  # a parameter outside any stackable layer (unused)
    row = measure_copies([model_a, model_b], (data.x_train, data.y_train), stacked=True, lmc=True, lmc_points=3,
                         lmc_subset=200, cka=True, cka_examples=300, batch_size=100, bn_batch_size=64,
                         bn_stats="paper")
    assert math.isfinite(row["lmc"]) and math.isfinite(row["cka"])


@pytest.mark.parametrize("stacked", [True, False])
@pytest.mark.parametrize("bn_stats", ["paper", "exact"])
def test_each_lmc_point_is_the_interpolated_model_with_the_requested_batchnorm_statistics(stacked, bn_stats):
    # The midpoint's training error equals that of the interpolated model re-estimated by hand the same way,
    # on 300 examples in batches of 64 (five batches: the two ways of pooling differ).
    model_a, model_b, data = _two_trained_copies()
    x, y = data.x_train[:300], data.y_train[:300]
    curve = linear_mode_connectivity(model_a, model_b, (x, y), points=3, batch_size=100, bn_batch_size=64,
                                     bn_stats=bn_stats, stacked=stacked)
    mid = copy.deepcopy(model_a)
    mid.load_state_dict(interpolate_state(model_a, model_b, 0.5))
    reestimate_bn_statistics(mid, x, batch_size=64, stats=bn_stats)
    assert curve["train_err"][1] == pytest.approx(evaluate(mid, x, y).error, abs=1 / 300 + 1e-9)  # one example
    other = "exact" if bn_stats == "paper" else "paper"
    moved = copy.deepcopy(model_a)
    moved.load_state_dict(interpolate_state(model_a, model_b, 0.5))
    reestimate_bn_statistics(moved, x, batch_size=64, stats=other)
    assert not torch.allclose(moved[1].running_var, mid[1].running_var, rtol=1e-6)  # the two ways do differ here


def test_exact_statistics_of_a_later_batchnorm_pool_its_inputs_computed_with_batch_statistics_before_it():
    # Conv-BN-ReLU-Conv-BN in float64, 50 signals in batches of 16. The second BN's input in batch b is what
    # the network computes in train mode: the first BN normalises by batch b's own statistics.
    import torch.nn.functional as F

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv1d(1, 4, 3), torch.nn.BatchNorm1d(4), torch.nn.ReLU(),
                                torch.nn.Conv1d(4, 3, 3), torch.nn.BatchNorm1d(3)).double()
    x = torch.randn(50, 1, 10, dtype=torch.float64)
    with torch.no_grad():
        seen = [model[3](F.relu(F.batch_norm(model[0](b), None, None, model[1].weight, model[1].bias, training=True,
                                             eps=model[1].eps)))
                for b in x.split(16)]
    pooled = torch.cat(seen).permute(1, 0, 2).flatten(1)
    reestimate_bn_statistics(model, x, batch_size=16, stats="exact")
    assert torch.allclose(model[4].running_mean, pooled.mean(1), rtol=0, atol=1e-6)
    assert torch.allclose(model[4].running_var, pooled.var(1, unbiased=True), rtol=1e-6, atol=0)
