"""RMaxTS (automation policy) and whole-proof sampling (a scripted policy, mostly wrong) against
the real embedded Lean checker; every proof found is checked again from scratch."""

from __future__ import annotations

import re

import pytest

from prover.lean.types import CheckRequest, Verdict
from prover.policy.automation import AutomationPolicy
from prover.policy.base import Completion, ProofTask
from search import get_search
from search.base import Budget

pytestmark = pytest.mark.lean

STATEMENT = "theorem and_intro_test (p q : Prop) (hp : p) (hq : q) : p ∧ q := by"


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


@pytest.fixture
def checker(embedded_checker):
    """The session's real embedded checker (conftest): a missing Lean fails these tests, it
    never skips them."""
    return embedded_checker


def _fresh_check(checker, proof: str):
    (res,) = checker.check([CheckRequest(STATEMENT, proof, want_steps=False)])
    return res


def test_rmaxts_with_automation_proves_a_two_step_theorem(checker, tmp_path):
    # no single automation candidate closes it at the root (the residue split needs the
    # variable introduced first), so the proof must be grown: `intro a`, then the split
    stmt = "theorem sq_mod_four : ∀ a : Int, a ^ 2 % 4 = 0 ∨ a ^ 2 % 4 = 1 := by"
    task = ProofTask(formal_statement=stmt, name="sq_mod_four")
    search = get_search("rmaxts", concurrency=4, checkpoint_every=4)
    res = search.run(task, AutomationPolicy(), checker, Budget(1, 24), checkpoint_dir=tmp_path)
    assert res.solved, res.failure
    assert res.found_at is not None and res.samples_used == res.found_at <= 24
    tactics = [ln.strip() for ln in res.proof.split("\n") if ln.strip()]
    assert len(tactics) >= 2 and tactics[0].startswith("intro"), res.proof
    assert res.stats["nodes"] >= 2 and res.stats["max_depth"] >= 1
    (again,) = checker.check([CheckRequest(stmt, res.proof, want_steps=False)])
    assert again.verdict is Verdict.PROVED
    assert any(tmp_path.glob("rmaxts-*.run0.json"))


def test_sampling_proves_with_lean(checker):
    task = ProofTask(formal_statement=STATEMENT, name="and_intro_test")
    res = get_search("sample", batch_size=4).run(task, WholeProofPolicy(), checker, Budget(1, 8))
    assert res.solved and res.found_at == 3 and res.samples_used == 3
    assert re.search(r"· exact hq", res.proof)
    assert _fresh_check(checker, res.proof).verdict is Verdict.PROVED


class HaveBlockPolicy:
    """Root: a proof whose `have` block goes wrong after its first tactic.  Inside the block
    (a prefix ending in the block's `constructor`): the right continuation."""

    spec = "scripted-have"

    def __init__(self) -> None:
        self.prefixes: list[str] = []

    def generate(self, tasks, params):
        out = []
        for t in tasks:
            self.prefixes.append(t.prefix)
            if t.prefix.endswith("    constructor\n"):
                text = "    · exact hq\n    · exact hp\n  exact ⟨h.2, h.1⟩"
            else:
                text = (
                    "\n  have h : q ∧ p := by\n    constructor\n    · exact hp\n  exact ⟨h.2, h.1⟩"
                )
            out.append([Completion(text=text) for _ in range(params.n)])
        return out

    def close(self) -> None:
        pass


def test_rmaxts_cuts_inside_a_have_block_and_resumes_there(checker):
    """Truncate-and-resume at a nested tactic: the node after the `have` block's `constructor`
    (goal: the block's own `q ∧ p` split) is expanded and the proof is finished from there."""
    policy = HaveBlockPolicy()
    task = ProofTask(formal_statement=STATEMENT, name="and_intro_test")
    search = get_search("rmaxts", concurrency=1)
    res = search.run(task, policy, checker, Budget(1, 12))
    assert res.solved, res.failure
    inside = "\n  have h : q ∧ p := by\n    constructor\n"
    assert inside in policy.prefixes  # a node whose prefix ends inside the block was expanded
    assert res.proof.startswith(inside + "    · exact hq")
    assert _fresh_check(checker, res.proof).verdict is Verdict.PROVED


