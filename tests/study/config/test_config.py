import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from study.config import ConfigError, load_config, parse_overrides
from tests.conftest import ROOT

CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_validates_and_builds_a_param_space(path):
    from study.config.paths import cells_total
    from study.run.cluster import build_param_space

    config = load_config(path, check_paths=False)
    space = build_param_space(config)
    if config.study.search == "grid" and config.seeds.max_seeds is None:
        assert space["temperature"] == {"grid_search": list(config.study.temperatures)}
    else:  # the searcher suggests temperature and dense seed
        assert "temperature" not in space and "dense_seed" not in space
    assert space["study_config"]["pruning"]["densities"] == list(config.pruning.densities)
    budget = min(config.study.max_trials or len(config.study.temperatures), len(config.study.temperatures))
    seeds = config.seeds.max_seeds or len(config.study.dense_seeds)  # a study that adds seeds: at most max_seeds
    assert cells_total(config) == budget * seeds * len(config.pruning.densities)
    assert Path(config.study.storage).is_absolute()


def test_demo_fast_is_the_demo_with_its_levers_and_nothing_else():
    demo, fast = (load_config(ROOT / f"configs/{name}.yaml", check_paths=False) for name in ("demo", "demo_fast"))
    levers = {"study": {"name": "demo_fast", "dense_seeds": [0, 1], "search": "regimes", "screen_epochs": 1},
              "seeds": {"max_seeds": 6, "margin": 0.02}}
    expected = demo.model_dump()
    for section, values in levers.items():
        expected[section].update(values)
    assert fast.model_dump() == expected


def test_paper_configs_carry_the_paper_settings():
    epochs = load_config(ROOT / "configs/cifar10_epochs.yaml", check_paths=False)
    assert epochs.study.temperatures == [float(e) for e in range(10, 161, 10)]
    assert (epochs.dense.milestones, epochs.dense.lr, epochs.dense.batch_size) == ([80, 120], 0.1, 64)
    assert epochs.pruning.densities == [0.05, 0.06, 0.07, 0.08, 0.1, 0.14, 0.2, 0.4, 0.8]
    assert (epochs.retrain.epochs, epochs.retrain.copies, epochs.metrics.cka_examples) == (160, 3, 6464)
    batch = load_config(ROOT / "configs/cifar10_batch_size.yaml", check_paths=False)
    assert (batch.dense.iterations, batch.dense.milestone_fractions) == (62_400, [0.5, 0.75])


def _problems(tmp_path, text, overrides=None):
    path = tmp_path / "study.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path, overrides)
    return err.value.problems


def test_every_field_problem_is_listed_with_its_key(tmp_path):
    problems = _problems(tmp_path, "study:\n  storag: x\npruning:\n  densities: [0.5, 1.5]\nretrain:\n  epochs: '20'\n")
    assert len(problems) == 3
    assert "study.storag: unknown key (did you mean study.storage?)" in problems[0]
    assert "pruning.densities.1: got 1.5" in problems[1]
    assert "retrain.epochs: got '20'" in problems[2]
    assert all(p.startswith(str(tmp_path / "study.yaml")) for p in problems)


