"""The GPU path on one GPU, in one run: the table a reviewer compares with the CPU figures.

`make gpu-check` (a few minutes on one GPU, at most about 8) prints, on the machine's first CUDA device:

1. the engine's images per second, PreResNet-20 on CIFAR-shaped data, in float32 and under bf16
   autocast (resources.precision fp32 / bf16), and the peak GPU memory of each;
2. K = 2 retrained copies stacked against one after another (resources.stacked);
3. LMC, CKA and training error of the same two copies measured on the GPU and on the CPU (they
   should agree to float32 rounding), with TF32 forced on outside the metrics to show that
   `full_precision` turns it off, the TF32 switches read inside, and LMC's time split (BatchNorm
   re-estimation synchronised before the clock);
4. two retrainings with resources.deterministic: the same weights bit for bit, or not;
5. a tiny study with resources.gpu 0.25 on a local Ray cluster: how many trials ran at once, and
   each trial's peak GPU memory, allocated and reserved (reset at every trial's start).

    python benchmarks/gpu_check.py           # needs CUDA; exits 2 naming what is missing without it
    python benchmarks/gpu_check.py --smoke   # the same code on the CPU in seconds, for tests: no GPU figure

Nothing here is a GPU number until it has been run on a GPU: docs/performance.md says which card.
"""

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from study.config import load_config
from trainables.data import Dataset, load_dataset
from trainables.method.landscape import measure_copies
from trainables.method.pruning import prune
from trainables.method.retrain import retrain_copies
from trainables.models import build_model, preresnet
from trainables.run import runtime
from trainables.run.engine import data_steps_per_epoch, train
from trainables.run.runtime import full_precision, prepare, resolve_device, seed_everything, synchronize
from trainables.run.schedules import epoch_schedule
from trainables.run.settings import SGDRun

ROOT = Path(__file__).resolve().parents[1]


def _peak_reset(device):
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_text(device) -> str:
    if device.type != "cuda":
        return "(CPU: no GPU memory)"
    return (f"{torch.cuda.max_memory_allocated(device) / 2**20:,.0f} MiB allocated, "
            f"{torch.cuda.max_memory_reserved(device) / 2**20:,.0f} MiB reserved")


def _cifar_shaped(n: int) -> Dataset:
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(n, 3, 32, 32, generator=generator), torch.randint(0, 10, (n,), generator=generator)
    return Dataset(x, y, x[:256], y[:256], 10, "crop_flip")


def engine(device, *, batch_size: int, steps: int, repeats: int) -> None:
    """Print img/s of PreResNet-20 training in float32 and under bf16 autocast, and each one's memory peak."""
    print(f"\n1. engine: PreResNet-20, batch {batch_size}, {steps} steps, median of {repeats}")
    for precision in ("fp32", "bf16"):
        seed_everything(0)
        model, data = prepare(preresnet(), _cifar_shaped(batch_size * steps), device)
        run = SGDRun(epoch_schedule(0.05, epochs=1, steps_per_epoch=steps, milestone_epochs=()), steps, batch_size,
                     momentum=0.9, weight_decay=1e-4, drop_last=True, precision=precision)
        train(model, data, run.replace(steps=2), seed=0)  # warm-up: allocator, kernel choice
        _peak_reset(device)
        rates = []
        for _ in range(repeats):
            synchronize(device)
            started = time.perf_counter()
            train(model, data, run, seed=0)
            synchronize(device)
            rates.append(steps * batch_size / (time.perf_counter() - started))
        autocast = runtime.bf16_training(device, precision)
        print(f"   {precision}: {statistics.median(rates):>9,.0f} img/s   bf16 autocast "
              f"{'on' if autocast else 'off'}   peak {_peak_text(device)}")


def _pruned_resnet(device, *, steps: int, method: str):
    # PreResNet-20 pruned to density 0.1 by `method`, CIFAR-shaped data for `steps` steps at batch 64, the run.
    seed_everything(0)
    model, data = prepare(preresnet(), _cifar_shaped(64 * steps), device)
    pruned, masks = prune(model, density=0.1, method=method)
    run = SGDRun(epoch_schedule(0.1, epochs=1, steps_per_epoch=steps, milestone_epochs=()), steps, 64,
                 momentum=0.9, weight_decay=1e-4)
    return pruned, masks, data, run


