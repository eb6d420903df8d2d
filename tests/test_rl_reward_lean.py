"""LeanReward against the real embedded Lean: one batch, rewards match the verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from prover.lean.types import Verdict
from prover.rl.records import FeedbackWriter, read_records
from prover.rl.reward import LeanReward

pytestmark = pytest.mark.lean

S_ADD = "theorem rl_add (a b : Nat) : a + b = b + a := by\n"
S_NUM = "theorem rl_num : 2 + 2 = 4 := by\n"

CASES = [  # (statement, completion as the model wrote it, expected verdict, reward)
    (S_ADD, "  omega\n```\nthis text after the fence is cut off", Verdict.PROVED, 1.0),
    (S_ADD, "  constructor\n```", Verdict.FAILED, 0.0),
    (S_ADD, "  sorry\n", Verdict.INCOMPLETE, 0.0),
    (S_NUM, "  native_decide\n", Verdict.REJECTED, 0.0),
]


def test_reward_matches_lean_verdicts_in_one_batch(embedded_checker, tmp_path: Path):
    calls = []

    class Counting:
        name = embedded_checker.name

        def check(self, reqs):
            calls.append(len(reqs))
            return embedded_checker.check(reqs)

        def close(self):
            pass

    with FeedbackWriter(tmp_path) as writer:
        reward = LeanReward(Counting(), writer=writer, policy="scripted")
        prompts = [f"prompt {k}" for k in range(len(CASES))]
        out = reward(
            prompts,
            [c for _, c, _, _ in CASES],
            formal_statement=[s for s, _, _, _ in CASES],
            header=[None] * len(CASES),
        )
    assert calls == [len(CASES)]
    assert [r.verdict for r in reward.last_results] == [v for _, _, v, _ in CASES]
    assert out == [r for _, _, _, r in CASES]
    recs = list(read_records(tmp_path))
    assert [r.verdict for r in recs] == [v.value for _, _, v, _ in CASES]
    assert recs[0].proof == "  omega\n" and recs[0].reward == 1.0 and recs[0].source == "reward"
    assert recs[1].first_error is not None
