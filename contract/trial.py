"""What Ray Tune hands one trial: the study's config and the trial's point, as one typed model.

`study.launch.build_param_space` writes these keys (temperature and dense_seed as a grid, or left
to a searcher) and `trainables.trial.run_trial` reads them back through `TrialInput` on its first
line, so the two sides share the names instead of spelling them twice.
"""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, ConfigDict

from contract.config import StudyConfig


class TrialInput(BaseModel):
    """One trial's input.

    Attributes:
        study_config: the whole study's resolved config.
        temperature: the knob's value for this trial, in its unit.
        dense_seed: the dense model's seed (initialisation, data order).
        code_version: package version and git commit of the launching code.
        dense_prefix: the folder where the trials of an epochs study share their dense runs, or
            None (another knob, object storage, or a study launched before the shared run).
        densities: the densities this trial computes, or None for every density of the study;
            a repair (`contract.results`) computes only the cells its study still owes.
        dense_cache: a folder where the trial finds its dense model if another stage of the
            study trained it, and leaves it otherwise (a screened study, `contract.screen`); None:
            no cache.
    """

    # Tune may add bookkeeping keys to a trial's config; they are not ours to refuse.
    model_config = ConfigDict(extra="ignore", frozen=True)

    study_config: StudyConfig
    temperature: float
    dense_seed: int
    code_version: str = "unknown"
    dense_prefix: Optional[str] = None
    densities: Optional[list[float]] = None
    dense_cache: Optional[str] = None


def param_space_keys() -> list[str]:
    """Return the keys of Tune's param_space that a trial reads, in TrialInput's order."""
    return list(TrialInput.model_fields)
