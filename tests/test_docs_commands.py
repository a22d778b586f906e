"""Every `regimes` command the README and docs/ show parses as written, and the configs it names load.

A command that drifts from the parser (a renamed flag, a removed choice) or names a config that
is gone would send a newcomer into an error on the first try; this reads the shell blocks as a
reader copies them (`# ...` comments off, shell quoting kept) and hands each one to the real
parser, and each `run` or `plan` config to the real loader. Running them takes studies that take
minutes (the demo): `tests/study/test_launch.py` runs reading.md's Python block on a real study.
"""

import re
import shlex

import pytest

from study.cli import build_parser
from study.config import load_config, parse_overrides
from tests.conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _commands() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for block in re.findall(r"```bash\n(.*?)```", page.read_text(), re.S):
            for line in block.splitlines():
                words = shlex.split(line, comments=True)
                if words[:1] == ["regimes"]:
                    found.append((page.name, line.split(" #")[0].strip()))
    return found


COMMANDS = _commands()


def test_the_pages_show_the_commands_a_newcomer_copies():
    shown = {command.split()[1] for _, command in COMMANDS}
    assert {"run", "status", "ls", "plan", "report", "validate", "advise", "select", "recommend-rho",
            "compare"} <= shown, shown


@pytest.mark.parametrize("page,command", COMMANDS, ids=[f"{p}: {c[:60]}" for p, c in COMMANDS])
def test_every_command_on_the_pages_parses_and_its_config_loads(page, command):
    argv = [word.replace("$k", "5") for word in shlex.split(command)[1:]]  # a shell loop's variable, set
    if argv == ["--version"]:
        with pytest.raises(SystemExit) as done:
            build_parser().parse_args(argv)
        assert done.value.code == 0
        return
    args = build_parser().parse_args(argv)  # a drifted flag or choice exits here with argparse's line
    if getattr(args, "config", None):
        config = ROOT / args.config
        assert config.is_file(), f"{page}: {command}: no {args.config}"
        overrides = parse_overrides(args.overrides)
        if args.command == "run" and args.storage:
            overrides["study.storage"] = args.storage
        load_config(config, overrides, check_paths=False)
