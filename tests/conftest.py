import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def ray_cluster():
    """One embedded Ray cluster for the whole test session (never one per test)."""
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def tiny_study(ray_cluster, tmp_path_factory):
    """The tiny config (2 temperatures x 2 densities x 2 copies) run once; returns (config, outcome)."""
    from study.config import load_config
    from study.run.launch import run_study

    config = load_config(ROOT / "configs/tiny.yaml", {"study.storage": str(tmp_path_factory.mktemp("studies")),
                                                      "study.name": "clean"})
    return config, run_study(config)
