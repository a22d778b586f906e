"""Whether two studies of one grid give the same map and answers (a short retraining budget against the full one).

Pure functions of two classified studies, the first the reference:

- **Map**: cell by cell over the cells both have, the share of sure calls (I, II-A, II-B in both)
  that are equal; cells uncertain (I?, II?) in either are counted apart, with how often their
  point estimates agree.
- **Ranking**: per density, Spearman's rho over temperatures between the two studies' test
  accuracies (`analysis.spectra.spearman`, with its interval).
- **Answers**: per density and criterion, both `select` answers; they agree when they pick the
  same temperature, or when the reference cannot tell the two picks apart: the other's pick is
  among the reference answer's `indistinguishable_from`, or the reference's test accuracy at it is
  within one standard error of the difference of the reference's pick's.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.advice import CRITERIA, AdviceError, has_validation, select_model
from analysis.spectra import spearman
from analysis.uncertainty import combined_se, is_sure, pm

def map_agreement(reference: pd.DataFrame, other: pd.DataFrame) -> dict:
    """Return counts and shares of equal regime calls over the cells both classified tables have."""
    keys = ["temperature", "density"]
    both = reference[keys + ["regime", "regime_point"]].merge(other[keys + ["regime", "regime_point"]], on=keys,
                                                             suffixes=("_ref", "_other"))
    sure = both["regime_ref"].map(is_sure) & both["regime_other"].map(is_sure)
    unsure = ~sure
    equal = both["regime_ref"] == both["regime_other"]
    point_equal = both["regime_point_ref"] == both["regime_point_other"]
    return {"cells": len(both), "sure": int(sure.sum()), "sure_equal": int((sure & equal).sum()),
            "sure_share": float((sure & equal).sum() / sure.sum()) if sure.any() else math.nan,
            "uncertain": int(unsure.sum()), "uncertain_point_equal": int((unsure & point_equal).sum()),
            "point_share": float(point_equal.mean()) if len(both) else math.nan}


def rank_agreement(reference: pd.DataFrame, other: pd.DataFrame, *, metric: str = "test_acc") -> list[dict]:
    """Return per density Spearman's rho over temperatures of the two studies' `metric` (test accuracy)."""
    out = []
    for density, at in reference[reference["status"] == "ok"].groupby("density"):
        theirs = other[np.isclose(other["density"], density) & (other["status"] == "ok")]
        joined = at[["temperature", metric]].merge(theirs[["temperature", metric]], on="temperature")
        rho, interval, n = spearman(joined[f"{metric}_x"], joined[f"{metric}_y"])
        out.append({"density": float(density), "rho": rho, "rho_ci": interval, "n": n})
    return out


def answer_agreement(reference: pd.DataFrame, other: pd.DataFrame, *, criteria: list[str] | None = None) -> list[dict]:
    """Return per density and criterion both `select` answers and whether they agree within the reference's SEs.

    `criteria`: those to answer by (default: every criterion both studies can answer by).
    """
    criteria = criteria or [by for by in CRITERIA if by == "regime" or (has_validation(reference)
                                                                           and has_validation(other))]
    out = []
    for density in sorted(set(reference["density"]) & set(other["density"])):
        for by in criteria:
            try:
                ref, theirs = select_model(reference, density=density, by=by), select_model(other, density=density,
                                                                                            by=by)
            except AdviceError as err:
                out.append({"density": float(density), "by": by, "agree": False, "why": str(err)})
                continue
            at = reference[np.isclose(reference["density"], density)]
            hit = at[np.isclose(at["temperature"], theirs["temperature"])]
            acc = float(hit["test_acc"].iloc[0]) if len(hit) else math.nan
            se = combined_se(ref["test_acc_se"], float(hit["test_acc_se"].iloc[0])) if len(hit) else math.nan
            loss = ref["test_acc"] - acc
            agree = (math.isclose(ref["temperature"], theirs["temperature"])
                     or theirs["temperature"] in ref["indistinguishable_from"]
                     or (math.isfinite(se) and abs(loss) <= se))
            out.append({"density": float(density), "by": by, "reference": ref["temperature"],
                        "other": theirs["temperature"], "reference_test_acc_at_other": acc, "loss": loss,
                        "loss_se": se, "agree": bool(agree)})
    return out


def agreement(reference, other) -> dict:
    """Return map, ranking and answers agreement of two `ClassifiedStudy` objects (the first the reference)."""
    return {"map": map_agreement(reference.cells, other.cells), "ranking": rank_agreement(reference.cells, other.cells),
            "answers": answer_agreement(reference.cells, other.cells)}


def agreement_lines(result: dict, *, reference: str, other: str, knob: str) -> list[str]:
    """Return the agreement of `other` with `reference` as text."""
    m = result["map"]
    lines = [f"{other} against {reference}:",
             f"  map: {m['sure_equal']} of {m['sure']} cells sure in both have the same regime"
             + (f" ({m['sure_share']:.0%})" if m["sure"] else "")
             + f"; {m['uncertain']} uncertain in either (point estimates equal in {m['uncertain_point_equal']});"
             f" point estimates equal in {m['point_share']:.0%} of {m['cells']} cells"]
    for r in result["ranking"]:
        interval = "" if not all(math.isfinite(v) for v in r["rho_ci"]) else \
            f" [{r['rho_ci'][0]:+.2f}, {r['rho_ci'][1]:+.2f}]"
        rho = "n/a" if not math.isfinite(r["rho"]) else f"{r['rho']:+.2f}"
        lines.append(f"  density {r['density']:g}: test accuracy ranks temperatures alike, Spearman {rho}{interval}"
                     f" over {r['n']}")
    agreed = [a for a in result["answers"] if a["agree"]]
    lines.append(f"  select: {len(agreed)} of {len(result['answers'])} answers agree within the reference's "
                 "standard errors")
    for a in result["answers"]:
        if "why" in a:
            lines.append(f"    density {a['density']:g} by {a['by']}: no answer in one of them ({a['why']})")
            continue
        gap = (f"the reference's test accuracy {pm(a['loss'], a['loss_se'], sign='+')} lower at the other's pick"
               if math.isfinite(a["loss"]) else "the other's pick is not in the reference")
        lines.append(f"    density {a['density']:g} by {a['by']}: {knob} {a['reference']:g} / {a['other']:g}, {gap}: "
                     f"{'agree' if a['agree'] else 'DIFFER'}")
    return lines
