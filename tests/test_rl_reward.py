"""LeanReward called exactly as TRL's GRPOTrainer calls a reward function (keyword arguments only,
every extra dataset column as a keyword list, plus `completion_ids` and `trainer_state`), for
standard and conversational data; a null or empty header reaches the checker as None (the
backend's default header).  A fake checker, no Lean: it proves only what real Lean proves
(LEAN_PROVES, checked by tests/test_fakes_lean.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from toy_lean import LeanProves

from prover.lean.types import CheckRequest, CheckResult, Verdict
from prover.rl.records import FeedbackWriter, read_records
from prover.rl.reward import LeanReward, proof_of

STMT = "theorem t (a b : Nat) : a + b = b + a := by\n"
ANSWER_HEADER = "abbrev t_solution : Nat := sorry\n"
LEAN_PROVES = LeanProves(
    # `omega` as the reward sends it: a continuation, a chat block's text after the statement
    CheckRequest(STMT, "  omega\n", header_trusted=True),
    CheckRequest(STMT, "\n  omega\n", header_trusted=True),
    *(
        CheckRequest(STMT, p, ANSWER_HEADER, header_trusted=True, answers=(("t_solution", a),))
        for p, a in (("  omega\n\n", "6"), ("  omega\n\n", "2 * 3"), ("\n  omega\n", "6"))
    ),
)


class Capture:
    """Proves the requests in LEAN_PROVES (`omega`), fails the others; remembers every request."""

    name = "fake"

    def __init__(self) -> None:
        self.requests: list[CheckRequest] = []

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        self.requests += requests
        return [CheckResult(LEAN_PROVES.verdict(r)) for r in requests]

    def close(self) -> None:
        pass


class TrainerState:  # stands in for transformers.TrainerState
    global_step = 7


def test_called_like_grpo_trainer_standard_format(tmp_path: Path):
    chk = Capture()
    with FeedbackWriter(tmp_path) as w:
        reward = LeanReward(chk, writer=w, policy="hf:m")
        out = reward(
            prompts=["P1", "P1", "P2"],
            completions=["  omega\n```\nmore", "  simp", "omega"],
            completion_ids=[[1, 2], [3], [4]],
            trainer_state=TrainerState(),
            # the other columns of a `prover export --format grpo` file
            formal_statement=[STMT] * 3,
            header=[None, "", "import Mathlib\n"],
            prefix=["", "", "  intro\n  "],
            problem_id=["minif2f/t", "minif2f/t", "minif2f/u"],
            reward=[1.0, 0.0, 0.0],
        )
    assert out == [1.0, 0.0, 0.0] and len(chk.requests) == 3
    assert [r.header for r in chk.requests] == [None, None, "import Mathlib\n"]
    assert all(r.header_trusted for r in chk.requests)  # the dataset's header, not the model's
    assert chk.requests[2].proof == "  intro\n  omega" and chk.requests[0].id == "minif2f/t"
    recs = list(read_records(tmp_path))
    assert [r.problem_id for r in recs] == ["minif2f/t", "minif2f/t", "minif2f/u"]
    assert [r.header for r in recs] == [None, None, "import Mathlib\n"]
    assert recs[0].prompt == "P1" and recs[2].prefix == "  intro\n  " and recs[0].kind == "sample"


def test_called_like_grpo_trainer_conversational_format():
    chk = Capture()
    reward = LeanReward(chk)
    prompts = [[{"role": "user", "content": "Complete the following Lean 4 code: ..."}]] * 2
    completions = [
        [{"role": "assistant", "content": f"Plan: commute.\n```lean4\n{STMT}  omega\n```"}],
        [{"role": "assistant", "content": "  simp\n```"}],
    ]
    out = reward(
        prompts=prompts,
        completions=completions,
        completion_ids=[[1], [2]],
        trainer_state=TrainerState(),
        formal_statement=[STMT, STMT],
        header=["", ""],
    )
    assert out == [1.0, 0.0]
    # the text after the statement in the block, and a continuation cut at the fence
    assert chk.requests[0].proof == "\n  omega\n" and chk.requests[1].proof == "  simp\n"
    assert all(r.header is None for r in chk.requests)


def test_proof_of():
    assert proof_of("  omega\n```\n```lean4\nx", STMT) == "  omega\n"  # continuation
    assert proof_of("  omega", STMT, prefix="  intro\n") == "  intro\n  omega"
    chat = f"```lean4\nimport Mathlib\n{STMT}  omega\n```\nDone."
    assert proof_of(chat, STMT, prefix="ignored: the block holds the whole proof") == "\n  omega\n"


def test_answer_slots_column_plain_variant():
    """A plain-variant row names its answer slots: each completion's own answer goes to Lean with
    its proof (taken out of the proof text); rows without slots send none."""
    chk = Capture()
    header = "abbrev t_solution : Nat := sorry\n"
    chat = f"```lean4\nabbrev t_solution : Nat := 6\n\n{STMT}  omega\n```"
    completion = "  omega\n\nabbrev t_solution : Nat := 2 * 3\n"
    out = LeanReward(chk)(
        prompts=["p"] * 3,
        completions=[chat, completion, completion],
        formal_statement=[STMT] * 3,
        header=[header] * 3,
        answer_slots=[["t_solution"], ["t_solution"], None],
    )
    assert out == [1.0, 1.0, 0.0]
    assert [r.answers for r in chk.requests] == [
        (("t_solution", "6"),),
        (("t_solution", "2 * 3"),),
        (),
    ]
    assert chk.requests[1].proof.strip() == "omega" and "abbrev" in chk.requests[2].proof


def test_reference_answers_column_pays_only_the_reference():
    """With `reference_answers`, a proof about another answer (even a right one: Lean cannot
    tell it from a restated question) earns nothing."""
    chk = Capture()
    header = "abbrev t_solution : Nat := sorry\n"
    comps = [f"  omega\n\nabbrev t_solution : Nat := {a}\n" for a in ("6", "2 * 3", "6")]
    out = LeanReward(chk)(
        prompts=["p"] * 3,
        completions=comps,
        formal_statement=[STMT] * 3,
        header=[header] * 3,
        answer_slots=[["t_solution"]] * 3,
        reference_answers=[{"t_solution": " 6"}, {"t_solution": "6"}, None],
    )
    assert out == [1.0, 0.0, 1.0]


class Refusing:
    """Answers with the verdict and refusal category named in the proof (unit test of the
    reward's arithmetic; the categories themselves come from Lean: tests/test_checker_lean.py);
    a request in LEAN_PROVES is proved."""

    name = "fake"

    def check(self, reqs):
        out = []
        for r in reqs:
            word = r.proof.strip()
            if r in LEAN_PROVES:
                out.append(CheckResult(Verdict.PROVED))
            else:
                out.append(CheckResult(Verdict.REJECTED, refusal=word))
        return out

    def close(self):
        pass


def test_penalties_per_refusal_category():
    reward = LeanReward(Refusing(), penalties={"code_evaluation": -1.0, "sorry": -0.25})
    stmt = STMT
    got = reward(
        None,
        ["  omega\n", "code_evaluation", "sorry", "set_option"],
        formal_statement=[stmt] * 4,
    )
    assert got == [1.0, -1.0, -0.25, 0.0]
    assert LeanReward(Refusing())(None, ["sorry"], formal_statement=[stmt]) == [0.0]
    with pytest.raises(ValueError, match="unknown refusal categories"):
        LeanReward(Refusing(), penalties={"cheating": -1.0})


def test_every_refusal_category_of_the_lean_program_is_known():
    import re

    from prover.lean.checker import CHECKER_SOURCE
    from prover.lean.types import REFUSAL_CATEGORIES

    src = CHECKER_SOURCE.read_text(encoding="utf-8")
    named = set(re.findall(r'⟨"([a-z_]+)", ', src))
    named |= set(re.findall(r'rej "([a-z_]+)"', src))
    named |= set(re.findall(r'refusal := "([a-z_]+)"', src))
    named |= set(re.findall(r'category.getD "([a-z_]+)"', src))
    assert named and named <= REFUSAL_CATEGORIES, named - REFUSAL_CATEGORIES
