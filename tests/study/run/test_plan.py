"""`regimes plan`: the counts worked out by hand, the seconds from a calibration, the CLI's lines."""

import pytest

from study.cli import main
from study.config import load_config
from tests.conftest import ROOT
from trainables.cell.calibrate import UnitCosts, study_cost


def test_counts_and_compute_of_the_tiny_study_by_hand():
    config = load_config(ROOT / "configs/tiny.yaml")
    assert (config.dense.batch_size, config.retrain.batch_size, config.dense.epochs) == (64, 64, 4)
    costs = UnitCosts(dense_step_s=1.0, retrain_step_s=0.5, lmc_point_s=2.0, n_train=512)
    cost = study_cost(config, costs, temperatures=[2.0, 4.0])
    # 512 examples / 64 = 8 steps an epoch. Epochs knob: one shared dense run per seed to epoch 4 = 32 steps.
    # A cell: 2 retraining epochs x 8 steps x 2 copies = 32 steps, 1 pair x 3 LMC points; 2 trials x 2 densities.
    assert (cost["trials"], cost["cells"], cost["dense_steps"]) == (2, 4, 32)
    assert (cost["retrain_epochs"], cost["retrain_steps"], cost["lmc_points"]) == (16, 128, 12)
    cell = 32 * 0.5 + 3 * 2.0
    assert cost["trial_s"] == [2 * cell, 2 * cell] and cost["compute_s"] == pytest.approx(4 * cell + 32 * 1.0)


def test_the_scratch_control_adds_its_models_to_the_retraining_of_each_cell():
    config = load_config(ROOT / "configs/tiny.yaml", {"controls.scratch": True, "controls.scratch_copies": 2})
    cost = study_cost(config, UnitCosts(1.0, 0.5, 2.0, 512), temperatures=[2.0, 4.0])
    # A cell now retrains 2 copies + 2 scratch models: 2 epochs x 8 steps x 4 = 64 steps; 4 cells.
    assert (cost["retrain_epochs"], cost["retrain_steps"], cost["lmc_points"]) == (32, 256, 12)


def test_a_learning_rate_study_trains_every_dense_run_itself():
    config = load_config(ROOT / "configs/tiny.yaml", {"study.knob": "lr", "study.temperatures": [0.01, 0.1]})
    cost = study_cost(config, UnitCosts(1.0, 0.0, 0.0, 512), temperatures=[0.01, 0.1])
    assert cost["dense_steps"] == 2 * 4 * 8 and cost["trial_s"] == [32.0, 32.0]  # 4 epochs x 8 steps each


def test_regimes_plan_prints_the_counts_and_an_estimate(capsys):
    import torch

    threads = torch.get_num_threads()
    assert main(["plan", str(ROOT / "configs/tiny.yaml")]) == 0
    assert torch.get_num_threads() == threads  # calibrated with the trial's 1 thread, then restored
    printed = capsys.readouterr()
    lines = printed.out.splitlines()
    assert lines[0] == "plan for tiny: 2 temperatures x 1 dense seeds = 2 trials, 4 cells"
    assert printed.err.splitlines() == ["calibrating: dense steps (batch 64) on cpu",  # progress, on stderr
                                        "calibrating: retraining steps at density 0.1", "calibrating: LMC points"]
    assert lines[1].startswith("  dense training: 32 steps x ") and " slots: wall about 0:" in lines[4]


