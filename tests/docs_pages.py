"""The code blocks of README.md and docs/, split as a reader copies them (shared by the docs tests).

A bash block is a list of commands: one line each (its trailing `# ...` comment off), or a `for`
loop up to its `done`; the `#   ...` lines right under a command are the output the page shows.
Lines a test cannot run here are listed in NOT_RUN with why and what runs them instead; a test
checks that each is still on a page, so the list cannot outlive the pages it excuses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tests.conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

S3 = "needs an S3 server at that URI; tests/scenarios/test_object_storage.py runs a study, status and a repair there"
NOT_RUN = {
    "make test": "the test suite itself, which runs this",
    "regimes run configs/cifar10_epochs.yaml --address auto": (
        "joins a cluster started with `ray start --head` and reads CIFAR-10's files, neither of which is here; "
        "tests/scenarios/test_cluster.py runs a study on a two-node cluster"),
    "regimes run configs/cifar10_epochs.yaml --address auto --storage s3://my-bucket/studies": S3,
    'regimes run configs/demo.yaml --storage "s3://studies/runs?endpoint_override=127.0.0.1:9000&scheme=http"': S3,
    'regimes status "s3://studies/runs/demo?endpoint_override=127.0.0.1:9000&scheme=http"': S3,
    "make mutation": "about 40 minutes (docs/testing.md); outside CI",
    "python benchmarks/proxy_transfer.py --setting demo": "nine demo-sized studies, about 40 minutes here; outside CI",
    "python benchmarks/mutation_score.py --survivors": "reads the results of make mutation; outside CI",
}
# Commands that read real MNIST from ../shared/data: run where that folder exists, else skipped.
NEEDS_MNIST = ("regimes run configs/mnist.yaml", "regimes validate studies/mnist")
PLUGIN = ROOT / "examples/plugin/regimes_example/__init__.py"


@dataclass
class Command:
    page: str
    text: str                                       # as a reader pastes it into a shell
    shown: list[str] = field(default_factory=list)  # the output lines the page shows under it


@dataclass
class Block:
    page: str
    language: str
    code: str


def blocks() -> list[Block]:
    found = []
    for page in PAGES:
        for language, code in re.findall(r"```(\w*)\n(.*?)```", page.read_text(), re.S):
            found.append(Block(page.name, language, code))
    return found


def _without_comment(line: str) -> str:
    # The line up to its trailing `# ...` comment (no command on the pages quotes a " #").
    return line.split(" #")[0].strip() if not line.lstrip().startswith("#") else ""


def commands(block: Block) -> list[Command]:
    """The commands of one bash block, each with the output the page shows under it."""
    found: list[Command] = []
    lines = iter(block.code.splitlines())
    for line in lines:
        if line.startswith("#   ") and found:
            found[-1].shown.append(line[4:].strip())
            continue
        text = _without_comment(line)
        if not text or text.startswith("#"):
            continue
        if text.startswith("for "):
            body = [text]
            while not text.startswith("done"):
                text = _without_comment(next(lines))
                body.append(text)
            text = "\n".join(body)
        found.append(Command(block.page, text))
    return found


def all_commands() -> list[Command]:
    return [command for block in blocks() if block.language == "bash" for command in commands(block)]


def shown_prefix(shown: list[str]) -> str | None:
    """The words a command's shown output starts with, up to its first number: what a rerun must print too.

    The numbers are the run's own (a smaller or another machine's study gives others); the words are
    the command's. None where the page shows an elided line (`...`) or too little to check.
    """
    if not shown or shown[0].startswith("..."):
        return None
    prefix = re.split(r"[\d(]", shown[0], maxsplit=1)[0].strip()
    return prefix if len(prefix) >= 8 else None
