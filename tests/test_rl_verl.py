"""`prover export --format verl` writes verl's RLHFDataset columns, and
`prover.rl.verl_reward.compute_score` scores one response per call against the row's ground
truth through one lazily created, reused checker.  A fake checker, no Lean."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from toy_lean import LeanProves

from prover.lean.types import CheckRequest, CheckResult
from prover.rl import verl_reward
from prover.rl.export import export
from prover.rl.records import FeedbackRecord, FeedbackWriter

STMT = "theorem t (a b : Nat) : a + b = b + a := by\n"
HEADER = "open Nat\n"  # a dataset's (trusted) header
ANSWER_HEADER = "abbrev t_solution : Nat := sorry\n"

# What real Lean proves among the requests this file scores: `omega`, optionally after a `show`
# that restates the goal, with every tactic at the block's indentation (tests/test_fakes_lean.py
# checks each).  `intro` fails (the goal `a + b = b + a` has no binders) and a tactic indented
# less than the first one ends the `by` block, so Lean rejects e.g. "  show ...\nomega".
LEAN_PROVES = LeanProves(
    CheckRequest(STMT, "  omega\n", header_trusted=True),
    CheckRequest(STMT, "\n  omega\n", header_trusted=True),
    CheckRequest(STMT, "  show a + b = b + a\n  omega", HEADER, header_trusted=True),
    CheckRequest(
        STMT, "  omega\n\n", ANSWER_HEADER, header_trusted=True, answers=(("t_solution", "6"),)
    ),
)


class Counting:
    """A fake checker that records its batches.  It stays a fake because this file tests the
    verl adapter (one check per call, one shared checker, ground-truth parsing, proof extraction),
    not Lean, and must run without a Lean install; `tests/test_rl_reward_lean.py` scores proofs
    with real Lean.  It proves exactly the requests in LEAN_PROVES, each proved by real Lean;
    everything else fails."""

    name = "fake"

    def __init__(self) -> None:
        self.batches: list[list[CheckRequest]] = []

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        assert all(r.formal_statement == STMT for r in requests)
        self.batches.append(list(requests))
        return [CheckResult(LEAN_PROVES.verdict(r)) for r in requests]

    def close(self) -> None:
        pass


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Counting]]:
    """Checkers the adapter creates (make_checker replaced by a fake)."""
    import prover.lean

    made: list[Counting] = []

    def fake_make_checker(backend: str = "auto", **options: object) -> Counting:
        made.append(Counting())
        return made[-1]

    monkeypatch.setattr(prover.lean, "make_checker", fake_make_checker)
    verl_reward.set_checker(None)
    yield made
    verl_reward.set_checker(None)


def _records(tmp_path: Path) -> Path:
    def rec(pid: str, proof: str, verdict: str, header: str | None, **kw) -> FeedbackRecord:
        return FeedbackRecord(
            problem_id=pid,
            formal_statement=STMT,
            proof=proof,
            verdict=verdict,
            header=header,
            prompt=f"PROMPT {pid}",
            **kw,
        )

    with FeedbackWriter(tmp_path) as w:
        w.write(
            [
                rec("minif2f/t", "  omega", "proved", None),
                rec("minif2f/t", "  simp", "failed", None),  # same prompt: one row
                rec(
                    "proofnet/valid/3",
                    "  rfl",
                    "failed",
                    HEADER,
                    prefix="  show a + b = b + a\n",
                ),
                rec("minif2f/t", "  sorry", "incomplete", None, kind="precheck"),
            ]
        )
    return tmp_path


def test_verl_export_columns(tmp_path: Path):
    from datasets import load_dataset

    d = _records(tmp_path / "run")
    path, n = export(d, "verl", tmp_path / "train.parquet")
    assert n == 2
    ds = load_dataset("parquet", data_files=str(path), split="train", cache_dir=str(tmp_path / "h"))
    assert ds.column_names == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    row = ds[0]
    assert row["data_source"] == "lean4"
    assert row["prompt"] == [{"role": "user", "content": "PROMPT minif2f/t"}]
    assert row["reward_model"]["style"] == "rule"
    assert json.loads(row["reward_model"]["ground_truth"]) == {
        "formal_statement": STMT,
        "header": None,
        "prefix": "",
    }
    assert row["extra_info"] == {"index": 0, "problem_id": "minif2f/t", "refusals": []}
    gt = json.loads(ds[1]["reward_model"]["ground_truth"])
    assert gt["header"] == HEADER and gt["prefix"] == "  show a + b = b + a\n"


def test_compute_score_one_check_per_call_shared_checker(tmp_path: Path, made: list[Counting]):
    d = _records(tmp_path / "run")
    path, _ = export(d, "verl", tmp_path / "train.jsonl")
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    gt0, gt1 = (r["reward_model"]["ground_truth"] for r in rows)
    score = verl_reward.compute_score
    assert score("lean4", "  omega\n```", gt0, rows[0]["extra_info"]) == 1.0
    assert score("lean4", "  simp", gt0) == 0.0
    assert score("lean4", f"```lean4\n{STMT}  omega\n```", gt0) == 1.0  # a chat answer
    assert score("lean4", "  omega", gt1, backend="native", timeout_s=5) == 1.0  # after prefix
    assert score("lean4", "omega", gt1) == 0.0  # indented less than the prefix: not in the block
    intro = {"formal_statement": STMT, "header": None, "prefix": "  intro\n"}
    assert score("lean4", "  omega", intro) == 0.0  # `intro` fails: the goal has no binders
    assert len(made) == 1  # created on the first call, reused afterwards
    batches = made[0].batches
    assert [len(b) for b in batches] == [1] * 6
    assert batches[0][0].header is None and batches[0][0].id == "minif2f/t"
    assert batches[3][0].proof == "  show a + b = b + a\n  omega"
    assert batches[3][0].header == HEADER and batches[3][0].header_trusted
    assert batches[4][0].proof == "  show a + b = b + a\nomega"
    assert batches[5][0].proof == "  intro\n  omega"
    with pytest.raises(ValueError, match="ground_truth"):
        score("lean4", "omega", "42")
    # a plain-variant row: the response writes the answer, which goes to Lean with the proof
    plain = {"formal_statement": STMT, "header": ANSWER_HEADER}
    plain["answer_slots"] = ["t_solution"]
    score("lean4", "  omega\n\nabbrev t_solution : Nat := 6\n", plain)
    (last,) = made[0].batches[-1]
    assert last.answers == (("t_solution", "6"),) and last.proof.strip() == "omega"
