"""What the command line checks before Ray starts: storage, CPUs, the cluster's address, numbers.

Each check raises ConfigError with one line naming the input and what to do (exit status 2); none
imports Ray, so a bad command line costs a second, not a cluster start.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import socket
import sys
from pathlib import Path

from contract.folders import has_tune_state
from contract.store import is_file, join
from study.run import disk
from study.config import ConfigError, StudyConfig, is_uri
from study.run.snapshot import CONFIG_FILE

# URI schemes pyarrow's file systems (which Ray Tune writes through) open.
STORAGE_SCHEMES = ("s3", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss", "file")


def check_storage_writable(storage: str, name: str) -> None:
    """Raise ConfigError unless `storage` is a scheme Tune opens or a writable folder without a file named `name`."""
    if is_uri(storage):
        scheme = storage.split("://", 1)[0]
        if scheme not in STORAGE_SCHEMES:
            raise ConfigError([f"study.storage: {scheme}:// is not a storage Ray Tune can write to; use a directory "
                               f"or one of {', '.join(s + '://' for s in STORAGE_SCHEMES)}"])
        return
    root = Path(storage)
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / ".regimes-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise ConfigError([f"study.storage: cannot write to {storage!r} ({err.strerror}); "
                           "choose a writable directory with --storage"]) from None
    if (root / name).exists() and not (root / name).is_dir():
        raise ConfigError([f"study.name: {root / name} is a file, not a study folder; choose another study.name or "
                           "move the file"])
    full = disk.full_disk(root)
    if full:
        raise ConfigError([full])


def check_embedded_cpus(config: StudyConfig, address: str | None) -> None:
    """Raise ConfigError when a trial asks for more CPUs than the embedded cluster (this machine) has."""
    cpus = os.cpu_count() or 1
    if address is None and config.resources.cpu > cpus:
        raise ConfigError([f"resources.cpu: a trial asks for {config.resources.cpu:g} CPUs and this machine has "
                           f"{cpus}; lower resources.cpu, or join a larger cluster with --address"])


def check_address(address: str | None, timeout_s: float = 10.0) -> None:
    """Raise ConfigError, within `timeout_s`, when nothing answers at host:port (ray.init retries for minutes)."""
    if address is None or address == "auto" or address.startswith("local"):
        return
    where = address.removeprefix("ray://")
    host, _, port = where.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError([f"--address {address}: give 'auto', host:port or ray://host:port"])
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as err:
        raise ConfigError([f"--address {address}: nothing answers there ({err.strerror or err}); start the cluster "
                           "with `ray start --head` or check the address"]) from None


def looks_like_a_study(folder: str) -> bool:
    """Return True for a folder `regimes run` wrote: its config snapshot or a Tune experiment state is there."""
    if is_uri(folder):
        return is_file(join(folder, CONFIG_FILE))
    return (Path(folder) / CONFIG_FILE).is_file() or has_tune_state(folder)


def number(low: float | None = None, high: float | None = None, *, above: bool = False):
    """Return an argparse type: a finite float in [low, high] ((low, high] with `above`), else argparse's one line."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        inside = math.isfinite(value) and (low is None or (value > low if above else value >= low)) and (
            high is None or value <= high)
        if not inside:
            bounds = "" if low is None else f"{'above' if above else 'at least'} {low:g}" if high is None else \
                f"in {'(' if above else '['}{low:g}, {high:g}]"
            raise argparse.ArgumentTypeError(f"got {text}; give a finite number {bounds}")
        return value
    return parse


@contextlib.contextmanager
def report_paths(out: Path | None, png: str | None):
    """Check the report's paths (a folder as --out, a file as --png), then word an OSError in writing as one line.

    `out` None: the report goes beside a study in object storage.
    """
    if out is not None and out.is_dir():
        raise ConfigError([f"--out {out} is a folder; give the HTML file to write, e.g. {out / 'report.html'}"])
    if png is not None and Path(png).exists() and not Path(png).is_dir():
        raise ConfigError([f"--png {png} is a file; give a folder for the PNGs (it is created if missing)"])
    try:
        yield
    except OSError as err:
        where = out if out is not None else "the study's folder"
        raise ConfigError([f"cannot write the report to {where} ({err.strerror}); give --out a file in a writable "
                           "folder"]) from None


def unknown_option(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """Return the one line for the first option in `argv` that its (sub)command does not take, None if all are known.

    argparse itself reports a missing required option first, or "unrecognized arguments" without a
    hint; a misspelt flag (--desnity) deserves its own line naming the closest one.
    """
    import difflib

    commands = next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})
    current, prog = parser, parser.prog
    for token in argv:
        if token == "--":
            break
        if not token.startswith("-") and current is parser and token in commands:
            current, prog = commands[token], commands[token].prog
            continue
        if not token.startswith("--"):
            continue
        flag = token.split("=", 1)[0]
        known = list(current._option_string_actions)
        if flag in known or len([k for k in known if k.startswith(flag)]) == 1:  # argparse takes unique prefixes
            continue
        close = difflib.get_close_matches(flag, [k for k in known if k.startswith("--")], n=1)
        hint = f"did you mean {close[0]}?" if close else f"see `{prog} --help`"
        return f"{prog}: error: unknown option {flag} ({hint})"
    return None


def closest_command(message: str) -> str:
    """Return argparse's `message`, with the closest command added where it says a command is misspelt."""
    import difflib
    import re

    wrong = re.match(r"argument COMMAND: invalid choice: '([^']*)' \(choose from (.*)\)$", message)
    close = difflib.get_close_matches(wrong.group(1), re.findall(r"'([^']*)'", wrong.group(2)), n=1) if wrong else []
    return message + (f"; did you mean {close[0]}?" if close else "")


def mc_threshold_note(value: float | None) -> str | None:
    """Return the note for a positive --mc-threshold (mc is negative at a barrier, about 0 without one), else None."""
    if value is None or value <= 0:
        return None
    return (f"note: --mc-threshold {value:g} is positive: mc is negative where the copies have an error barrier "
            "between them and about 0 where they have none, so cells without a barrier are called Regime I here "
            "(the default is -0.2)")


def check_png_exporter(png: str | None) -> None:
    """Raise ConfigError for --png where plotly's PNG exporter (kaleido) is not installed."""
    import importlib.util

    if png is not None and importlib.util.find_spec("kaleido") is None:
        raise ConfigError([f"--png {png}: writing PNGs needs the kaleido package (pip install kaleido) and a "
                           "Chromium it can start; the HTML report needs neither: leave out --png"])


REPORT_MARK = '<meta name="regimes-study" content="{}">'  # in every report's head (analysis.report)


def check_report_out(out: Path | None, name: str, *, given: bool) -> None:
    """Raise ConfigError when `--out` names an existing file that is not a report of study `name`.

    The study's own report.html (no --out) is always rewritten: it is the study's.
    """
    if not given or not out.is_file():
        return
    with open(out, "rb") as handle:
        head = handle.read(4096).decode("utf-8", "replace")
    import html

    if REPORT_MARK.format(html.escape(name)) not in head:
        raise ConfigError([f"--out {out} exists and is not a report of study {name!r}; nothing was written: give a "
                           "new file name, or move that file away"])


def fail(message: str) -> int:
    """Print `message` as `regimes: error:` lines on stderr and return exit status 2 (bad input)."""
    for line in message.splitlines():
        print(f"regimes: error: {line}", file=sys.stderr)
    return 2
