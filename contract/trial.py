"""What Ray Tune hands one trial: the study's config and the trial's point, as one typed model.

`study.run.cluster.build_param_space` writes these keys (temperature and dense_seed as a grid, or left
to a searcher) and `trainables.trial.run_trial` reads them back through `TrialInput` on its first
line, so the two sides share the names instead of spelling them twice.
"""

from __future__ import annotations

from pathlib import PurePosixPath
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


    def moved_to(self, root: str, data_root: Optional[str] = None) -> "TrialInput":
        """Return this input for a study whose storage root is now `root` and whose data is at `data_root`.

        Tune keeps each trial's config as it was first launched, so a resumed trial of a study
        moved or copied to another root still names the old one: every folder under the old root
        (the shared dense runs, a screened study's dense cache) is taken to the same place under
        `root`. `data_root` (what the study's own snapshot says now; None: as launched) replaces
        data.root. Unchanged where neither differs.
        """
        then = self.study_config.study.storage
        moved = PurePosixPath(then) != PurePosixPath(root)
        data = self.study_config.data
        if data_root is not None and data_root != data.root:
            data = data.model_copy(update={"root": data_root})
        elif not moved:
            return self
        study = self.study_config.study.model_copy(update={"storage": root}) if moved else self.study_config.study
        spec = self.study_config.model_copy(update={"study": study, "data": data})
        if not moved:
            return self.model_copy(update={"study_config": spec})
        return self.model_copy(update={"study_config": spec, "dense_prefix": _rebase(self.dense_prefix, then, root),
                                       "dense_cache": _rebase(self.dense_cache, then, root)})

    def with_trial_timeout(self, seconds: Optional[float]) -> "TrialInput":
        """Return this input with resources.trial_timeout_s `seconds` (a study resumed with another patience)."""
        resources = self.study_config.resources.model_copy(update={"trial_timeout_s": seconds})
        return self.model_copy(update={"study_config": self.study_config.model_copy(update={"resources": resources})})


def _rebase(path: Optional[str], then: str, now: str) -> Optional[str]:
    # `path` under the old root `then`, at the same place under `now`; any other path as it is.
    if path is None:
        return None
    try:
        return str(PurePosixPath(now) / PurePosixPath(path).relative_to(then))
    except ValueError:
        return path


def param_space_keys() -> list[str]:
    """Return the keys of Tune's param_space that a trial reads, in TrialInput's order."""
    return list(TrialInput.model_fields)
