"""The trial's state between densities: what its checkpoint holds, typed and versioned.

A trial writes one checkpoint per finished density (Ray's idiom: `tune.report(row,
checkpoint=...)`), holding the dense model's weights and what is known of its training, plus the
densities done, so that a retried or resumed trial skips the dense run and continues at the first
unfinished density. Version 0 is the untyped dict of studies written before this type; it holds
the same keys as version 1. Version 2 added `dense_val_acc` (NaN when read from an earlier one).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

STATE_FILE = "trial_state.pt"
STATE_VERSION = 2


class TrialStateError(RuntimeError):
    """A checkpoint holds no trial state this version can read; the message says which and why."""


class TrialStateDamaged(TrialStateError):
    """The checkpoint's state file exists but its bytes do not load (truncated, overwritten)."""


@dataclass
class TrialState:
    """A trial's progress and its dense model.

    Attributes:
        dense_state: the dense model's state_dict (CPU tensors).
        dense_diverged: the dense run's loss turned non-finite.
        dense_test_acc: the dense model's test accuracy, 0-1 (NaN if it diverged).
        seconds_dense: dense training by this trial, seconds.
        seconds_dense_wait: waiting for another trial's share of the shared dense run, seconds.
        dense_epochs_trained: dense epochs this trial trained itself.
        finished: the densities done, in the order they were reported.
        grid: the main metrics of every finished density as flat keys (`contract.row.grid_keys`),
            reported with each row so that Tune's last result of a trial holds its whole grid.
        dense_val_acc: the dense model's validation accuracy, 0-1 (NaN without a validation split).
        resumed: read back from a checkpoint (not saved): faults are injected only in a first run.
    """

    dense_state: dict[str, torch.Tensor]
    dense_diverged: bool
    dense_test_acc: float
    seconds_dense: float
    seconds_dense_wait: float
    dense_epochs_trained: float
    finished: list[float] = field(default_factory=list)
    grid: dict[str, float] = field(default_factory=dict)
    dense_val_acc: float = math.nan
    resumed: bool = False

    def save(self, folder: str | Path) -> None:
        """Write the state into `folder` (a checkpoint's directory)."""
        saved = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "resumed"}
        saved["dense_state"] = {k: v.detach().cpu() for k, v in self.dense_state.items()}
        torch.save({"version": STATE_VERSION, **saved}, Path(folder) / STATE_FILE)

    @classmethod
    def load(cls, folder: str | Path) -> "TrialState":
        """Return the state saved in `folder`, marked resumed.

        Raises:
            TrialStateError: no state file there, a newer version's, or one missing a key;
                TrialStateDamaged when its bytes do not load.
        """
        path = Path(folder) / STATE_FILE
        if not path.is_file():
            raise TrialStateError(f"{path}: the checkpoint holds no {STATE_FILE}")
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError, OSError for bad bytes
            raise TrialStateDamaged(f"{path}: the trial state does not load ({type(err).__name__}: "
                                    f"{str(err).splitlines()[0][:120] if str(err) else ''})") from None
        if not isinstance(saved, dict):
            raise TrialStateDamaged(f"{path}: the trial state is a {type(saved).__name__}, not a dict")
        version = saved.pop("version", 0)
        if version > STATE_VERSION:
            raise TrialStateError(f"{path}: trial state version {version} is newer than this code's "
                                  f"{STATE_VERSION}; resume with the version that wrote it")
        fields = [f for f in dataclasses.fields(cls) if f.name != "resumed"]
        missing = [f.name for f in fields if f.name not in saved and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        if missing:
            raise TrialStateError(f"{path}: trial state lacks {', '.join(missing)}")
        return cls(**{f.name: saved[f.name] for f in fields if f.name in saved}, resumed=True)
