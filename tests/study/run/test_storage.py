"""Where results may go on a cluster, URIs with pyarrow options, and planning without the data's files."""

import pytest

from study.config import StudyError, load_config
from study.config.paths import study_path
from study.run import cluster, plan
from contract.store import join
from study.run.storage import s3_location
from tests.conftest import ROOT
from trainables.cell.calibrate import UnitCosts, planning_data


def test_a_uri_keeps_its_pyarrow_options_at_the_end_when_joined():
    assert join("s3://b/runs?endpoint_override=127.0.0.1:9000&scheme=http", "tiny") == \
        "s3://b/runs/tiny?endpoint_override=127.0.0.1:9000&scheme=http"
    assert str(join("/data/studies/", "tiny")) == "/data/studies/tiny"
    config = load_config(ROOT / "configs/tiny.yaml", {"study.storage": "s3://b/runs?region=eu-west-1"})
    assert study_path(config) == "s3://b/runs/tiny?region=eu-west-1"
    assert s3_location("s3://b/runs/tiny/regimes.lock?endpoint_override=127.0.0.1:9000&scheme=http") == \
        ("b", "runs/tiny/regimes.lock", "http://127.0.0.1:9000")
    assert s3_location("s3://b/k") == ("b", "k", None)  # real S3: boto3 finds the endpoint itself


def test_a_local_path_on_a_cluster_of_several_nodes_is_refused_unless_declared_shared(monkeypatch, tmp_path):
    monkeypatch.setattr(cluster.ray, "nodes", lambda: [{"Alive": True}, {"Alive": True}, {"Alive": False}])
    config = load_config(ROOT / "configs/tiny.yaml", {"study.storage": str(tmp_path)})
    with pytest.raises(StudyError) as err:
        cluster.check_storage(config)
    assert str(err.value) == (f"study.storage: {str(tmp_path)!r} is a local path and the cluster has 2 nodes, which "
                              "write results from where their trials run; use a URI (s3://bucket/prefix) or a file "
                              "system every node mounts and set study.shared_storage: true")
    cluster.check_storage(load_config(ROOT / "configs/tiny.yaml", {"study.storage": str(tmp_path),
                                                                   "study.shared_storage": True}))
    cluster.check_storage(load_config(ROOT / "configs/tiny.yaml", {"study.storage": "s3://bucket/studies"}))
    monkeypatch.setattr(cluster.ray, "nodes", lambda: [{"Alive": True}])
    cluster.check_storage(config)  # one node: its local disk is where everything is written


def test_a_cifar_study_is_planned_on_inputs_of_its_shape_when_its_files_are_absent(tmp_path):
    config = load_config(ROOT / "configs/cifar10_epochs.yaml", {"data.root": str(tmp_path)}, check_paths=False)
    data, stand_in = planning_data(config)
    assert stand_in == "cifar10" and tuple(data.x_train.shape) == (50_000, 3, 32, 32) and data.num_classes == 10
    assert planning_data(load_config(ROOT / "configs/tiny.yaml"))[1] == ""  # a generated dataset is the real one


def test_a_gpu_study_planned_on_a_machine_without_a_gpu_is_costed_on_its_cpu_and_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(plan, "calibrate", lambda config, say: UnitCosts(0.1, 0.05, 2.0, 50_000, "cifar10"))
    monkeypatch.setattr("torch.cuda.device_count", lambda: 0)
    config = load_config(ROOT / "configs/cifar10_epochs.yaml", {"data.root": str(tmp_path)}, check_paths=False)
    lines = plan.plan_lines(config)
    assert lines[0].startswith("plan for cifar10_epochs: 16 temperatures x 1 dense seeds = 16 trials, 144 cells")
    assert "CPU-hours" in lines[4]
    assert lines[-2] == ("cifar10 files are not on this machine: timed on random inputs of its shape and size "
                         "(50,000 training examples)")
    assert lines[-1].startswith("resources.gpu: 0.25 but no GPU here: the estimate is for this machine's CPU")
