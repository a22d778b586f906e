"""A screened study's two stages, as the contract both sides read (the design is `study.run.screen`'s docstring).

A study with `study.screen_epochs` keeps its screen, a whole grid retrained for the short budget,
in the sub-study `STUDY/screen/` (`screen_config`), and its full-budget cells in `STUDY/` itself:
every reader of the study answers from full-budget cells. What the full stage owes is decided
once, from the finished screen, and kept in the study's manifest (`contract.results`) as "owes":
[[temperature, dense_seed, [densities]], ...]. The dense models trained by the screen are kept in
`STUDY/dense_cache/` and read back by the full stage: the retraining budget never changes them.
"""

from __future__ import annotations

from contract.config import StudyConfig

SCREEN_FOLDER = "screen"
DENSE_CACHE = "dense_cache"


def screen_config(config: StudyConfig, study: str) -> StudyConfig:
    """Return the config of the screen of the screened study `config` stored at `study`.

    The same grid and everything else, retrained for study.screen_epochs epochs: the milestones
    scaled by screen_epochs / retrain.epochs (those that land inside the shorter schedule), the
    epochs averaged for test accuracy at most the screen's; stored as `study/screen`.
    """
    short, full = config.study.screen_epochs, config.retrain.epochs
    if short is None:
        raise ValueError("screen_config: the study has no screen (study.screen_epochs)")
    milestones = sorted({round(m * short / full) for m in config.retrain.milestones} & set(range(1, short)))
    raw = config.model_dump(mode="json")
    raw["study"] |= {"name": SCREEN_FOLDER, "storage": study, "screen_epochs": None}
    raw["retrain"] |= {"epochs": short, "milestones": milestones,
                       "last_epochs": min(config.retrain.last_epochs, short)}
    return StudyConfig.model_validate(raw)
