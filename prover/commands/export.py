"""`prover export DIR --format grpo|sft|dpo|error-fix|verl --out FILE`: training sets from recorded
Lean feedback (columns documented in prover.rl.export)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="turn recorded Lean feedback into GRPO / SFT / DPO / error-fix / verl data",
        description=(
            "grpo: {prompt, completion, reward}; sft: {prompt, completion} of verified proofs; "
            "dpo: {prompt, chosen, rejected}; error-fix: {prompt, failed_proof, error, "
            "corrected_proof}; these rows also have problem_id, formal_statement, header, prefix.  "
            "verl: verl's RLHFDataset columns {data_source, prompt (chat messages), ability, "
            "reward_model {style, ground_truth}, extra_info}, scored by "
            "prover.rl.verl_reward.compute_score.  multiturn: {messages (chat turns: prompt, "
            "answers, Lean feedback), reward} per self-correction record (--kinds default: "
            "correction); assistant turns trainable, user (feedback) turns masked."
        ),
    )
    p.add_argument("dir", type=Path, help="directory with records.jsonl (from `prover collect`)")
    p.add_argument(
        "--format",
        required=True,
        choices=["grpo", "sft", "dpo", "error-fix", "verl", "multiturn"],
    )
    p.add_argument("--out", type=Path, required=True, help="FILE.jsonl or FILE.parquet")
    p.add_argument(
        "--max-pairs", type=int, default=4, help="dpo / error-fix pairs per prompt (default 4)"
    )
    p.add_argument(
        "--kinds",
        default="sample",
        help="record kinds to use, comma-separated: sample (whole proofs, incl. RMaxTS "
        "expansions), tactic (best-first-search steps), precheck, final, correction "
        "(default: sample; multiturn: correction)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from prover.errors import UsageError
    from prover.rl.export import export, parse_kinds

    if args.max_pairs < 1:
        raise UsageError("--max-pairs must be >= 1")
    kinds = parse_kinds(args.kinds)
    path, n = export(args.dir, args.format, args.out, args.max_pairs, kinds)
    print(f"export: {n} {args.format} rows -> {path}", file=sys.stderr)
    return 0
