"""Truncate-and-resume on hand-written CheckResults (no Lean involved)."""

from __future__ import annotations

from prover.lean.soundness import first_sorry
from prover.lean.types import CheckResult, LeanMessage, TacticStep, Verdict
from search.truncate import (
    NO_GOALS,
    cut_position,
    position_to_offset,
    state_comment,
    truncate_and_resume,
)

ROOT = "p q : Prop\nhp : p\nhq : q\n⊢ p ∧ q"
TWO = "case left\np q : Prop\nhp : p\nhq : q\n⊢ p\n\ncase right\np q : Prop\nhp : p\nhq : q\n⊢ q"
RIGHT = "case right\np q : Prop\nhp : p\nhq : q\n⊢ q"


def step(proof: str, text: str, before: str, after: str, occurrence: int = 0) -> TacticStep:
    start = -1
    for _ in range(occurrence + 1):
        start = proof.index(text, start + 1)
    return TacticStep(text, start, start + len(text), before, after)


def err(line: int, col: int, text: str) -> LeanMessage:
    return LeanMessage("error", line, col, line, col + 1, text)


def test_state_comment_format():
    assert state_comment("a : ℕ\n⊢ a = a", 2) == (
        "  /- tactic state:\n    a : ℕ\n    ⊢ a = a\n  -/\n"
    )


def test_proved_three_steps():
    proof = "\n  constructor\n  exact hp\n  exact hq"
    steps = [
        TacticStep("constructor", 3, 14, ROOT, TWO),
        TacticStep("exact hp", 17, 25, TWO, RIGHT),
        TacticStep("exact hq", 28, 36, RIGHT, NO_GOALS),
    ]
    assert proof[3:14] == "constructor" and proof[28:36] == "exact hq"
    res = CheckResult(Verdict.PROVED, steps=steps, initial_goals=ROOT)
    segs = truncate_and_resume(proof, res, ROOT)
    assert [s.prefix for s in segs] == [
        "\n  constructor\n",
        "\n  constructor\n  exact hp\n",
        "\n  constructor\n  exact hp\n  exact hq\n",
    ]
    assert [s.goals for s in segs] == [TWO, RIGHT, NO_GOALS]
    assert segs[1].comment == state_comment(RIGHT, 2) and segs[1].indent == 2


def test_multiline_have_block_is_one_step():
    proof = "\n  have h : p := by\n    exact hp\n  exact ⟨h, hq⟩"
    after_have = "p q : Prop\nhp : p\nhq : q\nh : p\n⊢ p ∧ q"
    have_text = "have h : p := by\n    exact hp"
    steps = [
        step(proof, have_text, ROOT, after_have),
        step(proof, "exact ⟨h, hq⟩", after_have, NO_GOALS),
    ]
    assert (steps[0].start, steps[0].end) == (3, 32)
    res = CheckResult(Verdict.PROVED, steps=steps, initial_goals=ROOT)
    segs = truncate_and_resume(proof, res, ROOT)
    assert [s.prefix for s in segs] == [
        "\n  have h : p := by\n    exact hp\n",
        "\n  have h : p := by\n    exact hp\n  exact ⟨h, hq⟩\n",
    ]
    assert [s.goals for s in segs] == [after_have, NO_GOALS]


def test_error_inside_have_block_drops_the_block():
    proof = "\n  constructor\n  have h : p := by\n    exact hq\n  exact hp\n  exact hq"
    after_have = TWO.replace("hq : q\n⊢ p", "hq : q\nh : p\n⊢ p", 1)
    steps = [
        step(proof, "constructor", ROOT, TWO),
        step(proof, "have h : p := by\n    exact hq", TWO, after_have),  # error recovery
        step(proof, "exact hp", after_have, RIGHT),
    ]
    # `exact hq` inside the block: line 4, column 4
    res = CheckResult(
        Verdict.FAILED,
        messages=[err(4, 4, "type mismatch\n  hq\nhas type\n  q : Prop")],
        steps=steps,
    )
    assert cut_position(proof, res) == proof.index("exact hq")
    segs = truncate_and_resume(proof, res, ROOT)
    assert [s.prefix for s in segs] == ["\n  constructor\n"]


def test_error_in_the_middle_cuts_there():
    proof = "\n  constructor\n  exact hq\n  exact hq"
    steps = [
        step(proof, "constructor", ROOT, TWO),
        step(proof, "exact hq", TWO, RIGHT),  # recorded as if Lean went on after the error
        step(proof, "exact hq", RIGHT, NO_GOALS, occurrence=1),
    ]
    # Lean reports the mismatch at the start of `exact hq` on line 3 (column 2): offset 15 + 2
    res = CheckResult(Verdict.FAILED, messages=[err(3, 2, "type mismatch")], steps=steps)
    assert cut_position(proof, res) == 17
    segs = truncate_and_resume(proof, res, ROOT)
    assert [(s.prefix, s.goals) for s in segs] == [("\n  constructor\n", TWO)]


def test_unsolved_goals_only_does_not_cut():
    proof = "\n  constructor\n  exact hp"
    steps = [step(proof, "constructor", ROOT, TWO), step(proof, "exact hp", TWO, RIGHT)]
    res = CheckResult(
        Verdict.INCOMPLETE,
        messages=[err(0, 52, "unsolved goals\n" + RIGHT), err(2, 2, "unsolved goals\n" + RIGHT)],
        first_error=err(0, 52, "unsolved goals\n" + RIGHT),
        steps=steps,
    )
    assert cut_position(proof, res) == len(proof)
    segs = truncate_and_resume(proof, res, ROOT)
    assert [s.goals for s in segs] == [TWO, RIGHT]
    assert segs[-1].prefix == "\n  constructor\n  exact hp\n"


