"""`regimes run` and `regimes plan`: a config checked, then handed to the launcher (`study.run`), and the outcome said.

Ray is imported only once the config, the data and the storage are valid: a bad command line
costs a second, not a cluster start.
"""

from __future__ import annotations

import argparse
import sys

from analysis import read_study
from analysis.screen import owes_for
from analysis.search import rule_for
from analysis.seeds import seed_rule_for
from study.cli.checks import check_address, check_embedded_cpus, check_storage_writable
from study.cli.follow import print_cells, print_recommendations
from study.config import ConfigError, fresh_name, load_config, parse_overrides, study_path


def run(args: argparse.Namespace) -> int:
    """`regimes run`: check the config and the command line, run (or resume) the study, say how far it got."""
    overrides = parse_overrides(args.overrides)
    if args.storage is not None:
        given = overrides.get("study.storage", args.storage)
        if not args.storage or given != args.storage:
            problem = ("--storage is empty; give a directory or an s3:// / gs:// URI, or leave it out" if
                       not args.storage else f"--storage {args.storage} and --set study.storage={given} disagree; "
                       "give one of them")
            raise ConfigError([problem])
        overrides["study.storage"] = args.storage
    config = load_config(args.config, overrides)
    if args.fresh:
        config = fresh_name(config)
    by = args.by or config.criterion
    if by != "regime" and not config.data.validation:
        raise ConfigError([f"{args.config}: --by {args.by} answers by validation accuracy and data.validation is 0; "
                           "set data.validation (e.g. --set data.validation=0.1) or answer --by regime"])
    check_embedded_cpus(config, args.address)
    check_address(args.address)
    check_storage_writable(config.study.storage, config.study.name)
    from study.run.launch import run_study  # imports Ray: only after the config and the data are valid

    path, searching = study_path(config), config.chooses_trials
    rule = rule_for(config, by=by) if config.study.search == "regimes" else None  # random, optuna: baselines
    seeds = seed_rule_for(config, by=by) if config.seeds.max_seeds is not None else None
    if config.study.screen_epochs is not None:
        return _run_screened(config, args, (rule, seeds))
    outcome = run_study(config, address=args.address, verbose=args.verbose, rule=rule, seed_rule=seeds)
    print_cells(path)
    if searching and outcome.cells_done:
        print_recommendations(path, config.targets, finished=outcome.complete, by=by)
    if outcome.stuck and searching:
        print(f"unfinished search: {outcome.cells_done} cells so far; {outcome.stuck}", file=sys.stderr)
        return 1
    if searching and not outcome.complete:
        print(f"unfinished search: {outcome.cells_done} cells so far; run the same command again to resume "
              f"({outcome.errored_trials} trials errored)", file=sys.stderr)
        return 1
    if not outcome.complete:
        return _unfinished(outcome, "unfinished", "cells")
    print(f"study complete: {path}", file=sys.stderr)
    return 0


def _unfinished(outcome, what: str, cells: str) -> int:
    again = outcome.stuck or "run the same command again to resume"
    print(f"{what}: {outcome.cells_done}/{outcome.cells_total} {cells}; {again} "
          f"({outcome.errored_trials} trials errored)", file=sys.stderr)
    return 1


def _run_screened(config, args: argparse.Namespace, rules: tuple) -> int:
    # A screened study (study.screen): the screen's grid at the short budget, then the full budget where it matters.
    from study.run.screen import run_screened  # imports Ray, as run_study

    screen, full = run_screened(config, owes_rule=owes_for(config), read_cells=lambda p: read_study(p).cells,
                                address=args.address, verbose=args.verbose, rule=rules[0], seed_rule=rules[1])
    if not screen.complete:
        return _unfinished(screen, "unfinished screen", "cells")
    print_cells(full.path)
    if full.cells_done:
        print_recommendations(full.path, config.targets, finished=full.complete, by=config.criterion,
                                     what="full budget")
    if not full.complete:
        return _unfinished(full, "unfinished", "full-budget cells")
    print(f"study complete: {full.path}", file=sys.stderr)
    return 0


def plan(args: argparse.Namespace) -> int:
    """`regimes plan`: what a study will cost, timed on this machine (a built-in dataset needs no files)."""
    config = load_config(args.config, parse_overrides(args.overrides), check_paths=False)
    resources = None
    if args.address:
        check_address(args.address)
        from study.run.cluster import cluster_resources  # imports Ray: only to ask a cluster for its resources

        resources = cluster_resources(args.address)
    from study.run.plan import plan_lines

    for line in plan_lines(config, resources=resources):
        print(line)
    return 0
