"""A study's files where they live: a local folder, or object storage by URI (no Ray, no torch).

The launcher, the readers and `contract.results` list and read a study's folders through these few
functions, so that owed and missing cells are counted the same way in `s3://...` as on a disk. A
URI is anything pyarrow's `FileSystem.from_uri` reads (`s3://bucket/prefix`, `gs://...`), with
pyarrow's options as a query string (`?endpoint_override=127.0.0.1:9000&scheme=http`), which
`join` keeps at the end. Local paths are read with pathlib, as before.
"""

from __future__ import annotations

import os
from pathlib import Path

Where = str | Path  # a local folder or file, or a URI


def is_uri(path: Where) -> bool:
    """Return True for a URI (scheme://...), False for a local path."""
    return "://" in str(path)


def join(base: Where, name: str) -> Where:
    """Return `base`/`name`: a Path for a local `base`, a URI with its query string kept at the end otherwise."""
    if not is_uri(base):
        return Path(base) / name
    path, sep, query = str(base).partition("?")
    return f"{path.rstrip('/')}/{name}{sep}{query}"


def name_of(where: Where) -> str:
    """Return the last part of a local path or a URI (without the URI's query string)."""
    return Path(where).name if not is_uri(where) else str(where).partition("?")[0].rstrip("/").rsplit("/", 1)[-1]


def read_bytes(file: Where) -> bytes | None:
    """Return the bytes of `file`, None when there is no such file."""
    if not is_uri(file):
        return Path(file).read_bytes() if Path(file).is_file() else None
    import pyarrow.fs

    fs, path = filesystem(str(file))
    if fs.get_file_info(path).type != pyarrow.fs.FileType.File:
        return None
    with fs.open_input_stream(path) as stream:
        return stream.read()


def write_bytes(file: Where, data: bytes) -> None:
    """Write `data` to `file` (a local file, or an object by URI), replacing it; a local folder is made if missing."""
    if not is_uri(file):
        Path(file).parent.mkdir(parents=True, exist_ok=True)
        Path(file).write_bytes(data)
        return
    fs, path = filesystem(str(file))
    with fs.open_output_stream(path) as stream:
        stream.write(data)


def is_file(file: Where) -> bool:
    """Return True when `file` exists and is a file."""
    if not is_uri(file):
        return Path(file).is_file()
    import pyarrow.fs

    fs, path = filesystem(str(file))
    return fs.get_file_info(path).type == pyarrow.fs.FileType.File


def subfolders(base: Where) -> list[Where]:
    """Return the folders directly under `base` (none where it does not exist), sorted by name."""
    if not is_uri(base):
        return sorted(p for p in Path(base).iterdir() if p.is_dir()) if Path(base).is_dir() else []
    import pyarrow.fs

    fs, path = filesystem(str(base))
    infos = fs.get_file_info(pyarrow.fs.FileSelector(path, allow_not_found=True))
    return [join(base, name) for name in sorted(i.base_name for i in infos if i.type == pyarrow.fs.FileType.Directory)]


def filesystem(uri: str):
    """Return pyarrow's (file system, path) of `uri`."""
    import pyarrow.fs

    return pyarrow.fs.FileSystem.from_uri(uri)


def write_atomically(file: Path, content: bytes) -> None:
    """Write `file` so that a crash or a full disk leaves the old content or the new, never a part.

    The bytes go to a temporary name beside it, are fsynced, and replace the file in one rename.
    """
    temporary = file.with_name(f".{file.name}.tmp-{os.getpid()}")
    try:
        with open(temporary, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, file)
    finally:
        temporary.unlink(missing_ok=True)
