"""The CUDA path on a CPU machine: what a trial does with a GPU, checked with a faked `torch.cuda`.

No GPU has run this code; each test pins a defect a reading of the code found (device and
resources disagreeing, stale memory peaks, TF32 inside the metrics, an unsynchronised clock,
bf16 forced on cards that emulate it) by faking what torch would say on a GPU node.
"""

import math
import types

import pytest
import torch

import trainables.trial as trial_module
from contract.config import StudyConfig
from study.config import ConfigError, load_config
from tests.conftest import ROOT
from trainables.method import landscape
from trainables.models.catalog import build_model
from trainables.run import runtime
from trainables.run.runtime import bf16_training, full_precision, peak_memory_mb, reset_peak_memory, resolve_device

CUDA = torch.device("cuda", 0)


@pytest.mark.parametrize("pair, problem", [
    ({"resources.gpu": 0.5, "resources.device": "cpu"}, "resources.gpu: 0.5 reserves a GPU that resources.device: cpu"),
    ({"resources.gpu": 0, "resources.device": "cuda"}, "resources.device: cuda with resources.gpu: 0"),
    ({"resources.gpu": 2, "resources.device": "auto"}, "resources.gpu: 2 reserves 2 GPUs and a trial computes on one"),
])
def test_a_gpu_share_and_a_device_that_disagree_are_refused_in_one_line(pair, problem):
    with pytest.raises(ConfigError) as err:
        load_config(ROOT / "configs/tiny.yaml", pair)
    assert len(err.value.problems) == 1 and problem in err.value.problems[0], err.value.problems


@pytest.mark.parametrize("pair", [{"resources.gpu": 0.25, "resources.device": "auto"},
                                  {"resources.gpu": 1, "resources.device": "cuda"},
                                  {"resources.gpu": 0, "resources.device": "auto"}])
def test_consistent_pairs_are_accepted(pair):
    assert load_config(ROOT / "configs/tiny.yaml", pair).resources.gpu == pair["resources.gpu"]


def test_auto_stays_on_the_cpu_in_a_trial_given_no_gpu_on_a_node_with_cards(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto", gpus=0.0) == torch.device("cpu")
    assert resolve_device("auto", gpus=0.25) == torch.device("cuda")
    assert resolve_device("auto") == torch.device("cuda")  # outside a trial (benchmarks, plan): any card


def test_a_trial_holding_a_gpu_without_cuda_says_so(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(RuntimeWarning, match="resources.gpu is 0.5 but torch sees no CUDA device"):
        assert resolve_device("auto", gpus=0.5) == torch.device("cpu")


def _fake_cuda_memory(monkeypatch, *, allocated_mb: float, reserved_mb: float) -> list:
    resets = []
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: resets.append(device))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: allocated_mb * 2**20)
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda device=None: reserved_mb * 2**20)
    return resets


def test_gpu_memory_peaks_are_reset_per_trial_and_both_allocated_and_reserved_are_read(monkeypatch):
    resets = _fake_cuda_memory(monkeypatch, allocated_mb=300.0, reserved_mb=512.0)
    reset_peak_memory(CUDA)
    assert resets == [CUDA]
    peaks = peak_memory_mb(CUDA)
    assert (peaks["gpu_peak_mb"], peaks["gpu_reserved_peak_mb"]) == (300.0, 512.0)
    reset_peak_memory(torch.device("cpu"))  # nothing to reset on the CPU
    assert resets == [CUDA]
    cpu = peak_memory_mb(torch.device("cpu"))
    assert math.isnan(cpu["gpu_peak_mb"]) and math.isnan(cpu["gpu_reserved_peak_mb"]) and cpu["peak_rss_mb"] > 0


class _FakeTune:
    """What `run_trial` uses of `ray.tune`, recording the reports."""

    def __init__(self, calls):
        self.calls, self.rows = calls, []
        self.Checkpoint = types.SimpleNamespace(from_directory=lambda folder: folder)

    def get_checkpoint(self):
        return None

    def report(self, row, checkpoint=None):
        self.calls.append("report")
        self.rows.append(row)


