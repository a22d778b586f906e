"""Study files in object storage: the few reads and writes the driver does beside Ray Tune's own.

A URI is anything pyarrow's `FileSystem.from_uri` reads: `s3://bucket/prefix`, `gs://...`, with
pyarrow's options as a query string for S3-compatible servers
(`s3://bucket/prefix?endpoint_override=127.0.0.1:9000&scheme=http`). Credentials come from the
standard AWS environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION)
or the machine's role. Ray Tune and `ExperimentAnalysis` take the same URI.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from contract import store


def join(base: str, name: str) -> str:
    """Return `base`/`name` for a local path or a URI, keeping a URI's query string at the end."""
    return str(store.join(base, name))


def read_text(uri: str) -> str | None:
    """Return the text of the object at `uri`, or None when there is none."""
    data = store.read_bytes(uri)
    return None if data is None else data.decode()


def write_bytes(uri: str, data: bytes) -> None:
    """Write `data` to the object at `uri`, replacing it."""
    fs, path = store.filesystem(uri)
    with fs.open_output_stream(path) as stream:
        stream.write(data)


def folders(uri: str) -> list[str]:
    """Return the names of the folders (common prefixes) directly under `uri`, sorted."""
    return [store.name_of(folder) for folder in store.subfolders(uri)]


def s3_location(uri: str) -> tuple[str, str, str | None]:
    """Return (bucket, key, endpoint URL or None) of an s3:// URI, the endpoint from its pyarrow options."""
    parts = urlsplit(uri)
    options = parse_qs(parts.query)
    endpoint = options.get("endpoint_override", [None])[0]
    if endpoint and "://" not in endpoint:
        endpoint = f"{options.get('scheme', ['https'])[0]}://{endpoint}"
    return parts.netloc, parts.path.lstrip("/"), endpoint
