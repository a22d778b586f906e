"""The questions: `regimes report`, `compare`, `validate`, `advise`, `select`, `recommend-rho`.

Each opens the study (`analysis.open_study`, the Python API's own entry) and prints what the
study object answers; the words of an answer are `analysis.answer`'s, so Python and the command
line say the same thing.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from analysis import open_study
from analysis.advice import NoAnswer
from analysis.answer import advise_text, select_text
from analysis.classify import regime_counts
from analysis.compare import compare, comparison_html, comparison_lines
from analysis.report import write_pngs
from analysis.spectra import spectra_lines
from analysis.validate import validation_lines
from contract.store import is_uri
from study.cli.checks import check_png_exporter, check_report_out, fail, report_paths
from study.cli.follow import say_missing

NO_ANSWER = 3  # the exit status of a well-posed question the study holds no answer to


def report(args: argparse.Namespace) -> int:
    """`regimes report`: the HTML report (beside a study in a bucket too), its counts per regime, PNGs on request."""
    opened = open_study(args.study, mc_threshold=args.mc_threshold, cka_eps=args.cka_eps,
                        confidence=args.confidence)
    cells = opened.cells
    # By default the study's own report.html (beside a study in a bucket too: the study object uploads it).
    out = Path(args.out) if args.out else None if is_uri(opened.study.path) else Path(opened.study.path) / "report.html"
    say_missing(opened.study)
    with report_paths(out, args.png):
        check_png_exporter(args.png)
        check_report_out(out, opened.name, given=args.out is not None)
        path = opened.report(out, margin_points=args.margin)
    print(f"report: {path}")
    print("cells per regime: " + ", ".join(f"{k} {v}" for k, v in regime_counts(cells).items()))
    if args.png:
        try:
            for png in write_pngs(cells, args.png):
                print(f"png: {png}")
        except RuntimeError as err:
            return fail(f"--png {args.png}: no PNGs written ({err}); the HTML report is written")
    return 0


def compare_studies(args: argparse.Namespace) -> int:
    """`regimes compare`: several studies side by side, as text and optionally as HTML plots."""
    studies = [open_study(path) for path in args.studies]
    try:
        result = compare(studies, margin_points=args.margin)
    except ValueError as err:
        return fail(str(err))
    for line in comparison_lines(result):
        print(line)
    if args.html:
        comparison_html(result, args.html, title="Studies compared: " + ", ".join(result["labels"]))
        print(f"html: {args.html}")
    return 0


def validate(args: argparse.Namespace) -> int:
    """`regimes validate`: the advice against the study's own accuracies, select's regrets, the spectra's prediction."""
    opened = open_study(args.study, mc_threshold=args.mc_threshold, cka_eps=args.cka_eps,
                        confidence=args.confidence)
    other = open_study(args.predict_from) if args.predict_from else None
    answer = opened.validate(by=args.by, predict_from=other)
    say_missing(opened.study)
    if args.json:
        print(json.dumps(_jsonable(answer), indent=2))
        return 0
    for line in validation_lines(answer["advice"], answer["select"], knob=str(opened.cells["knob"].iloc[0])):
        print(line)
    spectra = answer["spectra"]
    for line in spectra_lines(spectra["correlations"], spectra["predictions"], trained_on=spectra["trained_on"]):
        print(line)
    return 0


def question(args: argparse.Namespace) -> int:
    """`regimes advise`, `select`, `recommend-rho`: the answer as text or JSON.

    A study that holds no answer to a well-posed question refuses (NO_ANSWER), with its reason,
    on stderr, or on stdout as JSON under --json.
    """
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
