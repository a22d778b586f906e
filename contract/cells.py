"""The one reader of a trial's reported rows: Tune's bookkeeping dropped, the last report of a density kept.

A trial reports one row per density; a trial retried after a failure can report a density again
(it resumes at the first density its checkpoint does not hold, and a row may have reached Tune
after the checkpoint was written). The last report of a density is the one its checkpoint
agrees with, so it wins, everywhere: the launcher's count of finished cells, the searcher's view
and the analysis all read rows through `finished_cells`.
"""

from __future__ import annotations

import pandas as pd

from contract.row import GRID_KEY, row_fields

# Columns Tune adds to every reported row; they are not part of a cell.
TUNE_COLUMNS = frozenset({"timestamp", "checkpoint_dir_name", "should_checkpoint", "done", "training_iteration",
                          "trial_id", "date", "time_this_iter_s", "time_total_s", "pid", "hostname", "node_ip",
                          "time_since_restore", "iterations_since_restore", "experiment_tag"})


def finished_cells(reported: pd.DataFrame | None) -> pd.DataFrame:
    """Return one row per density of one trial's reported rows: the cell's keys, the last report of a density.

    Args:
        reported: the trial's rows as Tune holds them (`Result.metrics_dataframe`,
            `ExperimentAnalysis.trial_dataframes[...]`, or result.json read line by line), or None.

    Returns:
        The cells in the order of their last report, Tune's columns, `config/...` and the trial's
        grid-so-far keys (`contract.row.GRID_KEY`) removed;
        an empty frame with the row's keys when nothing was reported.
    """
    if reported is None or reported.empty or "density" not in reported.columns:
        return pd.DataFrame(columns=row_fields())
    ours = [c for c in reported.columns if not str(c).startswith("config/") and c not in TUNE_COLUMNS
            and not GRID_KEY.match(str(c))]  # the grid-so-far keys belong to the trial, not to a cell
    return reported[ours].drop_duplicates(subset=["density"], keep="last").reset_index(drop=True)


def count_finished(results) -> int:
    """Return the cells finished by an iterable of Tune results (anything with a `metrics_dataframe`)."""
    return sum(len(finished_cells(result.metrics_dataframe)) for result in results)
