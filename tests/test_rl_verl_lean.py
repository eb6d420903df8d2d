"""The verl reward `prover.rl.verl_reward.compute_score` against the real embedded Lean, on ground
truths written by `prover export --format verl` (records -> verl rows): the score is 1.0 exactly
for the responses Lean proves (a bare continuation, a chat answer's ```lean4 block, a continuation
of the row's verified prefix) and 0.0 for a wrong proof, `sorry` and `native_decide`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from prover.rl import verl_reward
from prover.rl.export import export
from prover.rl.records import FeedbackRecord, FeedbackWriter

pytestmark = pytest.mark.lean

S_ADD = "theorem verl_add (a b : Nat) : a + b = b + a := by\n"
S_NUM = "theorem verl_num : 2 + 2 = 4 := by\n"
S_IMP = "theorem verl_imp (p : Prop) (hp : p) : True → p := by\n"
PREFIX = "  intro _h\n"  # `exact hp` closes the goal only after this prefix


class Counting:
    """The session checker, counting the requests that reach it."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.requests: list = []

    def check(self, requests):
        self.requests.extend(requests)
        return self.inner.check(requests)

    def close(self) -> None:
        pass


@pytest.fixture
def checker(embedded_checker) -> Iterator[Counting]:
    counting = Counting(embedded_checker)
    verl_reward.set_checker(counting)
    try:
        yield counting
    finally:
        verl_reward.set_checker(None)


@pytest.fixture
def rows(tmp_path: Path) -> dict[str, dict]:
    """verl rows by problem id, as `prover export --format verl` writes them."""
    records = [
        FeedbackRecord("add", S_ADD, "  rfl\n", "failed", prompt="prompt add"),
        FeedbackRecord("num", S_NUM, "  decide\n", "proved", prompt="prompt num"),
        FeedbackRecord(
            "imp",
            S_IMP,
            PREFIX + "  simp\n",
            "failed",
            prompt="prompt imp",
            prefix=PREFIX,
            completion="  simp\n",
        ),
    ]
    with FeedbackWriter(tmp_path / "rec") as w:
        w.write(records)
    out, n = export(tmp_path / "rec", "verl", tmp_path / "verl.jsonl")
    assert n == 3
    by_id = {}
    for line in out.read_text().splitlines():
        row = json.loads(line)
        by_id[row["extra_info"]["problem_id"]] = row
    assert json.loads(by_id["imp"]["reward_model"]["ground_truth"]) == {
        "formal_statement": S_IMP,
        "header": None,
        "prefix": PREFIX,
    }
    return by_id


def score(row: dict, response: str) -> float:
    return verl_reward.compute_score(
        row["data_source"], response, row["reward_model"]["ground_truth"], row["extra_info"]
    )


CHAT = (
    "First attempt:\n```lean4\n" + S_ADD + "  sorry\n```\n"
    "A better one:\n```lean4\n" + S_ADD + "  omega\n```\nDone."
)

CASES = [  # (problem, response, score)
    ("add", "  omega\n```\ntext after the fence is cut off", 1.0),
    ("add", "  constructor\n", 0.0),
    ("add", "  sorry\n", 0.0),
    ("add", CHAT, 1.0),  # the last ```lean4 block
    ("num", "  decide\n", 1.0),
    ("num", "  native_decide\n", 0.0),
    ("imp", "  exact hp\n", 1.0),  # PREFIX + continuation
]


def test_compute_score_matches_lean(checker: Counting, rows: dict[str, dict]) -> None:
    got = [score(rows[pid], response) for pid, response, _ in CASES]
    assert got == [s for _, _, s in CASES]
    # one verification per call, of the proof the response stands for
    assert len(checker.requests) == len(CASES)
    proofs = [r.proof for r in checker.requests]
    assert proofs[0] == "  omega\n"
    assert proofs[3] == "\n  omega\n"
    assert proofs[6] == PREFIX + "  exact hp\n"
    assert [r.id for r in checker.requests] == [pid for pid, _, _ in CASES]
    assert all(r.header is None and not r.allow_native_decide for r in checker.requests)


def test_prefix_matters(checker: Counting, rows: dict[str, dict]) -> None:
    """The same continuation scores 0.0 against the statement alone (no prefix): the ground
    truth's prefix is what makes it a proof."""
    truth = json.loads(rows["imp"]["reward_model"]["ground_truth"])
    bare = json.dumps({**truth, "prefix": ""})
    assert verl_reward.compute_score("lean4", "  exact hp\n", bare) == 0.0
    assert verl_reward.compute_score("lean4", "  exact hp\n", {**truth}) == 1.0  # a dict works
    assert [r.proof for r in checker.requests] == ["  exact hp\n", PREFIX + "  exact hp\n"]
