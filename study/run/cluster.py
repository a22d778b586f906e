"""What Ray and Tune are given: the cluster joined and checked, and the param_space every trial receives."""

from __future__ import annotations

import ray
from ray import tune

from contract.store import is_uri
from contract.trial import param_space_keys
from study.config import StudyConfig, StudyError, study_path


def base_space(config: StudyConfig, version: str, dense_cache: str | None = None) -> dict:
    """Return what every trial receives besides its point: config, code, shared dense folder, dense cache."""
    path = study_path(config)
    shared = f"{path}/dense_prefix" if config.study.knob == "epochs" and not is_uri(path) else None
    return {"study_config": config.model_dump(mode="json"), "code_version": version, "dense_prefix": shared,
            "dense_cache": dense_cache}


def build_param_space(config: StudyConfig, version: str = "unknown", dense_cache: str | None = None) -> dict:
    """Return Tune's param_space: the resolved config for every trial, a grid over temperature x dense seed.

    For the epochs knob on a local (or shared) file system, "dense_prefix" names the folder in
    which the trials of one dense seed share one dense run (`trainables.run.dense_prefix`). A search
    (study.search: regimes, random, optuna) leaves temperature and dense_seed to its searcher.
    """
    space = base_space(config, version, dense_cache)
    if not config.chooses_trials and config.study.screen_epochs is None:
        space.update(temperature=tune.grid_search(list(config.study.temperatures)),
                     dense_seed=tune.grid_search(list(config.study.dense_seeds)))
    unknown = set(space) - set(param_space_keys())
    if unknown:  # a key the trial would ignore: a bug here, not a user's error
        raise RuntimeError(f"param_space keys {sorted(unknown)} are not TrialInput fields (contract/trial.py)")
    return space


def connect(address: str | None, *, verbose: int = 0) -> None:
    """Start an embedded local Ray (address None) or join the cluster at `address` ("auto", ray://...)."""
    if ray.is_initialized():
        return
    import logging

    kwargs = {"include_dashboard": False, "logging_level": logging.INFO if verbose else logging.WARNING,
              "log_to_driver": bool(verbose)}
    ray.init(address=address or "local", **kwargs)


def cluster_resources(address: str) -> dict:
    """Return the CPUs, GPUs and memory of the Ray cluster at `address` (for `regimes plan`)."""
    connect(address)
    return dict(ray.cluster_resources())


def check_resources(config: StudyConfig) -> None:
    """Raise StudyError when a trial asks for more CPUs or GPUs than the cluster has (Tune would wait forever)."""
    have = ray.cluster_resources()
    cpu, gpu = config.resources.cpu, config.resources.gpu
    if gpu > have.get("GPU", 0):
        raise StudyError(f"resources.gpu: a trial asks for {gpu:g} GPU but the cluster has {have.get('GPU', 0):g}; "
                         "set resources.gpu: 0 or join a cluster with GPUs (--address)")
    if cpu > have.get("CPU", 0):
        raise StudyError(f"resources.cpu: a trial asks for {cpu:g} CPUs but the cluster has {have.get('CPU', 0):g}; "
                         f"lower resources.cpu")


def check_storage(config: StudyConfig) -> None:
    """Raise StudyError for a local storage path on a cluster of several nodes not declared shared.

    Ray Tune (2.x) does not sync results between nodes: each trial writes to storage_path from
    its own node, so a path only the head sees would lose the other nodes' results (DESIGN.md 6.3).
    """
    nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    if nodes > 1 and not is_uri(config.study.storage) and not config.study.shared_storage:
        raise StudyError(f"study.storage: {config.study.storage!r} is a local path and the cluster has {nodes} "
                         "nodes, which write results from where their trials run; use a URI (s3://bucket/prefix) "
                         "or a file system every node mounts and set study.shared_storage: true")
