"""The `regimes` command line: run studies, follow them, list them, and ask them questions.

It parses arguments and prints; the work is `study.launch` (running) and `analysis` (reading).
Bad input (config, dataset files, paths, resources) ends with `regimes: error: ...` lines on
stderr and exit status 2, before any Ray work; Ray is imported only once a config is valid.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path


from analysis import AdviceError, StudyReadError, open_study, read_study
from analysis.advice import CRITERIA, NoAnswer
from analysis.answer import advise_text, select_text
from analysis.classify import regime_counts
from analysis.compare import compare, comparison_html, comparison_lines
from analysis.prunability import DEFAULT_MARGIN_POINTS
from analysis.report import write_pngs
from analysis.screen import owes_for
from analysis.search import rule_for
from analysis.seeds import seed_rule_for
from analysis.spectra import spectra_lines
from analysis.validate import validation_lines
from study import checks, follow, storage
from study.config import ConfigError, StudyError, is_uri, load_config, parse_overrides
from study.lock import StudyLocked
from study.paths import fresh_name, study_path
from study.version import code_version
from contract.names import DatasetError

DESCRIPTION = ("Run and read three-regime pruning studies: train dense models at several temperatures, "
               "prune them to several densities, retrain copies, and measure accuracy, LMC and CKA per cell.")
EXIT_STATUSES = ("exit status: 0 done (a question answered); 1 a run left unfinished (the line says whether "
                 "running the same command again helps); 2 bad input, one line saying what to change; 3 no answer: "
                 "the study holds no cell that answers the question (the reason on stderr, or as JSON on stdout "
                 "under --json); 141 the reader of the output left (| head)")
NO_ANSWER = 3


class _Parser(argparse.ArgumentParser):
    # A bad argument is one line, like every other bad input (argparse prints the usage first).
    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {checks.closest_command(message)}\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of `regimes` with every subcommand."""
    parser = _Parser(prog="regimes", description=DESCRIPTION, epilog=EXIT_STATUSES)
    parser.add_argument("--version", action="version", version=f"regimes {code_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run a study, or resume it if its directory exists",
                         description="Run the study of a YAML config on Ray Tune. If the study directory "
                                     "(study.storage/study.name) exists, resume it: finished densities are kept.")
    run.add_argument("config", help="study YAML file, e.g. configs/demo.yaml")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config value, e.g. --set retrain.epochs=20 (repeatable)")
    run.add_argument("--storage", help="storage root (directory or s3:// / gs:// URI); same as --set study.storage=")
    run.add_argument("--address", help="join a running Ray cluster ('auto', 'ray://host:10001', host:port) "
                                       "instead of starting an embedded one")
    run.add_argument("--fresh", action="store_true",
                     help="start over in a new directory (name-2, name-3, ...) instead of resuming; deletes nothing")
    run.add_argument("-v", "--verbose", action="count", default=0, help="show Ray Tune's own output")
    _add_by(run)

    status = sub.add_parser("status", help="per trial: densities done / total, failures, elapsed",
                            description="Show how far a study got, trial by trial (works while it runs).")
    status.add_argument("study", help="study directory (storage/name) or URI")
    status.add_argument("--watch", type=checks.number(0.5), nargs="?", const=10.0, metavar="SECONDS",
                        help="redraw the status and the regime map so far every SECONDS (default 10) until the "
                             "study is complete; Ctrl-C stops watching, not the study")

    ls = sub.add_parser("ls", help="list the studies under a storage root with their state",
                        description="List the studies under a storage root: cells done / total and state.")
    ls.add_argument("root", nargs="?", default="studies", help="storage root (default: ./studies)")
    plan = sub.add_parser("plan", help="what a study will cost, before running it",
                          description="Count a study's trials, cells, steps and LMC points, time the engine on "
                                      "this machine for a few seconds, and estimate the wall time and device-hours.")
    plan.add_argument("config", help="study YAML file")
    plan.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                      help="override a config value, as for run")
    plan.add_argument("--address", help="plan for the slots of this Ray cluster instead of this machine's")
    compare = sub.add_parser("compare", help="several studies side by side: prunability and the I/II boundary",
                             description="Print, per temperature, each study's prunability (the fraction of weights "
                                         "pruned within a margin of the dense model's accuracy) and, per density, "
                                         "the hottest temperature in Regime I: one column per study, e.g. one "
                                         "study per data.intrinsic_dim.")
    compare.add_argument("studies", nargs="+", help="study directories (storage/name) or URIs")
    compare.add_argument("--margin", type=checks.number(0), default=DEFAULT_MARGIN_POINTS,
                         help="accuracy points (percent: 0.5 is 0.005 on the 0-1 accuracies the rows hold) below "
                              f"the dense model that still count (default {DEFAULT_MARGIN_POINTS:g})")
    compare.add_argument("--html", metavar="FILE", help="also draw both as plots in this HTML file")
    _add_question_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `regimes` with `argv` (default: sys.argv[1:]) and return the exit status."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if not argv:  # nothing asked: the help, on stderr, as a usage error
        parser.print_help(sys.stderr)
        return 2
    unknown = checks.unknown_option(parser, argv)
    if unknown:
        print(unknown, file=sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, --version, or argparse's one line: its status, not an exception
        return int(done.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    note = checks.mc_threshold_note(getattr(args, "mc_threshold", None))
    if note:  # a threshold the method does not mean, said before the answer it changes
        print(note, file=sys.stderr)
    try:
        commands = {"run": _run, "status": follow.status, "ls": follow.ls, "report": _report, "validate": _validate,
                    "plan": _plan, "compare": _compare}
        return commands.get(args.command, _question)(args)
    except (ConfigError, StudyError, StudyReadError, DatasetError, AdviceError, StudyLocked) as err:
        return _fail(str(err))
    except BrokenPipeError:  # `regimes status STUDY | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # what a shell reports for a process ended by SIGPIPE (128 + 13)


def _fail(message: str) -> int:
    for line in message.splitlines():
        print(f"regimes: error: {line}", file=sys.stderr)
    return 2


def _run(args: argparse.Namespace) -> int:
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
    checks.check_embedded_cpus(config, args.address)
    checks.check_address(args.address)
    checks.check_storage_writable(config.study.storage, config.study.name)
    from study.launch import run_study  # imports Ray: only after the config and the data are valid

    path, searching = study_path(config), config.chooses_trials
    rule = rule_for(config, by=by) if config.study.search == "regimes" else None  # random, optuna: baselines
    seeds = seed_rule_for(config, by=by) if config.seeds.max_seeds is not None else None
    if config.study.screen_epochs is not None:
        return _run_screened(config, args, (rule, seeds))
    outcome = run_study(config, address=args.address, verbose=args.verbose, rule=rule, seed_rule=seeds)
    follow.print_cells(path)
    if searching and outcome.cells_done:
        follow.print_recommendations(path, config.targets, finished=outcome.complete, by=by)
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
    from study.screen import run_screened  # imports Ray, as run_study

    screen, full = run_screened(config, owes_rule=owes_for(config), read_cells=lambda p: read_study(p).cells,
                                address=args.address, verbose=args.verbose, rule=rules[0], seed_rule=rules[1])
    if not screen.complete:
        return _unfinished(screen, "unfinished screen", "cells")
    follow.print_cells(full.path)
    if full.cells_done:
        follow.print_recommendations(full.path, config.targets, finished=full.complete, by=config.criterion,
                                     what="full budget")
    if not full.complete:
        return _unfinished(full, "unfinished", "full-budget cells")
    print(f"study complete: {full.path}", file=sys.stderr)
    return 0


def _plan(args: argparse.Namespace) -> int:
    # A plan needs no dataset files: without them a built-in dataset is timed on inputs of its shape.
    config = load_config(args.config, parse_overrides(args.overrides), check_paths=False)
    resources = None
    if args.address:
        checks.check_address(args.address)
        from study.launch import cluster_resources  # imports Ray: only to ask a cluster for its resources

        resources = cluster_resources(args.address)
    from study.plan import plan_lines

    for line in plan_lines(config, resources=resources):
        print(line)
    return 0


def _add_question_parsers(sub: argparse._SubParsersAction) -> None:
    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("study", help="study directory (storage/name) or URI")
        parser.add_argument("--mc-threshold", type=checks.number(-1, 1),
                            help="Regime I below this mc, a negative number (default: the study's)")
        parser.add_argument("--cka-eps", type=checks.number(0, 1),
                            help="II-B within this CKA of the best (default: the study's)")
        parser.add_argument("--confidence", type=checks.number(0),
                            help="standard errors an mc must clear the threshold by (default: the study's)")

    report = sub.add_parser("report", help="write the HTML report (phase diagrams, thresholds, config, cells)",
                            description="Write one self-contained HTML file with every phase diagram.")
    common(report)
    report.add_argument("--out", help="HTML file to write (default: STUDY/report.html)")
    report.add_argument("--png", metavar="DIR", help="also write each figure as PNG into DIR (needs kaleido)")
    report.add_argument("--margin", type=checks.number(0), default=DEFAULT_MARGIN_POINTS,
                        help="prune potential: accuracy points (percent: 0.5 is 0.005 on the 0-1 accuracies the "
                             f"rows hold) below the dense model that still count (default {DEFAULT_MARGIN_POINTS:g})")
    validate = sub.add_parser("validate", help="check the study's advice against its own accuracies",
                              description="For every confidently advised cell, whether the neighbour in the "
                                          "advised direction prunes better: the agreement rate, its 95 % interval, "
                                          "the rate of random directions and a p-value; select's regret and "
                                          "gain at each density, with standard errors; and how far the dense "
                                          "models' spectra predict the map.")
    common(validate)
    validate.add_argument("--json", action="store_true", help="print the answer as JSON")
    validate.add_argument("--by", choices=CRITERIA, help="only this criterion's regrets (default: every criterion "
                                                          "the study can answer by, side by side)")
    validate.add_argument("--predict-from", metavar="OTHER", help="another study (with metrics.spectra) to fit a "
                          "one-threshold prediction of Regime I from a dense spectral metric on, scored on this one")
    for name, helptext in (("advise", "the regime of one cell and which way to move the temperature"),
                           ("select", "the model to prune at a density, by the study's criterion (or --by)"),
                           ("recommend-rho", "the SAM rho to train with before pruning to a density")):
        parser = sub.add_parser(name, help=helptext, description=helptext[0].upper() + helptext[1:] + ".")
        common(parser)
        parser.add_argument("--density", type=checks.number(0, 1, above=True), required=True,
                            help="target density (fraction kept, 0-1)")
        if name == "advise":
            parser.add_argument("--temperature", type=checks.number(0), required=True, help="the cell's knob value")
        else:
            _add_by(parser)
        parser.add_argument("--json", action="store_true", help="print the answer as JSON")


def _add_by(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--by", choices=CRITERIA,
                        help="answer by: regime (the paper's rule, Regime II with the highest CKA), val (the highest "
                             "validation accuracy) or regime+val (the highest validation accuracy among Regime-II "
                             "cells); default: the study's criterion (study.criterion: val with data.validation, "
                             "else regime); val needs a study run with data.validation")


def _report(args: argparse.Namespace) -> int:
    opened = open_study(args.study, mc_threshold=args.mc_threshold, cka_eps=args.cka_eps,
                        confidence=args.confidence)
    cells = opened.cells
    in_bucket = args.out is None and is_uri(opened.study.path)  # written locally, then beside the study
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp()) / "report.html" if in_bucket else \
        Path(opened.study.path) / "report.html"
    follow.say_missing(opened.study)
    with checks.report_paths(out, args.png):
        checks.check_png_exporter(args.png)
        checks.check_report_out(out, opened.name, given=args.out is not None)
        path = opened.report(out, margin_points=args.margin)
    if in_bucket:
        path = storage.join(opened.study.path, "report.html")
        storage.write_bytes(path, out.read_bytes())
    print(f"report: {path}")
    print("cells per regime: " + ", ".join(f"{k} {v}" for k, v in regime_counts(cells).items()))
    if args.png:
        try:
            for png in write_pngs(cells, args.png):
                print(f"png: {png}")
        except RuntimeError as err:
            return _fail(f"--png {args.png}: no PNGs written ({err}); the HTML report is written")
    return 0


def _compare(args: argparse.Namespace) -> int:
    studies = [open_study(path) for path in args.studies]
    try:
        result = compare(studies, margin_points=args.margin)
    except ValueError as err:
        return _fail(str(err))
    for line in comparison_lines(result):
        print(line)
    if args.html:
        comparison_html(result, args.html, title="Studies compared: " + ", ".join(result["labels"]))
        print(f"html: {args.html}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    opened = open_study(args.study, mc_threshold=args.mc_threshold, cka_eps=args.cka_eps,
                        confidence=args.confidence)
    other = open_study(args.predict_from) if args.predict_from else None
    answer = opened.validate(by=args.by, predict_from=other)
    follow.say_missing(opened.study)
    if args.json:
        print(json.dumps(_jsonable(answer), indent=2))
        return 0
    for line in validation_lines(answer["advice"], answer["select"], knob=str(opened.cells["knob"].iloc[0])):
        print(line)
    spectra = answer["spectra"]
    for line in spectra_lines(spectra["correlations"], spectra["predictions"], trained_on=spectra["trained_on"]):
        print(line)
    return 0


def _question(args: argparse.Namespace) -> int:
    # advise / select / recommend-rho, printed as text or JSON; a study that holds no answer to a
    # well-posed question refuses (NO_ANSWER), with its reason, on stdout as JSON under --json.
    opened = open_study(args.study, mc_threshold=args.mc_threshold, cka_eps=args.cka_eps,
                        confidence=args.confidence)
    try:
        if args.command == "advise":
            answer = opened.advise(density=args.density, temperature=args.temperature)
        else:
            answer = (opened.select(density=args.density, by=args.by) if args.command == "select" else
                      opened.recommend_rho(density=args.density, by=args.by))  # None: the study's criterion
    except NoAnswer as err:
        if args.json:
            by = None if args.command == "advise" else args.by or opened.criterion
            print(json.dumps({"density": args.density, "by": by, "answer": None,
                              "refused": str(err)}, indent=2))
        else:
            print(f"regimes: no answer: {err}", file=sys.stderr)
        return NO_ANSWER
    text = advise_text(answer) if args.command == "advise" else select_text(answer, given_by=args.by is not None)
    print(json.dumps(_jsonable(answer), indent=2) if args.json else text)
    return 0


def _jsonable(value):
    # JSON has no NaN: a standard error that cannot be computed is null.
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


if __name__ == "__main__":
    sys.exit(main())