@pytest.mark.parametrize("pace,timed", [(1.0, 10), (0.001, 60), (100.0, 5)])
def test_calibration_times_as_many_steps_as_a_quarter_of_its_budget_holds(monkeypatch, pace, timed):
    # A warm-up of 5 steps sets the pace; then min(60, budget / 4 / pace) steps, at least 5: at 1 s
    # a step a 40 s budget times 10 steps of each run, at 1 ms all 60, at 100 s the floor of 5.
    import trainables.cell.calibrate as calibrate

    asked = []

    def fake_steps(model, data, run, masks=None, copies=1, *, steps):
        asked.append(steps)
        return pace

    monkeypatch.setattr(calibrate, "_time_steps", fake_steps)
    config = load_config(ROOT / "configs/tiny.yaml", check_paths=False)
    costs = calibrate.calibrate(config, steps=60, budget_s=40.0)
    assert asked == [5, timed, 5, timed]  # dense: warm-up, timed; retraining: warm-up, timed
    assert costs.dense_step_s == pace and costs.retrain_step_s == pace


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="tells what a machine without a GPU says")
def test_a_gpu_config_planned_without_a_gpu_is_timed_on_the_cpu_and_says_what_it_could_not_time(capsys):
    # Before: device cuda reached the calibration on a machine without CUDA and ended in a traceback.
    assert main(["plan", str(ROOT / "configs/tiny.yaml"), "--set", "resources.device=cuda",
                 "--set", "resources.gpu=1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "CPU-hours" in lines[4] and "on this machine's CPU" in lines[5]
    assert lines[-1] == ("resources.gpu: 1 but no GPU here: the estimate is for this machine's CPU; it could not "
                         "time the GPU's steps, stacked copies or trials sharing a card; run regimes plan on a GPU "
                         "node for the GPU figures")


def _fake_gpu_calibration(monkeypatch, *, alone: float, together: float):
    # A calibration that timed CUDA: 1 s a retraining copy-step alone, `together` when packed.
    import trainables.cell.calibrate as calibrate

    monkeypatch.setattr(calibrate, "_calibrate", lambda spec, **k: UnitCosts(0.5, alone, 2.0, 512, device="cuda",
                                                                              stacked=True))
    asked = []
    monkeypatch.setattr(calibrate, "packed_step_s", lambda spec, n, **k: asked.append(n) or together)
    return calibrate, asked


def test_on_cuda_a_fractional_gpu_is_timed_packed_and_every_unit_carries_the_slowdown(monkeypatch):
    calibrate, asked = _fake_gpu_calibration(monkeypatch, alone=1.0, together=2.5)
    config = load_config(ROOT / "configs/tiny.yaml", {"resources.gpu": 0.25, "resources.device": "auto"})
    costs = calibrate.calibrate(config)
    assert asked == [4]  # 1 / 0.25 trials share the card
    assert (costs.packed, costs.slowdown) == (4, 2.5)
    assert (costs.dense_step_s, costs.retrain_step_s, costs.lmc_point_s) == (1.25, 2.5, 5.0)
    whole = calibrate.calibrate(load_config(ROOT / "configs/tiny.yaml", {"resources.gpu": 1, "resources.device":
                                                                          "auto"}))
    assert asked == [4] and (whole.packed, whole.retrain_step_s) == (1, 1.0)  # a card each: nothing shared


def test_the_plan_labels_the_device_that_was_timed_and_prices_packed_trials_on_it(monkeypatch):
    import torch

    from study.run.plan import plan_lines

    _fake_gpu_calibration(monkeypatch, alone=1.0, together=2.0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    config = load_config(ROOT / "configs/tiny.yaml", {"resources.gpu": 0.5, "resources.device": "auto"})
    lines = plan_lines(config, resources={"CPU": 8.0, "GPU": 1.0})
    # 2 trials on 1 / 0.5 = 2 slots. Units doubled by packing: a cell 32 steps x 2 s + 3 points x 4 s = 76 s;
    # a trial 2 cells = 152 s; dense 32 steps x 1 s once: compute 336 s, x 0.5 GPU = 0.05 GPU-hours.
    assert "compute 336 s on 2 slots" in lines[4] and "0.05 GPU-hours" in lines[4]
    assert "on this machine's GPU" in lines[5] and "copies and LMC points stacked" in lines[5]
    assert lines[-1] == ("2 trials share a GPU (resources.gpu 0.5): timed together, each ran 2.00x slower than "
                         "alone; the figures include it")


def test_packed_trials_are_timed_in_processes_that_overlap():
    from trainables.cell.calibrate import packed_step_s

    config = load_config(ROOT / "configs/tiny.yaml")
    seconds = packed_step_s(config, 2, steps=5, budget_s=4.0)
    assert 0 < seconds < 5.0


def test_a_sam_rho_study_is_timed_at_its_largest_rho(monkeypatch):
    import trainables.cell.calibrate as calibrate

    rhos = []
    monkeypatch.setattr(calibrate, "_time_steps", lambda model, data, run, masks=None, copies=1, *, steps:
                        rhos.append(run.sam_rho) or 0.01)
    config = load_config(ROOT / "configs/tiny.yaml", {"study.knob": "sam_rho", "study.temperatures": [0.0, 0.2, 0.5]})
    calibrate.calibrate(config, steps=5)
    assert rhos[:2] == [0.5, 0.5] and rhos[2:] == [0.0, 0.0]  # dense steps with SAM at 0.5; retraining plain SGD


def test_a_trial_timeout_too_close_to_the_longest_unit_of_work_is_said_with_the_bound_to_use(monkeypatch):
    import torch

    from study.run.plan import plan_lines

    _fake_gpu_calibration(monkeypatch, alone=1.0, together=1.0)  # dense 0.5 s, a copy-step 1 s, an LMC point 2 s
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    tight = load_config(ROOT / "configs/tiny.yaml", {"resources.gpu": 1, "resources.device": "auto",
                                                     "resources.trial_timeout_s": 30})
    # 2 copies stacked: a retraining step is 2 x 1 s, as long as an LMC point; 20 x 2 s = 40 s > 30 s.
    said = [line for line in plan_lines(tight, resources={"CPU": 8.0, "GPU": 1.0})
            if line.startswith("resources.trial_timeout_s")]
    assert said == ["resources.trial_timeout_s: 30 s is less than 20 times the longest unit of work timed here "
                    "(a retraining step, 2.00 s): a slow moment would be taken for a hang; raise it to 40 s or more"]
    roomy = tight.model_copy(update={"resources": tight.resources.model_copy(update={"trial_timeout_s": 1800.0})})
    assert not [line for line in plan_lines(roomy, resources={"CPU": 8.0, "GPU": 1.0})
                if line.startswith("resources.trial_timeout_s")]


def test_a_study_that_adds_seeds_is_priced_from_its_first_seeds_to_every_seed(monkeypatch):
    import study.run.plan
    from study.run.plan import plan_lines

    monkeypatch.setattr(study.run.plan, "calibrate", lambda config, say: UnitCosts(1.0, 0.5, 2.0, 512))
    config = load_config(ROOT / "configs/tiny.yaml", {"seeds.max_seeds": 3})
    lines = plan_lines(config, resources={"CPU": 2.0, "GPU": 0.0})
    # By hand (the first test's units): a cell 32 x 0.5 + 3 x 2 = 22 s, a dense run 32 s per seed. One
    # seed: 4 cells + 1 run = 120 s; three seeds on both temperatures: 12 cells + 3 runs = 360 s.
    assert lines[0] == "plan for tiny: 2 temperatures x 1 to 3 dense seeds = 2 trials, 4 cells with the first seeds"
    assert [line for line in lines if "seeds added" in line][0].startswith(
        "  seeds added where a call is uncertain (seeds.max_seeds 3): compute 120 s (no seed added) to 360 s "
        "(every temperature with 3 seeds, 6 trials); wall about ")
