"""The plain variant's answers in pure logic (no Lean): which answers each request carries when
some are fixed (`--answers`) and a completion writes the others, across whole-proof sampling and
self-correction rounds, and request validation.  Verdicts come from the scripted stand-in of
tests/toy_lean.py, which proves only what real Lean proves (`1 + 2 = 3`: the answer `b = 2` with
`trivial`; tests/test_fakes_lean.py checks it); real Lean judges answers in
test_answers_lean.py."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from toy_lean import ANSWER_HEADER, ANSWER_STATEMENT, toy_result

from prover.lean.types import CheckRequest, CheckResult
from prover.policy.base import Completion, ProofTask, SamplingParams, merge_answers
from prover.policy.correction import Correction
from search import get_search
from search.base import Budget

TASK = ProofTask(
    ANSWER_STATEMENT,
    header=ANSWER_HEADER,
    name="t",
    answer_slots=("a_solution", "b_solution"),
    answers=(("a_solution", "1"),),  # fixed, as by --answers
)


class Recorder:
    name = "toy"

    def __init__(self) -> None:
        self.requests: list[CheckRequest] = []

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        self.requests += requests
        return [toy_result(r) for r in requests]

    def close(self) -> None:
        pass


class Scripted:
    """Serves `outs` in order: (proof text, answers the completion wrote)."""

    spec = "scripted"

    def __init__(self, outs: list[tuple[str, tuple[tuple[str, str], ...]]]) -> None:
        self.outs = list(outs)
        self.tasks: list[ProofTask] = []

    def generate(
        self, tasks: Sequence[ProofTask], params: SamplingParams
    ) -> list[list[Completion]]:
        self.tasks += tasks
        out = []
        for _ in tasks:
            comps = []
            for _ in range(params.n):
                text, answers = self.outs.pop(0)
                comps.append(Completion(text, prompt="p", answers=answers))
            out.append(comps)
        return out

    def close(self) -> None:
        pass


def test_merge_keeps_fixed_answers_and_adds_a_completions_own() -> None:
    assert merge_answers((("a", "1"),), (("b", "2"),)) == (("a", "1"), ("b", "2"))
    assert merge_answers((("a", "1"),), ()) == (("a", "1"),)
    assert merge_answers((("b", "2"),), (("b", "5"),)) == (("b", "5"),)  # a later round's


def test_sampling_sends_fixed_and_own_answers_and_reports_them() -> None:
    checker = Recorder()
    # b = 9: `trivial` cannot prove 1 + 9 = 3 (Lean fails it too); b = 2 proves it
    policy = Scripted(
        [("\n  trivial", (("b_solution", "9"),)), ("\n  trivial", (("b_solution", "2"),))]
    )
    res = get_search("sample", batch_size=2).run(TASK, policy, checker, Budget(1, 2))
    assert res.solved and res.answers == (("a_solution", "1"), ("b_solution", "2"))
    first, second, final = checker.requests
    assert first.answers == (("a_solution", "1"), ("b_solution", "9"))
    assert second.answers == final.answers == res.answers  # re-verified with its own answers
    assert policy.tasks[0].answer_slots == TASK.answer_slots


def test_a_correction_round_keeps_the_last_answer_unless_it_writes_one() -> None:
    checker = Recorder()
    policy = Scripted(
        [
            ("\n  nope", (("b_solution", "5"),)),
            ("\n  nope2", ()),
            ("\n  trivial", (("b_solution", "2"),)),
        ]
    )
    search = get_search("sample", batch_size=1, correction=Correction(fix_rounds=2))
    res = search.run(TASK, policy, checker, Budget(1, 3))
    assert res.solved and res.answers == (("a_solution", "1"), ("b_solution", "2"))
    answers = [r.answers for r in checker.requests]
    assert answers[:3] == [
        (("a_solution", "1"), ("b_solution", "5")),
        (("a_solution", "1"), ("b_solution", "5")),  # round 1 wrote none: the last one stands
        (("a_solution", "1"), ("b_solution", "2")),
    ]
    # the feedback of round 1 shows the header as Lean judged it, answers in place
    (_, report, _) = policy.tasks[1].corrections[0]
    assert "abbrev b_solution : Nat := 5" in report and "abbrev a_solution : Nat := 1" in report


def test_a_slot_answered_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="answered twice"):
        CheckRequest("theorem t : True := by", " trivial", answers=(("a", "1"), ("a", "2")))
