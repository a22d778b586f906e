"""End to end through a real local Ray cluster (one per session): run, read back, crash, resume."""

import math
import os
from pathlib import Path

import pytest

from study.config import load_config
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
REPORT_KEYS = {"knob", "temperature", "dense_seed", "density", "density_actual", "dense_test_acc", "test_acc",
               "test_acc_std", "train_err", "lmc", "lmc_std", "cka", "cka_std", "retrain_epochs", "n_copies",
               "status", "seconds", "test_acc_copy0", "test_acc_copy1", "lmc_pair0_1", "cka_pair0_1"}


def _tiny(tmp_path, name, **overrides):
    return load_config(ROOT / "configs/tiny.yaml", {"study.storage": str(tmp_path), "study.name": name, **overrides})


def _raw_rows(path):
    # Straight from Tune's files, before our loader's de-duplication.
    from ray.tune import ExperimentAnalysis

    return {trial_id: df for trial_id, df in ExperimentAnalysis(path).trial_dataframes.items()}


def _by_cell(df):
    return {(r.temperature, r.density): r for r in df.itertuples()}


@pytest.fixture
def clean_study(tiny_study):
    return tiny_study


def test_a_study_runs_end_to_end_and_reads_back_through_tune(clean_study):
    config, outcome = clean_study
    assert outcome.complete and (outcome.cells_done, outcome.cells_total) == (4, 4)
    raw = _raw_rows(outcome.path)
    assert len(raw) == 2
    for df in raw.values():
        assert REPORT_KEYS <= set(df.columns)
        assert sorted(df["density"]) == [0.1, 0.5]
        assert set(df["status"]) == {"ok"} and (df["n_copies"] == 2).all() and (df["retrain_epochs"] == 2).all()
        assert all(0 <= v <= 1 for v in df["test_acc"]) and all(abs(v - d) < 0.01 for v, d in
                                                                zip(df["density_actual"], df["density"]))


def test_the_trials_of_an_epochs_study_share_one_dense_run(clean_study):
    # Temperatures 2 and 4 of one dense seed: 4 dense epochs in all, not 2 + 4 (DESIGN.md 2.1).
    _, outcome = clean_study
    rows = [df for df in _raw_rows(outcome.path).values()]
    assert sum(df["dense_epochs_trained"].sum() for df in rows) == 4
    folder = Path(outcome.path) / "dense_prefix" / "seed0"
    assert sorted(p.name for p in folder.iterdir()) == ["epoch0002.pt", "epoch0004.pt"]


def test_the_loader_gives_one_row_per_cell(clean_study):
    from analysis.load import load_study, read_study

    _, outcome = clean_study
    cells = load_study(outcome.path)
    assert len(cells) == 4 and cells["complete"].all()
    assert sorted(zip(cells.temperature, cells.density)) == [(2.0, 0.1), (2.0, 0.5), (4.0, 0.1), (4.0, 0.5)]
    study = read_study(outcome.path)
    assert study.config.pruning.densities == [0.1, 0.5] and study.config_dropped == []
    assert list(study.trials.densities_done) == [2, 2]


def test_a_crashing_trial_is_retried_by_tune_and_resumes_at_the_next_density(clean_study, tmp_path):
    from study.run.launch import run_study

    config = _tiny(tmp_path, "retried", **{"faults.crash_after_densities": 1, "resources.max_failures": 1})
    outcome = run_study(config)
    assert outcome.complete
    clean = _by_cell(load_rows(clean_study[1].path))
    for trial_id, df in _raw_rows(outcome.path).items():
        assert sorted(df["density"]) == [0.1, 0.5], trial_id  # no density reported twice
    for key, row in _by_cell(load_rows(outcome.path)).items():
        assert row.test_acc == clean[key].test_acc and row.lmc == clean[key].lmc  # same numbers on CPU


