"""RMaxTS and whole-proof sampling against the real embedded Lean checker (slow: each checker
call starts Lean).  A scripted policy proposes tactics step by step, mixing in wrong ones."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from prover.lean.types import CheckRequest, Verdict
from prover.policy.base import Completion, ProofTask, SamplingParams
from search import get_search
from search.base import Budget

pytestmark = pytest.mark.lean

STATEMENT = "theorem and_intro_test (p q : Prop) (hp : p) (hq : q) : p ∧ q := by"
# candidates for the next tactic after 0, 1, 2 verified tactic lines; the first is right
NEXT = [
    ["constructor", "exact hq", "intro h"],
    ["exact hp", "exact hq", "simp_all_wrong"],
    ["exact hq", "exact hp", "rfl"],
]


class StepwisePolicy:
    """Proposes exactly one next tactic line; batch position i gets candidate (i + seed) % 3."""

    spec = "scripted-steps"

    def generate(
        self, tasks: Sequence[ProofTask], params: SamplingParams
    ) -> list[list[Completion]]:
        out = []
        for i, t in enumerate(tasks):
            depth = len([ln for ln in t.prefix.split("\n") if ln.strip()])
            cands = NEXT[min(depth, 2)]
            lead = "" if t.prefix.endswith("\n") else "\n"
            out.append(
                [
                    Completion(text=lead + "  " + cands[(i + j + (params.seed or 0)) % 3])
                    for j in range(params.n)
                ]
            )
        return out

    def close(self) -> None:
        pass


class WholeProofPolicy:
    """Whole proofs, mostly wrong; one in four is right."""

    spec = "scripted-whole"

    def generate(self, tasks, params):
        proofs = [
            "\n  constructor\n  exact hq\n  exact hp",
            "\n  exact ⟨hq, hp⟩",
            "\n  constructor\n  · exact hp\n  · exact hq",
            "\n  constructor\n  sorry",
        ]
        return [[Completion(text=proofs[j % 4]) for j in range(params.n)] for _ in tasks]

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def checker():
    lean = pytest.importorskip("prover.lean")
    try:
        c = lean.make_checker("embedded", cache=False)
    except Exception as exc:  # not installed in this environment
        pytest.skip(f"embedded Lean checker unavailable: {exc}")
    yield c
    c.close()


def _fresh_check(checker, proof: str):
    (res,) = checker.check([CheckRequest(STATEMENT, proof, want_steps=False)])
    return res


def test_rmaxts_proves_multi_step_theorem_with_lean(checker, tmp_path):
    task = ProofTask(formal_statement=STATEMENT, name="and_intro_test")
    search = get_search("rmaxts", concurrency=4, checkpoint_every=4)
    res = search.run(task, StepwisePolicy(), checker, Budget(1, 32), checkpoint_dir=tmp_path)
    assert res.solved, res.failure
    assert res.found_at is not None and res.samples_used == res.found_at <= 32
    tactics = [ln.strip() for ln in res.proof.split("\n") if ln.strip()]
    assert len(tactics) >= 2 and tactics[0] == "constructor"
    assert res.stats["nodes"] >= 4 and res.stats["max_depth"] >= 3
    assert _fresh_check(checker, res.proof).verdict is Verdict.PROVED
    assert any(tmp_path.glob("rmaxts-*.run0.json"))


def test_sampling_proves_with_lean(checker):
    task = ProofTask(formal_statement=STATEMENT, name="and_intro_test")
    res = get_search("sample", batch_size=4).run(task, WholeProofPolicy(), checker, Budget(1, 8))
    assert res.solved and res.found_at == 3 and res.samples_used == 3
    assert re.search(r"· exact hq", res.proof)
    assert _fresh_check(checker, res.proof).verdict is Verdict.PROVED
