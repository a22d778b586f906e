"""Every `regimes` command the README and docs/ show parses as written, and the configs it names load.

A command that drifts from the parser (a renamed flag, a removed choice) or names a config that
is gone would send a newcomer into an error on the first try; this reads the shell blocks as a
reader copies them (`# ...` comments off, shell quoting kept) and hands each one to the real
parser, and each `run` or `plan` config to the real loader, in seconds. Running them takes minutes:
tests/scenarios/test_docs_run.py runs every block as written; here are also the pages' YAML
fragments (each merged into the demo's config must load) and the plug-in excerpt (it must be the
file's code), which that walk does not run.
"""

import re
import shlex

import pytest
import yaml

from study.cli import build_parser
from study.config import load_config, parse_overrides
from tests.conftest import ROOT
from tests.docs_pages import NOT_RUN, PLUGIN, all_commands, blocks


def _commands() -> list[tuple[str, str]]:
    return [(c.page, c.text) for c in all_commands() if c.text.startswith("regimes ")]


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


def test_every_line_the_walk_does_not_run_is_still_on_a_page():
    # NOT_RUN excuses lines from tests/scenarios/test_docs_run.py; an entry whose line left the pages
    # would excuse nothing and hide that the list is stale.
    shown = {command.text for command in all_commands()}
    assert set(NOT_RUN) <= shown, set(NOT_RUN) - shown


def _merged(base: dict, fragment: dict) -> dict:
    for key, value in fragment.items():
        base[key] = _merged(base.get(key, {}), value) if isinstance(value, dict) and key not in ("kwargs",) else value
    return base


YAML = [block for block in blocks() if block.language == "yaml"]


@pytest.mark.parametrize("block", YAML, ids=[f"{b.page}: {b.code.split()[0]}" for b in YAML])
def test_every_yaml_fragment_on_the_pages_loads_merged_into_the_demos_config(block, tmp_path):
    config = _merged(yaml.safe_load((ROOT / "configs/demo.yaml").read_text()), yaml.safe_load(block.code))
    path = tmp_path / "fragment.yaml"
    path.write_text(yaml.safe_dump(config))
    load_config(path, check_paths=False)  # a misspelt or misplaced key, a bad value: ConfigError names it


def test_the_plug_in_excerpt_on_running_md_is_the_example_plug_ins_code():
    excerpt = next(b.code for b in blocks() if b.code.startswith("# regimes_example/__init__.py"))
    source = re.sub(r"\s+", "", PLUGIN.read_text())
    registered = (PLUGIN.parent.parent / "pyproject.toml").read_text()
    statements, pending = [], ""
    for line in excerpt.splitlines():
        code = line.split("#")[0].strip()
        if line.startswith("#") and "=" in line:
            assert line.split("]", 1)[1].strip() in registered, line  # the entry point as registered
        if not code or code.startswith("..."):
            continue
        pending += code
        if pending.count("(") == pending.count(")"):
            statements.append(pending)
            pending = ""
    assert len(statements) == 4, statements
    for statement in statements:
        assert re.sub(r"\s+", "", statement) in source, statement
