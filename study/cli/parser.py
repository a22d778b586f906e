"""The parser of `regimes`: every command, its arguments and their one-line checks (`study.cli.checks`)."""

from __future__ import annotations

import argparse

from analysis.advice import CRITERIA
from analysis.prunability import DEFAULT_MARGIN_POINTS
from study.cli.checks import closest_command, number
from study.run.version import code_version

DESCRIPTION = ("Run and read three-regime pruning studies: train dense models at several temperatures, "
               "prune them to several densities, retrain copies, and measure accuracy, LMC and CKA per cell.")
EXIT_STATUSES = ("exit status: 0 done (a question answered); 1 a run left unfinished (the line says whether "
                 "running the same command again helps); 2 bad input, one line saying what to change; 3 no answer: "
                 "the study holds no cell that answers the question (the reason on stderr, or as JSON on stdout "
                 "under --json); 141 the reader of the output left (| head)")
class _Parser(argparse.ArgumentParser):
    # A bad argument is one line, like every other bad input (argparse prints the usage first).
    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {closest_command(message)}\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of `regimes` with every subcommand."""
    parser = _Parser(prog="regimes", description=DESCRIPTION, epilog=EXIT_STATUSES)
    parser.add_argument("--version", action="version", version=f"regimes {code_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run a study, or resume it if its directory exists",
                         description="Run the study of a YAML config on Ray Tune. If the study directory "
                                     "(study.storage/study.name) exists, resume it: finished densities are kept.")
    _add_config(run)
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
    status.add_argument("--watch", type=number(0.5), nargs="?", const=10.0, metavar="SECONDS",
                        help="redraw the status and the regime map so far every SECONDS (default 10) until the "
                             "study is complete; Ctrl-C stops watching, not the study")

    ls = sub.add_parser("ls", help="list the studies under a storage root with their state",
                        description="List the studies under a storage root: cells done / total and state.")
    ls.add_argument("root", nargs="?", default="studies", help="storage root (default: ./studies)")
    plan = sub.add_parser("plan", help="what a study will cost, before running it",
                          description="Count a study's trials, cells, steps and LMC points, time the engine on "
                                      "this machine for a few seconds, and estimate the wall time and device-hours.")
    _add_config(plan)
    plan.add_argument("--address", help="plan for the slots of this Ray cluster instead of this machine's")
    compare = sub.add_parser("compare", help="several studies side by side: prunability and the I/II boundary",
                             description="Print, per temperature, each study's prunability (the fraction of weights "
                                         "pruned within a margin of the dense model's accuracy) and, per density, "
                                         "the hottest temperature in Regime I: one column per study, e.g. one "
                                         "study per data.intrinsic_dim.")
    compare.add_argument("studies", nargs="+", help="study directories (storage/name) or URIs")
    compare.add_argument("--margin", type=number(0), default=DEFAULT_MARGIN_POINTS,
                         help="accuracy points (percent: 0.5 is 0.005 on the 0-1 accuracies the rows hold) below "
                              f"the dense model that still count (default {DEFAULT_MARGIN_POINTS:g})")
    compare.add_argument("--html", metavar="FILE", help="also draw both as plots in this HTML file")
    _add_question_parsers(sub)
    return parser


def _add_config(parser: argparse.ArgumentParser) -> None:
    # `run` and `plan` take a study's config and its overrides alike.
    parser.add_argument("config", help="study YAML file, e.g. configs/demo.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set retrain.epochs=20 (repeatable)")


def _add_question_parsers(sub: argparse._SubParsersAction) -> None:
    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("study", help="study directory (storage/name) or URI")
        parser.add_argument("--mc-threshold", type=number(-1, 1),
                            help="Regime I below this mc, a negative number (default: the study's)")
        parser.add_argument("--cka-eps", type=number(0, 1),
                            help="II-B within this CKA of the best (default: the study's)")
        parser.add_argument("--confidence", type=number(0),
                            help="standard errors an mc must clear the threshold by (default: the study's)")

    report = sub.add_parser("report", help="write the HTML report (phase diagrams, thresholds, config, cells)",
                            description="Write one self-contained HTML file with every phase diagram.")
    common(report)
    report.add_argument("--out", help="HTML file to write (default: STUDY/report.html)")
    report.add_argument("--png", metavar="DIR", help="also write each figure as PNG into DIR (needs kaleido)")
    report.add_argument("--margin", type=number(0), default=DEFAULT_MARGIN_POINTS,
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
        parser.add_argument("--density", type=number(0, 1, above=True), required=True,
                            help="target density (fraction kept, 0-1)")
        if name == "advise":
            parser.add_argument("--temperature", type=number(0), required=True, help="the cell's knob value")
        else:
            _add_by(parser)
        parser.add_argument("--json", action="store_true", help="print the answer as JSON")


def _add_by(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--by", choices=CRITERIA,
                        help="answer by: regime (the paper's rule, Regime II with the highest CKA), val (the highest "
                             "validation accuracy) or regime+val (the highest validation accuracy among Regime-II "
                             "cells); default: the study's criterion (study.criterion: val with data.validation, "
                             "else regime); val needs a study run with data.validation")
