"""Subgoal decomposition (`search/decompose.py`): lemma extraction, re-indentation, the options,
and on real Lean a replayed sketch of a miniF2F-core problem that RMaxTS alone misses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prover.lean.types import TacticStep
from search.decompose import (
    DecomposeConfig,
    Gap,
    fill,
    find_gaps,
    first_goal,
    in_place_statement,
    lemma_statement,
    lemma_type,
    reindent,
)

FIXTURES = Path(__file__).parent / "fixtures"
SKETCHES = FIXTURES / "decompose_sketches.jsonl"
BAD_SKETCH = FIXTURES / "decompose_bad_sketch.jsonl"
CORE = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "minif2f_core.json"
# miniF2F valid, in miniF2F-core; RMaxTS + automation at 1x16 does not prove it (asserted below)
NAME = "amc12_2001_p2"
STATEMENT = (
    "theorem amc12_2001_p2 (a b n : ℕ) (h₀ : 1 ≤ a ∧ a ≤ 9) (h₁ : 0 ≤ b ∧ b ≤ 9) "
    "(h₂ : n = 10 * a + b)\n  (h₃ : n = a * b + a + b) : b = 9 := by\n"
)


def test_first_goal_reads_hypotheses_and_target() -> None:
    goals = (
        "case h\nx y : ℤ\nh₀ : 0 < y\nv : ℕ := 3\nh : x +\n    y = 1\n⊢ x = 26\ncase two\n⊢ True"
    )
    hyps, target = first_goal(goals)
    assert [(h.names, h.type) for h in hyps] == [
        (("x", "y"), "ℤ"),
        (("h₀",), "0 < y"),
        (("v",), "ℕ"),  # a let value is dropped
        (("h",), "x +\n    y = 1"),
    ]
    assert target == "x = 26"


def test_lemma_statement_names_hidden_hypotheses() -> None:
    hyps, target = first_goal("n : ℕ\nh✝ : n > 0\nh✝¹ : n < 9\n⊢ n ≠ 0")
    stmt = lemma_statement("gap_1", hyps, target)
    assert stmt == "theorem gap_1 (n : ℕ) (h_hidden : n > 0) (h_hidden1 : n < 9) : n ≠ 0 := by"
    assert lemma_type(stmt) == "(n : ℕ) (h_hidden : n > 0) (h_hidden1 : n < 9) : n ≠ 0"


def test_reindent_and_fill_put_proofs_at_their_gaps() -> None:
    assert reindent("\n  intro x\n  cases x\n    · rfl", 4) == "intro x\n    cases x\n      · rfl"
    sketch = "\n  have h : P := by\n    sorry\n  have g : Q := by sorry\n  exact g"
    a, b = sketch.index("sorry"), sketch.rindex("sorry")
    gaps = [Gap(1, a, a + 5, 3, 4, ""), Gap(2, b, b + 5, 4, 20, "")]
    out = fill(sketch, gaps, {1: "\n  constructor\n  simp", 2: "\n  omega"})
    assert (
        out
        == "\n  have h : P := by\n    constructor\n    simp\n  have g : Q := by omega\n  exact g"
    )


def _steps(sketch: str) -> list[TacticStep]:
    a, b = sketch.index("sorry"), sketch.rindex("sorry")
    h1 = sketch.index("have h")
    return [
        TacticStep(sketch[h1 : a + 5], h1, a + 5, "⊢ R", "h : P\n⊢ R", 1),
        TacticStep("sorry", a, a + 5, "⊢ P", "no goals", 2),
        TacticStep("sorry", b, b + 5, "h : P\n⊢ R", "no goals", 1),
    ]


def test_find_gaps_and_the_in_place_statement() -> None:
    sketch = "\n  have h : P := by\n    sorry\n  sorry"
    steps = _steps(sketch)
    gaps = find_gaps(sketch, steps)
    assert [(g.index, g.line, g.column, g.goal) for g in gaps] == [
        (1, 3, 4, "⊢ P"),
        (2, 4, 2, "h : P\n⊢ R"),
    ]
    stmt = "theorem t : R := by\n"
    first = in_place_statement(stmt, sketch, gaps, gaps[0], steps, {2: "\n  exact foo"})
    # the gap's goal last: the fixed text one column left of the searched proof's column
    assert first == "theorem t : R := by\n suffices h : P by\n  exact foo\n exact by"
    last = in_place_statement(stmt, sketch, gaps, gaps[1], steps, {1: "\n  trivial"})
    assert last == "theorem t : R := by\n have h : P := by\n   trivial\n exact by"
    with pytest.raises(ValueError, match="not a tactic `sorry`"):
        find_gaps("\n  exact sorry", [])


def test_config_and_options_validate(tmp_path: Path, capsys) -> None:
    from prover.cli import main

    with pytest.raises(ValueError, match="sketches"):
        DecomposeConfig(sketches=0)
    with pytest.raises(ValueError, match="sketch_policy"):
        DecomposeConfig(sketch_policy="nope:x")
    with pytest.raises(ValueError, match="subgoal_search 'sample'"):
        DecomposeConfig(correction={"fix_rounds": 1})  # type: ignore[arg-type]
    assert DecomposeConfig(subgoal_cache="off").cache_dir() is None
    rc = main(["prove", "--statement", STATEMENT, "--search", "decompose"])
    assert rc == 2 and "--sketch-policy" in capsys.readouterr().err
    rc = main(["prove", "--statement", STATEMENT, "--sketch-policy", f"replay:{SKETCHES}"])
    assert rc == 2 and "only applies to --search decompose" in capsys.readouterr().err


# --- real Lean ---------------------------------------------------------------------------------


class _Sink:
    def __init__(self) -> None:
        self.records: list = []

    def record(self, checked, backend: str) -> None:
        self.records += checked


@pytest.mark.lean
def test_decompose_proves_what_rmaxts_misses_and_reuses_cached_lemmas(
    embedded_checker, shared_checker, tmp_path: Path, capsys
) -> None:
    from prover.cli import main
    from prover.lean.types import CheckRequest, Verdict
    from prover.lean.wrappers import RecordingChecker
    from prover.policy.automation import AutomationPolicy
    from prover.policy.base import ProofTask
    from search import get_search
    from search.base import Budget

    header = json.loads(CORE.read_text(encoding="utf-8"))["header"]
    assert NAME in json.loads(CORE.read_text(encoding="utf-8"))["valid"]
    task = ProofTask(formal_statement=STATEMENT, header=header, name=NAME)
    budget = Budget(1, 16)
    alone = get_search("rmaxts", concurrency=4).run(
        task, AutomationPolicy(), embedded_checker, budget
    )
    assert not alone.solved  # RMaxTS with automation does not prove it at 1x16

    # the CLI: sketch with two `have … := by sorry` gaps, automation proves both lemmas
    cache = tmp_path / "subgoals"
    (tmp_path / "p.lean").write_text(header + STATEMENT, encoding="utf-8")
    args = ["prove", str(tmp_path / "p.lean"), "--search", "decompose", "--budget", "1x16"]
    args += ["--subgoal-cache", str(cache), "--json"]
    rc = main([*args, "--sketch-policy", f"replay:{SKETCHES}"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0, out
    assert out["proof"].count("have ") == 2 and "sorry" not in out["proof"]
    assert out["samples"] == 4  # sketch, one sample per lemma, the final check
    (fresh,) = embedded_checker.check(
        [CheckRequest(STATEMENT, out["proof"], header, header_trusted=True)]
    )
    assert fresh.verdict is Verdict.PROVED  # the recomposed proof, one declaration, from scratch

    # a second run reuses both cached lemmas, each re-verified by Lean
    sink = _Sink()
    recording = RecordingChecker(embedded_checker, sink)
    search = get_search("decompose", sketch_policy=f"replay:{SKETCHES}", subgoal_cache=str(cache))
    again = search.run(task, AutomationPolicy(), recording, budget)
    assert again.solved and again.proof == out["proof"]
    assert again.stats["subgoal_cache_hits"] == 2 and again.stats["subgoal_cache_reverified"] == 2
    assert [g["source"] for g in again.stats["gaps"]] == ["cache", "cache"]
    kinds = [(ctx.problem_id, ctx.kind, res.cached) for _, res, ctx in sink.records]
    assert kinds == [
        (NAME, "sketch", False),
        (f"{NAME}/gap1", "final", False),  # the cached lemma proof, re-checked by Lean
        (f"{NAME}/gap2", "final", False),
        (NAME, "final", False),
    ]

    # a sketch that does not elaborate is reported as such, with Lean's error
    rc = main([*args, "--sketch-policy", f"replay:{BAD_SKETCH}"])
    bad = json.loads(capsys.readouterr().out)
    assert rc == 1 and "sketch does not elaborate" in bad["failure"], bad
    assert "Application type mismatch" in bad["failure"] or "mismatch" in bad["failure"]
