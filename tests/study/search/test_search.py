"""The regime-guided search: the searcher's bookkeeping by hand, then through a real local Ray."""

import signal

import pytest
from ray.tune.search import Searcher

from study.config import load_config
from study.search.searchers import RegimeSearcher
from tests.conftest import ROOT
from tests.helpers import driver_at, regimes


class ScriptedRule:
    """A rule that answers from a list and records what it was told."""

    def __init__(self, answers):
        self.answers, self.calls = list(answers), []

    def __call__(self, cells, *, pending, n):
        self.calls.append((sorted(cells["temperature"].unique()) if len(cells) else [], list(pending)))
        return self.answers.pop(0)


def _report(searcher, trial_id, temperature, seed, densities=(0.1, 0.5)):
    for d in densities:
        searcher.on_trial_result(trial_id, {"temperature": temperature, "dense_seed": seed, "density": d,
                                            "test_acc": 0.8, "lmc": 0.0, "cka": 0.9, "status": "ok",
                                            "time_total_s": 1.0})
    searcher.on_trial_complete(trial_id)


def test_seeds_are_queued_per_temperature_slots_are_respected_and_pending_is_told():
    rule = ScriptedRule([[3.0], [1.0], None])
    searcher = RegimeSearcher(rule, dense_seeds=[0, 1], max_trials=5, slots=2)
    assert searcher.suggest("a") == {"temperature": 3.0, "dense_seed": 0}
    assert searcher.suggest("b") == {"temperature": 3.0, "dense_seed": 1}
    assert searcher.suggest("c") is None  # two live trials fill the two slots
    _report(searcher, "a", 3.0, 0)
    assert searcher.suggest("c") == {"temperature": 1.0, "dense_seed": 0}
    # The rule saw seed 0 of temperature 3 finished and temperature 3 still in flight (seed 1).
    assert rule.calls[-1] == ([3.0], [3.0])
    _report(searcher, "b", 3.0, 1)
    assert searcher.suggest("d") == {"temperature": 1.0, "dense_seed": 1}
    _report(searcher, "c", 1.0, 0)
    _report(searcher, "d", 1.0, 1)
    assert searcher.suggest("e") is Searcher.FINISHED  # the rule said done, nothing in flight
    assert searcher.visited == [3.0, 1.0] and rule.calls[-1] == ([1.0, 3.0], [])
    assert set(searcher.cells().columns) >= {"temperature", "density", "lmc", "cka"}
    assert "time_total_s" not in searcher.cells().columns


def test_done_waits_for_trials_in_flight_and_the_budget_stops_the_search():
    searcher = RegimeSearcher(ScriptedRule([[2.0], None]), dense_seeds=[0], max_trials=5, slots=2)
    searcher.suggest("a")
    assert searcher.suggest("b") is None  # the rule is done but "a" may still change its mind: wait
    capped = RegimeSearcher(ScriptedRule([[2.0], [4.0]]), dense_seeds=[0], max_trials=1, slots=2)
    capped.suggest("a")
    assert capped.suggest("b") is None
    _report(capped, "a", 2.0, 0)
    assert capped.suggest("b") is Searcher.FINISHED


def test_a_repeated_suggestion_is_refused_loudly():
    searcher = RegimeSearcher(ScriptedRule([[2.0], [2.0]]), dense_seeds=[0], max_trials=5, slots=1)
    searcher.suggest("a")
    _report(searcher, "a", 2.0, 0)
    with pytest.raises(RuntimeError, match="suggested temperature 2 again"):
        searcher.suggest("b")


def test_save_and_restore_keep_the_trials_in_flight_and_the_cells(tmp_path):
    searcher = RegimeSearcher(ScriptedRule([[3.0], [1.0]]), dense_seeds=[0, 1], max_trials=5, slots=2)
    searcher.suggest("a")
    searcher.suggest("b")
    _report(searcher, "a", 3.0, 0)
    searcher.save(str(tmp_path / "state.pkl"))
    rule = ScriptedRule([[1.0], None])
    restored = RegimeSearcher(rule, dense_seeds=[0, 1], max_trials=5, slots=2)
    restored.restore(str(tmp_path / "state.pkl"))
    # "b" is still live after the restore: its completion frees the slot and its cells count.
    assert restored.live == {"b"} and restored.visited == [3.0]
    _report(restored, "b", 3.0, 1)
    assert restored.suggest("c") == {"temperature": 1.0, "dense_seed": 0}
    assert rule.calls == [([3.0], [])]
    assert len(restored.cells()) == 4  # two seeds x two densities of temperature 3


def _search_config(tmp_path, name, **overrides):
    return load_config(ROOT / "configs/tiny.yaml", {"study.storage": str(tmp_path), "study.name": name,
                                                    "study.search": "regimes", "study.temperatures": [1, 2, 3, 4],
                                                    **overrides})


@pytest.mark.slow
def test_a_search_through_ray_stops_by_itself_and_never_trains_a_temperature_twice(ray_cluster, tmp_path):
    from analysis import read_study
    from analysis.search import rule_for
    from study.run.launch import run_study

    config = _search_config(tmp_path, "search", **{"study.dense_seeds": [0, 1]})
    rule = rule_for(config)
    outcome = run_study(config, rule=rule)
    study = read_study(outcome.path)
    trials = study.trials
    assert outcome.complete and trials["complete"].all()
    per_temperature = trials.groupby("temperature")["dense_seed"].apply(sorted)
    assert all(seeds == [0, 1] for seeds in per_temperature)  # every temperature with every seed, once
    assert len(per_temperature) < 4  # the rule closed its brackets before visiting every temperature
    assert rule(study.cells, pending=[], n=1) is None  # ... which it confirms on the cells read back
    # Questions and the report read a searched study as a grid of the temperatures it visited: no NaN rows.
    from analysis import open_study, select_model
    from analysis.report import write_report

    opened = open_study(outcome.path)
    assert len(opened.cells) == 2 * len(per_temperature) and opened.cells["test_acc"].notna().all()
    assert select_model(opened.cells, density=0.5)["temperature"] in set(per_temperature.index)
    assert write_report(opened.cells, opened.study.config, tmp_path / "r.html", title="search").is_file()