def test_an_interrupted_study_finishes_on_the_next_run_without_recomputing(clean_study, tmp_path):
    from analysis.load import read_study
    from study.run.launch import run_study

    config = _tiny(tmp_path, "interrupted", **{"faults.crash_after_densities": 1, "resources.max_failures": 0})
    first = run_study(config)
    assert not first.complete and first.cells_done == 2 and first.errored_trials == 2
    partial = read_study(first.path).trials
    assert list(partial.densities_done) == [1, 1] and not partial.complete.any()
    second = run_study(config)
    assert second.complete and second.cells_done == 4
    raw = _raw_rows(second.path)
    assert all(sorted(df["density"]) == [0.1, 0.5] for df in raw.values())
    clean = _by_cell(load_rows(clean_study[1].path))
    for key, row in _by_cell(load_rows(second.path)).items():
        assert row.test_acc == clean[key].test_acc and math.isclose(row.cka, clean[key].cka)


def test_a_gpu_request_on_a_cluster_without_one_fails_clearly(ray_cluster, tmp_path):
    from study.run.launch import StudyError, run_study

    if ray_cluster.cluster_resources().get("GPU", 0) > 0:
        pytest.skip("this cluster has a GPU")
    with pytest.raises(StudyError, match="resources.gpu: a trial asks for 1 GPU but the cluster has 0"):
        run_study(_tiny(tmp_path, "gpu", **{"resources.gpu": 1, "resources.device": "auto"}))


def load_rows(path):
    from analysis.load import load_study

    return load_study(path)


def test_a_killed_worker_process_is_retried_and_resumes(clean_study, tmp_path):
    from study.run.launch import run_study

    # Killed right after reporting its second density: that row must survive the restart (Ray
    # Tune 2.60 copied the trial's result files back from storage over it; study.callbacks.JsonLogger).
    config = _tiny(tmp_path, "killed", **{"faults.kill_after_densities": 2, "resources.max_failures": 1,
                                          "pruning.densities": [0.1, 0.3, 0.5]})
    outcome = run_study(config)
    assert outcome.complete
    for df in _raw_rows(outcome.path).values():
        assert sorted(df["density"]) == [0.1, 0.3, 0.5]
    clean = _by_cell(load_rows(clean_study[1].path))
    for key, row in _by_cell(load_rows(outcome.path)).items():
        if key in clean:
            assert row.test_acc == clean[key].test_acc and row.lmc == clean[key].lmc


def test_a_half_written_study_is_read_as_far_as_it_goes(clean_study, tmp_path):
    import shutil

    from analysis.load import read_study

    copy = tmp_path / "copy"
    shutil.copytree(clean_study[1].path, copy)
    result = sorted(copy.glob("*/result.json"))[0]
    text = result.read_text()
    result.write_text(text[: len(text) - 100])  # the second line cut mid-write
    study = read_study(copy)
    assert len(study.cells) == 3 and sorted(study.trials.densities_done) == [1, 2]


def test_a_damaged_byte_or_a_line_that_is_not_json_is_skipped_counted_and_named(clean_study, tmp_path, caplog):
    import shutil

    from analysis.load import read_study

    copy = tmp_path / "copy"
    shutil.copytree(clean_study[1].path, copy)
    result = sorted(copy.glob("*/result.json"))[0]
    first, second, *rest = result.read_bytes().splitlines()
    result.write_bytes(b"\n".join([first[:40] + b"\xff" + first[41:], b"[1, 2]", second, *rest]) + b"\n")
    with caplog.at_level("WARNING", logger="analysis.load"):
        study = read_study(copy)
    trial = result.parent.name.split("_")[2] + "_" + result.parent.name.split("_")[3]
    assert study.skipped == [f"trial {trial} result.json line 1", f"trial {trial} result.json line 2"]
    assert len(study.cells) == 3 and sorted(study.trials.densities_done) == [1, 2]
    assert caplog.messages == [f"{copy}: skipped 2 unreadable result lines (not UTF-8 or not JSON: trial {trial} "
                               f"result.json line 1, trial {trial} result.json line 2); their cells are not counted"]


