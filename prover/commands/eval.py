"""`prover eval`: run a search over a benchmark split; resumable results in --out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from prover.errors import UsageError

BENCHMARKS = ("minif2f", "minif2f-core", "proofnet")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a policy + search on a benchmark",
        description=(
            "Writes OUT/results.jsonl (one line per problem, resumable), OUT/summary.json, "
            "OUT/report.md and OUT/pass_curve.png."
        ),
    )
    p.add_argument("--benchmark", required=True, help=f"one of {', '.join(BENCHMARKS)}")
    p.add_argument("--split", required=True, help="valid or test")
    p.add_argument("--limit", type=int, help="only the first N problems of the split")
    p.add_argument("--names", nargs="+", help="only these problem names (or ids)")
    p.add_argument("--policy", default="automation", help="policy spec (default: automation)")
    p.add_argument("--search", default="rmaxts", help="rmaxts, sample or bfs")
    p.add_argument("--budget", default="1x32", help="RUNSxSAMPLES per problem (default 1x32)")
    p.add_argument("--workers", type=int, default=1, help="problems run concurrently")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--data-dir", type=Path, help="folder holding minif2f.jsonl / proofnet.jsonl")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="one line per problem, no progress bar")
    p.add_argument("--backend", default="auto", choices=["auto", "embedded", "native"])
    p.add_argument("--record", type=Path, help="record every verification (RL feedback) here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from search import SEARCH_NAMES
    from search.base import Budget

    if args.benchmark not in BENCHMARKS:
        raise UsageError(
            f"unknown benchmark {args.benchmark!r}; choose one of {', '.join(BENCHMARKS)}"
        )
    if args.split not in ("valid", "test"):
        raise UsageError(f"unknown split {args.split!r}; choose valid or test")
    try:
        budget = Budget.parse(args.budget)
    except ValueError as exc:
        raise UsageError(f"--budget: {exc}") from None
    if args.search not in SEARCH_NAMES:
        raise UsageError(f"unknown search {args.search!r}; choose one of {', '.join(SEARCH_NAMES)}")
    if args.workers < 1:
        raise UsageError("--workers must be >= 1")
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be >= 1")
    from prover.policy import parse_spec

    parse_spec(args.policy)  # raises UsageError for a malformed spec

    from benchmarks.datasets import load_benchmark

    records = load_benchmark(args.benchmark, args.split, args.data_dir)
    if args.names:
        wanted = set(args.names)
        records = [r for r in records if r.name in wanted or r.id in wanted]
        missing = wanted - {r.name for r in records} - {r.id for r in records}
        if missing:
            raise UsageError(f"not in {args.benchmark}/{args.split}: {', '.join(sorted(missing))}")
    if args.limit is not None:
        records = records[: args.limit]
    if not records:
        raise UsageError("no problems selected")
    checker = None
    if args.record:
        from prover.lean import make_checker
        from prover.rl.records import FeedbackWriter, RecordingChecker, RequestContext

        checker = RecordingChecker(
            make_checker(args.backend),
            FeedbackWriter(args.record),
            RequestContext(policy=args.policy, source=f"eval:{args.benchmark}/{args.split}"),
        )
    try:
        summary = _run(args, records, budget, checker)
    finally:
        if checker is not None:
            checker.close()
    lo, hi = summary["wilson95"]
    print(
        f"{args.benchmark}/{args.split}: solved {summary['solved']}/{summary['problems']} "
        f"({100 * summary['pass_rate']:.1f}%, 95% CI {100 * lo:.1f}-{100 * hi:.1f}%); "
        f"report: {args.out / 'report.md'}",
        file=sys.stderr,
    )
    return 0


def _run(args: argparse.Namespace, records: list, budget: Any, checker: Any) -> dict:
    from benchmarks.harness import run_eval

    return run_eval(
        records,
        args.policy,
        args.search,
        budget,
        args.out,
        workers=args.workers,
        seed=args.seed,
        quiet=args.quiet,
        backend=args.backend,
        benchmark=args.benchmark,
        split=args.split,
        checker=checker,
    )
