"""Proof-assistant feedback for RL: record every verification, collect rollouts, export training
sets (GRPO, SFT, DPO, error-fix, verl) and score completions with Lean (`LeanReward` for TRL,
`prover.rl.verl_reward.compute_score` for verl).

Heavy dependencies (torch, transformers, datasets) are imported only inside functions."""

from __future__ import annotations

from prover.rl.records import (
    FeedbackRecord,
    FeedbackWriter,
    load_records,
    read_records,
    to_parquet,
)
from prover.rl.reward import LeanReward

__all__ = [
    "FeedbackRecord",
    "FeedbackWriter",
    "LeanReward",
    "load_records",
    "read_records",
    "to_parquet",
]
