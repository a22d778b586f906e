"""Replay four searchers against a finished full-grid table used as an oracle, at equal budgets, answering alike.

    python benchmarks/search_replay.py benchmarks/tables/demo_fine.csv              # budgets N/4 and N/3
    python benchmarks/search_replay.py TABLE.csv --budget 4 5 --answer-by test
    python benchmarks/search_replay.py studies/demo_fine --save-table benchmarks/tables/demo_fine.csv
    python benchmarks/search_replay.py --paper                  # the Figure-2-shaped table (paper_table.py)
    python benchmarks/search_replay.py --smoke                  # seconds: a check that it runs

TABLE.csv has columns knob,temperature,density,test_acc,lmc,cka (one row per cell, accuracies
0-1), and for --answer-by val also val_acc (val_acc_se lets the rule tell cells apart);
mc_threshold and cka_eps columns, when present, are the thresholds (else -0.2 and 0.005); a study
directory is read through `analysis.open_study` (means over dense seeds). A trial trains one
temperature and returns every density's cells. At most B trials each, and every searcher
answers by the same criterion (`--answer-by`): per density the visited temperature with the best
validation accuracy (`val`, the default when the table has it: what a user can do) or the best
test accuracy (`test`, an oracle: what a search would find if it could read the test set).
Regret is always scored on test accuracy:

- regimes: `analysis.search.next_temperatures`, one trial at a time, stopping early when it says
  it is done; it looks for the best cell by validation accuracy (`by="val"`) when answering by
  val, by the paper's rule (`by="regime"`) when answering by test. A line before the summary
  also gives its answer by the paper's rule (Regime II, highest CKA) on the same visits;
- random: B distinct temperatures drawn uniformly, 50 draws, medians over the draws;
- optuna: TPE (optuna's `TPESampler`, n_startup_trials = max(1, B // 3) so that TPE, not its
  random start, picks most trials at small budgets) maximizing the answer criterion's mean over
  the target densities, 10 sampler seeds, medians over seeds. It searches the index of a
  temperature in the sorted list, an ordered integer, as the study's own TPE rule does
  (`study.search.baselines`). An index it suggests again is answered from cache without spending budget
  (a real study would retrain it: generous to TPE);
- bisection: the simplest rival, which knows nothing of regimes: over the sorted temperatures it
  keeps a range [lo, hi] holding the best of the same objective as TPE's, trains the middle two
  (m, m + 1) and keeps the side of the better one, until one temperature is left or the budget
  is spent (a discrete bisection on the slope, exact for a unimodal objective); a last trial that
  cannot complete a pair trains m.

Budgets default to a quarter and a third of the grid (rounded up). The last line, for the last
budget: `regimes R1 pts, random R2 pts, optuna R3 pts, bisection R4 pts (mean regret, budget B of N)`.
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
ANSWER = {"val": "val_acc", "test": "test_acc"}


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
    # A table saved from a study (--save-table) carries the study's thresholds.
    saved = {k: float(table[k].iloc[0]) for k in ("mc_threshold", "cka_eps") if k in table.columns}
    return table, saved


def replay_regimes(table: pd.DataFrame, *, budget: int, densities, thresholds: dict,
                   by: str) -> tuple[list[float], dict]:
    """Return (temperatures visited in order, {density: the paper rule's pick among them}) of the regime rule."""
    knob = str(table["knob"].iloc[0])
    candidates = sorted(table["temperature"].unique())
    visited: list[float] = []
    while len(visited) < budget:
        seen = table[table["temperature"].isin(visited)]
        nxt = next_temperatures(seen, knob=knob, candidates=candidates, densities=densities, n=1, by=by,
                                **thresholds)
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


def best_visited(table: pd.DataFrame, visited, densities, key: str) -> dict:
    """Return {density: the visited temperature with the best `key` (val_acc or test_acc)}."""
    seen = table[table["temperature"].isin(visited)]
    return {d: float(seen.loc[seen[np.isclose(seen["density"], d)][key].idxmax(), "temperature"])
            for d in densities}


def replay_random(table: pd.DataFrame, *, budget: int, densities, draws: int, key: str) -> list[dict]:
    """Return the picks (by `key`) of `draws` random searches of `budget` distinct temperatures."""
    temps = sorted(table["temperature"].unique())
    rng = np.random.default_rng(0)
    return [best_visited(table, rng.choice(temps, size=min(budget, len(temps)), replace=False), densities, key)
            for _ in range(draws)]


def replay_optuna(table: pd.DataFrame, *, budget: int, densities, seeds: int, key: str) -> list[dict]:
    """Return the picks (by `key`) of TPE runs (one per sampler seed) with `budget` distinct temperatures each."""
    import optuna

    optuna.logging.set_verbosity(logging.WARNING)
    temps = [float(t) for t in sorted(table["temperature"].unique())]
    targets = table[table["density"].isin(densities)]
    objective = targets.groupby("temperature")[key].mean()
    out = []
    for seed in range(seeds):
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(1, budget // 3))
        run = optuna.create_study(direction="maximize", sampler=sampler)
        visited: list[float] = []
        for _ in range(20 * budget):
            if len(visited) >= min(budget, len(temps)):
                break
            trial = run.ask()
            t = temps[trial.suggest_int("index", 0, len(temps) - 1)]
            run.tell(trial, float(objective[t]))
            if t not in visited:
                visited.append(t)
        out.append(best_visited(table, visited, densities, key))
    return out


def replay_bisection(table: pd.DataFrame, *, budget: int, densities, key: str) -> tuple[list[float], dict]:
    """Return (visits, picks by `key`) of a bisection on the slope of `key`'s mean over `densities`, `budget` trials."""
    temps = [float(t) for t in sorted(table["temperature"].unique())]
    objective = table[table["density"].isin(densities)].groupby("temperature")[key].mean()
    visited: list[float] = []
    lo, hi = 0, len(temps) - 1
    while lo < hi:
        m = (lo + hi) // 2
        new = [temps[i] for i in (m, m + 1) if temps[i] not in visited]
        if len(visited) + len(new) > budget:  # one trial left: the middle's lower side, then stop
            visited += new[:budget - len(visited)]
            break
        visited += new
        lo, hi = (m + 1, hi) if objective[temps[m + 1]] > objective[temps[m]] else (lo, m)
    if not visited or (lo == hi and temps[lo] not in visited and len(visited) < budget):
        visited.append(temps[lo])
    return visited, best_visited(table, visited, densities, key)


def regrets(table: pd.DataFrame, picks: dict) -> dict:
    """Return {density: points of test accuracy below the grid's best} of one searcher's picks."""
    out = {}
    for d, t in picks.items():
        at = table[np.isclose(table["density"], d)]
        chosen = at[np.isclose(at["temperature"], t)]["test_acc"].iloc[0]
        out[d] = 100 * float(at["test_acc"].max() - chosen)
    return out


def _median_run(runs: list[dict], table: pd.DataFrame) -> tuple[dict, dict, float, tuple[float, float]]:
    # Per density the median regret over runs; the median of the runs' means and their quartiles;
    # picks of the run with the median mean.
    per_run = [regrets(table, picks) for picks in runs]
    per_density = {d: float(np.median([r[d] for r in per_run])) for d in runs[0]}
    means = [np.mean(list(r.values())) for r in per_run]
    middle = int(np.argsort(means)[len(means) // 2])
    low, high = np.percentile(means, [25, 75])
    return runs[middle], per_density, float(np.median(means)), (float(low), float(high))


def main(argv: list[str] | None = None) -> int:
    """Print per budget and density the grid's best and each searcher's pick and regret, then the summary line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("table", nargs="?", help="CSV table or study directory")
    parser.add_argument("--paper", action="store_true", help="use the Figure-2-shaped table of paper_table.py")
    parser.add_argument("--budget", type=int, nargs="+", help="trials per searcher (default: N/4 and N/3)")
    parser.add_argument("--answer-by", choices=sorted(ANSWER), help="how every searcher answers "
                        "(default: val when the table has val_acc, else test)")
    parser.add_argument("--densities", type=float, nargs="+", help="target densities (default: every one)")
    parser.add_argument("--mc-threshold", type=float, help="Regime I below this mc (default: the study's, else -0.2)")
    parser.add_argument("--cka-eps", type=float, help="II-B tolerance (default: the study's, else 0.005)")
    parser.add_argument("--save-table", metavar="CSV", help="also write the table replayed (e.g. a study's) to CSV")
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run on the paper table")
    args = parser.parse_args(argv)
    if args.smoke or args.paper or not args.table:
        if not (args.smoke or args.paper):
            parser.error("give a TABLE.csv or study directory, or --paper")
        table, saved = paper_table(), {}
    else:
        table, saved = read_table(args.table)
    if args.save_table:
        kept = COLUMNS + [c for c in ("val_acc", "test_acc_se", "lmc_se", "cka_se", "val_acc_se", "n_seeds")
                          if c in table.columns]
        table[kept].assign(**saved).to_csv(args.save_table, index=False, float_format="%.6g")
    has_val = "val_acc" in table.columns and table["val_acc"].notna().all()
    answer_by = args.answer_by or ("val" if has_val else "test")
    if answer_by == "val" and not has_val:
        parser.error("--answer-by val needs a val_acc column (a study run with data.validation)")
    tau = args.mc_threshold if args.mc_threshold is not None else saved.get("mc_threshold", -0.2)
    eps = args.cka_eps if args.cka_eps is not None else saved.get("cka_eps", 0.005)
    thresholds = {"mc_threshold": tau, "cka_eps": eps, "confidence": 0.0}
    densities = args.densities or sorted(float(d) for d in table["density"].unique())
    n_temps = table["temperature"].nunique()
    budgets = [3] if args.smoke else args.budget or sorted({math.ceil(n_temps / 4), math.ceil(n_temps / 3)})
    lines = []
    for budget in budgets:
        lines = replay(table, budget=budget, densities=densities, thresholds=thresholds, answer_by=answer_by,
                       smoke=args.smoke)
        print("\n".join(lines))
    return 0 if "nan" not in lines[-1] else 1


def replay(table: pd.DataFrame, *, budget: int, densities, thresholds: dict, answer_by: str, smoke: bool) -> list[str]:
    """Return the lines of one budget's replay: visits, per-density picks and regrets, the summary line."""
    key, n_temps = ANSWER[answer_by], table["temperature"].nunique()
    draws, seeds = (5, 2) if smoke else (50, 10)
    visited, paper_picks = replay_regimes(table, budget=budget, densities=densities, thresholds=thresholds,
                                          by="val" if answer_by == "val" else "regime")
    rule_picks = best_visited(table, visited, densities, key)
    rule = regrets(table, rule_picks)
    random_picks, random_regret, random_mean, random_iqr = _median_run(
        replay_random(table, budget=budget, densities=densities, draws=draws, key=key), table)
    optuna_picks, optuna_regret, optuna_mean, optuna_iqr = _median_run(
        replay_optuna(table, budget=budget, densities=densities, seeds=seeds, key=key), table)
    bisected, bisection_picks = replay_bisection(table, budget=budget, densities=densities, key=key)
    bisection = regrets(table, bisection_picks)
    lines = [f"budget {budget} of {n_temps}, every searcher answering by {answer_by} accuracy, regret on test: "
             f"regimes visited {', '.join(f'{t:g}' for t in visited)} ({len(visited)} of {budget} trials"
             f"{', stopped by itself' if len(visited) < budget else ''}); thresholds mc "
             f"{thresholds['mc_threshold']:g}, cka_eps {thresholds['cka_eps']:g}; bisection visited "
             f"{', '.join(f'{t:g}' for t in bisected)}",
             f"{'density':>8} {'best':>12} {'regimes':>16} {'random (median)':>18} {'optuna (median)':>18} "
             f"{'bisection':>18}"]
    for d in densities:
        at = table[np.isclose(table["density"], d)]
        best = at.loc[at["test_acc"].idxmax()]
        lines.append(f"{d:>8g} {best['temperature']:>5g} {100 * best['test_acc']:6.2f} "
                     f"{rule_picks[d]:>7g} {rule[d]:+7.2f} {random_picks[d]:>9g} {random_regret[d]:+7.2f} "
                     f"{optuna_picks[d]:>9g} {optuna_regret[d]:+7.2f} {bisection_picks[d]:>9g} {bisection[d]:+7.2f}")
    paper = float(np.mean(list(regrets(table, paper_picks).values())))
    lines.append(f"regimes' visits answered by the paper's rule (Regime II, highest CKA) instead: {paper:.2f} pts")
    lines.append(f"spread of the mean regret over draws (25-75 %): random {random_iqr[0]:.2f}-{random_iqr[1]:.2f}, "
                 f"optuna {optuna_iqr[0]:.2f}-{optuna_iqr[1]:.2f} pts (regimes is deterministic on a table)")
    lines.append(f"regimes {float(np.mean(list(rule.values()))):.2f} pts, random {random_mean:.2f} pts, "
                 f"optuna {optuna_mean:.2f} pts, bisection {float(np.mean(list(bisection.values()))):.2f} pts "
                 f"(mean regret, budget {budget} of {n_temps})")
    return lines


if __name__ == "__main__":
    sys.exit(main())