@pytest.mark.parametrize("text,fragment", [
    ("study:\n  temperatures: []\n", "study.temperatures"),
    ("retrain:\n  copies: 1\n", "retrain.copies: LMC and CKA compare copies"),
    ("pruning:\n  densities: [0]\n", "pruning.densities.0: got 0"),
    ("study:\n  knob: heat\n", "study.knob: got 'heat'"),
    ("study:\n  temperatures: [170]\n", "past the end of the dense schedule"),
    ("data:\n  name: cifar10\n  root: /no/such/folder\n", "data.root: folder '/no/such/folder' does not exist"),
    ("study: [1, 2\n", "not valid YAML at line"),
    ("- a\n- b\n", "the top level must be a mapping"),
    ("study:\n  max_trials: 4\n", "study.max_trials: only a search chooses trials"),
    ("study:\n  search: regimes\n  target_densities: [0.3]\n", "study.target_densities: [0.3] not in pruning"),
    ("study:\n  search: bisect\n", "study.search: got 'bisect'"),
    ("data:\n  name: torchvision/Nope\n", "data.name: torchvision.datasets has no dataset 'Nope'"),
    ("data:\n  name: fashion\n", "data.name: got 'fashion'; use one of cifar10"),
    ("model:\n  name: torchvision/resnet1\n", "model.name: torchvision has no model 'resnet1' (close: resnet101"),
    ("study:\n  search: regimes\nmetrics:\n  cka: false\n", "regimes reads mc and CKA"),
    ("pruning:\n  densities: [0.1, 0.2, 0.1]\n", "pruning.densities: 0.1 is listed 2 times; list each density once"),
    ("study:\n  temperatures: [20, 10, 20, 20]\n", "study.temperatures: 20 is listed 3 times; list each temperature"),
    ("study:\n  dense_seeds: [0, 0]\n", "study.dense_seeds: 0 is listed 2 times; list each seed once"),
    ("study:\n  dense_seeds: [99999999999999999999]\n", "study.dense_seeds.0: got 99999999999999999999; input "
                                                        "should be less than 9223372036854775808"),
    ("study:\n  temperatures: [2, .inf]\n", "study.temperatures.1: got inf; input should be a finite number"),
    ("study:\n  name: ..\n", "study.name: got '..', which is not a folder of its own"),
    ("study:\n  name: a/b\n", "study.name: got 'a/b'; string should match pattern"),
    (f"study:\n  name: {'x' * 300}\n", "study.name: got 'xxx"),
    ("study:\n  storage: ''\n", "study.storage: got ''; string should have at least 1 character"),
    ("retrain:\n  epochs: 8\n  milestones: [4, 8]\n", "retrain.milestones: [8] at or past the end of the 8-epoch "
                                                       "schedule never drop the learning rate"),
    ("dense:\n  epochs: 20\n  milestones: [10, 25]\nstudy:\n  temperatures: [10]\n", "dense.milestones: [25]"),
    ("study:\n  name: a\n  name: b\n", "at line 3, column 3: key 'name' is given twice in one section; keep one"),
    ("study:\n  temperatures: [" + ", ".join(str(t) for t in range(1, 10_002)) + "]\ndense:\n  epochs: 10001\n"
     "  milestones: [10000]\n", "10,001 temperatures x 1 dense seed = 10,001 trials, more than Tune can enumerate"),
    ("study:\n  knob: lr\n  temperatures: [0, 0.1]\n", "learning rates must be > 0, got [0.0, 0.1]"),
    ("study:\n  criterion: regime+val\n", "study.criterion: regime+val reads validation accuracy and data.validation "
     "is 0; set data.validation (e.g. 0.1), or use regime"),
    ("study:\n  screen_epochs: 8\nretrain:\n  epochs: 8\n", "study.screen_epochs: 8 is not shorter than the full "
     "retraining budget (retrain.epochs = 8); a screen must be cheaper: use fewer epochs, or remove it"),
    ("study:\n  screen_epochs: 2\nretrain:\n  epochs: 8\nmetrics:\n  cka: false\n", "study.screen_epochs: the "
     "screen tells the regimes apart by mc and CKA; set metrics.lmc and metrics.cka to true, or remove the screen"),
    ("study:\n  target_densities: [0.1]\n", "study.target_densities: only a search chooses trials; set study.search: "
     "regimes, random or optuna, or remove it"),
    ("study:\n  search: regimes\nmetrics:\n  lmc: false\n", "study.search: regimes reads mc and CKA; set metrics.lmc "
     "and metrics.cka to true"),
    ("study:\n  search: optuna\n", "study.search: optuna maximises validation accuracy and data.validation is 0; set "
     "data.validation (e.g. 0.1), or search with random or regimes"),
    ("study:\n  dense_seeds: [0, 1, 2]\nseeds:\n  max_seeds: 3\n", "seeds.max_seeds: 3 is not more than the 3 "
     "study.dense_seeds, so no seed would be added; raise it (e.g. 6) or remove it"),
    ("seeds:\n  max_seeds: 3\nmetrics:\n  lmc: false\n", "seeds.max_seeds: seeds go where an mc call is uncertain "
     "and metrics.lmc is false"),
    ("seeds:\n  margin: -0.1\n", "seeds.margin"),
])
def test_bad_input_names_the_problem(tmp_path, text, fragment):
    problems = _problems(tmp_path, text)
    assert len(problems) == 1 and fragment in problems[0], problems


def test_the_batch_size_knob_ignores_dense_milestones_it_does_not_use(tmp_path):
    path = tmp_path / "b.yaml"
    path.write_text("study:\n  knob: batch_size\n  temperatures: [32]\ndata:\n  name: synthetic\n"
                    "dense:\n  epochs: 10\n  iterations: 100\n")  # milestones stay [80, 120]: unused
    assert load_config(path).dense.milestones == [80, 120]


