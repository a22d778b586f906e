"""The `regimes` command line."""

from __future__ import annotations

import argparse
import sys

DESCRIPTION = ("Run and read three-regime pruning studies: train dense models at several temperatures, "
               "prune them to several densities, retrain, and measure accuracy, LMC and CKA per cell.")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of `regimes` with every subcommand."""
    parser = argparse.ArgumentParser(prog="regimes", description=DESCRIPTION)
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `regimes` with `argv` (default: sys.argv) and return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
