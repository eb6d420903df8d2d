"""The model-free `automation` policy: goal parsing, candidates, ranking without replacement."""

from __future__ import annotations

import pytest

from prover.policy.automation import (
    ONE_SHOT,
    AutomationConfig,
    AutomationPolicy,
    Goal,
    step_candidates,
)
from prover.policy.base import ProofTask, SamplingParams

STMT = "theorem t (a b : ℕ) (h₀ : a = 2 ∧ b = 3) : a + b = 5 := by"
GOALS = "a b : ℕ\nh₀ : a = 2 ∧ b = 3\n⊢ a + b = 5"


def _texts(policy: AutomationPolicy, task: ProofTask, n: int, **kw: object) -> list[str]:
    (out,) = policy.generate([task], SamplingParams(n=n, **kw))  # type: ignore[arg-type]
    return [c.text for c in out]


def test_goal_parse_splits_grouped_hypotheses_and_target() -> None:
    g = Goal.parse(GOALS)
    assert g is not None
    assert g.hyps == (("a", "ℕ"), ("b", "ℕ"), ("h₀", "a = 2 ∧ b = 3"))
    assert g.target == "a + b = 5"
    assert Goal.parse("no goals") is None


def test_candidates_read_the_goal() -> None:
    g = Goal.parse("x : ℕ\nh : x = 1 ∨ x = 2\n⊢ ∀ (n : ℕ), n + x ≥ x ∧ True")
    cands = dict(step_candidates(g))
    assert "rcases h with h | h <;> simp_all <;> omega" in cands
    assert "intro n" in cands and cands["intro n"] > cands["intros"]
    assert "constructor" not in cands  # the `∧` is under the binder, not the goal's head
    cands = dict(step_candidates(Goal.parse("x : ℕ\n⊢ x ≥ 0 ∧ (x = 0 ∨ x > 0)")))
    assert "constructor" in cands and "left" in cands
    assert any(c.startswith("induction x") for c in cands)
    assert max(cands, key=lambda c: cands[c]) == ONE_SHOT


def test_first_sample_is_the_one_shot_then_no_repeats_until_exhausted() -> None:
    policy = AutomationPolicy()
    whole = ProofTask(formal_statement=STMT)
    first = _texts(policy, whole, 1, temperature=1.0)
    assert first == [f"\n  {ONE_SHOT}\n"]
    step = ProofTask(formal_statement=STMT, goals=GOALS)
    seen: list[str] = []
    n_cands = len(step_candidates(Goal.parse(GOALS)))
    for _ in range(n_cands):  # one at a time, as a tree search re-expanding a node asks
        seen += _texts(policy, step, 1, temperature=1.0, seed=len(seen))
    assert seen[0] == f"\n  {ONE_SHOT}\n"
    assert len(set(seen)) == n_cands  # every candidate once, whatever the per-call seed
    more = _texts(policy, step, 3, temperature=1.0)  # used up: repeats by weight
    assert len(more) == 3 and set(more) <= set(seen)


def test_ranking_is_reproducible_per_config_seed() -> None:
    step = ProofTask(formal_statement=STMT, goals=GOALS)
    a = _texts(AutomationPolicy(seed=1), step, 8)
    b = _texts(AutomationPolicy(seed=1), step, 8)
    c = _texts(AutomationPolicy(seed=2), step, 8)
    assert a == b
    assert a[0] == c[0] and a != c
    greedy = _texts(AutomationPolicy(), step, 4, temperature=0.0)
    weights = dict(step_candidates(Goal.parse(GOALS)))
    assert [weights[t.strip()] for t in greedy] == sorted(
        (weights[t.strip()] for t in greedy), reverse=True
    )


def test_continuation_is_at_the_proofs_base_indentation() -> None:
    task = ProofTask(formal_statement=STMT, prefix="  constructor\n  · simp\n    ", goals=GOALS)
    (text,) = _texts(AutomationPolicy(), task, 1)
    assert text == f"\n  {ONE_SHOT}\n"
    # after a closed multi-line `have` block: the top level, not inside the block
    have = "  have h : a = 2 := by\n    omega\n"
    (text,) = _texts(AutomationPolicy(), ProofTask(STMT, prefix=have, goals=GOALS), 1)
    assert text == f"  {ONE_SHOT}\n"
    (text,) = _texts(AutomationPolicy(), ProofTask(STMT, prefix="\n    exact h", goals=GOALS), 1)
    assert text == f"\n    {ONE_SHOT}\n"  # a proof indented by 4 continues at 4
    task = ProofTask(formal_statement=STMT, prefix="  obtain ⟨h1, h2⟩ := h₀", goals=GOALS)
    (text,) = _texts(AutomationPolicy(), task, 1)
    assert text == f"\n  {ONE_SHOT}\n"


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="memory"):
        AutomationConfig(memory=0)


def test_residue_split_for_modular_goals() -> None:
    g = Goal.parse("n : ℕ\n⊢ 3 ∣ n ^ 3 + 2 * n")
    cands = dict(step_candidates(g))
    split = [
        c for c in cands if c.startswith("rcases (by omega : n % 3 = 0 ∨ n % 3 = 1 ∨ n % 3 = 2)")
    ]
    assert len(split) == 1 and "Nat.pow_mod" in split[0]
    g = Goal.parse("a : ℤ\n⊢ a ^ 2 % 4 = 0 ∨ a ^ 2 % 4 = 1")
    split = [c for c in dict(step_candidates(g)) if c.startswith("rcases")]
    assert len(split) == 1 and "a % 4 = 3" in split[0] and "Int.mul_emod" in split[0]
    assert not [c for c in dict(step_candidates(Goal.parse("a : ℤ\n⊢ a + 1 > a"))) if "%" in c]
