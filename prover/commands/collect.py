"""`prover collect`: RL rollouts (K whole-proof samples per problem), verified by Lean and
recorded to OUT/records.jsonl (and, at the end, OUT/records.parquet); resumable."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

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
    p.add_argument("--no-steps", action="store_true", help="do not record tactic states")
    from prover.rl.collect import COLLECT_SAMPLING

    options.add_sampling_options(p, COLLECT_SAMPLING)
    options.add_policy_options(p)
    from prover.commands.serve import add_checker_option

    add_checker_option(p, search=True)
    options.add_ray_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from prover.rl.collect import COLLECT_SAMPLING, CollectConfig, collect, load_problems

    if args.samples_per_problem < 1:
        raise UsageError("--samples-per-problem must be >= 1")
    if args.batch_problems < 1:
        raise UsageError("--batch-problems must be >= 1")
    from prover.commands.serve import checker_options

    limits = checker_options(args, search=True)
    timeout_s = limits.get("timeout_s")
    sampling = options.build_sampling(args, COLLECT_SAMPLING)
    policy_options = options.build_policy(args).options
    options.check_mixture_samples(args, args.samples_per_problem)
    try:
        config = CollectConfig(
            samples_per_problem=args.samples_per_problem,
            sampling=sampling,
            seed=args.seed,
            problems_per_batch=args.batch_problems,
            timeout_s=timeout_s,
            want_steps=not args.no_steps,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    ray = options.build_ray(args)
    if ray is not None and args.checker:
        raise UsageError("--ray: the checkers are Ray actors; --checker does not apply")
    if ray is not None and set(limits) - {"timeout_s"}:
        raise UsageError("--ray: --heartbeats and --spare-processes apply to local Lean processes")
    problems = load_problems(args.benchmark, args.split, args.limit, args.data_dir)
    if ray is not None:  # the policy is built in the tasks, Lean runs in the checker actors
        return _run_on_ray(args, problems, config, policy_options, ray)

    from prover.lean import resolve_backend
    from prover.policy import load_policy
    from prover.rl.records import FeedbackWriter

    policy = load_policy(args.policy, lean_backend=resolve_backend(args.backend), **policy_options)
    try:
        from prover.service import open_checker

        checker = open_checker(args.checker, args.backend, **limits)
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
    return _report(args, summary)


def _run_on_ray(
    args: argparse.Namespace, problems: list, config: Any, policy_options: dict, ray: Any
) -> int:
    from prover.rl.collect import RayCollect, collect
    from prover.rl.records import FeedbackWriter

    with FeedbackWriter(args.out) as writer:
        summary = collect(
            problems,
            None,
            None,
            writer,
            config,
            progress=lambda m: print(m, file=sys.stderr),
            ray=RayCollect(ray, args.policy, policy_options, args.backend),
        )
    return _report(args, summary)


def _report(args: argparse.Namespace, summary: Any) -> int:
    from prover.rl.records import to_parquet

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
