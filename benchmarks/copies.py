"""Stacked copies against one copy after another: one demo cell, side by side in one run.

A demo cell (mnist1d, cnn1d, 12 epochs of retraining of K copies as in the 6 x 5 demo grid the
cost-engine issue measured, then LMC over 11 points on 2,000 signals and CKA on 4,000) is timed
with the sequential path and the stacked path
(DESIGN.md 6.1) alternating, so that both see the same machine state; then K = 3, and
PreResNet-20 retraining steps on CIFAR-shaped data at batch 64. Each timing is the median of
`--repeats` runs. One thread per trial unless `--threads`, as a demo trial runs. On CUDA it also
prints images per second and peak GPU memory.

    python benchmarks/copies.py            # about 2.5 minutes on the 2-core development machine
    python benchmarks/copies.py --smoke    # seconds, for tests
"""

import argparse
import statistics
import time

import torch

from trainables.data import Dataset, load_dataset
from trainables.method.landscape import measure_copies
from trainables.method.pruning import prune
from trainables.method.retrain import retrain_copies
from trainables.models import build_model
from trainables.run.engine import data_steps_per_epoch
from trainables.run.runtime import prepare, resolve_device, seed_everything
from trainables.run.schedules import epoch_schedule
from trainables.run.settings import SGDRun


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_cell(pruned, masks, data, *, copies, epochs, stacked, device, metrics=True):
    """Return (retrain seconds, LMC + CKA seconds) of one cell with `copies` copies."""
    spe = data_steps_per_epoch(data, 64, False)
    schedule = epoch_schedule(0.1, epochs=epochs, steps_per_epoch=spe, milestone_epochs=(epochs // 2, 3 * epochs // 4))
    _sync(device)
    started = time.perf_counter()
    run = SGDRun(schedule, epochs * spe, 64, momentum=0.9, weight_decay=5e-4, augment=False)
    result = retrain_copies(pruned, masks, data, run=run, seeds=list(range(1, copies + 1)), last_epochs=5,
                            stacked=stacked)
    _sync(device)
    retrain = time.perf_counter() - started
    if not metrics:
        return retrain, 0.0
    started = time.perf_counter()
    measure_copies([c.model for c in result], (data.x_train, data.y_train), lmc=True, lmc_points=11,
                   lmc_subset=2000, cka=True, cka_examples=4000, batch_size=2000, bn_batch_size=64,
                   bn_stats="paper", stacked=stacked)
    _sync(device)
    return retrain, time.perf_counter() - started


def demo_cell(copies, *, epochs, repeats, device):
    """Time the demo cell both ways; print the medians and return (retrain, lmc, cell) speedups."""
    seed_everything(0)
    data = load_dataset("mnist1d")
    model = build_model("cnn1d", input_shape=data.input_shape, num_classes=10)
    model, data = prepare(model, data, device)
    pruned, masks = prune(model, density=0.03, method="uniform")
    times = {True: [], False: []}
    for _ in range(repeats):
        for stacked in (False, True):
            times[stacked].append(time_cell(pruned, masks, data, copies=copies, epochs=epochs, stacked=stacked,
                                            device=device))
    med = {k: (statistics.median(r for r, _ in v), statistics.median(m for _, m in v)) for k, v in times.items()}
    for stacked, (retrain, metrics) in med.items():
        print(f"  K={copies} {'stacked' if stacked else 'sequential':<10} retrain {retrain:6.2f} s   "
              f"LMC + CKA {metrics:5.2f} s   cell {retrain + metrics:6.2f} s")
    seq, ours = med[False], med[True]
    return seq[0] / ours[0], seq[1] / ours[1], sum(seq) / sum(ours)


def preresnet_steps(copies, *, steps, repeats, device):
    """Time `steps` retraining steps of PreResNet-20 at batch 64 on CIFAR-shaped data, both ways."""
    seed_everything(0)
    n = 64 * steps
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (n,), generator=gen)
    data = Dataset(x, y, x[:256], y[:256], 10, "crop_flip", (-2.4, -2.4, -2.2))
    model = build_model("preresnet", input_shape=(3, 32, 32), num_classes=10)
    model, data = prepare(model, data, device)
    pruned, masks = prune(model, density=0.1, method="uniform")
    times = {True: [], False: []}
    for _ in range(repeats):
        for stacked in (False, True):
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            seconds, _ = time_cell(pruned, masks, data, copies=copies, epochs=1, stacked=stacked, device=device,
                                   metrics=False)
            peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else float("nan")
            times[stacked].append((seconds, peak))
    for stacked, runs in times.items():
        seconds = statistics.median(s for s, _ in runs)
        line = (f"  PreResNet-20 K={copies} {'stacked' if stacked else 'sequential':<10} {steps} steps x {copies} "
                f"copies: {seconds:6.2f} s, {copies * n / seconds:7.1f} img/s")
        if device.type == "cuda":
            line += f", peak GPU memory {max(p for _, p in runs):.0f} MiB"
        print(line)
    return statistics.median(s for s, _ in times[False]) / statistics.median(s for s, _ in times[True])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=12, help="retraining epochs of the cell")
    parser.add_argument("--steps", type=int, default=10, help="PreResNet-20 retraining steps per copy")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (a demo trial has 1)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for tests")
    args = parser.parse_args()
    if args.smoke:
        args.repeats, args.epochs, args.steps = 1, 1, 2
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} thread(s)"
    print(f"device: {name}; medians of {args.repeats}; sequential and stacked alternate")
    print("demo cell (mnist1d, cnn1d, density 0.03):")
    k3 = demo_cell(3, epochs=args.epochs, repeats=args.repeats, device=device)
    k2 = demo_cell(2, epochs=args.epochs, repeats=args.repeats, device=device)
    print("PreResNet-20, CIFAR-shaped data, batch 64:")
    resnet = preresnet_steps(2, steps=args.steps, repeats=args.repeats, device=device)
    print(f"K=3: retrain speedup {k3[0]:.2f}, lmc speedup {k3[1]:.2f}, cell speedup {k3[2]:.2f}")
    print(f"PreResNet-20 K=2 retrain speedup {resnet:.2f}")
    print(f"retrain speedup {k2[0]:.2f}, lmc speedup {k2[1]:.2f}, cell speedup {k2[2]:.2f} (median of {args.repeats})")


if __name__ == "__main__":
    main()