@pytest.mark.slow
def test_a_capped_search_trains_max_trials_temperatures(ray_cluster, tmp_path):
    from analysis import read_study
    from analysis.search import rule_for
    from study.run.launch import run_study

    config = _search_config(tmp_path, "capped", **{"study.max_trials": 1})
    outcome = run_study(config, rule=rule_for(config))
    assert outcome.complete and list(read_study(outcome.path).trials["temperature"]) == [3.0]


@pytest.mark.slow
@pytest.mark.parametrize("search", ["regimes", "random", "optuna"])
def test_an_interrupted_search_resumes_without_repeating_or_losing_a_trial(tmp_path, search):
    # Trials of 4 densities at 20 retraining epochs: SIGINT, sent at the first reported cell, lands
    # while the first trials still have densities to go.
    args = ["run", str(ROOT / "configs/tiny.yaml"), "--storage", str(tmp_path), "--set", f"study.search={search}",
            "--set", "study.temperatures=[1, 2, 3, 4]", "--set", "retrain.epochs=20",
            "--set", "pruning.densities=[0.1, 0.2, 0.3, 0.4]"]
    if search != "regimes":  # a budget, so that the end-of-run answer follows an unfinished first run
        args += ["--set", "study.max_trials=3", "--set", "data.validation=0.2", "--by", "val"]
    first = driver_at(args, tmp_path)
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=120)
    assert first.returncode == 1  # unfinished, said so
    again = regimes(*args, cwd=tmp_path, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "search trained " in again.stdout and "density 0.1: train at epochs " in again.stdout
    from ray.tune import ExperimentAnalysis

    analysis = ExperimentAnalysis(str(tmp_path / "tiny"))
    temperatures = [t.config["temperature"] for t in analysis.trials]
    assert len(temperatures) == len(set(temperatures))  # one trial per temperature (one dense seed): no repeat
    for df in analysis.trial_dataframes.values():
        assert sorted(df["density"]) == [0.1, 0.2, 0.3, 0.4]  # each density reported exactly once


@pytest.mark.slow
@pytest.mark.parametrize("search", ["random", "optuna"])
def test_tunes_searchers_train_distinct_temperatures_with_every_seed_two_at_a_time(ray_cluster, tmp_path, search):
    from ray.tune import ExperimentAnalysis

    from analysis import open_study, select_model
    from study.run.launch import run_study

    config = _search_config(tmp_path, search, **{"study.search": search, "study.max_trials": 2,
                                                 "study.dense_seeds": [0, 1], "data.validation": 0.2,
                                                 "retrain.epochs": 6})
    outcome = run_study(config)
    assert outcome.complete
    analysis = ExperimentAnalysis(outcome.path)
    picked = sorted((t.config["temperature"], t.config["dense_seed"]) for t in analysis.trials)
    temperatures = sorted({t for t, _ in picked})
    assert len(temperatures) == 2 and picked == [(t, s) for t in temperatures for s in (0, 1)]
    # The session's cluster has two CPUs and a trial takes one: two trials must have run at once
    # (Ray 2.60 gives a custom Searcher one pending trial at a time; that must not serialise them).
    spans = sorted((df["timestamp"].iloc[-1] - df["time_total_s"].iloc[-1], df["timestamp"].iloc[-1])
                   for df in analysis.trial_dataframes.values())
    # Tune's timestamp is whole seconds: an overlap must exceed that rounding.
    assert any(later[0] < earlier[1] - 1.0 for earlier, later in zip(spans, spans[1:], strict=False)), spans
    answer = select_model(open_study(outcome.path).cells, density=0.5, by="val")
    assert answer["temperature"] in temperatures


def test_a_search_with_a_temperature_left_to_try_is_not_complete():
    from study.run.launch import Outcome

    assert Outcome("p", 8, 8, 0).complete and not Outcome("p", 8, 8, 0, search_unfinished=True).complete
    assert not Outcome("p", 7, 8, 0).complete


def test_a_restored_search_searches_by_the_criterion_it_is_given_now(ray_cluster, tmp_path):
    # Tune pickles the searcher, rule and all, with the experiment; Tuner.restore brings back the
    # first run's --by. The launcher puts this run's rule in its place, where Tune's resumed fit
    # reads it (ray/tune/impl/tuner_internal.py, _fit_resume: search_alg=self._tune_config.search_alg).
    from ray import tune

    from analysis.search import rule_for
    from study.run.launch import _replace_callbacks
    from study.search.searchers import tune_config
    from trainables.trial import run_trial

    config = _search_config(tmp_path, "by", **{"data.validation": 0.2})
    first, now = rule_for(config, by="regime"), rule_for(config, by="val")
    tuner = tune.Tuner(run_trial, tune_config=tune_config(config, first))
    _replace_callbacks(tuner, [], now)
    searcher = tuner._local_tuner._tune_config.search_alg
    assert isinstance(searcher, RegimeSearcher) and searcher.rule is now and searcher.rule.keywords["by"] == "val"
    _replace_callbacks(tuner, [], None)  # a random or TPE search keeps its own rule
    assert searcher.rule is now
