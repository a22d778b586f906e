"""What a study owes and what its folders report, on folders the test writes in Tune's layout."""

import errno
import json

import pytest

from contract.config import StudyConfig
from contract.folders import next_repair_name
from contract.results import (MANIFEST_FILE, missing_cells, owed_trials, read_manifest,
                              reported_cells)


def _config(search="grid"):
    study = {"knob": "epochs", "temperatures": [2, 4, 8], "dense_seeds": [0, 1], "search": search}
    if search != "grid":
        study["max_trials"] = 2
    return StudyConfig.model_validate({"study": study, "pruning": {"densities": [0.1, 0.5]}})


def _trial(folder, name, temperature, seed, densities, garbage=False):
    trial = folder / name
    trial.mkdir(parents=True)
    (trial / "params.json").write_text(json.dumps({"temperature": temperature, "dense_seed": seed}))
    lines = [json.dumps({"temperature": temperature, "dense_seed": seed, "density": d, "seconds": 1.0}).encode()
             for d in densities]
    if garbage:
        lines.append(b'{"temperature": 2.0, "dense_seed": 0, "density": 0.9\xff}')
    (trial / "result.json").write_bytes(b"\n".join(lines) + b"\n")


def test_a_grid_owes_its_whole_grid_and_misses_what_no_folder_reports(tmp_path):
    _trial(tmp_path, "run_trial_a_00000", 2.0, 0, [0.1, 0.5], garbage=True)
    _trial(tmp_path, "run_trial_a_00001", 4.0, 0, [0.1])
    _trial(tmp_path / "repair-1", "run_trial_b_00000", 4.0, 0, [0.5])  # a repair counts
    config = _config()
    assert owed_trials(config, tmp_path) == [(2.0, 0), (2.0, 1), (4.0, 0), (4.0, 1), (8.0, 0), (8.0, 1)]
    assert reported_cells(tmp_path) == {(2.0, 0, 0.1), (2.0, 0, 0.5), (4.0, 0, 0.1), (4.0, 0, 0.5)}
    assert missing_cells(config, tmp_path) == {(2.0, 1): [0.1, 0.5], (4.0, 1): [0.1, 0.5], (8.0, 0): [0.1, 0.5],
                                               (8.0, 1): [0.1, 0.5]}
    assert next_repair_name(tmp_path) == "repair-2"


def test_a_search_owes_the_trials_its_manifest_lists_and_those_whose_folders_are_there(tmp_path):
    config = _config("random")
    assert owed_trials(config, tmp_path) == [] and next_repair_name(tmp_path) == "repair-1"
    (tmp_path / MANIFEST_FILE).write_text(json.dumps({"trials": [[8.0, 0], [8.0, 1]]}))
    _trial(tmp_path, "run_trial_a_00000", 8.0, 0, [0.1, 0.5])
    _trial(tmp_path, "run_trial_a_00001", 2.0, 1, [0.5])  # reported, not yet in the manifest
    assert owed_trials(config, tmp_path) == [(8.0, 0), (8.0, 1), (2.0, 1)]
    assert missing_cells(config, tmp_path) == {(8.0, 1): [0.1, 0.5], (2.0, 1): [0.1]}


def test_a_damaged_manifest_reads_as_empty(tmp_path):
    (tmp_path / MANIFEST_FILE).write_bytes(b'{"trials": [[8.0, \xff')
    assert read_manifest(tmp_path) == {}


def test_the_launchers_manifest_is_written_atomically_and_a_given_up_state_is_remembered(tmp_path):
    from contract import results

    results.record_trial(tmp_path, 4, 1)
    results.record_trial(tmp_path, 4, 1)
    results.give_up_tune_state(tmp_path, "EOFError: Ran out of input")
    assert read_manifest(tmp_path) == {"trials": [[4.0, 1]], "tune_state_lost": "EOFError: Ran out of input"}
    assert results.tune_state_lost(tmp_path) == "EOFError: Ran out of input"
    assert sorted(p.name for p in tmp_path.iterdir()) == [MANIFEST_FILE]  # no temporary left


