"""Seeds added where calls are uncertain: the searcher's bookkeeping by hand, then studies through a real Ray."""

import os
import signal

import pytest
from ray.tune.search import Searcher

from study.config import load_config
from study.search.searchers import GridRule, RegimeSearcher
from tests.conftest import ROOT
from tests.helpers import driver_at, regimes
from tests.study.search.test_search import ScriptedRule, _report


def test_a_grid_hands_out_every_temperature_then_the_seed_rule_adds_the_next_seed_of_one():
    seeds = ScriptedRule([[2.0], None])
    searcher = RegimeSearcher(GridRule([1, 2]), dense_seeds=[0], max_trials=2, slots=2, seed_rule=seeds,
                              more_seeds=[1, 2])
    assert searcher.suggest("a") == {"temperature": 1.0, "dense_seed": 0}
    assert searcher.suggest("b") == {"temperature": 2.0, "dense_seed": 0}
    assert searcher.suggest("c") is None and seeds.calls == []  # slots full; no seed before the grid is done
    _report(searcher, "a", 1.0, 0)
    _report(searcher, "b", 2.0, 0)
    assert searcher.suggest("c") == {"temperature": 2.0, "dense_seed": 1}
    assert seeds.calls == [([1.0, 2.0], [])]
    assert searcher.suggest("d") is None  # the seed rule is done, but "c" is in flight and was told so
    assert seeds.calls[-1] == ([1.0, 2.0], [2.0])
    _report(searcher, "c", 2.0, 1)
    seeds.answers.append(None)
    assert searcher.suggest("d") is Searcher.FINISHED


def test_a_temperature_with_every_seed_is_never_given_another(tmp_path):
    seeds = ScriptedRule([[1.0], [1.0]])
    searcher = RegimeSearcher(GridRule([1]), dense_seeds=[0], max_trials=1, slots=1, seed_rule=seeds, more_seeds=[1])
    searcher.suggest("a")
    _report(searcher, "a", 1.0, 0)
    assert searcher.suggest("b") == {"temperature": 1.0, "dense_seed": 1}
    _report(searcher, "b", 1.0, 1)
    searcher.save(str(tmp_path / "state.pkl"))
    restored = RegimeSearcher(GridRule([1]), dense_seeds=[0], max_trials=1, slots=1, seed_rule=seeds)
    restored.restore(str(tmp_path / "state.pkl"))
    assert restored.added == {1.0: 1} and restored.more_seeds == [1]
    with pytest.raises(RuntimeError, match="has every seed"):
        restored.suggest("c")
    assert seeds.calls[-1] == ([1.0], [1.0])  # told: temperature 1 has every seed


def _seeds_config(tmp_path, name, **overrides):
    return load_config(ROOT / "configs/tiny.yaml", {"study.storage": str(tmp_path), "study.name": name,
                                                    "seeds.max_seeds": 3, **overrides})


@pytest.mark.slow
def test_a_grid_with_seeds_added_runs_each_seed_once_as_a_prefix_and_reads_with_the_spent_confidence(
        ray_cluster, tmp_path):
    from analysis import open_study
    from analysis.seeds import seed_rule_for
    from study.run.launch import StudyError, run_study

    config = _seeds_config(tmp_path, "seeded")
    with pytest.raises(StudyError, match="seeds.max_seeds needs its seed rule"):
        run_study(config)
    rule = seed_rule_for(config)
    outcome = run_study(config, seed_rule=rule)
    opened = open_study(outcome.path)
    trials = opened.study.trials
    assert outcome.complete and trials["complete"].all()
    per_temperature = trials.groupby("temperature")["dense_seed"].apply(sorted)
    assert set(per_temperature.index) == {2.0, 4.0}  # every temperature of the grid
    assert all(seeds == list(range(len(seeds))) and len(seeds) <= 3 for seeds in per_temperature)
    # With one seed and 2 copies no mc has a standard error, so every cell was uncertain: each
    # temperature got a second seed at least.
    assert all(len(seeds) >= 2 for seeds in per_temperature)
    assert rule(opened.study.cells, pending=[], n=1) is None  # the rule is done on the cells read back
    # 2 SE over 3 looks (1, 2, 3 seeds): 1.517 % each, 0.758 % a side: the 99.242 % quantile, 2.428.
    assert opened.confidence == pytest.approx(2.428, abs=0.002)


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL])
def test_a_grid_with_seeds_stopped_midway_resumes_without_repeating_or_losing_a_trial(tmp_path, stop):
    args = ["run", str(ROOT / "configs/tiny.yaml"), "--storage", str(tmp_path), "--set", "seeds.max_seeds=3",
            "--set", "study.temperatures=[1, 2, 3, 4]", "--set", "retrain.epochs=20",
            "--set", "pruning.densities=[0.1, 0.2, 0.3, 0.4]"]
    first = driver_at(args, tmp_path, cells="cells 5/", own_session=True)
    try:
        first.send_signal(stop)
        first.communicate(timeout=120)
    finally:
        try:
            os.killpg(first.pid, signal.SIGKILL)  # a killed driver's own Ray shares its session
        except ProcessLookupError:
            pass
    assert first.returncode != 0
    again = regimes(*args, cwd=tmp_path, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.strip().splitlines()[-1] == f"study complete: {tmp_path / 'tiny'}"
    from analysis import read_study

    study = read_study(tmp_path / "tiny")
    counts = study.cells.groupby(["temperature", "dense_seed", "density"]).size()
    assert (counts == 1).all()  # each cell of each (temperature, seed) trial reported once
    assert (study.cells.groupby(["temperature", "dense_seed"]).size() == 4).all()  # and none lost
    seeds = study.cells.groupby("temperature")["dense_seed"].unique()
    assert len(seeds) == 4 and all(sorted(s) == list(range(len(s))) for s in seeds)