def test_a_trial_resets_the_memory_peaks_before_its_work_and_records_its_device(monkeypatch):
    calls = []
    fake = _FakeTune(calls)
    monkeypatch.setattr(trial_module, "tune", fake)
    monkeypatch.setattr(trial_module, "reset_peak_memory", lambda device: calls.append(f"reset {device}"))
    spec = load_config(ROOT / "configs/tiny.yaml", {"pruning.densities": [0.5], "study.temperatures": [2]})
    trial_module.run_trial({"study_config": spec.model_dump(), "temperature": 2.0, "dense_seed": 0})
    assert calls == ["reset cpu", "report"]
    assert fake.rows[0]["device"] == "cpu" and math.isnan(fake.rows[0]["gpu_reserved_peak_mb"])


def _tf32_state() -> tuple:
    return torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision


def test_full_precision_turns_tf32_off_inside_and_restores_it_after():
    saved = _tf32_state()
    try:
        torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision = "tf32", "tf32"
        with full_precision(CUDA):
            assert _tf32_state() == ("ieee", "ieee")
            assert not torch.is_autocast_enabled("cuda")
        assert _tf32_state() == ("tf32", "tf32")
        with pytest.raises(RuntimeError), full_precision(torch.device("cpu")):  # restored on an error too
            raise RuntimeError("inside")
        assert _tf32_state() == ("tf32", "tf32")
    finally:
        torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision = saved


@pytest.mark.parametrize("precision, capability, expected", [
    ("auto", (8, 0), True), ("auto", (9, 0), True), ("auto", (7, 0), False), ("auto", (7, 5), False),
    ("bf16", (7, 0), True), ("fp32", (9, 0), False)])
def test_bf16_autocast_only_where_the_card_does_it_natively_or_the_config_asks(monkeypatch, precision, capability,
                                                                             expected):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert bf16_training(CUDA, precision) is expected
    assert bf16_training(torch.device("cpu"), precision) is False


def test_the_config_precision_reaches_the_engines_runs():
    from trainables.cell.runs import dense_run, retrain_run

    spec = StudyConfig.model_validate({"resources": {"precision": "fp32"}})
    assert dense_run("epochs", 10, dense=spec.dense, data=spec.data, n_train=640,
                     precision=spec.resources.precision).precision == "fp32"
    assert retrain_run(retrain=spec.retrain, data=spec.data, n_train=640, precision="bf16").precision == "bf16"


def test_lmc_waits_for_the_batchnorm_kernels_before_it_reads_the_clock(monkeypatch):
    # On CUDA the re-estimation's kernels are queued: without a synchronize between them and the
    # clock, their time is counted as evaluation. Record the order of BN, sync and clock reads.
    events = []
    real_bn = landscape.reestimate_bn_statistics
    monkeypatch.setattr(landscape, "reestimate_bn_statistics",
                        lambda *a, **k: (events.append("bn"), real_bn(*a, **k))[1])
    monkeypatch.setattr(landscape, "synchronize", lambda device: events.append("sync"))
    monkeypatch.setattr(landscape, "time", types.SimpleNamespace(perf_counter=lambda: events.append("clock") or 0.0))
    torch.manual_seed(0)
    model = build_model("cnn1d", input_shape=(1, 40), num_classes=10)
    x, y = torch.randn(64, 1, 40), torch.randint(0, 10, (64,))
    for stacked in (True, False):
        events.clear()
        landscape.linear_mode_connectivity(model, model, (x, y), points=2, batch_size=32, bn_batch_size=32, bn_stats="paper",
                                           stacked=stacked)
        for i, event in enumerate(events):
            if event == "bn":
                after = events[i + 1:]
                assert "sync" in after and after.index("sync") < after.index("clock"), (stacked, events)


def test_synchronize_waits_on_cuda_only(monkeypatch):
    waited = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: waited.append(device))
    runtime.synchronize(torch.device("cpu"))
    runtime.synchronize(CUDA)
    assert waited == [CUDA]


# Modules whose CUDA backward has no deterministic kernel: under torch.use_deterministic_algorithms
# they raise (torch's list for use_deterministic_algorithms), so resources.deterministic would end
# every trial of a model holding one.
NONDETERMINISTIC_ON_CUDA = (torch.nn.AdaptiveAvgPool2d, torch.nn.AdaptiveAvgPool3d, torch.nn.AvgPool3d,
                            torch.nn.MaxPool3d, torch.nn.AdaptiveMaxPool2d, torch.nn.FractionalMaxPool2d,
                            torch.nn.FractionalMaxPool3d, torch.nn.ReflectionPad1d, torch.nn.ReflectionPad2d,
                            torch.nn.ReplicationPad3d, torch.nn.Upsample, torch.nn.EmbeddingBag)


