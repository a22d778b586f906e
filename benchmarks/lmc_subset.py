"""Validate LMC on a subset of the training set against LMC on all of it, at the demo's settings.

Trains one demo dense model (mnist1d, 1-D CNN, epoch `--epoch` of the 40-epoch schedule), prunes it
to each density, retrains two copies, and measures mc with BN re-estimation and error on the full
training set (4,000) and on its first N examples, with the time each took.

    python benchmarks/lmc_subset.py                  # subsets 2000 and 1000, densities 0.02 0.03 0.05
    python benchmarks/lmc_subset.py --smoke
"""

import argparse
import time

from trainables.data import load_dataset
from trainables.method.landscape import linear_mode_connectivity
from trainables.method.pruning import prune
from trainables.method.retrain import retrain_copies
from trainables.models import build_model
from trainables.run.engine import data_steps_per_epoch, train
from trainables.run.runtime import seed_everything
from trainables.run.schedules import epoch_schedule
from trainables.run.settings import SGDRun


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epoch", type=int, default=40)
    parser.add_argument("--densities", type=float, nargs="+", default=[0.02, 0.03, 0.05])
    parser.add_argument("--subsets", type=int, nargs="+", default=[2000, 1000])
    parser.add_argument("--retrain-epochs", type=int, default=12)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.epoch, args.densities, args.subsets, args.retrain_epochs = 1, [0.1], [500], 1
    seed_everything(0)
    data = load_dataset("mnist1d")
    model = build_model("cnn1d", input_shape=data.input_shape, num_classes=10)
    spe = data_steps_per_epoch(data, 64, False)
    train(model, data, SGDRun(epoch_schedule(0.1, epochs=40, steps_per_epoch=spe, milestone_epochs=(20, 30)),
                              args.epoch * spe, 64, momentum=0.9, weight_decay=5e-4, augment=False), seed=0)
    retrain = epoch_schedule(0.1, epochs=args.retrain_epochs, steps_per_epoch=spe,
                             milestone_epochs=(args.retrain_epochs // 2, 3 * args.retrain_epochs // 4))
    header = "".join(f"{f'mc, first {n}':>16}{'s':>6}" for n in args.subsets)
    print(f"{'density':>8}{'mc, all 4000':>14}{'s':>6}{header}")
    for density in args.densities:
        pruned, masks = prune(model, density=density, method="uniform")
        a, b = retrain_copies(pruned, masks, data, seeds=[1, 2], last_epochs=5,
                              run=SGDRun(retrain, args.retrain_epochs * spe, 64, momentum=0.9, weight_decay=5e-4,
                                         augment=False))
        line = f"{density:>8g}"
        for subset in [None] + args.subsets:
            started = time.perf_counter()
            mc = linear_mode_connectivity(a.model, b.model, (data.x_train, data.y_train), subset=subset,
                                          bn_batch_size=64, bn_stats="paper")["mc"]
            line += f"{mc:>{14 if subset is None else 16}.4f}{time.perf_counter() - started:>6.2f}"
        print(line)


if __name__ == "__main__":
    main()
