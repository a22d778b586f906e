"""Time the landscape metrics and mask computation on PreResNet-20 with CIFAR-shaped data.

    python benchmarks/metrics.py            # 2,000 examples, 11 LMC points, 20 densities
    python benchmarks/metrics.py --smoke    # seconds, for tests
"""

import argparse
import time

import torch

from trainables.method.landscape import linear_mode_connectivity, output_cka
from trainables.method.pruning import magnitude_masks
from trainables.models import preresnet
from trainables.run.runtime import seed_everything


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--points", type=int, default=11)
    parser.add_argument("--densities", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for tests")
    args = parser.parse_args()
    if args.smoke:
        args.examples, args.points, args.densities = 64, 3, 2
    seed_everything(0)
    a, b = preresnet(), preresnet()
    x = torch.randn(args.examples, 3, 32, 32)
    y = torch.randint(0, 10, (args.examples,))
    rows = []
    start = time.perf_counter()
    linear_mode_connectivity(a, b, (x, y), points=args.points, batch_size=500, bn_batch_size=64, bn_stats="paper")
    rows.append((f"LMC, {args.points} points, {args.examples} examples (BN in batches of 64)",
                 time.perf_counter() - start))
    start = time.perf_counter()
    output_cka(a, b, x, batch_size=500)
    rows.append((f"CKA of softmax outputs, {args.examples} examples", time.perf_counter() - start))
    densities = torch.logspace(-2, 0, args.densities).tolist()
    for method in ("uniform", "global", "lamp"):
        start = time.perf_counter()
        for d in densities:
            magnitude_masks(a, d, method)
        rows.append((f"masks, {method}, {args.densities} densities", time.perf_counter() - start))
    print(f"PreResNet-20, CPU threads: {torch.get_num_threads()}")
    for name, seconds in rows:
        print(f"{name:<45} {seconds:8.3f} s")


if __name__ == "__main__":
    main()