HEAVY = (
    "theorem hb_prefix (a b : Nat) (h : a < b) : "
    "a + 1 ≤ b ∧ ∀ x y z w : Nat, (x + y + z + w) ^ 6 = (w + z + y + x) ^ 6 := by"
)
# three steps Lean elaborates, then a `simp` that runs out of heartbeats (limit 1000)
HEAVY_PROOF = (
    "\n  have h1 : a + 1 ≤ b := by omega\n  refine ⟨h1, ?_⟩\n  intro x y z w\n"
    "  simp only [Nat.pow_succ, Nat.pow_zero, Nat.mul_add, Nat.add_mul, Nat.one_mul]"
)


def test_a_heartbeat_timeout_keeps_the_steps_lean_elaborated_before_it(checker):
    """Lean's heartbeat limit aborts the proof in its last step; the steps before it were
    elaborated (with their states), and as in DeepSeek-Prover-V1.5's reference they become
    tree nodes.  A view of the session checker (same process) runs the items with
    maxHeartbeats 1000."""
    import copy
    import dataclasses

    from search.rmaxts import RMaxTS

    view = copy.copy(checker)
    view.config = dataclasses.replace(checker.config, heartbeats=1000)
    seen = []

    class Recording:
        name = view.name

        def check(self, reqs):
            out = view.check(reqs)
            seen.extend(out)
            return out

    class Heavy:
        spec = "heavy"

        def generate(self, tasks, params):
            return [[Completion(text=HEAVY_PROOF)] for _ in tasks]

        def close(self) -> None:
            pass

    res = RMaxTS(concurrency=1).run(
        ProofTask(formal_statement=HEAVY, name="hb_prefix"), Heavy(), Recording(), Budget(1, 1)
    )
    probe, sample = seen
    assert sample.verdict is Verdict.TIMEOUT and sample.steps, sample
    assert "maximum number of heartbeats (1000)" in sample.first_error.text  # Lean's own limit
    assert not res.solved and res.stats["nodes"] == 4 and res.stats["max_depth"] == 3
    assert res.best_partial == HEAVY_PROOF[: HEAVY_PROOF.index("  simp")]


class RoundPolicy:
    """One round of whole proofs (RMaxTS's root samples): the first is a proof, the second
    a runaway (a `have` by `decide +kernel` over 160 x 160 products: ~27 s of kernel time,
    measured, where heartbeats do not reach), the rest cheap failures."""

    spec = "scripted-round"
    RUNAWAY = (
        "\n  have : (List.range 160).all fun a => (List.range 160).all fun b => a * b < 25600 :="
        "\n    by decide +kernel\n  exact ⟨hp, hq⟩"
    )

    def generate(self, tasks, params):
        proofs = ["\n  exact ⟨hp, hq⟩", self.RUNAWAY, "\n  exact ⟨hq, hp⟩", "\n  rfl"]
        return [[Completion(text=proofs[j % 4]) for j in range(params.n)] for _ in tasks]

    def close(self) -> None:
        pass


def test_a_round_stops_at_its_first_proof_before_the_runaway(checker):
    """A round [proved, runaway, ...]: once the first sample is proved, the samples after it
    are never sent to Lean (the runaway costs nothing), and the accounting says so."""
    sent: list[str] = []

    class Recording:  # what reaches Lean (one worker: the search sends one item at a time)
        name = "recording"

        def __init__(self, inner):
            self.inner = inner

        def check(self, requests):
            sent.extend(r.proof for r in requests)
            return self.inner.check(requests)

        def __getattr__(self, attr):
            return getattr(self.inner, attr)

    stmt = "theorem t_round (p q : Prop) (hp : p) (hq : q) : p ∧ q := by"
    task = ProofTask(formal_statement=stmt, name="t_round")
    search = get_search("rmaxts", concurrency=4)
    res = search.run(task, RoundPolicy(), Recording(checker), Budget(1, 8))
    assert res.solved and res.found_at == 1, res
    assert RoundPolicy.RUNAWAY not in sent, sent
    assert "\n  exact ⟨hq, hp⟩" not in sent and "\n  rfl" not in sent
    (again,) = checker.check([CheckRequest(stmt, res.proof, want_steps=False)])
    assert again.verdict is Verdict.PROVED
