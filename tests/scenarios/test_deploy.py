"""Launching on a real cluster the Ray way: the deploy/ manifests name a config and a command that work."""

import importlib.util
import re
import shlex
import subprocess
import sys
import time

import pytest
import yaml

from study.cli import build_parser
from study.config import load_config, parse_overrides
from tests.conftest import ROOT
from tests.ray_nodes import ENV, RAY, free_port, ray_nodes

DEPLOY = ROOT / "deploy"


def _check_run_command(argv: list[str], *, image_root: str | None = None) -> None:
    # The command parses as `regimes run`, joins the cluster it runs on, stores in a bucket, and
    # names a config of this repository that validates with its overrides.
    assert argv[:2] == ["regimes", "run"], argv
    args = build_parser().parse_args(argv[1:])
    assert args.address == "auto" and args.storage.startswith("s3://")
    config = args.config.removeprefix(image_root) if image_root else args.config
    assert (ROOT / config).is_file(), config
    loaded = load_config(ROOT / config, {**parse_overrides(args.overrides), "study.storage": args.storage},
                         check_paths=False)
    assert loaded.resources.gpu > 0 and loaded.data.root.startswith("/")


def test_the_cluster_launcher_yaml_has_gpu_workers_the_project_on_every_node_and_a_job_to_submit():
    text = (DEPLOY / "aws-gpu-cluster.yaml").read_text()
    cluster = yaml.safe_load(text)
    assert cluster["provider"]["type"] == "aws"
    workers = cluster["available_node_types"]["gpu_worker"]
    assert workers["node_config"]["InstanceType"].startswith(("g", "p")) and workers["max_workers"] >= 1
    assert cluster["available_node_types"][cluster["head_node_type"]]["resources"] == {"CPU": 0}
    assert "~/three-regime-pruning" in cluster["file_mounts"]
    assert any("pip install" in c and "three-regime-pruning" in c for c in cluster["setup_commands"])
    # The submit command in the header: everything after `--` is the study's command line.
    header = " ".join(line.lstrip("#").strip().rstrip("\\") for line in text.splitlines()[:12])
    submit = re.search(r"ray job submit (.*?) -- (regimes run .*?data\S+)", header)
    assert submit, header
    _check_run_command(shlex.split(submit.group(2)))


def test_the_kuberay_rayjob_runs_a_study_on_gpu_workers_with_s3_credentials():
    job = yaml.safe_load((DEPLOY / "kuberay-rayjob.yaml").read_text())
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    spec = job["spec"]
    assert spec["shutdownAfterJobFinishes"] is True
    _check_run_command(shlex.split(spec["entrypoint"]), image_root="/home/ray/three-regime-pruning/")
    worker = spec["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert worker["envFrom"][0]["secretRef"]["name"]
    image = worker["image"].split(":")[0]
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "pip install" in dockerfile and "/home/ray/three-regime-pruning" in dockerfile and image.endswith(
        "three-regime-pruning")


NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "eight": 8}


def _stated(text: str, pattern: str) -> set[int]:
    # The trial counts a comment states, in words or digits ("four trials share one GPU").
    return {NUMBERS.get(w.lower(), None) or int(w) for w in re.findall(pattern, text, flags=re.IGNORECASE)}


def _gpu_workers() -> dict[str, tuple[float, float]]:
    # (CPUs, GPUs) Ray sees on a GPU worker of each deploy file.
    aws = yaml.safe_load((DEPLOY / "aws-gpu-cluster.yaml").read_text())["available_node_types"]["gpu_worker"]
    job = yaml.safe_load((DEPLOY / "kuberay-rayjob.yaml").read_text())
    limits = job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["resources"][
        "limits"]
    return {"aws-gpu-cluster.yaml": (float(aws["resources"]["CPU"]), float(aws["resources"]["GPU"])),
            "kuberay-rayjob.yaml": (float(limits["cpu"]), float(limits["nvidia.com/gpu"]))}


