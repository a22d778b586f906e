"""The study's config snapshot: what makes two configs the same study, and where it lives."""

from contract.config import StudyConfig
from study.run.snapshot import run_settings_changed, same_config


def _config(**study) -> StudyConfig:
    return StudyConfig.model_validate({"study": {"knob": "lr", "temperatures": [0.1], "storage": "/a", **study},
                                       "data": {"root": "/data/a"}})


def test_a_study_moved_copied_or_given_a_longer_timeout_is_the_same_study_and_nothing_else_is():
    saved = _config().model_dump(mode="json")
    elsewhere = _config(storage="/b").model_copy(
        update={"data": _config().data.model_copy(update={"root": "/data/b"})})
    assert same_config(saved, elsewhere) and run_settings_changed(saved, elsewhere)
    patient = _config().model_copy(update={"resources": _config().resources.model_copy(
        update={"trial_timeout_s": 7200.0})})
    assert same_config(saved, patient) and run_settings_changed(saved, patient)
    assert same_config(saved, _config()) and not run_settings_changed(saved, _config())
    assert not same_config(saved, _config(temperatures=[0.2]))
    retries = _config().model_copy(update={"resources": _config().resources.model_copy(update={"max_failures": 5})})
    assert not same_config(saved, retries)  # restored trials keep the retries they were launched with
    earlier = {**saved, "resources": {k: v for k, v in saved["resources"].items() if k != "trial_timeout_s"}}
    assert same_config(earlier, _config(storage="/c"))  # a snapshot from before the key, moved: read leniently
