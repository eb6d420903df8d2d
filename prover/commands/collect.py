"""`prover collect`: RL rollouts (K whole-proof samples per problem), verified by Lean and
recorded to OUT/records.jsonl (and, at the end, OUT/records.parquet); resumable."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prover.commands import options
from prover.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "collect",
        help="sample proofs, verify them, record Lean feedback for RL",
        description=(
            "Draw K whole-proof samples per problem from a policy, verify them in batches and "
            "append one record per verification to OUT/records.jsonl (see prover.rl.records); at "
            "the end, all records of OUT are also written to OUT/records.parquet.  Re-running with "
            "the same OUT resumes: recorded samples are not drawn again (timeouts and errors are)."
        ),
    )
    p.add_argument(
        "--benchmark",
        default="minif2f-core",
        help="minif2f, minif2f-core, proofnet or a .jsonl file (default: minif2f-core)",
    )
    p.add_argument("--split", default="valid", help="valid, test or all (default: valid)")
    p.add_argument(
        "--data-dir",
        type=Path,
        help="folder with minif2f.jsonl / proofnet.jsonl (default: $PROVER_DATA_DIR, else the "
        "pinned files, downloaded once into the user cache)",
    )
    p.add_argument("--policy", required=True, help="policy spec, e.g. hf:/path/to/model")
    p.add_argument("--samples-per-problem", "-k", type=int, default=4)
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--limit", type=int, help="first N problems only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--batch-problems", type=int, default=8, help="problems per sampling + verification round"
    )
    p.add_argument("--backend", default="auto", choices=["auto", "embedded", "native"])
    p.add_argument("--timeout", type=float, default=60.0, help="per-proof wall-clock seconds")
    p.add_argument("--no-steps", action="store_true", help="do not record tactic states")
    from prover.rl.collect import COLLECT_SAMPLING

    options.add_sampling_options(p, COLLECT_SAMPLING)
    options.add_policy_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from prover.rl.collect import COLLECT_SAMPLING, CollectConfig, collect, load_problems

    if args.samples_per_problem < 1:
        raise UsageError("--samples-per-problem must be >= 1")
    if args.batch_problems < 1:
        raise UsageError("--batch-problems must be >= 1")
    if args.timeout <= 0:
        raise UsageError("--timeout must be positive seconds")
    sampling = options.build_sampling(args, COLLECT_SAMPLING)
    policy_options = options.build_policy(args).options
    options.check_mixture_samples(args, args.samples_per_problem)
    try:
        config = CollectConfig(
            samples_per_problem=args.samples_per_problem,
            sampling=sampling,
            seed=args.seed,
            problems_per_batch=args.batch_problems,
            timeout_s=args.timeout,
            want_steps=not args.no_steps,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    problems = load_problems(args.benchmark, args.split, args.limit, args.data_dir)

    from prover.lean import make_checker, resolve_backend
    from prover.policy import load_policy
    from prover.rl.records import FeedbackWriter, to_parquet

    policy = load_policy(args.policy, lean_backend=resolve_backend(args.backend), **policy_options)
    try:
        checker = make_checker(args.backend, timeout_s=args.timeout)
        try:
            with FeedbackWriter(args.out) as writer:
                summary = collect(
                    problems,
                    policy,
                    checker,
                    writer,
                    config,
                    progress=lambda m: print(m, file=sys.stderr),
                )
        finally:
            checker.close()
    finally:
        policy.close()
    print(f"collect: {summary}", file=sys.stderr)
    print(f"records: {args.out / 'records.jsonl'}", file=sys.stderr)
    try:
        print(f"records: {to_parquet(args.out)}", file=sys.stderr)
    except ImportError:
        print(
            "collect: records.parquet not written: it needs the `datasets` package "
            "(pip install 'lean-prover[rl]'); `prover export` also needs it for .parquet",
            file=sys.stderr,
        )
    return 0
