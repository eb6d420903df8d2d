"""Proof-assistant feedback for RL: record every verification, collect rollouts, export training
sets (GRPO, SFT, DPO, error-fix) and score completions with Lean (`LeanReward`).

Heavy dependencies (torch, transformers, datasets) are imported only inside functions."""

from __future__ import annotations

from prover.rl.records import (
    FeedbackRecord,
    FeedbackWriter,
    RecordingChecker,
    RequestContext,
    read_records,
    to_parquet,
)
from prover.rl.reward import LeanReward

__all__ = [
    "FeedbackRecord",
    "FeedbackWriter",
    "LeanReward",
    "RecordingChecker",
    "RequestContext",
    "read_records",
    "to_parquet",
]
