"""The spectral metrics on trained dense models: ours per x_min choice, weightwatcher's, and what they cost.

Trains the demo's dense models (mnist1d, the 1-D CNN and the MLP, lr 0.1, `--epochs` epochs,
batch 64, seed 0), then per prunable layer prints alpha (x_min at the peak, the middle and by KS),
alpha_hat, log spectral norm and stable rank, and weightwatcher 0.7.7's alpha, alpha_weighted,
log_spectral_norm and stable_rank on the same weights (our KS choice is its fit; it skips Conv1d
layers), with the largest relative difference; then the seconds of one model's spectra. On CUDA
the models train there; the spectra always run in float64 on the CPU.

    python benchmarks/spectra.py             # about a minute on the 2-core development machine
    python benchmarks/spectra.py --smoke     # seconds, for tests
"""

import argparse
import copy
import logging
import math
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainables.data import load_dataset  # noqa: E402
from trainables.method.pruning import prunable_weights  # noqa: E402
from trainables.method.spectra import layer_spectrum, model_spectra  # noqa: E402
from trainables.models import build_model  # noqa: E402
from trainables.run.engine import data_steps_per_epoch, train  # noqa: E402
from trainables.run.runtime import prepare, resolve_device, seed_everything  # noqa: E402
from trainables.run.schedules import epoch_schedule  # noqa: E402
from trainables.run.settings import SGDRun  # noqa: E402

PAIRS = (("alpha", "alpha"), ("alpha_hat", "alpha_weighted"), ("log_spectral_norm", "log_spectral_norm"),
         ("stable_rank", "stable_rank"))


def trained(name: str, data, *, epochs: int, device) -> torch.nn.Module:
    """Return model `name` trained densely on `data` as the demo's dense run at lr 0.1."""
    seed_everything(0)
    model, data = prepare(build_model(name, input_shape=data.input_shape, num_classes=10), data, device)
    spe = data_steps_per_epoch(data, 64, False)
    schedule = epoch_schedule(0.1, epochs=epochs, steps_per_epoch=spe, milestone_epochs=(epochs // 2, 3 * epochs // 4))
    train(model, data, SGDRun(schedule, epochs * spe, 64, momentum=0.9, weight_decay=5e-4, augment=False), seed=0)
    return model


def weightwatcher_details(model):
    """Return weightwatcher's per-layer table, or None (with a line saying why) when it is not installed."""
    try:
        import weightwatcher
    except ImportError:
        print("weightwatcher is not installed: pip install '.[reference]' to compare against it")
        return None
    logging.getLogger("weightwatcher").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return weightwatcher.WeightWatcher(model=copy.deepcopy(model).cpu()).analyze()  # the model stays put


def compare(name: str, model) -> float:
    """Print the per-layer table of `model`; return the largest relative difference from weightwatcher (NaN: none)."""
    weights = prunable_weights(model)
    details = weightwatcher_details(model)
    by_name = {} if details is None else {f"{row['name']}.weight": row for _, row in details.iterrows()}
    print(f"\n{name}: {'layer':<10} {'alpha peak':>10} {'mid':>6} {'ks':>6} {'ww':>6} {'hat':>7} {'ww':>7} "
          f"{'logsn':>6} {'ww':>6} {'srank':>7} {'ww':>7}")
    worst = math.nan
    for layer, w in weights.items():
        ours = {x: layer_spectrum(w, xmin=x) for x in ("peak", "mid", "ks")}
        theirs = by_name.get(layer)
        ref = (lambda k: float(theirs[k])) if theirs is not None else (lambda k: math.nan)
        ks = ours["ks"]
        print(f"{'':<{len(name) + 2}}{layer:<10} {ours['peak']['alpha']:10.3f} {ours['mid']['alpha']:6.3f} "
              f"{ks['alpha']:6.3f} {ref('alpha'):6.3f} {ks['alpha_hat']:7.3f} {ref('alpha_weighted'):7.3f} "
              f"{ks['log_spectral_norm']:6.3f} {ref('log_spectral_norm'):6.3f} {ks['stable_rank']:7.2f} "
              f"{ref('stable_rank'):7.2f}{'' if theirs is not None else '   (weightwatcher skips this layer)'}")
        if theirs is not None:
            diffs = [abs(ks[a] - float(theirs[b])) / abs(float(theirs[b])) for a, b in PAIRS]
            worst = max(diffs) if math.isnan(worst) else max(worst, *diffs)
    started = time.perf_counter()
    model_spectra(weights)
    print(f"  spectra of the {len(weights)} prunable layers: {time.perf_counter() - started:.3f} s")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="one epoch, for tests")
    args = parser.parse_args()
    device = resolve_device("auto")
    data = load_dataset("mnist1d")
    epochs = 1 if args.smoke else args.epochs
    print(f"device {device.type}, {torch.get_num_threads()} CPU threads, {epochs} dense epochs")
    worst = [compare(name, trained(name, data, epochs=epochs, device=device)) for name in ("cnn1d", "mlp")]
    finite = [w for w in worst if math.isfinite(w)]
    print(f"\nlargest relative difference from weightwatcher over the layers it reads: "
          f"{max(finite):.2e}" if finite else "\nno layer compared with weightwatcher")


if __name__ == "__main__":
    main()
