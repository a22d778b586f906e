"""A study's config on the driver: YAML made a validated `StudyConfig`, and what follows from it alone.

- `load`: YAML read safely, `--set` overrides, paths made absolute, every problem worded
  `file: dotted.key: what is wrong; what to write` (`errors`: ConfigError, StudyError);
- `problems`: what only the driver can check (plug-in, torchvision and timm names; checks that
  build the model or read the labels: torch, imported where needed);
- `proxy`: a proxy study's fractions applied once, at load;
- `paths`: where a study lives and how big its grid is.

The section models themselves are `contract.config`'s. Imports `contract` (and `trainables`
inside the checks that need torch); no Ray, nothing else under `study`. The names below are the
public ones, importable from `study.config` as before.
"""

from contract.config import StudyConfig
from contract.store import is_uri
from study.config.errors import ConfigError, StudyError
from study.config.load import load_config, parse_overrides, resolve_paths, validate
from study.config.paths import cells_total, fresh_name, study_path, trial_budget

__all__ = ["ConfigError", "StudyConfig", "StudyError", "cells_total", "fresh_name", "is_uri", "load_config",
           "parse_overrides", "resolve_paths", "study_path", "trial_budget", "validate"]
