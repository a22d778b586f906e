"""One `regimes run` per study directory: an exclusive lock file naming its owner.

The lock is created atomically (O_CREAT | O_EXCL) and holds the owner's host, pid and start time
(`trainables.run.pidlock`, the helper the shared dense run's lock uses too).
A lock whose owner is on this host and no longer alive is stale and is taken over; a lock held by
another host cannot be checked from here, so it is reported with what to do. A study in S3 keeps
its lock in the bucket, created with a conditional put (If-None-Match: *, atomic in S3 and in
S3-compatible servers that implement it); other URIs (gs://) are not locked.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from trainables.run import pidlock

LOCK_FILE = "regimes.lock"


class StudyLocked(RuntimeError):
    """Another live `regimes run` holds the study; the message names it and what to do."""


def acquire(study_dir: str | Path) -> Path:
    """Create the lock of `study_dir` for this process and return its path.

    Raises:
        StudyLocked: a live process (or one on another host) already runs this study.
    """
    path = Path(study_dir) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        if pidlock.try_create(path):
            return path
        owner = pidlock.read_holder(path)
        if owner is not None and not pidlock.holder_died(owner):
            raise StudyLocked(
                f"{study_dir} is being run by pid {owner.get('pid')} on {owner.get('host')} since "
                f"{owner.get('since')}; wait for it (regimes status {study_dir}), or if that process is gone, "
                f"delete {path}")
        path.unlink(missing_ok=True)  # stale: its owner died on this host, or the file is unreadable
    raise StudyLocked(f"{study_dir}: could not take the lock {path}; another run is starting at the same time")


def running(study_dir: str | Path) -> dict | None:
    """Return the lock holder (host, pid, since) of the local study `study_dir` while it is being run, else None.

    A holder on another host cannot be checked from here and counts as running.
    """
    owner = pidlock.read_holder(Path(study_dir) / LOCK_FILE)
    return owner if owner is not None and not pidlock.holder_died(owner) else None


def release(lock: Path) -> None:
    """Remove `lock` if this process still owns it."""
    pidlock.release(lock)


@contextlib.contextmanager
def held(study_dir: str | Path):
    """Context that holds the lock of `study_dir` (a local directory or an s3:// URI) for its duration."""
    study_dir = str(study_dir)
    if study_dir.startswith("s3://"):
        client, bucket, key = acquire_s3(study_dir)
        try:
            yield f"s3://{bucket}/{key}"
        finally:
            release_s3(client, bucket, key)
        return
    if "://" in study_dir:
        yield None  # no atomic create to build on
        return
    lock = acquire(study_dir)
    try:
        yield lock
    finally:
        release(lock)


def acquire_s3(study_uri: str):
    """Create the lock object of the study at `study_uri` in its bucket; return (client, bucket, key).

    Raises:
        StudyLocked: a live process (or one on another host) already runs this study.
    """
    from contract.store import join
    from study.run.storage import s3_location

    try:
        import boto3
        from botocore.exceptions import ClientError
    except ImportError:
        from study.config import StudyError

        raise StudyError(f"{study_uri}: the study's lock in the bucket needs boto3: pip install "
                         "'three-regime-pruning[s3]'") from None
    bucket, key, endpoint = s3_location(join(study_uri, LOCK_FILE))
    client = boto3.client("s3", endpoint_url=endpoint)
    me = pidlock.this_process()
    for _ in range(2):
        try:
            client.put_object(Bucket=bucket, Key=key, Body=json.dumps(me).encode(), IfNoneMatch="*")
            return client, bucket, key
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise
        try:
            owner = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        except (ClientError, ValueError):
            owner = None
        if owner is not None and not pidlock.holder_died(owner):
            raise StudyLocked(f"{study_uri} is being run by pid {owner.get('pid')} on {owner.get('host')} since "
                              f"{owner.get('since')}; wait for it (regimes status {study_uri}), or if that process "
                              f"is gone, delete s3://{bucket}/{key}")
        client.delete_object(Bucket=bucket, Key=key)  # stale: its owner died on this host
    raise StudyLocked(f"{study_uri}: could not take the lock s3://{bucket}/{key}; another run is starting at the "
                      "same time")


def release_s3(client, bucket: str, key: str) -> None:
    """Delete the lock object if this process still owns it."""
    with contextlib.suppress(Exception):
        owner = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        if pidlock.is_mine(owner):
            client.delete_object(Bucket=bucket, Key=key)