def test_a_snapshot_written_before_a_key_was_added_resumes_and_a_damaged_one_is_one_line(clean_study, tmp_path):
    import json
    import shutil

    from study.run.launch import StudyError, run_study

    config, outcome = clean_study
    shutil.copytree(outcome.path, tmp_path / "clean")
    snapshot = tmp_path / "clean" / "regimes_config.json"
    older = json.loads(snapshot.read_text())
    del older["data"]["train_subset"], older["data"]["train_subset_seed"]  # as an earlier version wrote it
    older["study"]["storage"] = str(tmp_path)  # where the copy lives
    snapshot.write_text(json.dumps(older))
    moved = config.model_copy(update={"study": config.study.model_copy(update={"storage": str(tmp_path)})})
    resumed = run_study(moved)
    assert resumed.complete and (resumed.cells_done, resumed.cells_total) == (4, 4)
    snapshot.write_bytes(b'{"study": {"name": "clean", \xff')
    with pytest.raises(StudyError) as err:
        run_study(moved)
    assert str(err.value).startswith(f"{snapshot}: the study's saved config is damaged (")
    assert str(err.value).endswith("); restore it from a copy, or start a new study with --fresh")


def test_a_study_stopped_before_tune_wrote_anything_resumes_with_the_same_command(clean_study, tmp_path):
    # A driver SIGKILLed in its first seconds leaves the config snapshot and no Tune state: before,
    # every rerun said "holds no resumable Tune state; pass --fresh".
    from study.run.launch import run_study
    from study.run.snapshot import save_config

    config, _ = clean_study
    early = config.model_copy(update={"study": config.study.model_copy(update={"storage": str(tmp_path),
                                                                                "name": "early"})})
    save_config(str(tmp_path / "early"), early)
    outcome = run_study(early)
    assert outcome.complete and (outcome.cells_done, outcome.cells_total) == (4, 4)


def test_report_paths_that_cannot_be_written_are_one_line(clean_study, tmp_path, capsys):
    from study.cli import main

    path = clean_study[1].path
    (tmp_path / "a_file").write_text("")
    (tmp_path / "a_folder").mkdir()
    for args, line in [
        (["--out", str(tmp_path / "a_folder")], f"--out {tmp_path / 'a_folder'} is a folder; give the HTML file to "
                                                f"write, e.g. {tmp_path / 'a_folder' / 'report.html'}"),
        (["--out", str(tmp_path / "r.html"), "--png", str(tmp_path / "a_file")],
         f"--png {tmp_path / 'a_file'} is a file; give a folder for the PNGs (it is created if missing)"),
        (["--out", str(tmp_path / "a_file" / "r.html")], f"cannot write the report to {tmp_path / 'a_file' / 'r.html'} "
                                                         "(File exists); give --out a file in a writable folder"),
    ]:  # the last: the report's folder would be made where a file is
        assert main(["report", path, *args]) == 2
        assert capsys.readouterr().err == f"regimes: error: {line}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "a_folder"]


