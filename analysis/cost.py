"""What a study's compute went to, from the timings every row carries: a pure function on per-seed cells.

Parts: dense training (`seconds_dense`, once per trial), retraining (`seconds_retrain`), split
into the screen's and the full budget's by the row's `retrain_epochs` against the study's
`retrain.epochs`, LMC (`seconds_lmc`), CKA (`seconds_cka`), and overhead: the trial's setup
(data and model), waiting for a shared dense run, and what a cell's wall time (`seconds`) holds
besides retraining and the metrics (pruning, the spectra, the beyond-accuracy and scratch
controls, reporting). Seconds are the trial's wall time on its slot; CPU-seconds multiply them by
the threads a trial holds (`resources.cpu`), GPU-seconds by its GPU share (`resources.gpu`) on
rows that ran on CUDA (by their `device`; in studies from before it was recorded, those with a
CUDA memory peak). Ray's own start-up and idle slots are not in any row:
`benchmarks/study_cost.py` measures them.
"""

from __future__ import annotations

import math
import pandas as pd

from analysis.load import read_screen

PARTS = ("dense", "screen", "retrain", "lmc", "cka", "overhead")
LABELS = {"dense": "dense training", "screen": "screen retraining", "retrain": "full retraining", "lmc": "LMC",
          "cka": "CKA", "overhead": "overhead", "total": "total"}


def compute_split(per_seed: pd.DataFrame, *, cpu: float = 1.0, gpu: float = 0.0,
                  full_epochs: int | None = None) -> dict:
    """Return {part: {"seconds", "cpu_s", "gpu_s", "share"}} and "total" of a study's per-seed rows.

    Args:
        per_seed: the study's per-seed cells (`analysis.read_study(...).cells`).
        cpu: threads per trial (resources.cpu).
        gpu: GPU share per trial (resources.gpu).
        full_epochs: the study's retrain.epochs; rows retrained for fewer count as the screen's
            (None: every row is full budget).
    """
    zero = pd.Series(0.0, index=per_seed.index)
    col = lambda name: per_seed[name].fillna(0.0) if name in per_seed.columns else zero  # noqa: E731
    retrain = col("seconds_retrain")
    screen = retrain.where(per_seed["retrain_epochs"] < full_epochs, 0.0) if full_epochs is not None and \
        "retrain_epochs" in per_seed.columns else zero
    in_cell = retrain + col("seconds_lmc") + col("seconds_cka")
    seconds = {"dense": col("seconds_dense"), "screen": screen, "retrain": retrain - screen,
               "lmc": col("seconds_lmc"), "cka": col("seconds_cka"),
               "overhead": col("seconds_setup") + col("seconds_dense_wait") + (col("seconds") - in_cell).clip(lower=0)}
    cuda = _on_cuda(per_seed, zero)
    total = sum(float(s.sum()) for s in seconds.values())
    out = {}
    for part, s in seconds.items():
        wall = float(s.sum())
        out[part] = {"seconds": wall, "cpu_s": wall * cpu, "gpu_s": float(s[cuda].sum()) * gpu,
                     "share": wall / total if total > 0 else math.nan}
    out["total"] = {"seconds": total, "cpu_s": total * cpu, "gpu_s": sum(out[p]["gpu_s"] for p in PARTS),
                    "share": 1.0 if total > 0 else math.nan}
    return out


def _on_cuda(per_seed: pd.DataFrame, zero: pd.Series) -> pd.Series:
    # The row's device says where it computed; rows from before it had one are on CUDA where a
    # GPU memory peak was read.
    cuda = zero.astype(bool)
    if "gpu_peak_mb" in per_seed.columns:
        cuda = per_seed["gpu_peak_mb"].notna()
    if "device" in per_seed.columns:
        device = per_seed["device"].fillna("").astype(str)
        cuda = cuda.where(device == "", device.str.startswith("cuda"))
    return cuda


def cost_line(split: dict) -> str:
    """Return one line: "compute 612 CPU-s (+ 0 GPU-s): dense training 38 %, ..." (parts with no time left out)."""
    total = split["total"]
    gpu = f" and {total['gpu_s']:,.0f} GPU-s" if total["gpu_s"] > 0 else ""
    parts = ", ".join(f"{LABELS[p]} {split[p]['cpu_s']:,.0f} ({split[p]['share']:.0%})" for p in PARTS
                      if split[p]["seconds"] > 0)
    return f"compute {total['cpu_s']:,.0f} CPU-s{gpu}: {parts}"


def config_split(rows: pd.DataFrame, config) -> dict:
    """Return `compute_split` of `rows` with the threads, GPU share and full budget of `config` (None: defaults)."""
    return compute_split(rows, cpu=config.resources.cpu if config else 1.0,
                         gpu=config.resources.gpu if config else 0.0,
                         full_epochs=config.retrain.epochs if config else None)


def study_compute(study) -> dict:
    """Return `config_split` of a read study (`analysis.load.Study`), its screen counted with it (`STUDY/screen`)."""
    screen = read_screen(study)
    rows = study.cells if screen is None else pd.concat([study.cells, screen.cells], ignore_index=True)
    return config_split(rows, study.config)
