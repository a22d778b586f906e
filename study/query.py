"""The analysis subcommands of `regimes`: report, advise, select, recommend-rho.

Thresholds default to the study's own `metrics.mc_threshold` and `metrics.cka_eps`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from analysis import StudyReadError, advise, aggregate, classify, read_study, recommend_rho, select_model
from analysis.classify import regime_counts
from analysis.report import write_pngs, write_report


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the report, advise, select and recommend-rho subcommands to `sub`."""
    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("study", help="study directory (storage/name) or URI")
        parser.add_argument("--mc-threshold", type=float, help="Regime I below this mc (default: the study's)")
        parser.add_argument("--cka-eps", type=float, help="II-B within this CKA of the best (default: the study's)")

    report = sub.add_parser("report", help="write the HTML report (phase diagrams, thresholds, config, cells)",
                            description="Write one self-contained HTML file with every phase diagram.")
    common(report)
    report.add_argument("--out", help="HTML file to write (default: STUDY/report.html)")
    report.add_argument("--png", metavar="DIR", help="also write each figure as PNG into DIR (needs kaleido)")
    for name, helptext in (("advise", "the regime of one cell and which way to move the temperature"),
                           ("select", "the model to prune at a density: the Regime-II cell with the best CKA"),
                           ("recommend-rho", "the SAM rho to train with before pruning to a density")):
        parser = sub.add_parser(name, help=helptext, description=helptext[0].upper() + helptext[1:] + ".")
        common(parser)
        parser.add_argument("--density", type=float, required=True, help="target density (fraction kept, 0-1)")
        if name == "advise":
            parser.add_argument("--temperature", type=float, required=True, help="the cell's knob value")
        parser.add_argument("--json", action="store_true", help="print the answer as JSON")


def classified(args: argparse.Namespace):
    """Return (study, classified seed-aggregated cells, thresholds) for the study named in `args`."""
    study = read_study(args.study)
    if study.cells.empty:
        raise StudyReadError(f"{args.study}: no cells reported yet; wait for the study or run it")
    metrics = study.config.get("metrics", {})
    tau = args.mc_threshold if args.mc_threshold is not None else metrics.get("mc_threshold", -0.2)
    eps = args.cka_eps if args.cka_eps is not None else metrics.get("cka_eps", 0.005)
    return study, classify(aggregate(study.cells), tau, eps), (tau, eps)


def run_report(args: argparse.Namespace) -> int:
    """Write the report and print its path and the regime counts."""
    study, cells, _ = classified(args)
    out = Path(args.out) if args.out else Path(study.path) / "report.html"
    name = study.config.get("study", {}).get("name", Path(study.path).name)
    path = write_report(cells, study.config, out, title=name)
    print(f"report: {path}")
    print("cells per regime: " + ", ".join(f"{k} {v}" for k, v in regime_counts(cells).items()))
    if args.png:
        try:
            for png in write_pngs(cells, args.png):
                print(f"png: {png}")
        except RuntimeError as err:
            print(f"no PNGs written: {err}")
    return 0


def run_question(args: argparse.Namespace) -> int:
    """Answer advise / select / recommend-rho and print the answer (text or JSON)."""
    _, cells, (tau, eps) = classified(args)
    if args.command == "advise":
        answer = advise(cells, density=args.density, temperature=args.temperature)
        text = (f"density {answer['density']:g}, {answer['knob']} {answer['temperature']:g}: Regime {answer['regime']}"
                f" (mc {answer['lmc']:.3f}, CKA {answer['cka']:.4f}) -> {answer['advice']}")
    else:
        answer = (select_model(cells, density=args.density) if args.command == "select" else
                  recommend_rho(cells, density=args.density, mc_threshold=tau, cka_eps=eps))
        text = (f"prune the model at {answer['knob']} {answer['temperature']:g} (Regime {answer['regime']}, "
                f"CKA {answer['cka']:.4f}): test accuracy {answer['test_acc']:.4f}, regret "
                f"{answer['regret']:+.4f} against the grid's best, gain {answer['gain_over_coldest']:+.4f} over the "
                f"coldest model ({answer['knob']} {answer['coldest_temperature']:g})")
        if answer.get("interpolated_between"):
            low, high = answer["interpolated_between"]
            text += f"; density {args.density:g} is interpolated on log-density between {low:g} and {high:g}"
    print(json.dumps(answer, indent=2) if args.json else text)
    return 0
