"""`prover eval`: run a search over a benchmark split; resumable results in --out."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.datasets import BENCHMARKS
from prover.commands.options import DEFAULT_BUDGET, DEFAULT_SEARCH, add_run_options, resolve_run
from prover.errors import UsageError

if TYPE_CHECKING:
    from benchmarks.datasets import Problem
    from prover.commands.options import RunOptions


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a policy + search on a benchmark",
        description=(
            "Writes OUT/results.jsonl (one line per problem, resumable), OUT/summary.json, "
            "OUT/report.md and OUT/pass_curve.png."
        ),
    )
    p.add_argument(
        "--benchmark",
        required=True,
        help=f"one of {', '.join(BENCHMARKS)}, or a PATH.jsonl in DeepSeek-Prover-V1.5's format "
        "(fields name, split, formal_statement; optional informal_prefix, goal, header)",
    )
    p.add_argument(
        "--split",
        required=True,
        help="valid or test (single-split benchmarks: test; a PATH.jsonl: any of its splits)",
    )
    p.add_argument(
        "--variant",
        help="benchmark variant: plain or with-solutions (putnambench, combibench; default "
        "with-solutions: answers inlined)",
    )
    p.add_argument(
        "--answers",
        type=Path,
        help="plain variant: fixed answers, a JSONL file of {id, answers: {SLOT: LEAN_TERM}} "
        "(every request of the problem carries them; Lean judges them like proofs).  Without "
        "it a policy writes its own answers (see README, Answers)",
    )
    p.add_argument(
        "--list-benchmarks",
        action=_ListBenchmarks,
        help="list the named benchmarks (count, upstream pin, license, caveats) and exit",
    )
    p.add_argument("--limit", type=int, help="only the first N problems of the split")
    p.add_argument("--names", nargs="+", help="only these problem names (or ids)")
    p.add_argument("--policy", default="automation", help="policy spec (default: automation)")
    p.add_argument(
        "--search",
        help=f"rmaxts, sample, bfs or decompose (default: {DEFAULT_SEARCH}, or the preset's)",
    )
    p.add_argument(
        "--budget",
        help=f"RUNSxSAMPLES per problem (default: {DEFAULT_BUDGET}, or the preset's)",
    )
    p.add_argument("--workers", type=int, default=1, help="problems run concurrently")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--data-dir", type=Path, help="folder holding minif2f.jsonl / proofnet.jsonl")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="one line per problem, no progress bar")
    p.add_argument("--backend", default="auto", choices=["auto", "embedded", "native"])
    p.add_argument("--record", type=Path, help="record every verification (RL feedback) here")
    p.add_argument(
        "--no-polish",
        dest="polish",
        action="store_false",
        help="do not make readable versions of solved proofs (polishing costs at most 2 Lean "
        "verifications per solved proof, metered apart from the search's budget)",
    )
    add_run_options(p)
    from prover.commands.serve import add_checker_option

    add_checker_option(p, search=True)
    from prover.commands.options import add_ray_options

    add_ray_options(p)
    p.set_defaults(func=run)


class _ListBenchmarks(argparse.Action):
    def __init__(self, option_strings: Any, dest: str, **kw: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kw)

    def __call__(self, parser: Any, ns: argparse.Namespace, values: Any, opt: Any = None) -> None:
        from benchmarks.datasets import benchmarks_text

        print(benchmarks_text())
        parser.exit(0)


def _warn_versions(benchmark: str, backend: str) -> None:
    """Warn when the benchmark's upstream Lean pin differs from the backend's (no Lean start)."""
    from benchmarks.datasets import version_warning
    from prover.lean import resolve_backend

    try:
        name = resolve_backend(backend)
    except UsageError:
        return  # no backend installed: the run itself says so
    if name == "embedded":
        from prover.lean.toolchain import EMBEDDED_LEAN_VERSION as version
    else:
        from prover.lean.toolchain import native_toolchain

        version = native_toolchain().lean_version()
    warning = version_warning(benchmark, name, version)
    if warning:
        print(warning, file=sys.stderr)


def check_data_args(args: argparse.Namespace) -> None:
    """UsageError for a bad --benchmark, --split, --workers or --limit (eval and audit)."""
    if args.benchmark not in BENCHMARKS and not args.benchmark.endswith(".jsonl"):
        raise UsageError(
            f"unknown benchmark {args.benchmark!r}; choose one of {', '.join(BENCHMARKS)} "
            "or give a PATH.jsonl"
        )
    if args.benchmark in BENCHMARKS and args.split not in ("valid", "test"):
        raise UsageError(f"unknown split {args.split!r}; choose valid or test")
    if args.workers < 1:
        raise UsageError("--workers must be >= 1")
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be >= 1")


def select_records(args: argparse.Namespace, records: list[Problem], what: str) -> list[Problem]:
    """`records` narrowed by --names (UsageError naming the missing ones), then --limit."""
    if args.names:
        wanted = set(args.names)
        records = [r for r in records if r.name in wanted or r.id in wanted]
        missing = wanted - {r.name for r in records} - {r.id for r in records}
        if missing:
            raise UsageError(f"not in {args.benchmark}/{args.split}: {', '.join(sorted(missing))}")
    if args.limit is not None:
        records = records[: args.limit]
    if not records:
        raise UsageError(f"no {what} selected")
    return records


def run(args: argparse.Namespace) -> int:
    check_data_args(args)
    # the budget, policy spec, search and policy options (UsageError for a bad one)
    opts = resolve_run(args)
    from prover.commands.options import build_ray

    ray = build_ray(args)
    if ray is not None and (args.checker or args.record):
        raise UsageError("--ray: the checkers are Ray actors; --checker and --record do not apply")

    if args.variant is not None and args.benchmark not in BENCHMARKS:
        raise UsageError("--variant applies to a named benchmark, not a PATH.jsonl")
    benchmark, records = load_records(args.benchmark, args.split, args.data_dir, args.variant)
    if benchmark in BENCHMARKS and not getattr(args, "checker", None):
        _warn_versions(benchmark, args.backend)
    answers_sha = ""
    if args.answers is not None:
        from benchmarks.datasets import sha256_file, with_answers

        records = with_answers(records, args.answers)
        answers_sha = sha256_file(args.answers)
    records = select_records(args, records, "problems")
    from prover.commands.serve import checker_options

    limits = checker_options(args, search=True)
    if ray is not None and limits:
        raise UsageError(
            "--ray: the checkers are Ray actors with their own limits; --timeout, --heartbeats "
            "and --spare-processes apply to local Lean processes"
        )
    checker = None
    if args.checker:  # a running `prover serve`
        from prover.service import open_checker

        checker = open_checker(args.checker, **limits)
    if args.record:
        from prover.lean.wrappers import RecordingChecker, RequestContext
        from prover.rl.records import FeedbackWriter
        from prover.service import open_checker

        checker = RecordingChecker(
            checker or open_checker(None, args.backend, **limits),
            FeedbackWriter(args.record),
            RequestContext(policy=args.policy, source=f"eval:{benchmark}/{args.split}"),
        )
    try:
        summary = _run(args, benchmark, records, checker, opts, ray, answers_sha, limits)
    finally:
        if checker is not None:
            checker.close()
    lo, hi = summary["wilson95"]
    print(
        f"{benchmark}/{args.split}: solved {summary['solved']}/{summary['problems']} "
        f"({100 * summary['pass_rate']:.1f}%, 95% CI {100 * lo:.1f}-{100 * hi:.1f}%); "
        f"report: {args.out / 'report.md'}",
        file=sys.stderr,
    )
    return 0


def load_records(
    benchmark: str, split: str, data_dir: Path | None = None, variant: str | None = None
) -> tuple[str, list[Problem]]:
    """(name stored in the run's config, problems of `split`) of a named benchmark or of a
    DeepSeek-Prover-format PATH.jsonl.  A file's ids are `<stem>/<name>`, or `<stem>/<split>/<line
    index>` when names repeat (as in ProofNet).  Bad lines raise DataError (file:line: field)."""
    from benchmarks.datasets import load_benchmark, load_jsonl, open_answers

    if benchmark in BENCHMARKS:
        return benchmark, load_benchmark(benchmark, split, data_dir, variant=variant)
    path = Path(benchmark)
    if not path.is_file():
        why = "is not a file" if path.exists() else "does not exist"
        raise UsageError(f"--benchmark: {path} {why}")
    # a file in PutnamBench's layout: its `:= sorry` answer slots are open, their comments hidden
    records = [open_answers(r) for r in load_jsonl(path, key="line")]
    names = [r.name for r in records]
    if len(set(names)) == len(names):
        records = [dataclasses.replace(r, id=f"{path.stem}/{r.name}") for r in records]
    selected = [r for r in records if r.split == split]
    if not selected:
        have = ", ".join(sorted({r.split for r in records})) or "none"
        raise UsageError(f"{path}: no problems with split {split!r} (splits: {have})")
    return str(path.resolve()), selected


def _run(
    args: argparse.Namespace,
    benchmark: str,
    records: list[Problem],
    checker: Any,
    opts: RunOptions,
    ray: Any = None,
    answers_sha: str = "",
    limits: dict[str, Any] | None = None,
) -> dict:
    from benchmarks.harness import run_eval
    from benchmarks.results import EvalConfig

    config = EvalConfig(
        policy=args.policy,
        search=args.search,
        budget=opts.budget,
        seed=args.seed,
        workers=args.workers,
        benchmark=benchmark,
        split=args.split,
        variant=records[0].variant if records else "",
        backend=args.backend,
        search_options=opts.search.options,
        policy_options=opts.policy.options,
        answers_sha256=answers_sha,
        checker_options=limits or {},  # the harness's own Lean processes use them
        polish=args.polish,
    )
    return run_eval(
        records,
        config,
        args.out,
        checker=checker,
        search=opts.search.search,
        tree_dir=args.tree_dir,
        quiet=args.quiet,
        ray=ray,
    )