def test_a_full_disk_is_told_by_enospc_anywhere_in_the_chain_or_by_the_free_space(tmp_path, monkeypatch):
    from study.run import disk

    monkeypatch.setattr(disk.shutil, "disk_usage", lambda _: type("U", (), {"free": 3 << 20})())
    assert disk.full_disk(tmp_path) is None
    assert disk.full_disk(tmp_path, EOFError("Ran out of input")) is None
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise EOFError("Ran out of input")
    except EOFError as err:
        line = disk.full_disk(tmp_path / "study", err)
    assert line == (f"the disk holding {tmp_path / 'study'} is full (3.0 MB free); the rows already reported are "
                    "kept: free some space there and run the same command again")
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda _: type("U", (), {"free": 4096})())
    assert disk.full_disk(tmp_path).startswith(f"the disk holding {tmp_path} is full (4.0 KB free)")


def test_a_study_whose_own_experiment_holds_nothing_is_read_from_its_repairs(tmp_path):
    # The full disk: Tune's state cut short and no trial folder before the disk filled; after
    # space was freed a repair computed every cell. Before, every command refused the study.
    from analysis.load import read_study

    (tmp_path / "experiment_state-2026-12-01_00-00-00.json").write_text('{"trial_data": [["unterminated')
    for i, temperature in enumerate((2.0, 4.0)):
        _trial(tmp_path / "repair-1", f"run_trial_b_0000{i}", temperature, 0, [0.1, 0.5])
    study = read_study(tmp_path)
    assert sorted(zip(study.cells.temperature, study.cells.density)) == [(2.0, 0.1), (2.0, 0.5), (4.0, 0.1),
                                                                        (4.0, 0.5)]
    assert study.tune_state.startswith("Tune could not read the experiment state") and study.missing == 0


def test_result_lines_skip_blank_lines_and_number_the_bad_ones_from_one(tmp_path):
    from contract.folders import read_result_lines

    (tmp_path / "result.json").write_bytes(b'{"density": 0.1}\n\n[1, 2]\nnot json\n{"density": 0.5}\n')
    rows, bad = read_result_lines(tmp_path)
    assert rows == [{"density": 0.1}, {"density": 0.5}] and bad == [3, 4]


def test_a_manifest_that_is_not_a_mapping_reads_as_empty(tmp_path):
    (tmp_path / MANIFEST_FILE).write_text("[[8.0, 0]]")
    assert read_manifest(tmp_path) == {}


def test_a_trial_folder_with_unreadable_params_does_not_hide_the_ones_after_it(tmp_path):
    config = _config(search="regimes")
    (tmp_path / "run_trial_a_00000").mkdir()
    (tmp_path / "run_trial_a_00000" / "params.json").write_text("{not json")
    _trial(tmp_path, "run_trial_a_00001", 8.0, 1, [0.1])
    assert owed_trials(config, tmp_path) == [(8.0, 1)]


def test_the_manifest_keeps_every_searched_trial_and_a_screen_s_owed_cells(tmp_path):
    # Written into a study folder that does not exist yet (its parents neither), read back by what owes.
    from contract.results import owed_cells
    from contract import results

    study = tmp_path / "storage" / "study"
    results.record_trial(study, 2, 0)
    results.record_trial(study, 8, 1)
    assert read_manifest(study)["trials"] == [[2.0, 0], [8.0, 1]]
    results.record_owes(study, {(2.0, 0): [0.1], (8.0, 1): [0.1, 0.5]})
    screened = StudyConfig.model_validate({"study": {"temperatures": [2, 8], "dense_seeds": [0, 1],
                                                     "screen_epochs": 2},
                                           "pruning": {"densities": [0.1, 0.5]}, "retrain": {"epochs": 8}})
    assert owed_cells(screened, study) == {(2.0, 0): [0.1], (8.0, 1): [0.1, 0.5]}
    assert read_manifest(study)["trials"] == [[2.0, 0], [8.0, 1]]  # recording the owes kept the trials


