"""Answers as a reader sees them: the lines `regimes advise` / `select` print, and the top of the report.

`advise_text` and `select_text` turn an answer (`ClassifiedStudy.advise`, `.select`) into the
line the command line prints; the rest is the top of a study's report: what the study is, its
answer per density by its criterion, which criterion.

A reader of the report should see, without scrolling, which study this is (dataset, model, knob,
grid, seeds, copies, budget, when, which code), what to prune to each target density by the
criterion the study is answered by (with its regime, test accuracy and standard error, and at most
one line of caveats; caveats every density shares are said once), and then the regime map. Which
criterion answers this study best (select's regret per criterion, `analysis.validate`) follows as
a small table with its verdict in words. One notation for a standard error: "±" (`uncertainty.pm`).
"""

from __future__ import annotations

import html
from collections import Counter

import numpy as np
import pandas as pd

from analysis.advice import NoAnswer, select_model
from analysis.uncertainty import combined_se, pm
from analysis.validate import criteria_regrets
from contract.config import StudyConfig


NO_SE = " (no SE: too few dense seeds or copies)"  # after a value that has no standard error


def advise_text(answer: dict) -> str:
    """Return `advise`'s answer (`ClassifiedStudy.advise`) as the line `regimes advise` prints."""
    return (f"density {answer['density']:g}, {answer['knob']} {answer['temperature']:g}: Regime {answer['regime']} "
            f"(mc {pm(answer['lmc'], answer['lmc_se'], digits=3, missing=NO_SE)}, CKA {answer['cka']:.4f}) -> "
            f"{answer['advice']}")


def select_text(answer: dict, *, given_by: bool) -> str:
    """Return `select`'s or `recommend_rho`'s answer as `regimes select` prints it, caveats on lines of their own.

    `given_by`: the criterion was asked for (--by), not the study's own.
    """
    by, knob, t = answer["by"], answer["knob"], answer["temperature"]
    chosen_by = (f"CKA {pm(answer['cka'], answer['cka_se'], missing=NO_SE)}" if by == "regime" else
                 f"validation accuracy {answer['val_acc']:.4f}")
    whose = "" if given_by else ", the study's criterion"
    text = (f"prune the model at {knob} {t:g} (Regime {answer['regime']}, by {by}{whose}: {chosen_by}): "
            f"test accuracy {pm(answer['test_acc'], answer['test_acc_se'], missing=NO_SE)}, "
            f"regret {pm(answer['regret'], answer['regret_se'], sign='+', missing=NO_SE)} against the grid's best, "
            f"gain {pm(answer['gain_over_coldest'], answer['gain_se'], sign='+', missing=NO_SE)} over the coldest "
            f"model ({knob} {answer['coldest_temperature']:g})")
    if answer["indistinguishable_from"]:
        others = ", ".join(f"{o:g}" for o in answer["indistinguishable_from"])
        score = "CKA" if by == "regime" else "validation accuracy"
        text += (f"; within noise: {knob} {others} and {t:g} are indistinguishable at density "
                 f"{answer['density']:g} ({score} within {answer['confidence']:g} standard errors)")
    if answer.get("interpolated_between"):
        low, high = answer["interpolated_between"]
        text += f"; density {answer['density']:g} is interpolated on log-density between {low:g} and {high:g}"
    return text + "".join(f"\ncaveat: {note}" for note in answer.get("caveats", []))

def words(text: str) -> str:
    """Return `text` escaped for HTML, its "+-" in the report's notation."""
    return html.escape(text).replace(" +- ", " &plusmn; ")


def header_html(config: StudyConfig | None, per_seed: pd.DataFrame | None, cells: pd.DataFrame) -> str:
    """Return the one-paragraph header: dataset, model, knob and grid, seeds, copies, budget, date, code version."""
    knob = str(cells["knob"].iloc[0])
    temperatures = sorted(cells["temperature"].unique())
    densities = sorted(cells["density"].unique())
    parts = [f"{knob} {', '.join(f'{t:g}' for t in temperatures)} x density {', '.join(f'{d:g}' for d in densities)}"]
    if config is not None:
        d, m = config.data, config.model
        model = m.name + (f" (depth {m.depth})" if m.name in ("preresnet", "vgg") else "") + \
            (f" x{m.width:g} wide" if m.width != 1 else "")
        parts = [f"<b>{html.escape(d.name)}</b>, {html.escape(model)}"] + parts + [
            _seeds_words(config),
            f"{config.retrain.copies} copies a cell",
            f"dense {config.dense.epochs} epochs, retraining {config.retrain.epochs} epochs, "
            f"{config.pruning.method} pruning"]
    rows = per_seed if per_seed is not None else pd.DataFrame()
    if "timestamp" in rows.columns and rows["timestamp"].notna().any():
        parts.append("last cell " + pd.to_datetime(rows["timestamp"].max(), unit="s").strftime("%Y-%m-%d %H:%M UTC"))
    if "code_version" in rows.columns and rows["code_version"].notna().any():
        parts.append("code " + html.escape(str(rows["code_version"].dropna().iloc[-1])))
    return f"<p class='header'>{'; '.join(parts)}.</p>"