def test_a_study_whose_tune_state_is_cut_short_or_gone_is_read_from_its_trial_folders(clean_study, tmp_path,
                                                                                       capsys, caplog):
    import shutil

    from analysis.load import read_study
    from study.cli import main

    for name in ("whole", "cut", "gone", "empty"):
        shutil.copytree(clean_study[1].path, tmp_path / name)
    (tmp_path / "other").mkdir()  # not a study: not listed
    for state in (tmp_path / "cut").glob("experiment_state-*.json"):
        state.write_bytes(state.read_bytes()[:100])
    for state in (tmp_path / "gone").glob("experiment_state-*.json"):
        state.unlink()
    for folder in (tmp_path / "empty").glob("run_trial_*"):  # the state cut short and no trial folder
        shutil.rmtree(folder)
    for state in (tmp_path / "empty").glob("experiment_state-*.json"):
        state.write_bytes(state.read_bytes()[:100])
    whole = read_study(tmp_path / "whole")
    with caplog.at_level("WARNING", logger="analysis.load"):
        cut = read_study(tmp_path / "cut")
    assert cut.tune_state.startswith("Tune could not read the experiment state (") and not whole.tune_state
    assert caplog.messages[0].endswith("; read from its 2 trial folders instead (`regimes run` cannot resume it "
                                       "as it is)")
    columns = ["temperature", "dense_seed", "density", "test_acc", "lmc", "cka"]
    for damaged in (cut, read_study(tmp_path / "gone")):  # every cell, the same values
        assert damaged.cells[columns].sort_values(columns[:3]).values.tolist() == \
            whole.cells[columns].sort_values(columns[:3]).values.tolist()
        assert sorted(damaged.cells.trial_id) == sorted(whole.cells.trial_id)
    assert main(["ls", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{'cut':<30} cells 4/4      complete; damaged: Tune could not read the experiment "
                               "state (")
    assert lines[1].startswith(f"{'empty':<30} damaged: Tune could not read the experiment state (")
    assert lines[2].startswith(f"{'gone':<30} cells 4/4      complete; damaged: Tune could not read")
    assert lines[3:] == [f"{'whole':<30} cells 4/4      complete"]


def test_an_existing_study_with_another_config_is_refused_and_fresh_picks_a_new_name(clean_study):
    from study.config.paths import fresh_name, study_path
    from study.run.launch import StudyError, run_study

    config, outcome = clean_study
    changed = config.model_copy(update={"retrain": config.retrain.model_copy(update={"epochs": 3})})
    with pytest.raises(StudyError, match="holds a study with a different config; .* --fresh"):
        run_study(changed)
    renamed = fresh_name(changed)
    assert renamed.study.name == "clean-2" and study_path(renamed) != outcome.path


def test_a_study_with_stacked_copies_matches_the_sequential_one(clean_study, tmp_path):
    # resources.stacked "auto" retrains one copy after another on the CPU; forcing the stacked
    # path through a real study gives the same cells up to float rounding.
    from study.run.launch import run_study

    outcome = run_study(_tiny(tmp_path, "stacked", **{"resources.stacked": True}))
    assert outcome.complete
    clean = _by_cell(load_rows(clean_study[1].path))
    for key, row in _by_cell(load_rows(outcome.path)).items():
        assert row.dense_test_acc == clean[key].dense_test_acc  # the shared dense run is untouched
        assert abs(row.test_acc - clean[key].test_acc) <= 2 / 256 and abs(row.lmc - clean[key].lmc) <= 0.01
        assert abs(row.cka - clean[key].cka) <= 0.01


def test_a_restarted_trial_keeps_the_rows_staged_on_this_driver(tmp_path):
    # Tune's loggers copy a restarting trial's result file back from storage (its base method
    # below overwrites the staged rows); ours keep the driver's newer copy and still restore a
    # file this driver has not staged (a resumed run).
    from types import SimpleNamespace

    import pyarrow.fs
    from ray.tune.logger import JsonLoggerCallback

    from study.run.callbacks import JsonLogger

    remote, staged = tmp_path / "storage", tmp_path / "staging"
    remote.mkdir()
    staged.mkdir()
    (remote / "result.json").write_text('{"density": 0.1}\n')
    (staged / "result.json").write_text('{"density": 0.1}\n{"density": 0.2}\n')
    trial = SimpleNamespace(checkpoint=object(), local_path=str(staged),
                            storage=SimpleNamespace(trial_fs_path=str(remote),
                                                    storage_filesystem=pyarrow.fs.LocalFileSystem()))
    JsonLogger()._restore_from_remote("result.json", trial)
    assert (staged / "result.json").read_text().count("density") == 2
    JsonLoggerCallback()._restore_from_remote("result.json", trial)  # Ray's own: the staged row is gone
    assert (staged / "result.json").read_text().count("density") == 1
    (staged / "result.json").unlink()
    JsonLogger()._restore_from_remote("result.json", trial)
    assert (staged / "result.json").read_text() == '{"density": 0.1}\n'


def test_a_validation_split_reaches_every_row(ray_cluster, tmp_path):
    from analysis.load import load_study
    from study.run.launch import run_study

    outcome = run_study(_tiny(tmp_path, "val", **{"data.validation": 0.25, "data.validation_seed": 7}))
    cells = load_study(outcome.path)
    # synthetic: 512 training signals, labels k mod 10 (52 of classes 0-1, 51 of the rest):
    # round(0.25 x 52) = 13 and round(0.25 x 51) = 13 per class, 130 in all.
    assert set(cells["n_val"]) == {130} and set(cells["validation_seed"]) == {7}
    for column in ("val_acc", "dense_val_acc", "test_acc"):
        assert cells[column].between(0, 1).all(), column
    assert (cells["val_acc_std"] >= 0).all()
    from analysis import open_study, select_model

    study = open_study(outcome.path)  # a study with a validation split is answered by val unless asked otherwise
    assert study.criterion == "val" and study.select(density=0.5)["by"] == "val"
    assert study.select(density=0.5) == select_model(study.cells, density=0.5, by="val")
    assert study.select(density=0.5, by="regime")["by"] == "regime"


def test_status_ls_and_version_as_a_user_reads_them(clean_study, tmp_path, capsys):
    # Temperatures with their own digits, a study being run told from one left unfinished, no
    # traceback when the reader of a pipe leaves, and --version.
    import json
    import os
    import shutil
    import socket
    import subprocess
    import sys

    from study.cli import main

    shutil.copytree(clean_study[1].path, tmp_path / "clean")
    for result in (tmp_path / "clean").glob("*/result.json"):  # the last density of each trial not yet reported
        lines = result.read_text().splitlines()
        result.write_text("\n".join(lines[:-1]) + "\n")
    assert main(["status", str(tmp_path / "clean")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert [line.split()[:4] for line in table[1:3]] == [["2", "0", "1/2", "unfinished"],
                                                         ["4", "0", "1/2", "unfinished"]]
    # Where the compute went, from the rows' timings: the dense runs and the retraining at least.
    assert table[-2].startswith("compute ") and "dense training" in table[-2] and "full retraining" in table[-2]
    assert main(["ls", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"{'clean':<30} cells 2/4      unfinished\n"
    holder = {"host": socket.gethostname(), "pid": os.getpid(), "since": "now"}
    (tmp_path / "clean" / "regimes.lock").write_text(json.dumps(holder))
    assert main(["ls", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"{'clean':<30} cells 2/4      running (pid {os.getpid()} on {holder['host']})\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    version = subprocess.run([sys.executable, "-m", "study.cli", "--version"], capture_output=True, text=True,
                             env=env, timeout=120)
    assert version.returncode == 0 and version.stdout.startswith("regimes 0.1.0")
    # A reader that has gone: stdout is a pipe whose other end is closed before anything is written.
    read_end, write_end = os.pipe()
    os.close(read_end)
    piped = subprocess.run([sys.executable, "-m", "study.cli", "status", str(tmp_path / "clean")], stdout=write_end,
                           stderr=subprocess.PIPE, text=True, env=env, timeout=120)
    os.close(write_end)
    assert piped.returncode == 141 and "Traceback" not in piped.stderr, piped.stderr


def test_ray_tunes_own_views_hold_the_whole_grid_and_the_readme_code_runs(clean_study, tmp_path):
    import re
    import subprocess
    import sys

    from ray.tune import ExperimentAnalysis

    from analysis.load import read_study
    from contract.row import GRID_KEY

    path = clean_study[1].path
    tune_view = ExperimentAnalysis(path)
    grid, cells = tune_view.dataframe(), read_study(path).cells
    assert len(grid) == 2 and not any(GRID_KEY.match(str(c)) for c in cells.columns)  # cells keep their own keys
    for _, trial in grid.iterrows():  # the last result of each trial: both its densities
        for density in (0.1, 0.5):
            cell = cells[(cells.temperature == trial["config/temperature"]) & (cells.density == density)]
            assert trial[f"test_acc_d{density:g}"] == cell.test_acc.item()
            assert trial[f"cka_d{density:g}"] == cell.cka.item()
    best = tune_view.get_best_config(metric="test_acc_d0.1", mode="max")
    at = cells[cells.density == 0.1]
    assert best["temperature"] == at.temperature[at.test_acc.idxmax()]
    # docs/reading.md's code block, on this study (no validation split here: by test accuracy).
    page = (ROOT / "docs" / "reading.md").read_text()
    code = re.search(r"# From Python and from Ray Tune\n.*?```python\n(.*?)```", page, re.S).group(1)
    code = code.replace('path, density = "studies/demo", 0.05', 'path, density = "studies/demo", 0.1')
    code = code.replace('metric = "val_acc"', 'metric = "test_acc"')
    where = tmp_path / "reader"
    (where / "studies").mkdir(parents=True)
    (where / "studies" / "demo").symlink_to(path)  # the relative path as written, from a folder of one's own
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=where, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"best single trial: {best['temperature']}" in run.stdout
    assert "<ClassifiedStudy 'clean': epochs, 2 temperatures x 2 densities, 1 dense seeds; mc_threshold" in run.stdout


def test_the_study_object_asks_every_question_with_the_studys_own_thresholds(clean_study, tmp_path):
    import json

    from ray import tune

    from analysis import advise, open_study, select_model, validate_advice
    from analysis.validate import criteria_regrets

    path = clean_study[1].path
    study = open_study(path)
    assert (study.mc_threshold, study.cka_eps) == (clean_study[0].metrics.mc_threshold, clean_study[0].metrics.cka_eps)
    assert repr(study) == (f"<ClassifiedStudy 'clean': epochs, 2 temperatures x 2 densities, 1 dense seeds; "
                           f"mc_threshold {study.mc_threshold:g}, cka_eps {study.cka_eps:g}, "
                           f"confidence {study.confidence:g}>")
    def same(a, b):  # NaN standard errors (one dense seed) compare equal as JSON
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)

    assert study.criterion == "regime"  # no validation split, no study.criterion: the paper's rule
    assert same(study.select(density=0.5), select_model(study.cells, density=0.5, by="regime"))
    assert same(study.advise(density=0.1, temperature=2), advise(study.cells, density=0.1, temperature=2))
    answer = study.validate()
    assert same(answer["advice"], validate_advice(study.cells)) and answer["missing_cells"] == 0
    assert answer["select"].keys() == criteria_regrets(study.cells).keys()
    assert {trace.type for trace in study.regime_map().data} >= {"heatmap"}
    report = study.report(tmp_path / "r.html")
    assert report == tmp_path / "r.html" and "<html" in report.read_text()[:500].lower()
    from ray.tune import ExperimentAnalysis

    from trainables.trial import run_trial

    assert open_study(ExperimentAnalysis(path)).cells.equals(study.cells)
    assert open_study(tune.Tuner.restore(path, trainable=run_trial).get_results()).cells.equals(study.cells)


def test_a_refusal_is_an_answer_with_its_own_exit_status_and_json(clean_study, capsys):
    import json

    from study.cli import NO_ANSWER, main

    path = clean_study[1].path
    args = ["select", path, "--density", "0.1", "--mc-threshold", "0.5", "--confidence", "0"]  # every mc < 0.5: I
    assert main(args) == NO_ANSWER == 3
    err = capsys.readouterr().err
    assert err.startswith("note: --mc-threshold 0.5 is positive")  # said, since the method means a negative one
    assert err.splitlines()[1].startswith("regimes: no answer: no Regime-II cell at density 0.1: every model has a "
                                          "barrier")
    assert main([*args, "--json"]) == 3
    refused = json.loads(capsys.readouterr().out)
    assert refused["answer"] is None and refused["refused"].startswith("no Regime-II cell at density 0.1")
    assert main(["select", path, "--density", "0.7"]) == 2  # a density the study lacks: bad input
    assert main(["select", path, "--density", "0.5"]) == 0  # 2 copies: one pair, so no SE of CKA, and it says so
    out = capsys.readouterr().out.splitlines()
    assert "CKA 0." in out[0] and "(no SE: too few dense seeds or copies)" in out[0] and "+- nan" not in out[0]
    assert [line for line in out[1:] if line.startswith("caveat: ")] == out[1:] and len(out) >= 2  # epochs 4: an edge


def test_watching_a_study_redraws_its_status_and_map_so_far_and_stops_when_it_is_complete(clean_study, tmp_path,
                                                                                         capsys):
    import shutil

    from study.cli.follow import watch

    partial = tmp_path / "partial"
    shutil.copytree(clean_study[1].path, partial)
    shutil.rmtree(next(partial.glob("run_trial_*temperature=4.0000*")))
    waits = []
    assert watch(str(partial), every=3, rounds=2, pause=waits.append) == 0
    out = capsys.readouterr().out
    assert out.count("(every 3 s; Ctrl-C stops watching, not the study)") == 2 and waits == [3]
    lines = out.splitlines()
    grid = lines[lines.index(next(line for line in lines if line.startswith("cells 2/4;"))) + 1:][:3]
    assert grid[0].split() == ["0.1", "0.5"]
    assert grid[1].split()[:2] == ["epochs", "2"] and "." not in grid[1].split()[2:]  # reported: a regime each
    assert grid[2].split() == ["epochs", "4", ".", "."]  # its trial folder deleted: owed, not reported
    from analysis import open_study

    report = open_study(str(partial)).report(tmp_path / "partial.html").read_text()
    assert "<p><b>Partial.</b> 2 of 4 owed cells reported (the study is running, unfinished or damaged)" in report
    assert watch(clean_study[1].path, every=3, rounds=5, pause=waits.append) == 0  # complete: one redraw, no wait
    assert waits == [3] and capsys.readouterr().out.count("cells 4/4;") == 1


def test_tensorboard_event_files_hold_every_cells_metrics_one_step_per_density(ray_cluster, tmp_path):
    # tracking.tensorboard: Ray Tune's TBX logger in each trial folder, read back here with the
    # event file's own record format (length, CRC, an Event protobuf, CRC).
    import struct

    from tensorboardX.proto import event_pb2

    from study.run.launch import run_study

    outcome = run_study(_tiny(tmp_path, "tb", **{"tracking.tensorboard": True}))
    assert outcome.complete
    for folder in Path(outcome.path).glob("run_trial_*"):
        (events,) = folder.glob("events.out.tfevents.*")
        data, at, tags = events.read_bytes(), 0, {}
        while at < len(data):
            (size,) = struct.unpack("<Q", data[at:at + 8])
            event = event_pb2.Event()
            event.ParseFromString(data[at + 12:at + 12 + size])
            at += 12 + size + 4
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(event.step)
        assert tags["ray/tune/density"] == [1, 2] and tags["ray/tune/test_acc"] == [1, 2]
        assert tags["ray/tune/test_acc_d0.1"] == [1, 2] and tags["ray/tune/test_acc_d0.5"] == [2]
        assert {"ray/tune/lmc", "ray/tune/cka"} <= set(tags)
