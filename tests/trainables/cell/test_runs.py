import pytest

from contract.config import DataSection, DenseSection, RetrainSection
from trainables.cell.runs import dense_run, retrain_run

PAPER = DenseSection()  # the paper's schedule: 160 epochs, drops at 80 and 120, batch 64, 62,400 iterations
DATA = DataSection()


def test_epochs_knob_takes_the_first_e_epochs_of_the_full_schedule():
    run = dense_run("epochs", 90, dense=PAPER, data=DATA, n_train=50_000)
    assert run.steps == 90 * 782  # ceil(50,000 / 64) steps per epoch
    assert run.schedule.total_steps == 160 * 782 and run.schedule.milestones == (80 * 782, 120 * 782)
    assert (run.batch_size, run.sam_rho, run.drop_last) == (64, 0.0, False)
    assert (run.momentum, run.weight_decay, run.augment) == (0.9, 1e-4, True)


def test_batch_size_knob_trains_a_fixed_number_of_iterations_dropping_partial_batches():
    run = dense_run("batch_size", 16, dense=PAPER, data=DATA, n_train=50_000)
    assert (run.steps, run.batch_size, run.drop_last) == (62_400, 16, True)
    assert run.schedule.milestones == (31_200, 46_800) and run.schedule.steps_per_epoch == 3125


@pytest.mark.parametrize("knob,value,field", [("sam_rho", 0.4, "sam_rho"), ("lr", 0.05, "lr")])
def test_sam_rho_and_lr_knobs_replace_their_field_and_run_the_whole_schedule(knob, value, field):
    run = dense_run(knob, value, dense=PAPER, data=DATA, n_train=50_000)
    assert run.steps == 160 * 782
    assert (run.sam_rho if field == "sam_rho" else run.schedule.lr) == value


def test_an_unknown_knob_is_refused():
    with pytest.raises(ValueError, match="unknown knob 'heat'"):
        dense_run("heat", 1, dense=PAPER, data=DATA, n_train=10)


def test_retraining_is_plain_sgd_on_the_whole_retraining_schedule():
    retrain = RetrainSection(epochs=8, milestones=[4, 6], lr=0.1, batch_size=64, weight_decay=5e-4)
    run = retrain_run(retrain=retrain, data=DataSection(augment=False), n_train=4000)
    assert run.schedule.steps_per_epoch == 63 and run.steps == 8 * 63  # ceil(4,000 / 64)
    assert run.schedule.milestones == (4 * 63, 6 * 63) and run.epochs == 8
    assert (run.sam_rho, run.drop_last, run.augment, run.weight_decay) == (0.0, False, False, 5e-4)