def stacked_copies(device, *, steps: int, repeats: int) -> None:
    """Print seconds per retraining step of K = 2 PreResNet-20 copies, stacked and one after another."""
    print(f"\n2. retraining K = 2 copies of PreResNet-20 at density 0.1, batch 64, {steps} steps, median of {repeats}")
    pruned, masks, data, run = _pruned_resnet(device, steps=steps, method="uniform")
    seconds = {}
    for stacked in (False, True, False, True)[: 2 + 2 * (repeats > 1)]:
        synchronize(device)
        started = time.perf_counter()
        retrain_copies(pruned, masks, data, run=run, seeds=[1, 2], last_epochs=1, stacked=stacked)
        synchronize(device)
        seconds.setdefault(stacked, []).append((time.perf_counter() - started) / steps)
    alone, together = statistics.median(seconds[False]), statistics.median(seconds[True])
    print(f"   one after another {alone * 1e3:8.2f} ms a step   stacked {together * 1e3:8.2f} ms a step   "
          f"stacked speedup {alone / together:.2f}x")


def metrics_on_both_devices(device, *, epochs: int) -> None:
    """Print mc, CKA and training error of the same two copies on `device` and on the CPU, and LMC's time split."""
    print(f"\n3. metrics of the same two copies (cnn1d on mnist1d, {epochs} epochs, density 0.05) on {device.type} "
          "and on the CPU")
    seed_everything(0)
    data = load_dataset("mnist1d")
    model = build_model("cnn1d", input_shape=data.input_shape, num_classes=10)
    spe = data_steps_per_epoch(data, 64, False)
    run = SGDRun(epoch_schedule(0.1, epochs=epochs, steps_per_epoch=spe, milestone_epochs=()), epochs * spe, 64,
                 momentum=0.9, weight_decay=5e-4, augment=False)
    train(model, data, run, seed=0)
    pruned, masks = prune(model, density=0.05, method="uniform")
    copies = [c.model for c in retrain_copies(pruned, masks, data, run=run, seeds=[1, 2], last_epochs=1,
                                              stacked=False)]
    options = dict(lmc=True, lmc_points=11, lmc_subset=2000, cka=True, cka_examples=4000, batch_size=1000,
                   bn_batch_size=64, bn_stats="paper")
    rows = {"cpu": measure_copies(copies, (data.x_train, data.y_train), stacked=False, **options)}
    here = data.to(device)
    on_device = [copy.deepcopy(m).to(device) for m in copies]
    tf32 = _force_tf32_on()
    try:
        with full_precision(device):
            inside = runtime._tf32_flags()
        for stacked in (False, True):
            rows[f"{device.type}{', stacked' if stacked else ''}"] = measure_copies(
                on_device, (here.x_train, here.y_train), stacked=stacked, **options)
    finally:
        runtime._set_tf32_flags(tf32)
    n = 2000
    print(f"   TF32 forced on outside the metrics; inside full_precision (matmul, conv): {inside}")
    print(f"   {'where':<16}{'mc':>12}{'CKA':>12}{'train_err':>11}   |d mc|   |d CKA|   |d err| (1 example = "
          f"{1 / n:.0e})   LMC s (of which BN s)")
    for where, row in rows.items():
        ref = rows["cpu"]
        print(f"   {where:<16}{row['lmc']:>12.6f}{row['cka']:>12.8f}{row['train_err']:>11.5f}   "
              f"{abs(row['lmc'] - ref['lmc']):.1e}  {abs(row['cka'] - ref['cka']):.1e}  "
              f"{abs(row['train_err'] - ref['train_err']):.1e}                       "
              f"{row['seconds_lmc']:.3f} ({row['seconds_lmc_bn']:.3f})")


def _force_tf32_on() -> tuple:
    # The state before, restored by the caller; TF32 on for matmuls and convolutions meanwhile.
    saved = runtime._tf32_flags()
    runtime._set_tf32_flags(("tf32", "tf32") if runtime._new_tf32_api() else (True, True))
    return saved


