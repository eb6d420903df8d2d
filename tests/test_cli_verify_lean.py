"""`prover verify` end to end against the real embedded Lean, and the WebAssembly Lean's
filesystem isolation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prover.lean.types import CheckRequest, Verdict

pytestmark = pytest.mark.lean

S_ADD = "theorem v_add (a b : Nat) : a + b = b + a := by\n"
S_FIVE = "theorem v_five : 2 + 2 = 5 := by\n"

ITEMS = [  # (id, header, statement, proof, expected verdict)
    ("ok", None, S_ADD, "  omega\n", "proved"),
    ("wrong", None, S_ADD, "  rfl\n", "failed"),
    ("sorry", None, S_ADD, "  sorry\n", "incomplete"),
    ("have", None, S_ADD, "  have h : b + a = a + b := by\n    omega\n  omega\n", "proved"),
    ("nd", None, "theorem v_nd : 10 < 11 := by\n", "  native_decide\n", "proved"),
    ("leak", None, S_FIVE, "  decide\ninstance : OfNat Nat 5 := ⟨4⟩\n", "rejected"),
    ("hdr", "instance : OfNat Nat 5 := ⟨4⟩\n", S_FIVE, "  decide\n", "error"),
]


def test_verify_cli_end_to_end_with_steps_and_native_decide(tmp_path: Path, shared_checker):
    """`prover verify` in-process (its own code; the session's running Lean checker)."""
    from prover.cli import main

    inp = tmp_path / "in.jsonl"
    inp.write_text(
        "".join(
            json.dumps({"id": i, "header": h, "formal_statement": s, "proof": p}) + "\n"
            for i, h, s, p, _ in ITEMS
        )
    )
    out = tmp_path / "out.jsonl"
    argv = ["verify", str(inp), "--out", str(out), "--backend", "embedded", "--steps"]
    argv += ["--allow-native-decide", "--timeout", "90"]
    isolated, shared = shared_checker.inner.stats["isolated"], shared_checker.inner.pids()
    assert main(argv) == 1  # some proofs are not proved
    # the one item that evaluates natively ran in a process of its own, started for it and
    # gone after it; the others (the flag is on for all) stayed in the shared process
    assert shared_checker.inner.stats["isolated"] == isolated + 1
    assert shared_checker.inner.pids() == shared
    assert shared_checker.calls[-1] == {"backend": "embedded", "timeout_s": 90.0}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [i for i, *_ in ITEMS]
    got = {r["id"]: r for r in rows}
    for i, *_, verdict in ITEMS:
        assert got[i]["verdict"] == verdict, (i, got[i])
    # tactic states at every tactic, nested ones included
    steps = got["have"]["steps"]
    assert [(s["text"], s["depth"]) for s in steps] == [
        ("have h : b + a = a + b := by\n    omega", 1),
        ("omega", 2),
        ("omega", 1),
    ]
    assert steps[0]["goals_after"].endswith("⊢ a + b = b + a")
    assert got["ok"]["initial_goals"].endswith("⊢ a + b = b + a")
    assert "untrusted header" in got["hdr"]["reason"]
    # resuming with the same --out checks nothing again and keeps the file as it was
    before = out.read_bytes()
    assert main(argv) == 1 and out.read_bytes() == before


def test_a_proof_cannot_read_host_files(embedded_checker, tmp_path: Path):
    """The WebAssembly Lean sees only its library and an empty scratch directory.  A trusted
    header may run `#eval` (it is the user's own file), which is the strongest position a
    file-reading attempt can have: the host file is not there."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    header = f'#eval IO.FS.readFile "{secret}"\n'
    req = CheckRequest(S_ADD, "  omega\n", header=header, header_trusted=True)
    (res,) = embedded_checker.with_screen(False).check([req])  # the screen refuses `#eval`
    assert res.verdict is Verdict.ERROR, res
    assert "TOP-SECRET" not in (res.reason or "")
    assert "no such file" in (res.reason or "").lower() or "not found" in (res.reason or "")


def test_verify_sends_everything_to_lean_by_default(tmp_path: Path, shared_checker):
    """`prover verify` (the Python screen off by default; `--screen` switches it on): Lean
    alone refuses what the screen would have, with its category."""
    from prover.cli import main

    inp = tmp_path / "in.jsonl"
    row = {"id": "cfg", "header": None, "formal_statement": "theorem v_c : True := by\n"}
    row["proof"] = "  simp (config := unsafeBaseIO (pure {}))\n"
    inp.write_text(json.dumps(row) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["verify", str(inp), "--out", str(out)]) == 1
    assert "screen" not in shared_checker.calls[-1]  # the default: CheckerConfig.screen False
    (got,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert got["verdict"] == "rejected" and got["refusal"] == "code_evaluation", got
    out.unlink()
    assert main(["verify", str(inp), "--out", str(out), "--screen"]) == 1
    assert shared_checker.calls[-1].get("screen") is True


def test_serve_has_a_no_screen_option():
    import argparse

    from prover.commands.options import add_serve_options, build_serve

    p = argparse.ArgumentParser()
    add_serve_options(p)
    assert build_serve(p.parse_args(["--screen"])).screen is True
    assert build_serve(p.parse_args([])).screen is False
