"""Real Lean + Mathlib: the in-Lean checker (`lean_project/ProverChecker.lean`) run by
`lake env lean` in a built `lean_project/` (setup_native.sh).

Run with:  PROVER_NATIVE=1 .venv/bin/python -m pytest -m native tests/test_native_integration.py
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from prover.lean.checker import CheckerConfig, LeanChecker
from prover.lean.native import NativeChecker
from prover.lean.types import CheckRequest, Verdict

pytestmark = [
    pytest.mark.native,
    pytest.mark.skipif(
        os.environ.get("PROVER_NATIVE") != "1",
        reason="native Lean backend: set PROVER_NATIVE=1 after `bash lean_project/setup_native.sh`",
    ),
]


@pytest.fixture(scope="module")
def checker() -> Iterator[LeanChecker]:
    # a generous first-use limit: importing Mathlib into a fresh process takes a while
    config = CheckerConfig(workers=2, memory_mb=32768, timeout_s=300.0, header_timeout_s=1200.0)
    with NativeChecker(config) as c:
        yield c


@pytest.fixture(scope="module", params=[True, False], ids=["screen-on", "screen-off"])
def screened(request: pytest.FixtureRequest, checker: LeanChecker) -> LeanChecker:
    """The shared checker with the Python screen on and off (Lean decides either way)."""
    return checker.with_screen(request.param)


def test_proved_with_steps(checker: LeanChecker) -> None:
    req = CheckRequest(
        "theorem native_t1 (x : ℝ) (h₀ : x = 2) : x + 1 = 3 := by\n",
        "  subst h₀\n  norm_num",
        want_steps=True,
    )
    (res,) = checker.check([req])
    assert res.verdict is Verdict.PROVED, res.to_json()
    assert res.backend == "native" and res.lean_version
    assert res.steps is not None and [s.text for s in res.steps] == ["subst h₀", "norm_num"]
    assert all(s.depth == 1 for s in res.steps)
    assert res.steps[-1].goals_after == "no goals"
    assert "h₀ : x = 2" in res.initial_goals
    assert res.verified_prefix == req.proof


def test_failed_with_code_point_position(checker: LeanChecker) -> None:
    proof = "\n  have h₁ : x ∈ S ∧ True := h₀\n  exact h₁"
    req = CheckRequest(
        "theorem native_t2 (S : Set ℕ) (x : ℕ) (h₀ : x ∈ S) : x ∈ S ∧ True := by", proof
    )
    (res,) = checker.check([req])
    assert res.verdict is Verdict.FAILED, res.to_json()
    err = res.first_error
    assert err is not None and err.line == 2
    # `∈` and the subscripts are multi-byte in UTF-8: the columns count code points
    assert proof.split("\n")[1][err.column : err.end_column] == "h₀"
    assert res.verified_prefix == "\n"


def test_unsolved_goals_and_sorry_incomplete(checker: LeanChecker) -> None:
    stmt = "theorem native_t3 (a b : ℕ) (h₀ : a = b) : a + 0 = b ∧ b = a := by\n"
    res = checker.check(
        [
            CheckRequest(stmt, "  constructor\n  · simp [h₀]"),
            CheckRequest(stmt.replace("native_t3", "native_t4"), "  sorry"),
        ]
    )
    assert [r.verdict for r in res] == [Verdict.INCOMPLETE, Verdict.INCOMPLETE], [
        r.to_json() for r in res
    ]
    unsolved = res[0].first_error
    assert unsolved is not None and unsolved.text.startswith("unsolved goals")
    assert res[1].verified_prefix == ""


def test_native_decide_rejected_by_default(screened: LeanChecker) -> None:
    stmt = "theorem native_t5 : 2 ^ 10 % 7 = 2 := by\n"
    (res,) = screened.check([CheckRequest(stmt, "  native_decide")])
    assert res.verdict is Verdict.REJECTED, res.to_json()
    assert "native_decide" in (res.reason or "")
    stmt2 = stmt.replace("native_t5", "native_t6")
    (ok,) = screened.check([CheckRequest(stmt2, "  native_decide", allow_native_decide=True)])
    assert ok.verdict is Verdict.PROVED, ok.to_json()


def test_example_statement(checker: LeanChecker) -> None:
    (res,) = checker.check([CheckRequest("example (n : ℕ) : n + 0 = n := by\n", "  simp")])
    assert res.verdict is Verdict.PROVED, res.to_json()


def test_false_statement_is_not_proved(screened: LeanChecker) -> None:
    """The standard axiom rule of full `.olean`s: a proof through an axiom of its own or
    `sorryAx` is never `proved`."""
    stmt = "theorem native_t7 : (2 : ℝ) + 2 = 5 := by\n"
    res = screened.check(
        [
            CheckRequest(stmt, "  sorry"),
            CheckRequest(stmt.replace("native_t7", "native_t8"), "  norm_num"),
        ]
    )
    assert all(r.verdict is not Verdict.PROVED for r in res), [r.to_json() for r in res]
