"""Reading a study's saved config leniently: another version's keys dropped, keys added since filled.

Part of the contract: the analysis side reads configs that earlier (or later) versions of the
project wrote, and the launcher compares a snapshot with today's config the same way.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from pydantic import ValidationError

from contract.config import StudyConfig

# The study's own copy of its resolved config, beside Tune's files (`study.run.snapshot` writes it).
CONFIG_FILE = "regimes_config.json"

# Settings added after studies had been run without them, and the value those studies were run
# (and read) with, which may differ from today's default: a saved config that lacks the key gets it.
ABSENT_IN_EARLIER_VERSIONS = {("metrics", "confidence"): 0.0}


def read_config_snapshot(study: str | Path) -> dict | None:
    """Return the saved config of the local study folder `study` as a dict, None where it has none readable."""
    try:
        saved = json.loads((Path(study) / CONFIG_FILE).read_bytes())
    except (OSError, ValueError):
        return None
    return saved if isinstance(saved, dict) else None


def read_saved_config(raw: dict) -> tuple[StudyConfig, list[str]]:
    """Return the StudyConfig of a study's saved config dict, and the dotted keys it had to drop.

    Lenient, for reading results: a study written by an earlier (or later) version may hold keys
    this version does not know, or values it no longer accepts; each such key is dropped (its
    default stands in, and the caller can say so) instead of making the results unreadable. A key
    added since (`ABSENT_IN_EARLIER_VERSIONS`) gets the value such studies were run with.
    Consistency checks between sections still apply to what is left; a config that still fails
    without its offending keys gives the defaults of the sections that fail.
    """
    raw = copy.deepcopy(raw)  # dropping keys leaves the caller's dict alone
    for (section, key), then in ABSENT_IN_EARLIER_VERSIONS.items():
        if isinstance(raw.get(section), dict) and key not in raw[section]:
            raw[section][key] = then
    dropped: list[str] = []
    for _ in range(64):  # each round drops at least one key, and a config has few
        try:
            return StudyConfig.model_validate(raw), dropped
        except ValidationError as err:
            located = [tuple(str(p) for p in e["loc"]) for e in err.errors() if e["loc"]]
        if not any([_drop(raw, loc, dropped) for loc in located]):  # every error dropped its key, not the first
            break
    # Each section is valid alone and only a check across sections fails (another version's rule):
    # keep the sections as they are rather than lose the study's settings.
    sections = {}
    for name, field in StudyConfig.model_fields.items():
        if isinstance(raw.get(name), dict):
            try:
                sections[name] = field.annotation.model_validate(raw[name])
            except ValidationError:
                dropped.append(name)
    return StudyConfig.model_construct(**sections), dropped + ["(checks across sections)"]


def _drop(raw: dict, loc: tuple[str, ...], dropped: list[str]) -> bool:
    # Remove the deepest mapping key on `loc` that exists (a list item takes its whole list with
    # it) and record it; False when nothing on `loc` is left to remove.
    parent, node, keys = None, raw, []
    for part in loc:
        if not isinstance(node, dict) or part not in node:
            break
        parent, node = node, node[part]
        keys.append(part)
    if parent is None:
        return False
    del parent[keys[-1]]
    dropped.append(".".join(keys))
    return True