def _seeds_words(config: StudyConfig) -> str:
    first, most = len(config.study.dense_seeds), config.seeds.max_seeds
    if most is not None:
        return f"{first} to {most} dense seeds a temperature (added where a call was uncertain)"
    return f"{first} dense seed{'s' * (first > 1)}"


def answers_html(cells: pd.DataFrame, criterion: str) -> str:
    """Return per target density the model to prune by `criterion`, one line each, shared caveats said once."""
    knob = str(cells["knob"].iloc[0])
    answers = []
    for density in sorted(cells["density"].unique()):
        try:
            answers.append((float(density), select_model(cells, density=float(density), by=criterion)))
        except NoAnswer as err:
            answers.append((float(density), str(err)))
    notes = Counter(note for _, a in answers if isinstance(a, dict) for note in set(a["caveats"]))
    shared = [note for note, n in notes.items() if n > 1]
    lines = []
    for density, a in answers:
        if not isinstance(a, dict):
            lines.append(f"<li><b>density {density:g}</b>: no answer: {words(a)}</li>")
            continue
        own = [note for note in a["caveats"] if note not in shared]
        caveat = f"<br><span class='caveat'>caveat: {words('; '.join(own))}</span>" if own else ""
        lines.append(f"<li><b>density {density:g}</b>: prune the model at {knob} {a['temperature']:g} "
                     f"(Regime {a['regime']}), test accuracy "
                     f"{pm(a['test_acc'], a['test_acc_se'], html=True)}{caveat}</li>")
    said_once = "".join(f"<li class='caveat'>{words(note)}</li>" for note in shared)
    shared_html = f"<p>At more than one density:</p><ul>{said_once}</ul>" if shared else ""
    return (f"<h2>The answer, by {html.escape(criterion)}</h2><p>The model to prune to each density, by the study's "
            f"criterion ({_CRITERION_WORDS[criterion]}); test accuracy &plusmn; its standard error.</p>"
            f"<ul class='answers'>{''.join(lines)}</ul>{shared_html}")


_CRITERION_WORDS = {"regime": "regime: Regime II with the highest CKA, training metrics only",
                    "val": "val: the best validation accuracy",
                    "regime+val": "regime+val: the best validation accuracy among Regime-II cells"}


def criteria_html(cells: pd.DataFrame, criterion: str) -> str:
    """Return each usable criterion's mean test-accuracy regret as a small table, and the verdict in words."""
    regrets = criteria_regrets(cells)
    rows, means = [], {}
    for by, answered in regrets.items():
        done = [r for r in answered if r["temperature"] is not None]
        if not done:
            rows.append(f"<tr><td>{by}</td><td>none answered</td><td>0 of {len(answered)}</td></tr>")
            continue
        mean = float(np.mean([r["regret"] for r in done]))
        se = combined_se(*(r["regret_se"] for r in done)) / len(done)
        means[by] = (mean, len(done))
        rows.append(f"<tr><td>{by}</td><td>{pm(mean, se, html=True)}</td><td>{len(done)} of {len(answered)}</td></tr>")
    most = max((n for _, n in means.values()), default=0)
    full = {by: mean for by, (mean, n) in means.items() if n == most}  # compared only where they answered alike
    best = min(full, key=full.get) if full else None
    if best is None or len(means) == 1:
        verdict = f"Only {criterion} can answer this study (it has no validation split)." if len(means) == 1 else \
            "No criterion answered any density."
    else:
        verdict = (f"On this study's own accuracies {best} picks best (the lowest mean regret among the criteria "
                   f"that answered {most} densities); it is answered by {criterion}"
                   + ("." if best == criterion else f": set study.criterion: {best} to answer by it."))
    return ("<h2>Which criterion</h2><p>Each criterion's mean regret: how much test accuracy its pick loses against "
            "the grid's best model at each density (no criterion sees test accuracy).</p>"
            "<table><tr><th>criterion</th><th>mean regret</th><th>densities answered</th></tr>"
            f"{''.join(rows)}</table><p>{verdict}</p>")
