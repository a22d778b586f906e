"""`regimes plan`: what a study will cost before it runs, from a calibration of the engine here.

Counts come from the config (trials, cells, steps, LMC points); seconds per unit from
`trainables.cell.calibrate` on the device a trial would get here, with the trial's thread count,
its stacked copies and, on a GPU shared by 1/resources.gpu trials, their packing; the wall time
spreads the trials over the slots the cluster offers (CPUs / resources.cpu, and GPUs /
resources.gpu, so fractional GPUs pack), plus Ray's start-up and per-trial overhead as
measured by benchmarks/study_cost.py (about 2 s and 0.2 s a trial here).
"""

from __future__ import annotations

import heapq
import os
import sys
import time

from study.config import StudyConfig, study_path, trial_budget
from contract.screen import screen_config
from contract.seeds import added_seeds
from trainables.cell.calibrate import calibrate, study_cost

RAY_START_S = 2.5
PER_TRIAL_S = 0.2


def plan_lines(config: StudyConfig, *, resources: dict | None = None) -> list[str]:
    """Return the plan of `config` as text lines; `resources` as ray.cluster_resources() (None: this machine)."""
    import torch

    have = resources or {"CPU": float(os.cpu_count() or 1), "GPU": float(torch.cuda.device_count())}
    notes = []
    if config.resources.gpu and not torch.cuda.is_available():
        # Planning a GPU study where torch sees no card: its cost on this machine's CPU, said in words.
        notes.append(f"resources.gpu: {config.resources.gpu:g} but no GPU here: the estimate is for this machine's "
                     "CPU; it could not time the GPU's steps, stacked copies or trials sharing a card; run "
                     "regimes plan on a GPU node for the GPU figures")
        cpu_only = config.resources.model_copy(update={"gpu": 0.0, "device": "cpu"})
        config = config.model_copy(update={"resources": cpu_only})
        have = {**have, "GPU": 0.0}
    slots = int(have.get("CPU", 1) // config.resources.cpu)
    if config.resources.gpu:
        slots = min(slots, int(have.get("GPU", 0) // config.resources.gpu))
    if slots < 1:
        return [f"no slot: a trial asks for {config.resources.cpu:g} CPU / {config.resources.gpu:g} GPU and the "
                f"cluster has {have.get('CPU', 0):g} / {have.get('GPU', 0):g}"]
    started = time.perf_counter()
    costs = calibrate(config, say=lambda line: print(line, file=sys.stderr, flush=True))
    calibration_s = time.perf_counter() - started
    temperatures = list(config.study.temperatures)
    if config.study.search != "grid":
        temperatures = temperatures[:trial_budget(config)]  # the most a search may train
    cost = study_cost(config, costs, temperatures=temperatures)
    wall = max(cost["compute_s"] / slots, makespan(cost["trial_s"], slots)) + RAY_START_S + \
        PER_TRIAL_S * cost["trials"]
    device = "GPU" if costs.device == "cuda" else "CPU"  # what was timed
    share = config.resources.gpu if device == "GPU" else config.resources.cpu
    if costs.packed > 1:
        notes.append(f"{costs.packed} trials share a GPU (resources.gpu {config.resources.gpu:g}): timed together, "
                     f"each ran {costs.slowdown:.2f}x slower than alone; the figures include it")
    bound = "at most " if config.study.search != "grid" else ""
    seeds = f"{len(config.study.dense_seeds)}" + (f" to {config.seeds.max_seeds}" if config.seeds.max_seeds else "")
    return [
        f"plan for {config.study.name}: {bound}{len(temperatures)} temperatures x {seeds} "
        f"dense seeds = {cost['trials']} trials, {cost['cells']} cells" + (" with the first seeds" if
                                                                          config.seeds.max_seeds else ""),
        f"  dense training: {cost['dense_steps']:,} steps x {costs.dense_step_s * 1e3:.2f} ms = "
        f"{cost['dense_steps'] * costs.dense_step_s:,.0f} s",
        f"  retraining{' (with the from-scratch control)' if config.controls.scratch else ''}: "
        f"{cost['retrain_epochs']:,} copy-epochs, {cost['retrain_steps']:,} steps x "
        f"{costs.retrain_step_s * 1e3:.2f} ms = {cost['retrain_steps'] * costs.retrain_step_s:,.0f} s",
        f"  LMC: {cost['lmc_points']:,} points x {costs.lmc_point_s * 1e3:.0f} ms = "
        f"{cost['lmc_points'] * costs.lmc_point_s:,.0f} s",
        f"  compute {cost['compute_s']:,.0f} s on {slots} slots: wall about {clock(wall)}, "
        f"{cost['compute_s'] * share / 3600:,.2f} {device}-hours",
        f"calibrated in {calibration_s:.1f} s on this machine's {device} with {int(config.resources.cpu)} "
        f"thread(s){', copies and LMC points stacked' if costs.stacked else ''}; another device or model size "
        "scales these numbers",
    ] + _screen_lines(config, costs, cost, temperatures) + _seeds_lines(config, costs, cost, temperatures, slots) + (
        [f"{costs.stand_in} files are not on this machine: timed on random inputs of its shape and size "
         f"({costs.n_train:,} training examples)"] if costs.stand_in else []) + _watchdog_lines(config, costs) + notes


# A trial is taken as hung after resources.trial_timeout_s without a step, an evaluation batch or a
# wait; the bound should dwarf the longest such unit the calibration timed.
WATCHDOG_MARGIN = 20


def _watchdog_lines(config: StudyConfig, costs) -> list[str]:
    timeout = config.resources.trial_timeout_s
    copies = config.retrain.copies if costs.stacked else 1
    units = {"a dense step": costs.dense_step_s, "a retraining step": costs.retrain_step_s * copies,
             "an LMC point": costs.lmc_point_s}
    unit, longest = max(units.items(), key=lambda item: item[1])
    if timeout is None or timeout >= WATCHDOG_MARGIN * longest:
        return []
    return [f"resources.trial_timeout_s: {timeout:g} s is less than {WATCHDOG_MARGIN} times the longest unit of "
            f"work timed here ({unit}, {longest:.2f} s): a slow moment would be taken for a hang; raise it to "
            f"{WATCHDOG_MARGIN * longest:.0f} s or more"]


def _screen_lines(config: StudyConfig, costs, grid: dict, temperatures: list[float]) -> list[str]:
    # A screened study: the screen (dense + short retraining of every cell), then the full budget on
    # the cells it keeps, which only the screen decides: from one temperature per target density
    # (with every seed) to every cell.
    if config.study.screen_epochs is None:
        return []
    screen = study_cost(screen_config(config, study_path(config)), costs, temperatures=temperatures)
    per_cell = (grid["compute_s"] - grid["dense_steps"] * costs.dense_step_s) / grid["cells"]
    least = len(config.targets) * len(config.study.dense_seeds)
    low, high = screen["compute_s"] + least * per_cell, screen["compute_s"] + grid["cells"] * per_cell
    return [f"  screened ({config.study.screen_epochs} of {config.retrain.epochs} retraining epochs first): the screen "
            f"{screen['compute_s']:,.0f} s (dense training included), then {per_cell:,.1f} s per cell kept for the "
            f"full budget: {low:,.0f} s (one temperature per target density) to {high:,.0f} s (every cell kept), "
            f"against {grid['compute_s']:,.0f} s for the grid"]


def _seeds_lines(config: StudyConfig, costs, first: dict, temperatures: list[float], slots: int) -> list[str]:
    # Seeds added where calls are uncertain: from none added (every call sure on the first seeds)
    # to every temperature with seeds.max_seeds; only the cells decide where in between.
    if config.seeds.max_seeds is None:
        return []
    every = list(config.study.dense_seeds) + added_seeds(list(config.study.dense_seeds), config.seeds.max_seeds)
    most = study_cost(config.model_copy(update={"study": config.study.model_copy(update={"dense_seeds": every})}),
                      costs, temperatures=temperatures)
    walls = [max(c["compute_s"] / slots, makespan(c["trial_s"], slots)) + RAY_START_S + PER_TRIAL_S * c["trials"]
             for c in (first, most)]
    return [f"  seeds added where a call is uncertain (seeds.max_seeds {config.seeds.max_seeds}): compute "
            f"{first['compute_s']:,.0f} s (no seed added) to {most['compute_s']:,.0f} s (every temperature with "
            f"{config.seeds.max_seeds} seeds, {most['trials']} trials); wall about {clock(walls[0])} to "
            f"{clock(walls[1])}"]


def makespan(durations: list[float], slots: int) -> float:
    """Return the seconds until the last trial ends when trials start in order on `slots` parallel slots."""
    free = [0.0] * slots
    for seconds in durations:
        heapq.heappush(free, heapq.heappop(free) + seconds)
    return max(free)


def clock(seconds: float) -> str:
    """Return seconds as h:mm:ss."""
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