@pytest.mark.parametrize("config", sorted(p.name for p in (ROOT / "configs").glob("cifar10_*.yaml")))
def test_the_deploy_workers_pack_as_many_trials_a_gpu_as_the_configs_and_deploy_files_say(config):
    # Ray runs min(CPUs / resources.cpu, GPUs / resources.gpu) trials on a worker: with cpu 2 and
    # 4-vCPU workers the "four trials share one GPU" of the configs was two.
    loaded = load_config(ROOT / "configs" / config, check_paths=False)
    said = _stated((ROOT / "configs" / config).read_text(), r"(\w+) trials share one GPU")
    assert said, f"{config} does not say how many trials share a GPU"
    for name, (cpus, gpus) in _gpu_workers().items():
        packed = min(int(cpus // loaded.resources.cpu), int(gpus / loaded.resources.gpu + 1e-9))
        assert {packed} == said, (config, name, packed, said)
        assert _stated((DEPLOY / name).read_text(), r"run (\w+) trials a GPU") == said, name


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("aiohttp_cors") is None or importlib.util.find_spec("grpc") is None,
                    reason="the Ray job server is part of the dashboard, which needs ray[default] (not installed here)")
def test_ray_job_submit_runs_a_study_on_the_local_head(tmp_path):
    dashboard = free_port()
    # The agents' default ports (52365, ...) may be held by the test session's own cluster: free ones.
    ports = [f"--{name}={free_port()}" for name in ("dashboard-agent-listen-port", "dashboard-agent-grpc-port",
                                                   "runtime-env-agent-port", "metrics-export-port")]
    with ray_nodes(second=False, head_args=("--num-cpus=2", f"--dashboard-port={dashboard}", *ports)):
        for _ in range(15):  # the head's job agent comes up a few seconds after `ray start` returns
            submit = subprocess.run([RAY, "job", "submit", "--address", f"http://127.0.0.1:{dashboard}", "--",
                                     sys.executable, "-m", "study.cli", "run", str(ROOT / "configs/tiny.yaml"),
                                     "--address", "auto", "--storage", str(tmp_path)],
                                    env=ENV, capture_output=True, text=True, timeout=300, cwd=ROOT)
            if "No available agent to submit job" not in submit.stderr:
                break
            time.sleep(2)
    assert submit.returncode == 0, submit.stdout[-2000:] + submit.stderr[-2000:]
    assert "study complete" in submit.stdout + submit.stderr


def test_every_deploy_file_turns_token_authentication_on_and_keeps_the_dashboard_off_the_network():
    # Ray 2.60's `ray start` authenticates only with RAY_AUTH_MODE=token (a local ray.init does it
    # by default); every node and client needs the token (docs/running.md, "Cluster security").
    cluster = yaml.safe_load((DEPLOY / "aws-gpu-cluster.yaml").read_text())
    assert cluster["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    starts = [c for key in ("head_start_ray_commands", "worker_start_ray_commands") for c in cluster[key]
              if "ray start" in c]
    assert len(starts) == 2 and all(c.startswith("RAY_AUTH_MODE=token ray start") for c in starts)
    assert "--dashboard-host=127.0.0.1" in starts[0]
    job = yaml.safe_load((DEPLOY / "kuberay-rayjob.yaml").read_text())["spec"]
    cluster_spec = job["rayClusterSpec"]
    pods = [job["submitterPodTemplate"], cluster_spec["headGroupSpec"]["template"],
            *[group["template"] for group in cluster_spec["workerGroupSpecs"]]]
    for pod in pods:
        container = pod["spec"]["containers"][0]
        assert {"name": "RAY_AUTH_MODE", "value": "token"} in container["env"], container["name"]
        assert {"secretRef": {"name": "three-regime-ray-token"}} in container["envFrom"], container["name"]
    assert "serviceType" not in cluster_spec["headGroupSpec"]  # ClusterIP, KubeRay's default
    assert "EXPOSE" not in (DEPLOY / "Dockerfile").read_text()
