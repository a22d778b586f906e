"""Studies in S3, end to end against a real S3 server on 127.0.0.1 (moto's server mode).

The storage URI carries pyarrow's options for an S3-compatible endpoint; credentials come from
the standard AWS environment variables. Run, a concurrent run refused by the lock in the bucket,
interrupt, resume, and every reading command straight from the bucket.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.helpers import driver_at, regimes
from tests.ray_nodes import free_port

pytestmark = pytest.mark.slow
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3_server():
    """Yield the endpoint of a moto S3 server with an empty bucket "studies"; stopped by pid afterwards."""
    pytest.importorskip("moto.server", reason="moto[server] (a dev extra) provides the S3 server")
    boto3 = pytest.importorskip("boto3")
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        client = boto3.client("s3", endpoint_url=endpoint, **{k.lower(): v for k, v in CREDENTIALS.items()
                                                               if k != "AWS_DEFAULT_REGION"},
                              region_name=CREDENTIALS["AWS_DEFAULT_REGION"])
        for _ in range(100):
            try:
                client.create_bucket(Bucket="studies")
                break
            except Exception:  # the server is still starting
                time.sleep(0.1)
        yield port, client
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)


def test_a_study_in_s3_runs_is_locked_resumes_and_is_read_from_the_bucket(s3_server, tmp_path, monkeypatch):
    port, client = s3_server
    env = {**os.environ, **CREDENTIALS, "PYTHONPATH": str(ROOT)}
    options = f"?endpoint_override=127.0.0.1:{port}&scheme=http"
    root, study = f"s3://studies/runs{options}", f"s3://studies/runs/tiny{options}"
    densities = [0.1, 0.2, 0.3, 0.4]
    args = ["run", str(ROOT / "configs/tiny.yaml"), "--storage", root, "--set", "retrain.epochs=30",
            "--set", f"pruning.densities={densities}"]
    first = driver_at(args, tmp_path, cells="cells 1/8", env=env)
    try:
        # The lock is an object in the bucket: a second run of the same study is refused in one line.
        lock = json.loads(client.get_object(Bucket="studies", Key="runs/tiny/regimes.lock")["Body"].read())
        assert lock["pid"] == first.pid
        second = regimes(*args, env=env, cwd=tmp_path)
        assert second.returncode == 2 and f"is being run by pid {first.pid}" in second.stderr
        assert second.stderr.strip().count("\n") == 0
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 1  # unfinished, said so
    status = regimes("status", study, env=env, cwd=tmp_path)
    assert "unfinished" in status.stdout, status.stdout + status.stderr
    assert "Contents" not in client.list_objects_v2(Bucket="studies", Prefix="runs/tiny/regimes.lock")  # released
    again = regimes(*args, env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]

    from ray.tune import ExperimentAnalysis

    frames = ExperimentAnalysis(study).trial_dataframes.values()
    assert sorted(len(df) for df in frames) == [4, 4]
    for df in frames:
        assert sorted(df["density"]) == densities  # each density reported exactly once across the two runs
    listed = regimes("ls", root, env=env, cwd=tmp_path)
    assert listed.stdout.split() == ["tiny", "cells", "8/8", "complete"], listed.stdout + listed.stderr
    report = regimes("report", study, env=env, cwd=tmp_path)
    assert report.returncode == 0 and f"report: s3://studies/runs/tiny/report.html{options}" in report.stdout
    assert client.head_object(Bucket="studies", Key="runs/tiny/report.html")["ContentLength"] > 100_000
    select = regimes("select", study, "--density", "0.4", "--json", env=env, cwd=tmp_path)
    assert json.loads(select.stdout)["temperature"] in (2.0, 4.0)
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)  # pyarrow reads the bucket with them in this process too
    _a_deleted_trial_is_counted_missing_and_repaired_in_the_bucket(client, args, study, env, tmp_path)


def _a_deleted_trial_is_counted_missing_and_repaired_in_the_bucket(client, args, study, env, tmp_path):
    # The finished study above, one trial's objects deleted: its 4 cells are owed and missing, as
    # on a disk, and the same command computes them in a repair experiment inside the bucket.
    from contract.results import missing_cells, row_counts
    from study.config import load_config

    keys = [o["Key"] for o in client.list_objects_v2(Bucket="studies", Prefix="runs/tiny/run_trial_")["Contents"]]
    gone = sorted({key.split("/")[2] for key in keys})[0]
    for key in keys:
        if key.split("/")[2] == gone:
            client.delete_object(Bucket="studies", Key=key)
    status = regimes("status", study, env=env, cwd=tmp_path)
    assert "cells 4/8;" in status.stdout, status.stdout + status.stderr
    config = load_config(ROOT / "configs/tiny.yaml", {"study.storage": study.replace("/tiny?", "?"),
                                                      "pruning.densities": [0.1, 0.2, 0.3, 0.4]})
    assert sum(len(owe) for owe in missing_cells(config, study).values()) == 4
    repaired = regimes(*args, env=env, cwd=tmp_path)
    assert repaired.returncode == 0, repaired.stderr[-3000:]
    assert any(line.startswith("repair: 4 owed cells of 1 trial") and "runs/tiny/repair-1" in line
               for line in repaired.stderr.splitlines()), repaired.stderr[-2000:]
    counts = row_counts(study)
    assert len(counts) == 8 and set(counts.values()) == {1}
    listed = regimes("ls", study.replace("/tiny?", "?"), env=env, cwd=tmp_path)
    assert listed.stdout.split() == ["tiny", "cells", "8/8", "complete"], listed.stdout + listed.stderr
