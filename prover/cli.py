"""`prover` command line.  One entry point; each subcommand lives in its own light module that
exposes `register(subparsers)` and imports heavy dependencies only inside its handler, so
`prover --help` stays instant."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from prover.errors import UsageError

# Modules that contribute subcommands, in the order they appear in `prover --help`.
SUBCOMMAND_MODULES = (
    "prover.commands.verify",
    "prover.commands.prove",
    "prover.commands.eval",
    "prover.commands.audit",
    "prover.commands.report",
    "prover.commands.collect",
    "prover.commands.export",
    "prover.commands.tree",
    "prover.commands.lean",
    "prover.commands.serve",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prover",
        description="Lean 4 neural theorem prover: verify, prove, search, evaluate, collect RL data.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # subcommand not built yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"prover: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("prover: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
