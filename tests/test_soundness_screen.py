"""The soundness screen on its own (pure logic): what a proof, a statement and a header may not
contain.  The same attacks are run against real Lean in `test_verifier_lean.py`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prover.lean.soundness import screen_header, screen_proof, screen_request, screen_statement
from prover.lean.types import CheckRequest


@pytest.mark.parametrize(
    ("proof", "reason"),
    [
        ("  omega\ntheorem evil : False := sorry\n", "command keyword 'theorem'"),
        ("  exact λtheorem\n", "command keyword 'theorem'"),  # λ is a token, not a letter
        ("  unseal Nat.add in\n  rfl\n", "command keyword 'unseal'"),
        ("  simproc foo (_) := fun _ => none\n", "command keyword 'simproc'"),
        ("  set_option maxHeartbeats 0 in\n  decide\n", "set_option maxHeartbeats"),
        ("  exact sorryAx _ false\n", "sorry axiom"),
        ("  decide +native\n", "Lean.ofReduceBool"),
        ("  omega\n/- swallow\n", "unterminated block comment"),
    ],
)
def test_proof_screen_refuses(proof: str, reason: str) -> None:
    got = screen_proof(proof)
    assert got is not None and reason in got, got


@pytest.mark.parametrize(
    "proof",
    ["  exact fun x => x₁ᵢ\n", "  exact λ x => x\n", "  simp [αβ]\n", "  sorry\n", "  exact?\n"],
)
def test_proof_screen_accepts(proof: str) -> None:
    assert screen_proof(proof) is None


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("axiom cheat : False\n", "'axiom'"),
        ("theorem c : False := sorry\n", "'sorry'"),
        ("variable (h : False)\ninclude h\n", "'variable'"),
        ("set_option debug.skipKernelTC true\n", "set_option debug.skipKernelTC"),
        ('macro "x" : term => `(1)\n', "'macro'"),
        ('notation "cheat" => sorryAx False true\n', "sorry axiom"),
        ("@[implemented_by foo] def x := 1\n", "attributes"),
        ("#exit\n", "'#exit'"),
        ("/- unterminated\n", "unterminated"),
    ],
)
def test_header_screen_refuses(header: str, reason: str) -> None:
    got = screen_header(header)
    assert got is not None and got.startswith("header:") and reason in got, got


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        ("axiom cheat : False\ntheorem t : 1 = 2 := by", "'axiom' before the declaration"),
        ("theorem t : 1 = 2 := by\n  exact c\ntheorem u : True := by", "'theorem'"),
        ("set_option maxHeartbeats 0 in\ntheorem t : True := by", "'set_option' before"),
        ("theorem t : True := by\n#exit\n", "'#exit'"),
        ("-- only a comment\n", "must start with"),
    ],
)
def test_statement_screen_refuses(statement: str, reason: str) -> None:
    got = screen_statement(statement)
    assert got is not None and got.startswith("formal_statement:") and reason in got, got


def test_every_benchmark_header_and_statement_passes(data_dir: Path) -> None:
    """No false refusals on the shipped benchmarks (ProofNet headers hold defs and sections)."""
    from benchmarks.minif2f_core import CORE_HEADER

    assert screen_header(CORE_HEADER) is None
    n = 0
    for name in ("minif2f.jsonl", "proofnet.jsonl", "minif2f_valid_few_shot.jsonl"):
        for k, line in enumerate((data_dir / name).read_text(encoding="utf-8").splitlines()):
            row = json.loads(line)
            req = CheckRequest(row["formal_statement"], "  sorry\n", header=row.get("header"))
            assert screen_request(req) is None, (name, k + 1, screen_request(req))
            n += 1
    assert n > 800


def test_default_header_is_trusted() -> None:
    req = CheckRequest("theorem t : True := by\n", "  trivial\n", header=None)
    assert screen_request(req) is None
    bad = CheckRequest("theorem t : True := by\n", "  trivial\n", header="axiom a : False\n")
    assert screen_request(bad) == "header: command keyword 'axiom' is not allowed"
