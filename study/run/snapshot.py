"""The study's own copy of its config (`regimes_config.json`): written atomically, read strictly.

The launcher refuses to resume a study with a different config; the snapshot is what it compares
against, so a crash or a full disk must never leave half of one, and a damaged one is one line.
"""

from __future__ import annotations

import json
from pathlib import Path

from contract.config import StudyConfig
from contract.saved import CONFIG_FILE, read_saved_config
from contract.store import join, read_bytes, write_atomically, write_bytes
from study.config import StudyError, is_uri

# Where a study lives (its storage root, and its data's folder on this machine): not part of what
# it computes, so a study moved or copied to another root or machine resumes there.
PLACES = (("study", "storage"), ("data", "root"))
# How long a trial may go without progress: a study whose trials were taken as hung may be resumed
# with more (its trials read it from the snapshot, `trainables.trial`).
NOT_COMPARED = PLACES + (("resources", "trial_timeout_s"),)


def same_config(saved: dict, config: StudyConfig) -> bool:
    """Return True when snapshot `saved` is `config`, read as a study is read back.

    A snapshot written before a key was added (its default, or what ABSENT_IN_EARLIER_VERSIONS
    says such studies ran with) is the same config; a key this version cannot read is a difference.
    Where the study lives and its trials' timeout (`NOT_COMPARED`) are not compared: a study moved
    or copied, or resumed with a longer timeout, is the same study.
    """
    now = _placeless(config.model_dump(mode="json"))
    if _placeless(saved) == now:
        return True
    then, dropped = read_saved_config(saved)
    return not dropped and _placeless(then.model_dump(mode="json")) == now


def run_settings_changed(saved: dict, config: StudyConfig) -> bool:
    """Return True when snapshot `saved` says another place or timeout (`NOT_COMPARED`) than `config`."""
    now = config.model_dump(mode="json")
    return any(isinstance(saved.get(section), dict) and saved[section].get(key) != now[section][key]
               for section, key in NOT_COMPARED)


def _placeless(raw: dict) -> dict:
    # A config dict without the keys that say where the study lives.
    return {name: ({k: v for k, v in section.items() if (name, k) not in NOT_COMPARED} if isinstance(section, dict)
                   else section) for name, section in raw.items()}


def saved_config(path: str) -> dict | None:
    """Return the study's config snapshot at `path`, None when it has none.

    Raises:
        StudyError: the snapshot is not UTF-8 JSON (one line: restore it, or --fresh).
    """
    if is_uri(path):
        text = read_bytes(join(path, CONFIG_FILE))
    else:
        file = Path(path) / CONFIG_FILE
        text = file.read_bytes() if file.is_file() else None
    if text is None:
        return None
    try:
        saved = json.loads(text)
    except ValueError as err:  # not UTF-8 or not JSON
        saved = err
    if not isinstance(saved, dict):
        raise StudyError(f"{join(path, CONFIG_FILE)}: the study's saved config is damaged ({str(saved)[:80]}); "
                         "restore it from a copy, or start a new study with --fresh")
    return saved


def save_config(path: str, config: StudyConfig) -> None:
    """Write the resolved config beside Tune's files, atomically: a resume compares against it."""
    text = json.dumps(config.model_dump(mode="json"), indent=2)
    if is_uri(path):
        write_bytes(join(path, CONFIG_FILE), text.encode())
        return
    Path(path).mkdir(parents=True, exist_ok=True)
    write_atomically(Path(path) / CONFIG_FILE, text.encode())
