"""`prover report DIR...`: compare eval output directories side by side."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="compare eval runs",
        description="Pass rates of several `prover eval --out` directories and the problems "
        "on which they differ.",
    )
    p.add_argument("dirs", nargs="+", type=Path, help="eval output directories")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from benchmarks.report import compare_runs

    print(compare_runs(args.dirs), end="")
    return 0
