"""Cell rows into MLflow through Ray Tune's MLflow callback, read back from a real `mlflow server` (SQLite)."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """An `mlflow server` on 127.0.0.1 with a SQLite backend; stopped by process group whatever happens."""
    pytest.importorskip("mlflow")
    folder = tmp_path_factory.mktemp("mlflow")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mlflow = Path(sys.executable).parent / "mlflow"
    server = subprocess.Popen([str(mlflow), "server", "--backend-store-uri", f"sqlite:///{folder}/mlflow.db",
                               "--default-artifact-root", str(folder / "artifacts"), "--host", "127.0.0.1",
                               "--port", str(port), "--workers", "1"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, cwd=folder, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("mlflow server did not start") from None
                time.sleep(0.5)
        yield uri
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def test_every_cell_row_and_the_config_reach_mlflow(ray_cluster, mlflow_server, tmp_path):
    from mlflow.tracking import MlflowClient

    from analysis import read_study
    from study.config import load_config
    from study.run.launch import run_study

    config = load_config(ROOT / "configs/tiny.yaml", {"study.storage": str(tmp_path), "study.name": "tracked",
                                                      "tracking.mlflow": {"tracking_uri": mlflow_server,
                                                                          "experiment": "tiny-tracked"}})
    outcome = run_study(config)
    assert outcome.complete
    cells = read_study(outcome.path).cells
    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name("tiny-tracked")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 2 and {r.data.tags["study"] for r in runs} == {"tracked"}  # one run per trial
    for run in runs:
        temperature = float(run.data.params["temperature"])
        history = client.get_metric_history(run.info.run_id, "test_acc")
        ours = cells[cells["temperature"] == temperature].sort_values("density")["test_acc"].tolist()
        assert [m.value for m in sorted(history, key=lambda m: m.step)] == pytest.approx(ours, abs=1e-9)
        assert run.data.params["study_config/pruning/densities"] == "[0.1, 0.5]"


def test_tracking_without_mlflow_installed_is_one_line_naming_the_extra(tmp_path):
    (tmp_path / "s.yaml").write_text("tracking:\n  mlflow:\n    tracking_uri: http://127.0.0.1:1\n")
    code = "import sys; sys.modules['mlflow'] = None\nfrom study.cli import main\nsys.exit(main(['run', 's.yaml']))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2
    assert result.stderr == ("regimes: error: s.yaml: tracking.mlflow: needs mlflow, an optional extra: pip install "
                             "'three-regime-pruning[mlflow]' (or remove the section)\n")
