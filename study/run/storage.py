"""Object storage on the driver: where an s3:// URI points, for the study lock's conditional writes.

A URI is anything pyarrow's `FileSystem.from_uri` reads: `s3://bucket/prefix`, `gs://...`, with
pyarrow's options as a query string for S3-compatible servers
(`s3://bucket/prefix?endpoint_override=127.0.0.1:9000&scheme=http`). Credentials come from the
standard AWS environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION)
or the machine's role. Ray Tune and `ExperimentAnalysis` take the same URI. Reads and writes of a
study's own files, on a disk or by URI, are `contract.store`'s.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit


def s3_location(uri: str) -> tuple[str, str, str | None]:
    """Return (bucket, key, endpoint URL or None) of an s3:// URI, the endpoint from its pyarrow options."""
    parts = urlsplit(uri)
    options = parse_qs(parts.query)
    endpoint = options.get("endpoint_override", [None])[0]
    if endpoint and "://" not in endpoint:
        endpoint = f"{options.get('scheme', ['https'])[0]}://{endpoint}"
    return parts.netloc, parts.path.lstrip("/"), endpoint