def test_sorry_cuts_and_never_counts_as_progress():
    proof = "\n  constructor\n  · exact hp\n  · sorry"
    steps = [
        step(proof, "constructor", ROOT, TWO),
        step(proof, "· exact hp", TWO, RIGHT),
        step(proof, "· sorry", RIGHT, NO_GOALS),
    ]
    res = CheckResult(Verdict.INCOMPLETE, reason="proof uses sorry", steps=steps)
    assert first_sorry(proof) == proof.index("sorry")
    segs = truncate_and_resume(proof, res, ROOT)
    assert [s.goals for s in segs] == [TWO, RIGHT]
    assert NO_GOALS not in [s.goals for s in segs]
    # `sorry` in a comment or inside an identifier is not a sorry
    assert first_sorry("\n  simp -- sorry\n  /- sorry -/ exact sorry_free") is None


def test_duplicate_goals_are_skipped_and_text_carries():
    proof = "\n  skip\n  constructor\n  show p\n  exact hp\n  exact hq"
    steps = [
        step(proof, "skip", ROOT, ROOT),  # same as the root goal: no node
        step(proof, "constructor", ROOT, TWO),
        step(proof, "show p", TWO, TWO),  # same as the previous goal: no node
        step(proof, "exact hp", TWO, RIGHT),
        step(proof, "exact hq", RIGHT, NO_GOALS),
    ]
    res = CheckResult(Verdict.PROVED, steps=steps)
    segs = truncate_and_resume(proof, res, ROOT)
    assert [s.prefix for s in segs] == [
        "\n  skip\n  constructor\n",
        "\n  skip\n  constructor\n  show p\n  exact hp\n",
        proof + "\n",
    ]
    assert [s.goals for s in segs] == [TWO, RIGHT, NO_GOALS]


def test_token_limit_skips_long_prefixes():
    proof = "\n  constructor\n  exact hp\n  exact hq"
    steps = [
        step(proof, "constructor", ROOT, TWO),
        step(proof, "exact hp", TWO, RIGHT),
        step(proof, "exact hq", RIGHT, NO_GOALS),
    ]
    res = CheckResult(Verdict.PROVED, steps=steps)
    # 1 token per character, no comment: prefixes have 15, 26, 37 characters
    segs = truncate_and_resume(
        proof, res, ROOT, with_state_comment=False, max_tokens=30, count_tokens=len
    )
    assert [len(s.prefix) for s in segs] == [15, 26]
    # with the state comments (long goals) the first prompt does not fit in 120 characters
    assert len("\n  constructor\n" + state_comment(TWO, 2)) == 163
    assert len("\n  constructor\n  exact hp\n" + state_comment(RIGHT, 2)) == 110
    segs = truncate_and_resume(proof, res, ROOT, max_tokens=120, count_tokens=len)
    assert [(len(s.prefix), s.goals) for s in segs] == [(26, RIGHT), (37, NO_GOALS)]


def test_steps_on_one_line_are_merged():
    proof = "\n  constructor; exact hp\n  exact hq"
    steps = [
        step(proof, "constructor", ROOT, TWO),
        step(proof, "exact hp", TWO, RIGHT),
        step(proof, "exact hq", RIGHT, NO_GOALS),
    ]
    res = CheckResult(Verdict.PROVED, steps=steps)
    segs = truncate_and_resume(proof, res, ROOT)
    assert [(s.prefix, s.goals) for s in segs] == [
        ("\n  constructor; exact hp\n", RIGHT),
        (proof + "\n", NO_GOALS),
    ]


def test_non_ascii_offsets_are_code_points():
    # statement: theorem t (S : Set ℕ) (x : ℕ) (h₀ : x ∈ S) : x ∈ S := by
    root = "S : Set ℕ\nx : ℕ\nh₀ : x ∈ S\n⊢ x ∈ S"
    after = "S : Set ℕ\nx : ℕ\nh₀ h₁ : x ∈ S\n⊢ x ∈ S"
    proof = "\n  have h₁ : x ∈ S := h₀\n  exact h₂"
    # line 2 is 23 code points (offsets 1..24), line 3 starts at 25; `h₂` at column 8 -> 33
    steps = [
        TacticStep("have h₁ : x ∈ S := h₀", 3, 24, root, after),
        TacticStep("exact h₂", 27, 35, after, NO_GOALS),
    ]
    assert proof[3:24] == "have h₁ : x ∈ S := h₀" and proof[27:35] == "exact h₂"
    assert position_to_offset(proof, 3, 8) == 33 and proof[33:35] == "h₂"
    res = CheckResult(
        Verdict.FAILED,
        messages=[LeanMessage("error", 3, 8, 3, 10, "unknown identifier 'h₂'")],
        steps=steps,
    )
    assert cut_position(proof, res) == 33
    segs = truncate_and_resume(proof, res, root)
    assert [(s.prefix, s.goals) for s in segs] == [("\n  have h₁ : x ∈ S := h₀\n", after)]


def test_untrustworthy_verdicts_insert_nothing():
    proof = "\n  constructor"
    steps = [step(proof, "constructor", ROOT, TWO)]
    for verdict in (Verdict.TIMEOUT, Verdict.REJECTED, Verdict.ERROR):
        assert truncate_and_resume(proof, CheckResult(verdict, steps=steps), ROOT) == []
    assert truncate_and_resume(proof, CheckResult(Verdict.FAILED, steps=None), ROOT) == []