def test_free_space_is_read_where_the_study_will_be_and_the_disk_is_full_below_the_least(tmp_path, monkeypatch):
    from study.run import disk

    assert disk.free_bytes(tmp_path / "not" / "yet") > 0  # its nearest existing parent's file system
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda _: type("U", (), {"free": disk.MIN_FREE_BYTES})())
    assert disk.full_disk(tmp_path) is None  # exactly the least is enough


@pytest.mark.parametrize("free, text", [(512, "512 bytes"), (1023, "1023 bytes"), (1024, "1.0 KB"),
                                        (1024 * 1023, "1023.0 KB"), (3 << 30, "3.0 GB"), (5 << 40, "5120.0 GB")])
def test_free_space_is_said_in_the_largest_unit_below_1024(free, text):
    from study.run.disk import _size

    assert _size(free) == text


@pytest.mark.parametrize("query", ["", "?endpoint_override=127.0.0.1:9&scheme=http"])
def test_a_study_by_uri_owes_misses_and_repairs_as_the_same_folder_on_disk(tmp_path, query):
    # file:// opens through pyarrow exactly as s3:// does (contract.store's URI branch), with a
    # query string kept at the end where S3-compatible servers need one (ignored by the local one).
    from contract import store

    _trial(tmp_path, "run_trial_a_00000", 2.0, 0, [0.1, 0.5], garbage=True)
    _trial(tmp_path, "run_trial_a_00001", 4.0, 0, [0.1])
    _trial(tmp_path / "repair-2", "run_trial_b_00000", 4.0, 0, [0.5])
    (tmp_path / "repair-x").mkdir()  # not a repair
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    (tmp_path / MANIFEST_FILE).write_text(json.dumps({"trials": [[8.0, 1]]}))
    uri = f"file://{tmp_path}{query}"
    assert store.is_uri(uri) and not store.is_uri(tmp_path)
    assert store.join(uri, "repair-2") == f"file://{tmp_path}/repair-2{query}"
    assert store.name_of(store.join(uri, "repair-2")) == "repair-2" and store.name_of(tmp_path / "a") == "a"
    assert [store.name_of(f) for f in store.subfolders(uri)] == ["repair-2", "repair-x", "run_trial_a_00000",
                                                                 "run_trial_a_00001"]
    assert store.subfolders(f"file://{tmp_path}/nowhere{query}") == []
    assert store.read_bytes(store.join(uri, "notes.txt")) == b"a file, not a folder"
    assert store.read_bytes(store.join(uri, "absent.json")) is None and store.read_bytes(store.join(uri, "repair-x")) \
        is None
    assert store.is_file(store.join(uri, "notes.txt")) and not store.is_file(store.join(uri, "repair-x"))
    config = _config()
    assert reported_cells(uri) == reported_cells(tmp_path) == {(2.0, 0, 0.1), (2.0, 0, 0.5), (4.0, 0, 0.1),
                                                               (4.0, 0, 0.5)}
    assert missing_cells(config, uri) == missing_cells(config, tmp_path)
    assert read_manifest(uri) == {"trials": [[8.0, 1]]}
    assert next_repair_name(uri) == "repair-3"
    assert owed_trials(_config("random"), uri) == [(8.0, 1), (2.0, 0), (4.0, 0)]  # the manifest's, then the folders'


def test_a_trials_study_is_its_experiment_or_the_folder_above_a_repair(tmp_path):
    from contract.folders import study_of_experiment

    assert study_of_experiment(tmp_path / "tiny") == tmp_path / "tiny"
    assert study_of_experiment(tmp_path / "tiny" / "repair-12") == tmp_path / "tiny"
    assert study_of_experiment(str(tmp_path / "tiny" / "repair-x")) == tmp_path / "tiny" / "repair-x"  # not a repair
