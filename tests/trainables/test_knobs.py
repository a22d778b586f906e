import pytest

from trainables.knobs import resolve_dense_run

PAPER = {"epochs": 160, "milestones": [80, 120], "lr": 0.1, "gamma": 0.1, "batch_size": 64, "sam_rho": 0.0,
         "iterations": 62_400, "milestone_fractions": [0.5, 0.75]}


def test_epochs_knob_takes_the_first_e_epochs_of_the_full_schedule():
    run = resolve_dense_run("epochs", 90, n_train=50_000, **PAPER)
    assert run.steps == 90 * 782  # ceil(50,000 / 64) steps per epoch
    assert run.schedule.total_steps == 160 * 782 and run.schedule.milestones == (80 * 782, 120 * 782)
    assert (run.batch_size, run.sam_rho, run.drop_last) == (64, 0.0, False)


def test_batch_size_knob_trains_a_fixed_number_of_iterations_dropping_partial_batches():
    run = resolve_dense_run("batch_size", 16, n_train=50_000, **PAPER)
    assert (run.steps, run.batch_size, run.drop_last) == (62_400, 16, True)
    assert run.schedule.milestones == (31_200, 46_800) and run.schedule.steps_per_epoch == 3125


@pytest.mark.parametrize("knob,value,field", [("sam_rho", 0.4, "sam_rho"), ("lr", 0.05, "lr")])
def test_sam_rho_and_lr_knobs_replace_their_field_and_run_the_whole_schedule(knob, value, field):
    run = resolve_dense_run(knob, value, n_train=50_000, **PAPER)
    assert run.steps == 160 * 782
    assert (run.sam_rho if field == "sam_rho" else run.schedule.lr) == value


def test_an_unknown_knob_is_refused():
    with pytest.raises(ValueError, match="unknown knob 'heat'"):
        resolve_dense_run("heat", 1, n_train=10, **PAPER)
