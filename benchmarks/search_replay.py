"""Replay three searchers against a finished full-grid table used as an oracle, at equal budgets.

    python benchmarks/search_replay.py TABLE.csv --budget 5
    python benchmarks/search_replay.py studies/demo_fine --budget 4
    python benchmarks/search_replay.py --paper --budget 5     # the Figure-2-shaped table (paper_table.py)
    python benchmarks/search_replay.py --smoke                # seconds: a check that it runs

TABLE.csv has columns knob,temperature,density,test_acc,lmc,cka (one row per cell, test_acc 0-1);
a study directory is read through `analysis.open_study` (means over dense seeds). A trial
trains one temperature and returns every density's cells. At most B trials each:

- regimes: `analysis.search.next_temperatures`, one trial at a time, stopping early when it
  says it is done; its answer per density is `select`'s (the Regime-II cell with the highest
  CKA among the visited ones), as `regimes run` would print;
- random: B distinct temperatures drawn uniformly, 50 draws; the answer per density is the
  visited temperature with the best test accuracy; regrets are medians over the draws;
- optuna: TPE (optuna's `TPESampler`, n_startup_trials = max(1, B // 3) so that TPE, not its
  random start, picks most trials at small budgets) maximizing the mean test accuracy over the
  target densities, 10 sampler seeds, medians over seeds; the answer per density is the visited
  temperature with the best test accuracy. A temperature it suggests again is answered from
  cache without spending budget (a real study would retrain it: this is generous to TPE).

Regret is in points of test accuracy below the grid's best at that density. A line before the
last answers the rule's visits as the others are answered (best visited accuracy), to tell a
poor search from a poor answer. The last line:
`regimes R1 pts, random R2 pts, optuna R3 pts (mean regret, budget B of N)`.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from paper_table import paper_table  # noqa: E402

from analysis import AdviceError, classify, open_study, select_model  # noqa: E402
from analysis.search import next_temperatures  # noqa: E402
from contract.knobs import hot_to_cold  # noqa: E402

COLUMNS = ["knob", "temperature", "density", "test_acc", "lmc", "cka"]


def read_table(source: str) -> tuple[pd.DataFrame, dict]:
    """Return (one row per cell, the thresholds saved with the study or {}) from a CSV file or a study directory."""
    path = Path(source)
    if path.is_dir():
        study = open_study(path)
        return study.cells[study.cells["status"] == "ok"].reset_index(drop=True), \
            {"mc_threshold": study.mc_threshold, "cka_eps": study.cka_eps}
    table = pd.read_csv(path)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise SystemExit(f"{source}: missing columns {', '.join(missing)}; expected {','.join(COLUMNS)}")
    return table, {}


def replay_regimes(table: pd.DataFrame, *, budget: int, densities, thresholds: dict) -> tuple[list[float], dict]:
    """Return (temperatures visited in order, {density: picked temperature}) of the regime rule."""
    knob = str(table["knob"].iloc[0])
    candidates = sorted(table["temperature"].unique())
    visited: list[float] = []
    while len(visited) < budget:
        seen = table[table["temperature"].isin(visited)]
        nxt = next_temperatures(seen, knob=knob, candidates=candidates, densities=densities, n=1, **thresholds)
        if not nxt:
            break
        visited.append(nxt[0])
    seen = classify(table[table["temperature"].isin(visited)], **thresholds)
    picks = {}
    for d in densities:
        try:
            picks[d] = select_model(seen, density=d)["temperature"]
        except AdviceError:  # Regime I at every visited temperature: the rule's answer is "hotter"
            picks[d] = hot_to_cold(knob, visited)[0]
    return visited, picks


def best_visited(table: pd.DataFrame, visited, densities) -> dict:
    """Return {density: the visited temperature with the best test accuracy}."""
    seen = table[table["temperature"].isin(visited)]
    return {d: float(seen.loc[seen[np.isclose(seen["density"], d)]["test_acc"].idxmax(), "temperature"])
            for d in densities}


def replay_random(table: pd.DataFrame, *, budget: int, densities, draws: int) -> list[dict]:
    """Return the picks of `draws` random searches of `budget` distinct temperatures."""
    temps = sorted(table["temperature"].unique())
    rng = np.random.default_rng(0)
    return [best_visited(table, rng.choice(temps, size=min(budget, len(temps)), replace=False), densities)
            for _ in range(draws)]


def replay_optuna(table: pd.DataFrame, *, budget: int, densities, seeds: int) -> list[dict]:
    """Return the picks of TPE runs (one per sampler seed) with `budget` distinct temperatures each."""
    import optuna

    optuna.logging.set_verbosity(logging.WARNING)
    temps = [float(t) for t in sorted(table["temperature"].unique())]
    targets = table[table["density"].isin(densities)]
    objective = targets.groupby("temperature")["test_acc"].mean()
    out = []
    for seed in range(seeds):
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(1, budget // 3))
        run = optuna.create_study(direction="maximize", sampler=sampler)
        visited: list[float] = []
        for _ in range(20 * budget):
            if len(visited) >= min(budget, len(temps)):
                break
            trial = run.ask()
            t = trial.suggest_categorical("temperature", temps)
            run.tell(trial, float(objective[t]))
            if t not in visited:
                visited.append(t)
        out.append(best_visited(table, visited, densities))
    return out


def regrets(table: pd.DataFrame, picks: dict) -> dict:
    """Return {density: points of test accuracy below the grid's best} of one searcher's picks."""
    out = {}
    for d, t in picks.items():
        at = table[np.isclose(table["density"], d)]
        chosen = at[np.isclose(at["temperature"], t)]["test_acc"].iloc[0]
        out[d] = 100 * float(at["test_acc"].max() - chosen)
    return out


def _median_run(runs: list[dict], table: pd.DataFrame) -> tuple[dict, dict, float]:
    # Per density the median regret over runs; the mean of those; picks of the run with the median mean.
    per_run = [regrets(table, picks) for picks in runs]
    per_density = {d: float(np.median([r[d] for r in per_run])) for d in runs[0]}
    means = [np.mean(list(r.values())) for r in per_run]
    middle = int(np.argsort(means)[len(means) // 2])
    return runs[middle], per_density, float(np.median(means))


def main(argv: list[str] | None = None) -> int:
    """Print per density the grid's best and each searcher's pick and regret, then the summary line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("table", nargs="?", help="CSV table or study directory")
    parser.add_argument("--paper", action="store_true", help="use the Figure-2-shaped table of paper_table.py")
    parser.add_argument("--budget", type=int, default=5, help="trials per searcher (temperatures)")
    parser.add_argument("--densities", type=float, nargs="+", help="target densities (default: every one)")
    parser.add_argument("--mc-threshold", type=float, help="Regime I below this mc (default: the study's, else -0.2)")
    parser.add_argument("--cka-eps", type=float, help="II-B tolerance (default: the study's, else 0.005)")
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run on the paper table")
    args = parser.parse_args(argv)
    if args.smoke or args.paper or not args.table:
        if not (args.smoke or args.paper):
            parser.error("give a TABLE.csv or study directory, or --paper")
        table, saved = paper_table(), {}
    else:
        table, saved = read_table(args.table)
    tau = args.mc_threshold if args.mc_threshold is not None else saved.get("mc_threshold", -0.2)
    eps = args.cka_eps if args.cka_eps is not None else saved.get("cka_eps", 0.005)
    thresholds = {"mc_threshold": tau, "cka_eps": eps, "confidence": 0.0}
    densities = args.densities or sorted(float(d) for d in table["density"].unique())
    n_temps = table["temperature"].nunique()
    draws, seeds = (5, 2) if args.smoke else (50, 10)
    budget = 3 if args.smoke else args.budget

    visited, rule_picks = replay_regimes(table, budget=budget, densities=densities, thresholds=thresholds)
    rule = regrets(table, rule_picks)
    random_picks, random_regret, random_mean = _median_run(
        replay_random(table, budget=budget, densities=densities, draws=draws), table)
    optuna_picks, optuna_regret, optuna_mean = _median_run(
        replay_optuna(table, budget=budget, densities=densities, seeds=seeds), table)
    print(f"regimes visited {', '.join(f'{t:g}' for t in visited)} ({len(visited)} of {budget} trials"
          f"{', stopped by itself' if len(visited) < budget else ''}); thresholds mc {thresholds['mc_threshold']:g}, "
          f"cka_eps {thresholds['cka_eps']:g}")
    print(f"{'density':>8} {'best':>12} {'regimes':>16} {'random (median)':>18} {'optuna (median)':>18}")
    for d in densities:
        at = table[np.isclose(table["density"], d)]
        best = at.loc[at["test_acc"].idxmax()]
        print(f"{d:>8g} {best['temperature']:>5g} {100 * best['test_acc']:6.2f} "
              f"{rule_picks[d]:>7g} {rule[d]:+7.2f} {random_picks[d]:>9g} {random_regret[d]:+7.2f} "
              f"{optuna_picks[d]:>9g} {optuna_regret[d]:+7.2f}")
    rule_mean = float(np.mean(list(rule.values())))
    # Which part loses, where the rule loses: its visits, or its answer (CKA) among them?
    by_accuracy = float(np.mean(list(regrets(table, best_visited(table, visited, densities)).values())))
    print(f"regimes' visits answered by best visited accuracy instead of CKA: {by_accuracy:.2f} pts")
    print(f"regimes {rule_mean:.2f} pts, random {random_mean:.2f} pts, optuna {optuna_mean:.2f} pts "
          f"(mean regret, budget {budget} of {n_temps})")
    return 0 if all(math.isfinite(x) for x in (rule_mean, random_mean, optuna_mean)) else 1


if __name__ == "__main__":
    sys.exit(main())