def determinism(device, *, steps: int) -> None:
    """Print whether two retrainings under resources.deterministic give the same weights bit for bit."""
    print(f"\n4. resources.deterministic: two retrainings of PreResNet-20 ({steps} steps) on {device.type}")
    pruned, masks, data, run = _pruned_resnet(device, steps=steps, method="lamp")
    for deterministic in (False, True):
        runtime.use_deterministic(deterministic)
        try:
            states = [retrain_copies(pruned, masks, data, run=run, seeds=[1], last_epochs=1, stacked=False)[0]
                      .model.state_dict() for _ in range(2)]
        finally:
            runtime.use_deterministic(False)
        same = all(torch.equal(states[0][k], states[1][k]) for k in states[0])
        worst = max(float((states[0][k].double() - states[1][k].double()).abs().max()) for k in states[0])
        print(f"   deterministic {str(deterministic).lower():<5}: same weights bit for bit: {'yes' if same else 'no'} "
              f"(largest difference {worst:.1e})")


def packed_study(device, *, smoke: bool) -> None:
    """Run a tiny study with resources.gpu 0.25 and print how many trials ran at once and their memory peaks."""
    import ray
    from ray.tune import ExperimentAnalysis

    from analysis import read_study
    from study.run.launch import run_study

    print("\n5. a tiny study with resources.gpu 0.25 (lr knob: no shared dense run), one GPU")
    if smoke:  # one logical GPU: Ray packs as on a card; torch sees none, so the trials run on the CPU
        ray.init(address="local", num_cpus=4, num_gpus=1, include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address="local", num_gpus=1, include_dashboard=False, log_to_driver=False)
    with tempfile.TemporaryDirectory() as storage:
        config = load_config(ROOT / "configs/tiny.yaml", {
            "study.storage": storage, "study.name": "gpu_check", "study.knob": "lr",
            "study.temperatures": [0.02, 0.05, 0.1, 0.2], "resources.gpu": 0.25, "resources.device": "auto",
            "resources.cpu": 1, "retrain.epochs": 2 if smoke else 30})
        outcome = run_study(config)
        frames = ExperimentAnalysis(str(outcome.path)).trial_dataframes
        spans = [(float(f["timestamp"].iloc[0] - f["time_total_s"].iloc[0]), float(f["timestamp"].iloc[-1]))
                 for f in frames.values() if not f.empty]
        cells = read_study(outcome.path).cells
    ray.shutdown()
    at_once = max(sum(start <= t < end for start, end in spans) for t, _ in spans) if spans else 0
    print(f"   {len(spans)} trials, at most {at_once} running at once on the one GPU")
    print(f"   {'trial':<14}{'device':<9}{'GPU peak allocated MiB':>24}{'reserved MiB':>14}")
    for trial_id, rows in cells.groupby("trial_id"):
        print(f"   {trial_id:<14}{rows['device'].iloc[-1]:<9}{rows['gpu_peak_mb'].max():>24,.1f}"
              f"{rows['gpu_reserved_peak_mb'].max():>14,.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on whatever device is here, for tests")
    args = parser.parse_args()
    device = resolve_device("auto")
    if device.type != "cuda" and not args.smoke:
        print("gpu-check: torch sees no CUDA device here (torch.cuda.is_available() is False); run it on a machine "
              "with an NVIDIA GPU and a CUDA build of torch, or --smoke to run its code on the CPU", file=sys.stderr)
        return 2
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        print(f"{torch.cuda.get_device_name(device)}, compute capability {major}.{minor}, torch {torch.__version__}, "
              f"CUDA {torch.version.cuda}")
    else:
        print(f"no CUDA device: the checks' code on the CPU (torch {torch.__version__}); no GPU figure below")
    started = time.perf_counter()
    engine(device, batch_size=16 if args.smoke else 256, steps=2 if args.smoke else 50, repeats=1 if args.smoke else 3)
    stacked_copies(device, steps=2 if args.smoke else 50, repeats=1 if args.smoke else 3)
    metrics_on_both_devices(device, epochs=1 if args.smoke else 5)
    determinism(device, steps=2 if args.smoke else 30)
    packed_study(device, smoke=args.smoke)
    print(f"\ngpu-check done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