def test_a_config_file_that_is_not_text_is_one_line(tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"study:\n  name: \xff\xfe\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.problems == [f"{path}: not a UTF-8 text file (byte 15 is 0xff); give the study's YAML file"]


def test_overrides_replace_file_values_and_are_checked(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("data:\n  name: synthetic\nretrain:\n  epochs: 5\n")
    config = load_config(path, parse_overrides(["retrain.epochs=20", "pruning.densities=[0.1, 0.2]"]))
    assert config.retrain.epochs == 20 and config.pruning.densities == [0.1, 0.2]
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_overrides(["retrain.epochs"])
    with pytest.raises(ConfigError, match="retrain.epoch: unknown key"):
        load_config(path, parse_overrides(["retrain.epoch=3"]))
    with pytest.raises(ConfigError) as err:  # before: "study.storage: got None"
        parse_overrides(["study.storage="])
    assert err.value.problems == ["--set study.storage=: no value after '='; give one, or write study.storage=null "
                                  "for none"]
    assert parse_overrides(["study.max_trials=null"]) == {"study.max_trials": None}


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "study.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)


def test_cli_rejects_a_bad_config_with_one_line_and_status_2_before_ray(tmp_path):
    (tmp_path / "bad.yaml").write_text("study:\n  knob: epochs\n  temperatures: [10]\n  nmae: x\n")
    result = _cli("run", "bad.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "regimes: error: bad.yaml: study.nmae: unknown key (did you mean study.name?); remove it or fix its spelling"]
    assert not (tmp_path / "studies").exists()  # nothing started, nothing written


def test_an_empty_cifar_root_is_one_line_and_status_2_before_ray(tmp_path):
    # The case of the architecture issue: data.root exists but holds no CIFAR files. Before, Ray
    # started and every trial failed and was retried; now the config check stops it.
    (tmp_path / "empty").mkdir()
    code = ("import sys; from study.cli import main; status = main(sys.argv[1:]); "
            "print('ray imported' if 'ray' in sys.modules else 'no ray'); sys.exit(status)")
    result = subprocess.run([sys.executable, "-c", code, "run", str(ROOT / "configs/cifar10_epochs.yaml"),
                             "--set", "data.root=empty", "--set", "resources.gpu=0", "--set", "resources.device=cpu",
                             "--fresh"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2 and result.stdout == "no ray\n"
    folder = tmp_path / "empty" / "cifar-10-batches-py"
    assert result.stderr == (f"regimes: error: {ROOT / 'configs/cifar10_epochs.yaml'}: data.root: cifar10: {folder} has "
                             "no readable data_batch_1 (and 5 more of its 6 files); download the CIFAR python version "
                             "from https://www.cs.toronto.edu/~kriz/cifar.html and extract it under "
                             f"{tmp_path / 'empty'}, or set data.download: true on a machine with network access\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]  # nothing written


def test_cli_help_for_every_subcommand(tmp_path):
    for command in ([], ["run"], ["status"], ["ls"]):
        result = _cli(*command, "--help", cwd=tmp_path)
        assert result.returncode == 0 and "usage: regimes" in result.stdout


def test_bad_command_lines_exit_2_with_one_line_before_ray_and_write_nothing(tmp_path):
    # Each command line in a fresh interpreter state would cost seconds; one subprocess runs them
    # all through main() and reports each exit status, stderr and whether Ray was imported.
    (tmp_path / "a_file").write_text("")
    tiny = str(ROOT / "configs/tiny.yaml")
    lines = {
        "empty storage": ["run", tiny, "--storage="],
        "two storages": ["run", tiny, "--storage", "x", "--set", "study.storage=y"],
        "unknown scheme": ["run", tiny, "--storage", "foo://bar/baz"],
        "study is a file": ["run", tiny, "--storage", ".", "--set", "study.name=a_file"],
        "too many cpus": ["run", tiny, "--storage", "s", "--set", f"resources.cpu={(os.cpu_count() or 1) + 1}"],
        "nobody at the address": ["run", tiny, "--storage", "s", "--address", "127.0.0.1:1"],
        "negative confidence": ["select", "s/tiny", "--density", "0.5", "--confidence", "-1"],
        "nan threshold": ["select", "s/tiny", "--density", "0.5", "--mc-threshold", "nan"],
        "negative cka eps": ["validate", "s/tiny", "--cka-eps", "-5"],
        "density 0": ["select", "s/tiny", "--density", "0"],
    }
    code = ("import contextlib, io, json, sys\nfrom study.cli import main\nout = {}\n"
            f"for name, args in {lines!r}.items():\n"
            "    err = io.StringIO()\n"
            "    with contextlib.redirect_stderr(err):\n"
            "        try:\n            status = main(args)\n        except SystemExit as stop:\n"
            "            status = stop.code\n"
            "    out[name] = [status, err.getvalue().strip().splitlines()[-1:], 'ray' in sys.modules]\n"
            "print(json.dumps(out))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    cpus = os.cpu_count() or 1
    expected = {
        "empty storage": "regimes: error: --storage is empty; give a directory or an s3:// / gs:// URI, or leave it "
                         "out",
        "two storages": "regimes: error: --storage x and --set study.storage=y disagree; give one of them",
        "unknown scheme": "regimes: error: study.storage: foo:// is not a storage Ray Tune can write to; use a "
                          "directory or one of s3://, gs://, gcs://, hdfs://, viewfs://, abfs://, abfss://, file://",
        "study is a file": f"regimes: error: study.name: {tmp_path / 'a_file'} is a file, not a study folder; choose "
                           "another study.name or move the file",
        "too many cpus": f"regimes: error: resources.cpu: a trial asks for {cpus + 1} CPUs and this machine has "
                         f"{cpus}; lower resources.cpu, or join a larger cluster with --address",
        "nobody at the address": "regimes: error: --address 127.0.0.1:1: nothing answers there (Connection refused); "
                                 "start the cluster with `ray start --head` or check the address",
        "negative confidence": "regimes select: error: argument --confidence: got -1; give a finite number at least 0",
        "nan threshold": "regimes select: error: argument --mc-threshold: got nan; give a finite number in [-1, 1]",
        "negative cka eps": "regimes validate: error: argument --cka-eps: got -5; give a finite number in [0, 1]",
        "density 0": "regimes select: error: argument --density: got 0; give a finite number in (0, 1]",
    }
    assert {name: (status, last) for name, (status, last, _) in got.items()} == \
        {name: (2, [line]) for name, line in expected.items()}
    assert not any(ray for _, _, ray in got.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]  # no storage folder made


def test_a_bad_argument_is_one_line_without_the_usage_block(capsys):
    from study.cli import main

    assert main(["select", "studies/x", "--density", "2"]) == 2
    assert capsys.readouterr().err == "regimes select: error: argument --density: got 2; give a finite number in " \
                                      "(0, 1]\n"


def test_numbers_in_scientific_notation_are_numbers_in_a_file_and_in_set(tmp_path):
    # YAML 1.1 (PyYAML) reads 1e-3 (an exponent without a dot) as a string.
    path = tmp_path / "s.yaml"
    path.write_text("study:\n  knob: lr\n  temperatures: [1e-3, 5E-3, 2.5e-2]\ndata:\n  name: synthetic\n")
    config = load_config(path, parse_overrides(["dense.weight_decay=5e-4"]))
    assert config.study.temperatures == [0.001, 0.005, 0.025] and config.dense.weight_decay == 0.0005
    assert load_config(path, parse_overrides(["study.name=1e3x"])).study.name == "1e3x"  # not a number: a name


def test_a_long_list_of_bad_entries_is_twenty_lines_and_a_count(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("study:\n  knob: lr\n  temperatures: [" + ", ".join(f"'t{i}'" for i in range(100)) + "]\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert len(err.value.problems) == 21 and err.value.problems[-1] == f"{path}: ... and 80 more problems (fix " \
                                                                       "these first)"


def test_alpha_pruning_is_refused_in_one_line_where_it_cannot_spread_or_eps_is_out_of_range():
    tiny = ROOT / "configs" / "tiny.yaml"
    # The MLP's prunable layers are its two hidden linears, modules "1" and "4": excluding "1" leaves one.
    one_layer = parse_overrides(["model.name=mlp", "pruning.method=alpha", 'pruning.exclude=["1"]'])
    with pytest.raises(ConfigError) as err:
        load_config(tiny, one_layer)
    assert err.value.problems == [f"{tiny}: pruning.method: alpha spreads the target density over the prunable "
                                  "layers by their heavy-tail exponents, and mlp has 1 prunable layer here; use "
                                  "uniform, or prune more layers (pruning.include_fc, pruning.exclude)"]
    for eps in ("1", "-0.1"):
        with pytest.raises(ConfigError) as err:
            load_config(tiny, parse_overrides(["pruning.method=alpha", f"pruning.alpha_eps={eps}"]))
        assert len(err.value.problems) == 1 and "pruning.alpha_eps" in err.value.problems[0]
    config = load_config(tiny, parse_overrides(["model.name=mlp", "pruning.method=alpha"]))
    assert config.pruning.method == "alpha" and config.pruning.alpha_eps == 0.3  # AlphaPruning's default


def test_answering_by_validation_needs_a_split_and_is_accepted_with_one():
    from contract.config import StudyConfig

    with pytest.raises(ValueError, match="study.criterion: val reads validation accuracy"):
        StudyConfig.model_validate({"study": {"criterion": "val"}})
    for criterion in ("val", "regime+val"):
        config = StudyConfig.model_validate({"study": {"criterion": criterion}, "data": {"validation": 0.1}})
        assert config.criterion == criterion
    screened = StudyConfig.model_validate({"study": {"screen_epochs": 7}, "retrain": {"epochs": 8}})
    assert screened.study.screen_epochs == 7


def test_a_search_with_what_it_needs_is_accepted():
    from contract.config import StudyConfig

    tpe = StudyConfig.model_validate({"study": {"search": "optuna", "target_densities": [0.05]},
                                      "data": {"validation": 0.1}, "pruning": {"densities": [0.05, 0.5]}})
    assert tpe.targets == [0.05]
