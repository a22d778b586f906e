"""The `regimes` command line: it parses, dispatches and prints; the work is the packages' own.

- `parser`: every command and its arguments; `checks`: what is checked before Ray (one line
  each, exit status 2);
- `running`: `run` and `plan` (the launcher, `study.run`; the search's rule from
  `analysis.search`, the only place `study` hands `analysis` to the launcher);
- `follow`: `status` and `ls`;
- `asking`: the questions, answered by the study object (`analysis.open_study`).

May import `analysis`, `contract`, and the rest of `study`; nothing imports it. Bad input
(config, dataset files, paths, resources) ends with `regimes: error: ...` lines on stderr and
exit status 2, before any Ray work; Ray is imported only once a config is valid.
"""

from __future__ import annotations

import os
import sys

from analysis import AdviceError, StudyReadError
from contract.names import DatasetError
from study.cli import asking, checks, follow, running
from study.cli.asking import NO_ANSWER
from study.cli.parser import build_parser
from study.config import ConfigError, StudyError
from study.run.lock import StudyLocked

__all__ = ["NO_ANSWER", "build_parser", "main"]
COMMANDS = {"run": running.run, "plan": running.plan, "status": follow.status, "ls": follow.ls, "report": asking.report,
            "validate": asking.validate, "compare": asking.compare_studies}


def main(argv: list[str] | None = None) -> int:
    """Run `regimes` with `argv` (default: sys.argv[1:]) and return the exit status."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if not argv:  # nothing asked: the help, on stderr, as a usage error
        parser.print_help(sys.stderr)
        return 2
    unknown = checks.unknown_option(parser, argv)
    if unknown:
        print(unknown, file=sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, --version, or argparse's one line: its status, not an exception
        return int(done.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    note = checks.mc_threshold_note(getattr(args, "mc_threshold", None))
    if note:  # a threshold the method does not mean, said before the answer it changes
        print(note, file=sys.stderr)
    try:
        return COMMANDS.get(args.command, asking.question)(args)
    except (ConfigError, StudyError, StudyReadError, DatasetError, AdviceError, StudyLocked) as err:
        return checks.fail(str(err))
    except BrokenPipeError:  # `regimes status STUDY | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # what a shell reports for a process ended by SIGPIPE (128 + 13)
