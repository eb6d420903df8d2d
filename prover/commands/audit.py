"""`prover audit`: is each benchmark statement what it claims to be (benchmarks.audit)?"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.datasets import BENCHMARKS
from prover.commands.options import DEFAULT_BUDGET, DEFAULT_SEARCH, add_run_options, resolve_run
from prover.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "audit",
        help="audit benchmark statements: elaborates, vacuous, false as stated, trivial",
        description=(
            "For each statement: does it elaborate; flag `vacuous` (the search proves False "
            "from its hypotheses), `false_as_stated` (the search proves its negation), "
            "`trivial` (the automation policy's one shot proves it).  Each flag's proof is "
            "re-verified from scratch.  Writes OUT/audit.jsonl (one line per statement: id, "
            "elaborates, flags, proofs; resumable: a rerun skips the ids already there) and "
            "OUT/report.md.  --policy, --search, --budget and the search options drive the "
            "vacuous and false_as_stated searches, as in `prover eval`."
        ),
    )
    p.add_argument(
        "--benchmark",
        required=True,
        help=f"one of {', '.join(BENCHMARKS)}, or a PATH.jsonl in DeepSeek-Prover-V1.5's format",
    )
    p.add_argument(
        "--split",
        required=True,
        help="valid or test (single-split benchmarks: test; a PATH.jsonl: any of its splits)",
    )
    p.add_argument("--variant", help="benchmark variant (as for `prover eval`)")
    p.add_argument("--limit", type=int, help="only the first N statements of the split")
    p.add_argument("--names", nargs="+", help="only these problem names (or ids)")
    p.add_argument("--policy", default="automation", help="policy spec (default: automation)")
    p.add_argument(
        "--search",
        help=f"rmaxts, sample, bfs or decompose (default: {DEFAULT_SEARCH}, or the preset's)",
    )
    p.add_argument(
        "--budget",
        help=f"RUNSxSAMPLES per search (default: {DEFAULT_BUDGET}, or the preset's); each "
        "statement gets up to two searches",
    )
    p.add_argument("--workers", type=int, default=1, help="statements audited concurrently")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--data-dir", type=Path, help="folder holding minif2f.jsonl / proofnet.jsonl")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", default="auto", choices=["auto", "embedded", "native"])
    add_run_options(p)
    from prover.commands.serve import add_checker_option

    add_checker_option(p, search=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from prover.commands.eval import check_data_args, load_records, select_records

    check_data_args(args)
    if getattr(args, "tree_dir", None) is not None:
        raise UsageError("--tree-dir does not apply to `prover audit`")
    opts = resolve_run(args)
    from prover.commands.serve import checker_options

    limits = checker_options(args, search=True)
    if args.variant is not None and args.benchmark not in BENCHMARKS:
        raise UsageError("--variant applies to a named benchmark, not a PATH.jsonl")
    benchmark, records = load_records(args.benchmark, args.split, args.data_dir, args.variant)
    records = select_records(args, records, "statements")

    from benchmarks.audit import run_audit
    from benchmarks.results import EvalConfig

    config = EvalConfig(
        policy=args.policy,
        search=args.search,
        budget=opts.budget,
        seed=args.seed,
        workers=args.workers,
        benchmark=benchmark,
        split=args.split,
        variant=records[0].variant,
        backend=args.backend,
        search_options=opts.search.options,
        policy_options=opts.policy.options,
        checker_options=limits,
    )
    checker = None
    if args.checker:  # a running `prover serve`
        from prover.service import open_checker

        checker = open_checker(args.checker, **limits)
    try:
        summary = run_audit(records, config, args.out, checker=checker, search=opts.search.search)
    finally:
        opts.search.search.close()
        if checker is not None:
            checker.close()
    fl = summary["flagged"]
    print(
        f"{benchmark}/{args.split}: {summary['statements']} statements, "
        f"{summary['elaborate']} elaborate; vacuous {len(fl['vacuous'])}, false as stated "
        f"{len(fl['false_as_stated'])}, trivial {len(fl['trivial'])}; "
        f"report: {args.out / 'report.md'}",
        file=sys.stderr,
    )
    return 0
