"""`prover audit` without Lean: how statements are split into the derived statements the audit
proves (read with the project's Lean lexer), and bad input (exit 2).  With Lean:
`tests/test_audit_lean.py`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.audit import negated_statement, premises, split_signature, vacuous_statement

S_MULTI = (
    "theorem amc12a_2019_p9 (a : ℕ → ℚ) (h₀ : a 1 = 1)\n"
    "  (h₂ : ∀ n, a (n + 2) = a n * a (n + 1) / (2 * a n - a (n + 1))) :\n"
    "  ↑(a 2019).den + (a 2019).num = 8078 := by\n"
)


def test_split_signature_reads_binders_as_lean_does() -> None:
    sig = split_signature(S_MULTI)
    assert sig is not None
    assert sig.head == "theorem amc12a_2019_p9"
    assert sig.binders == (
        "(a : ℕ → ℚ)",
        "(h₀ : a 1 = 1)",
        "(h₂ : ∀ n, a (n + 2) = a n * a (n + 1) / (2 * a n - a (n + 1)))",
    )
    assert sig.conclusion == "↑(a 2019).den + (a 2019).num = 8078"
    assert sig.tail == ":= by\n"
    # brackets, comments and strings as Lean reads them; universe parameters; plain names
    odd = 'theorem t.{u} {α : Sort u} [Inhabited α] x (h : x = "a:b") /- (c : C) : -/ : x = x :='
    sig = split_signature(odd)
    assert sig is not None and sig.head == "theorem t.{u}"
    assert sig.binders == ("{α : Sort u}", "[Inhabited α]", "x", '(h : x = "a:b")')
    assert sig.conclusion == "x = x" and sig.tail == ":="
    assert split_signature("example : 1 = 1 := by").binders == ()  # type: ignore[union-attr]
    for bad in ("def f : Nat := 1", "theorem t (a : Nat := by", "theorem t : True := trivial"):
        assert split_signature(bad) is None, bad


def test_premises_split_only_what_binds_no_further() -> None:
    assert premises("∀ a b : ℕ, ∀ (c : ℕ) {d : ℕ}, a < b -> b < c → a < c") == (
        ["(a b : ℕ)", "(c : ℕ)", "{d : ℕ}", "(h_vac_1 : a < b)", "(h_vac_2 : b < c)"],
        "a < c",
    )
    # nothing binds over an `→` after `∃`, `↔` (looser than `→`), `fun`, or inside brackets
    for text in ("∃ x, x > 0 → x = 1", "a ↔ b → c", "a <-> b → c", "(a → b)", "fun x => x → y"):
        assert premises(text) == ([], text), text
    # `a → b ↔ c` is `(a → b) ↔ c`: `a` is no premise of it
    for text in ("a → b ↔ c", "a → b <-> c", "a -> f <| b"):
        assert premises(text) == ([], text), text
    assert premises("a → (b ↔ c)") == (["(h_vac_1 : a)"], "(b ↔ c)")
    # an untyped `∀` or a binder predicate stops the split (its type would be guessed)
    assert premises("∀ n, 0 < n → n = n") == ([], "∀ n, 0 < n → n = n")
    assert premises("a > 0 → ∀ n ≥ 3, n = n") == (["(h_vac_1 : a > 0)"], "∀ n ≥ 3, n = n")


def test_derived_statements() -> None:
    assert vacuous_statement(S_MULTI) == (
        "theorem amc12a_2019_p9 (a : ℕ → ℚ) (h₀ : a 1 = 1) "
        "(h₂ : ∀ n, a (n + 2) = a n * a (n + 1) / (2 * a n - a (n + 1))) : False := by\n"
    )
    assert negated_statement(S_MULTI) == (
        "theorem amc12a_2019_p9 : ¬ (∀ (a : ℕ → ℚ) (h₀ : a 1 = 1) "
        "(h₂ : ∀ n, a (n + 2) = a n * a (n + 1) / (2 * a n - a (n + 1))), "
        "↑(a 2019).den + (a 2019).num = 8078) := by\n"
    )
    s = "theorem w : ∀ x : ℤ, x > 2 → x ^ 2 > 4 := by\n"
    assert vacuous_statement(s) == "theorem w (x : ℤ) (h_vac_1 : x > 2) : False := by\n"
    assert negated_statement(s) == "theorem w : ¬ (∀ x : ℤ, x > 2 → x ^ 2 > 4) := by\n"
    assert vacuous_statement("theorem c : 1 + 1 = 2 := by\n") is None  # no hypothesis
    assert negated_statement("theorem c : 1 + 1 = 2 := by\n") == (
        "theorem c : ¬ (1 + 1 = 2) := by\n"
    )


def test_audit_bad_input_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from prover.cli import main

    out = str(tmp_path / "o")
    assert main(["audit", "--benchmark", "nope", "--split", "test", "--out", out]) == 2
    assert "unknown benchmark 'nope'" in capsys.readouterr().err
    data = tmp_path / "d.jsonl"
    row = {"name": "a", "split": "test", "formal_statement": "theorem a : True := by\n"}
    data.write_text(json.dumps(row) + "\n")
    argv = ["audit", "--benchmark", str(data), "--out", out]
    assert main([*argv, "--split", "valid"]) == 2
    assert "no problems with split 'valid'" in capsys.readouterr().err
    assert main([*argv, "--split", "test", "--budget", "2"]) == 2
    assert "RUNSxSAMPLES" in capsys.readouterr().err
    assert main([*argv, "--split", "test", "--tree-dir", str(tmp_path / "t")]) == 2
    assert "--tree-dir does not apply" in capsys.readouterr().err
