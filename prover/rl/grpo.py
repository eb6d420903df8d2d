"""GRPO with TRL's own `GRPOTrainer`, rewarded by Lean (`LeanReward`), on the prompts of a
`prover export --format grpo` file:

    python -m prover.rl.grpo --model PATH_OR_ID --data runs/grpo.jsonl \\
        --checker http://HOST:PORT --output_dir runs/grpo-model [GRPOConfig options]

Every option of TRL's `GRPOConfig` is accepted as TRL's own scripts accept it (`--use_vllm true
--vllm_mode colocate`, `--num_generations 8`, `--max_completion_length 1024`, ...; TRL's
`TrlParser`, so `--config FILE.yaml` works too).  The data file's rows are reduced to one row
per (problem, prompt) with the columns `LeanReward` reads (`prompt_rows`); `--checker` is a
running `prover serve` (`prover.service.open_checker`), else local Lean on `--backend`.
`--penalties '{"code_evaluation": -1.0}'` gives refused completions the reward of their
refusal category (README "Refusal categories").  TRL, transformers and datasets are imported
inside the functions (the `rl` and `hf` extras).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prover.errors import UsageError
from prover.lean.types import REFUSAL_CATEGORIES, Checker

# the columns of a GRPO training row: the prompt and what `LeanReward` verifies against
COLUMNS = ("prompt", "formal_statement", "header", "prefix", "problem_id")


@dataclass
class GrpoArgs:
    """The options of `python -m prover.rl.grpo` besides TRL's `GRPOConfig`."""

    model: str = field(default="", metadata={"help": "policy model: a local path or a hub id"})
    data: str = field(
        default="", metadata={"help": "rows of `prover export --format grpo` (.jsonl or .parquet)"}
    )
    checker: str = field(
        default="", metadata={"help": "http://HOST:PORT of a running `prover serve` ('': local)"}
    )
    backend: str = field(
        default="auto", metadata={"help": "local Lean backend: auto, embedded or native"}
    )
    timeout_s: float = field(default=60.0, metadata={"help": "per-proof wall-clock seconds"})
    penalties: str = field(
        default="",
        metadata={"help": "JSON {refusal category: reward}, e.g. '{\"code_evaluation\": -1.0}'"},
    )

    def __post_init__(self) -> None:
        if not self.model or not self.data:
            raise UsageError("--model and --data are required (a model and a GRPO export)")
        if self.timeout_s <= 0:
            raise UsageError(f"--timeout_s must be positive seconds, got {self.timeout_s}")
        self.penalty_map()

    def penalty_map(self) -> dict[str, float]:
        if not self.penalties:
            return {}
        try:
            got = json.loads(self.penalties)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--penalties is not JSON: {exc}") from None
        if not isinstance(got, dict) or not all(isinstance(v, int | float) for v in got.values()):
            raise UsageError('--penalties: give a JSON object {"category": reward, ...}')
        unknown = sorted(set(got) - REFUSAL_CATEGORIES)
        if unknown:
            raise UsageError(
                f"--penalties: unknown refusal categories {unknown}; known: "
                f"{sorted(REFUSAL_CATEGORIES)}"
            )
        return {str(k): float(v) for k, v in got.items()}


def prompt_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One training row per (problem_id, prompt) of GRPO export rows (the export has one row per
    recorded sample), in first-seen order, with `COLUMNS` only."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for k, r in enumerate(rows):
        missing = [c for c in ("prompt", "formal_statement") if not r.get(c)]
        if missing:
            raise UsageError(f"GRPO row {k}: no {', '.join(missing)} (a `prover export` row?)")
        key = (str(r.get("problem_id") or ""), str(r["prompt"]))
        row = {c: r.get(c) for c in COLUMNS}
        row["prefix"] = row["prefix"] or ""
        out.setdefault(key, row)
    return list(out.values())


def load_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a GRPO export file (.jsonl or .parquet)."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"--data {p}: no such file (write it with `prover export --format grpo`)")
    if p.suffix == ".parquet":
        from datasets import Dataset

        return list(Dataset.from_parquet(str(p)))  # type: ignore[arg-type]
    from prover.jsonl import JsonlStore

    return [r for r in JsonlStore(p).read() if isinstance(r, dict)]


def build_trainer(
    args: GrpoArgs,
    config: Any,
    checker: Checker,
    rows: Sequence[Mapping[str, Any]] | None = None,
) -> Any:
    """TRL's `GRPOTrainer` on `args.model` with `reward_funcs=[LeanReward(checker)]` over the
    prompts of `rows` (default: `args.data`'s); `config` is a `trl.GRPOConfig`."""
    from datasets import Dataset
    from trl import GRPOTrainer

    from prover.rl.reward import LeanReward

    data = prompt_rows(rows if rows is not None else load_rows(args.data))
    if not data:
        raise UsageError(f"--data {args.data}: no rows")
    reward = LeanReward(checker, timeout_s=args.timeout_s, penalties=args.penalty_map())
    return GRPOTrainer(
        model=args.model,
        reward_funcs=[reward],  # type: ignore[list-item]  # list[float] vs list[float | None]
        args=config,
        train_dataset=Dataset.from_list(data),
    )


def main(argv: Sequence[str] | None = None) -> int:
    from trl import GRPOConfig, TrlParser

    from prover.service import open_checker

    parser = TrlParser((GrpoArgs, GRPOConfig))  # type: ignore[arg-type]
    try:
        args, config = parser.parse_args_and_config(list(argv) if argv is not None else None)
        checker = open_checker(args.checker or None, args.backend, timeout_s=args.timeout_s)
    except UsageError as exc:
        print(f"prover.rl.grpo: error: {exc}", file=sys.stderr)
        return 2
    try:
        trainer = build_trainer(args, config, checker)
        trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
        trainer.save_model(config.output_dir)
    except UsageError as exc:
        print(f"prover.rl.grpo: error: {exc}", file=sys.stderr)
        return 2
    finally:
        checker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
