"""Training and evaluation throughput: the public research code's loop vs our engine.

(a) reference: per-sample torchvision transforms on PIL images through a DataLoader, `.item()`
    every step, NCHW, fp32 (how the public three-regime code and most CIFAR repos train);
(b) ours: `trainables.run.engine.train`, data resident on the device, batched augmentation, one host
    sync per epoch; on CUDA also channels_last and bfloat16 autocast (resources.precision auto).
Both train PreResNet-20 on CIFAR-shaped random data with the same SGD settings. The variants
alternate within one process; the ratio b/a is reported per repeat as min / median / max. On CUDA
it also prints ours in float32 (resources.precision fp32) and ours' own peak GPU memory, measured
in a pass of ours alone.

    python benchmarks/engine.py            # batch 64 and 128, 3 repeats
    python benchmarks/engine.py --smoke    # seconds, for tests
"""

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms

from trainables.data import CIFAR_MEAN, CIFAR_STD, Dataset
from trainables.models import preresnet
from trainables.run.engine import evaluate, train
from trainables.run.runtime import prepare, resolve_device, seed_everything
from trainables.run.schedules import epoch_schedule
from trainables.run.settings import SGDRun


class PerSampleCIFAR(torch.utils.data.Dataset):
    """CIFAR-shaped uint8 images served one PIL image at a time, as torchvision's CIFAR10 does."""

    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def reference_train(model, loader, *, device, steps):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    model.train()
    seen, total_loss, step = 0, 0.0, 0
    started = time.perf_counter()
    while step < steps:
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += loss.item()  # the per-step host sync of the public code
            seen += len(y)
            step += 1
            if step == steps:
                break
    _sync(device)
    return seen / (time.perf_counter() - started)


def ours_train(model, data, *, batch_size, steps, precision="auto"):
    schedule = epoch_schedule(0.05, epochs=1, steps_per_epoch=steps, milestone_epochs=())
    result = train(model, data, SGDRun(schedule, steps, batch_size, momentum=0.9, weight_decay=1e-4, drop_last=True,
                                       precision=precision), seed=0)
    _sync(data.x_train.device)
    return steps * batch_size / result.seconds


def reference_eval(model, loader, *, device):
    model.eval()
    correct, seen = 0, 0
    started = time.perf_counter()
    with torch.no_grad():
        for x, y in loader:
            out = model(x.to(device))
            correct += (out.argmax(1).cpu() == y).sum().item()
            seen += len(y)
    return seen / (time.perf_counter() - started)


def ours_eval(model, data):
    started = time.perf_counter()
    evaluate(model, data.x_test, data.y_test, batch_size=500)
    return data.x_test.shape[0] / (time.perf_counter() - started)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the reference loop")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for tests")
    args = parser.parse_args()
    if args.smoke:
        args.batch_sizes, args.steps, args.repeats, args.workers = [16], 2, 1, 0
    device = resolve_device(args.device)
    seed_everything(0)
    n = max(args.batch_sizes) * args.steps
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, n)
    normalize = transforms.Normalize(CIFAR_MEAN, CIFAR_STD)
    train_tf = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                                   transforms.ToTensor(), normalize])
    test_tf = transforms.Compose([transforms.ToTensor(), normalize])
    x = (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255 - torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)) \
        / torch.tensor(CIFAR_STD).view(1, 3, 1, 1)
    y = torch.from_numpy(labels)
    data = Dataset(x, y, x, y, 10, "crop_flip")
    print(f"device {device}, torch threads {torch.get_num_threads()}, reference DataLoader workers {args.workers}, "
          f"{args.steps} steps x {args.repeats} repeats")
    print(f"{'what':<24}{'reference img/s':>17}{'ours img/s':>12}{'ratio min/median/max':>26}")
    for batch_size in args.batch_sizes:
        loader = torch.utils.data.DataLoader(PerSampleCIFAR(images, labels, train_tf), batch_size=batch_size,
                                             shuffle=True, num_workers=args.workers, drop_last=True,
                                             pin_memory=device.type == "cuda")
        ref_model = preresnet().to(device)
        our_model, our_data = prepare(preresnet(), data, device)
        reference_train(ref_model, loader, device=device, steps=2)  # warm-up: allocator, workers
        ours_train(our_model, our_data, batch_size=batch_size, steps=2)
        refs, ours, ratios = [], [], []
        for _ in range(args.repeats):
            refs.append(reference_train(ref_model, loader, device=device, steps=args.steps))
            ours.append(ours_train(our_model, our_data, batch_size=batch_size, steps=args.steps))
            ratios.append(ours[-1] / refs[-1])
        print(f"{f'train, batch {batch_size}':<24}{statistics.median(refs):>17.0f}{statistics.median(ours):>12.0f}"
              f"{min(ratios):>12.2f} / {statistics.median(ratios):.2f} / {max(ratios):.2f}")
        if device.type == "cuda":
            fp32 = [ours_train(our_model, our_data, batch_size=batch_size, steps=args.steps, precision="fp32")
                    for _ in range(args.repeats)]
            print(f"  ours in float32: {statistics.median(fp32):.0f} img/s (bf16 autocast: "
                  f"{statistics.median(ours):.0f})")
            del ref_model  # ours' own peak: the reference loop's tensors are not counted
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
            ours_train(our_model, our_data, batch_size=batch_size, steps=args.steps)
            print(f"  GPU memory, ours: {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB peak allocated, "
                  f"{torch.cuda.max_memory_reserved(device) / 2**20:.0f} MiB reserved (dataset resident: "
                  f"{our_data.x_train.numel() * 4 / 2**20:.0f} MiB, its test split the same tensor)")
            ref_model = preresnet().to(device)
    eval_loader = torch.utils.data.DataLoader(PerSampleCIFAR(images, labels, test_tf), batch_size=500,
                                              num_workers=args.workers)
    refs, ours, ratios = [], [], []
    for _ in range(args.repeats):
        refs.append(reference_eval(ref_model, eval_loader, device=device))
        ours.append(ours_eval(our_model, our_data))
        ratios.append(ours[-1] / refs[-1])
    print(f"{'evaluation, batch 500':<24}{statistics.median(refs):>17.0f}{statistics.median(ours):>12.0f}"
          f"{min(ratios):>12.2f} / {statistics.median(ratios):.2f} / {max(ratios):.2f}")


if __name__ == "__main__":
    main()