@pytest.mark.parametrize("name, shape", [("preresnet", (3, 32, 32)), ("vgg", (3, 32, 32)), ("cnn1d", (1, 40)),
                                         ("mlp", (1, 40)), ("lenet300", (1, 28, 28)), ("lenet5", (1, 28, 28)),
                                         ("conv2", (3, 32, 32)), ("conv4", (3, 32, 32)), ("conv6", (3, 32, 32))])
def test_no_built_in_model_holds_a_layer_without_a_deterministic_cuda_backward(name, shape):
    model = build_model(name, input_shape=shape, num_classes=10, depth=11 if name == "vgg" else 20)
    held = sorted({type(m).__name__ for m in model.modules() if isinstance(m, NONDETERMINISTIC_ON_CUDA)})
    assert not held, f"{name} holds {held}"


def test_the_global_average_pool_is_the_adaptive_pool_it_replaced():
    x = torch.randn(4, 8, 5, 7, dtype=torch.float64)
    from trainables.models.networks import GlobalAvgPool

    expected = torch.nn.AdaptiveAvgPool2d(1)(x).flatten(1)
    assert torch.allclose(GlobalAvgPool()(x), expected, rtol=0, atol=1e-15)


def test_deterministic_mode_is_set_and_unset_for_the_process(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    try:
        runtime.use_deterministic(True)
        assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
        assert not torch.backends.cudnn.benchmark
        import os

        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"  # cuBLAS's condition for reproducible results
    finally:
        runtime.use_deterministic(False)
    assert not torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.deterministic


def test_a_trial_asks_for_deterministic_kernels_only_on_cuda(monkeypatch):
    # On the CPU every kernel here is deterministic already; on CUDA resources.deterministic decides.
    asked = []
    monkeypatch.setattr(trial_module, "tune", _FakeTune([]))
    monkeypatch.setattr(trial_module, "use_deterministic", asked.append)
    spec = load_config(ROOT / "configs/tiny.yaml", {"pruning.densities": [0.5], "study.temperatures": [2],
                                                    "resources.deterministic": True})
    trial_module.run_trial({"study_config": spec.model_dump(), "temperature": 2.0, "dense_seed": 0})
    assert asked == [False]


def test_a_split_that_is_another_splits_tensor_is_held_once_after_prepare():
    # benchmarks/engine.py tests on its training tensor: moved to a GPU (and to channels_last) it was
    # held twice, and its "dataset resident" memory figure was half the truth.
    from trainables.data import Dataset
    from trainables.run.runtime import prepare

    x, y = torch.randn(8, 3, 4, 4), torch.randint(0, 10, (8,))
    _, data = prepare(torch.nn.Conv2d(3, 2, 3), Dataset(x, y, x, y, 10, "none"), torch.device("cpu"))
    assert data.x_test is data.x_train and data.y_test is data.y_train
    assert data.x_train.is_contiguous(memory_format=torch.channels_last)
    moved = Dataset(x, y, x.clone(), y, 10, "none").map_tensors(lambda t: t.double())
    assert moved.y_test is moved.y_train and moved.x_test is not moved.x_train  # distinct tensors stay distinct


def test_the_spectra_benchmark_hands_weightwatcher_a_copy_and_leaves_the_model_where_it_is(monkeypatch):
    # On CUDA, `model.cpu()` moved the benchmark's model off the GPU in place; weightwatcher now reads a copy.
    import importlib.util

    weightwatcher = pytest.importorskip("weightwatcher")
    spec = importlib.util.spec_from_file_location("spectra_benchmark", ROOT / "benchmarks" / "spectra.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    seen = []

    class Recorder:
        def __init__(self, model):
            seen.append(model)

        def analyze(self):
            return "details"

    monkeypatch.setattr(weightwatcher, "WeightWatcher", Recorder)
    model = torch.nn.Linear(4, 3)
    assert module.weightwatcher_details(model) == "details"
    assert seen[0] is not model and torch.equal(seen[0].weight, model.weight)
