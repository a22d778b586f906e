"""Do a proxy study's answers transfer to the full-size study? The runs behind docs/proxies.md.

Per setting, the full study, then one proxy per axis and size (`contract.proxy`), each through
`regimes run` as a user runs it, one after the other, under one storage root; then the transfer
table (`regimes compare FULL PROXY...`). Every run resumes: rerun the same command after an
interruption. The settings and proxies below were fixed (committed) before any of their runs.

    python benchmarks/proxy_transfer.py --setting demo     # mnist1d, 1-D CNN, lr knob (about 20 min here)
    python benchmarks/proxy_transfer.py --setting mnist    # real MNIST, LeNet-300-100 (about 50 min here)
    python benchmarks/proxy_transfer.py --setting demo --table   # the table of what has run, nothing run

Real MNIST is read from ../shared/data (torchvision's layout); without it that setting stops
with the reason.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {
    "demo": {"config": "configs/demo.yaml", "overrides": [],
             "proxies": [{"width": 0.5}, {"width": 0.25}, {"train_subset": 0.5}, {"train_subset": 0.25},
                         {"retrain_epochs": 0.5}, {"retrain_epochs": 0.25}, {"dense_epochs": 0.5},
                         {"dense_epochs": 0.25}]},
    "mnist": {"config": "configs/mnist.yaml", "overrides": [f"data.root={ROOT.parent / 'shared' / 'data'}",
                                                            "data.download=false"],
              "proxies": [{"width": 0.5}, {"width": 0.25}, {"train_subset": 0.5}, {"train_subset": 0.25},
                          {"retrain_epochs": 0.5}, {"retrain_epochs": 0.25}]},
}


def _name(config: str, proxy: dict) -> str:
    import yaml

    base = yaml.safe_load((ROOT / config).read_text())["study"]["name"]
    return base + ("-proxy-" + "-".join(f"{axis}{fraction:g}" for axis, fraction in proxy.items()) if proxy else "")


def _run(setting: dict, proxy: dict, storage: Path) -> None:
    sets = [*setting["overrides"], *(f"proxy.{axis}={fraction}" for axis, fraction in proxy.items())]
    command = [str(Path(sys.executable).parent / "regimes"), "run", str(ROOT / setting["config"]),
               "--storage", str(storage), *[word for s in sets for word in ("--set", s)]]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    last = (done.stdout + done.stderr).strip().splitlines()[-1:]
    print(f"{_name(setting['config'], proxy)}: exit {done.returncode} in {time.perf_counter() - started:.0f} s "
          f"({last[0] if last else ''})", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setting", choices=sorted(SETTINGS), required=True)
    parser.add_argument("--storage", default=str(ROOT / "studies" / "transfer"))
    parser.add_argument("--table", action="store_true", help="print the table of the studies there, run nothing")
    args = parser.parse_args()
    setting, storage = SETTINGS[args.setting], Path(args.storage)
    if args.setting == "mnist" and not (ROOT.parent / "shared" / "data" / "MNIST" / "raw").is_dir():
        print("no ../shared/data/MNIST/raw here: the real-MNIST setting cannot run", file=sys.stderr)
        return 2
    runs = [{}, *setting["proxies"]]
    if not args.table:
        for proxy in runs:
            _run(setting, proxy, storage)
    studies = [storage / _name(setting["config"], proxy) for proxy in runs]
    present = [str(path) for path in studies if path.is_dir()]
    return subprocess.run([str(Path(sys.executable).parent / "regimes"), "compare", *present]).returncode


if __name__ == "__main__":
    sys.exit(main())
