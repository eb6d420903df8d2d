"""Pure REPL-protocol logic on recorded exchanges (no Lean needed)."""

from __future__ import annotations

import codecs
import json

import pytest

from prover.lean import repl_protocol as rp
from prover.lean.types import CheckRequest, Verdict

# ---------------------------------------------------------------------------------------------
# encoding / decoding


def test_encode_is_single_line_json_plus_blank_line() -> None:
    cmd = rp.command("theorem t : 1 + 1 = 2 := by\n  norm_num", env=3, all_tactics=True)
    raw = rp.encode(cmd)
    assert raw.endswith(b"\n\n")
    body = raw[:-2].decode()
    assert "\n" not in body
    assert json.loads(body) == {
        "cmd": "theorem t : 1 + 1 = 2 := by\n  norm_num",
        "env": 3,
        "allTactics": True,
    }
    assert rp.command("import Mathlib") == {"cmd": "import Mathlib"}
    assert rp.tactic_command("simp", 4) == {"tactic": "simp", "proofState": 4}
    assert rp.pickle_env_command(2, "/tmp/e.olean") == {"pickleTo": "/tmp/e.olean", "env": 2}
    assert rp.unpickle_env_command("/tmp/e.olean") == {"unpickleEnvFrom": "/tmp/e.olean"}
    assert "∈".encode() in rp.encode(rp.command("x ∈ S"))  # UTF-8, not \\u escapes


def test_request_command_uses_statement_and_want_steps() -> None:
    req = CheckRequest("theorem t : True := by\n", "  trivial", want_steps=True)
    assert rp.request_command(req, req.formal_statement, 0) == {
        "cmd": "theorem t : True := by\n  trivial",
        "env": 0,
        "allTactics": True,
    }
    req2 = CheckRequest("theorem t : True := by\n", "  trivial")
    assert "allTactics" not in rp.request_command(req2, req2.formal_statement, None)


# What the REPL prints: pretty JSON (multi-line) followed by a blank line.
RECORDED_STDOUT = (
    '{"env": 0}\n\n'
    '{"messages":\n'
    ' [{"severity": "info",\n'
    '   "pos": {"line": 1, "column": 0},\n'
    '   "endPos": {"line": 1, "column": 13},\n'
    '   "data": "\'t₁\' depends on axioms: [propext]"}],\n'
    ' "env": 1}\n\n'
)


def test_decoder_whole_stream() -> None:
    dec = rp.ResponseDecoder()
    out = dec.feed(RECORDED_STDOUT)
    assert [r["env"] for r in out] == [0, 1]
    assert out[1]["messages"][0]["data"] == "'t₁' depends on axioms: [propext]"
    assert dec.pending == "" and dec.garbage == []


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_decoder_partial_byte_chunks(size: int) -> None:
    raw = RECORDED_STDOUT.encode("utf-8")
    dec = rp.ResponseDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")()
    out = []
    for i in range(0, len(raw), size):
        out += dec.feed(utf8.decode(raw[i : i + size]))  # splits multi-byte chars too
    assert [r["env"] for r in out] == [0, 1]
    assert out[1]["messages"][0]["data"].startswith("'t₁'")


def test_decoder_response_completed_only_at_blank_line() -> None:
    dec = rp.ResponseDecoder()
    assert dec.feed('{"env": 0}\n') == []
    assert dec.feed("\n") == [{"env": 0}]
    assert dec.feed('{"env"') == []
    assert dec.feed(": 1}") == []
    assert dec.finish() == [{"env": 1}]  # at EOF without the trailing blank line


def test_decoder_crlf_garbage_and_error_objects() -> None:
    dec = rp.ResponseDecoder()
    out = dec.feed('{"env": 0}\r\n\r')
    out += dec.feed('\nwarning: lake says hi\n{"message": "Unknown environment."}\n\n')
    out += dec.feed("not json at all\n\n")
    assert out == [{"env": 0}, {"message": "Unknown environment."}]
    assert dec.garbage == ["warning: lake says hi", "not json at all"]


# ---------------------------------------------------------------------------------------------
# recorded exchange 1: proved, with allTactics

STMT1 = "theorem t1 (x : ℝ) (h₀ : x = 2) : x + 1 = 3 := by\n"
PROOF1 = "  subst h₀\n  norm_num"
RESP1 = json.loads(
    """{"tactics":
 [{"tactic": "subst h₀",
   "proofState": 0,
   "pos": {"line": 2, "column": 2},
   "goals": "x : ℝ\\nh₀ : x = 2\\n⊢ x + 1 = 3",
   "endPos": {"line": 2, "column": 10}},
  {"tactic": "norm_num",
   "proofState": 1,
   "pos": {"line": 3, "column": 2},
   "goals": "⊢ 2 + 1 = 3",
   "endPos": {"line": 3, "column": 10}}],
 "env": 1}"""
)


def test_proved_with_steps() -> None:
    a = rp.analyze_response(RESP1, STMT1, PROOF1, want_steps=True)
    assert a.verdict is Verdict.PROVED
    assert a.messages == [] and a.first_error is None
    assert a.verified_prefix == PROOF1
    assert a.env == 1
    assert a.initial_goals == "x : ℝ\nh₀ : x = 2\n⊢ x + 1 = 3"
    assert a.steps is not None
    assert [(s.text, s.start, s.end) for s in a.steps] == [
        ("subst h₀", 2, 10),
        ("norm_num", 13, 21),
    ]
    for s in a.steps:
        assert PROOF1[s.start : s.end] == s.text
    assert a.steps[0].goals_after == "⊢ 2 + 1 = 3"
    assert a.steps[1].goals_before == "⊢ 2 + 1 = 3"
    assert a.steps[1].goals_after == "no goals"


def test_no_steps_unless_requested() -> None:
    a = rp.analyze_response(RESP1, STMT1, PROOF1, want_steps=False)
    assert a.steps is None and a.initial_goals == ""


# nested tactics (`·` blocks) are not top-level steps
STMT4 = "theorem t4 (x y : ℝ) (h₀ : x + y = 10) (h₁ : x - y = 2) : x = 6 ∧ y = 4 := by\n"
PROOF4 = "  constructor\n  · linarith\n  · linarith"
_G4 = "x y : ℝ\nh₀ : x + y = 10\nh₁ : x - y = 2\n"
RESP4 = {
    "tactics": [
        {
            "tactic": "constructor",
            "proofState": 0,
            "pos": {"line": 2, "column": 2},
            "endPos": {"line": 2, "column": 13},
            "goals": _G4 + "⊢ x = 6 ∧ y = 4",
        },
        {
            "tactic": "· linarith",
            "proofState": 1,
            "pos": {"line": 3, "column": 2},
            "endPos": {"line": 3, "column": 12},
            "goals": "case left\n" + _G4 + "⊢ x = 6\n\ncase right\n" + _G4 + "⊢ y = 4",
        },
        {
            "tactic": "linarith",
            "proofState": 2,
            "pos": {"line": 3, "column": 4},
            "endPos": {"line": 3, "column": 12},
            "goals": "case left\n" + _G4 + "⊢ x = 6",
        },
        {
            "tactic": "· linarith",
            "proofState": 3,
            "pos": {"line": 4, "column": 2},
            "endPos": {"line": 4, "column": 12},
            "goals": "case right\n" + _G4 + "⊢ y = 4",
        },
        {
            "tactic": "linarith",
            "proofState": 4,
            "pos": {"line": 4, "column": 4},
            "endPos": {"line": 4, "column": 12},
            "goals": "case right\n" + _G4 + "⊢ y = 4",
        },
    ],
    "env": 2,
}


def test_top_level_segmentation_skips_nested() -> None:
    a = rp.analyze_response(RESP4, STMT4, PROOF4, want_steps=True)
    assert a.verdict is Verdict.PROVED
    assert a.steps is not None
    assert [s.text for s in a.steps] == ["constructor", "· linarith", "· linarith"]
    assert a.steps[0].goals_after.startswith("case left")
    assert "case right" in a.steps[0].goals_after
    assert a.steps[1].goals_after == "case right\n" + _G4 + "⊢ y = 4"
    assert a.steps[2].goals_after == "no goals"


# ---------------------------------------------------------------------------------------------
# recorded exchange 2: an error on a line with non-ASCII characters (code-point columns)

STMT2 = "theorem t2 (S : Set ℕ) (x : ℕ) (h₀ : x ∈ S) : x ∈ S ∧ True := by"
PROOF2 = "\n  have h₁ : x ∈ S ∧ True := h₀\n  exact h₁"
RESP2 = json.loads(
    """{"tactics":
 [{"tactic": "have h₁ : x ∈ S ∧ True := h₀",
   "proofState": 0,
   "pos": {"line": 2, "column": 2},
   "goals": "S : Set ℕ\\nx : ℕ\\nh₀ : x ∈ S\\n⊢ x ∈ S ∧ True",
   "endPos": {"line": 2, "column": 30}},
  {"tactic": "exact h₁",
   "proofState": 1,
   "pos": {"line": 3, "column": 2},
   "goals": "S : Set ℕ\\nx : ℕ\\nh₀ : x ∈ S\\nh₁ : x ∈ S ∧ True\\n⊢ x ∈ S ∧ True",
   "endPos": {"line": 3, "column": 10}}],
 "messages":
 [{"severity": "error",
   "pos": {"line": 2, "column": 28},
   "endPos": {"line": 2, "column": 30},
   "data": "type mismatch\\n  h₀\\nhas type\\n  x ∈ S : Prop\\nbut is expected to have type\\n  x ∈ S ∧ True : Prop"}],
 "env": 3}"""
)


def test_error_position_in_code_points() -> None:
    a = rp.analyze_response(RESP2, STMT2, PROOF2, want_steps=False)
    assert a.verdict is Verdict.FAILED
    err = a.first_error
    assert err is not None and err.severity == "error"
    # proof line 1 is the (empty) rest of the statement line; the `have` is on proof line 2
    assert (err.line, err.column, err.end_line, err.end_column) == (2, 28, 2, 30)
    line = PROOF2.split("\n")[err.line - 1]
    assert line[err.column : err.end_column] == "h₀"  # code points ...
    assert line.encode()[err.column : err.end_column] != "h₀".encode()  # ... not bytes
    assert err.text.startswith("type mismatch")
    assert a.verified_prefix == "\n"  # cut at the start of the failing line


def test_error_prefix_with_steps_and_only_verified_steps_kept() -> None:
    a = rp.analyze_response(RESP2, STMT2, PROOF2, want_steps=True)
    assert a.verdict is Verdict.FAILED
    assert a.verified_prefix == ""  # the first step already contains the error
    assert a.steps == []


def test_error_in_second_step_keeps_first() -> None:
    stmt = "theorem t5 (a : ℕ) (h₀ : a = 1) : a + a = 2 := by\n"
    proof = "  subst h₀\n  exact rfl'\n  simp"
    resp = {
        "tactics": [
            {
                "tactic": "subst h₀",
                "pos": {"line": 2, "column": 2},
                "endPos": {"line": 2, "column": 10},
                "goals": "a : ℕ\nh₀ : a = 1\n⊢ a + a = 2",
                "proofState": 0,
            },
            {
                "tactic": "exact rfl'",
                "pos": {"line": 3, "column": 2},
                "endPos": {"line": 3, "column": 12},
                "goals": "⊢ 1 + 1 = 2",
                "proofState": 1,
            },
        ],
        "messages": [
            {
                "severity": "error",
                "pos": {"line": 3, "column": 8},
                "endPos": {"line": 3, "column": 12},
                "data": "unknown identifier 'rfl''",
            }
        ],
        "env": 4,
    }
    a = rp.analyze_response(resp, stmt, proof, want_steps=True)
    assert a.verdict is Verdict.FAILED
    assert a.verified_prefix == "  subst h₀"
    assert a.steps is not None and [s.text for s in a.steps] == ["subst h₀"]
    assert a.steps[0].goals_after == "⊢ 1 + 1 = 2"
    assert a.first_error is not None and (a.first_error.line, a.first_error.column) == (2, 8)


# ---------------------------------------------------------------------------------------------
# recorded exchange 3: unsolved goals -> incomplete; sorry -> incomplete

STMT3 = "theorem t3 (a b : ℕ) (h₀ : a = b) : a + 0 = b ∧ b = a := by\n"
PROOF3 = "  constructor\n  · simp [h₀]"
_BY3 = STMT3.index("by")
RESP3 = {
    "messages": [
        {
            "severity": "error",
            "pos": {"line": 1, "column": _BY3},
            "endPos": {"line": 3, "column": 14},
            "data": "unsolved goals\ncase right\na b : ℕ\nh₀ : a = b\n⊢ b = a",
        }
    ],
    "env": 5,
}


def test_unsolved_goals_is_incomplete() -> None:
    a = rp.analyze_response(RESP3, STMT3, PROOF3)
    assert a.verdict is Verdict.INCOMPLETE
    err = a.first_error
    assert err is not None and err.text.startswith("unsolved goals")
    assert err.line <= 0  # reported on the statement's `by`
    assert (err.end_line, err.end_column) == (2, 14)
    assert a.verified_prefix == PROOF3  # nothing written was wrong


def test_unsolved_goals_plus_hard_error_is_failed() -> None:
    resp = {
        "messages": RESP3["messages"]
        + [
            {
                "severity": "error",
                "pos": {"line": 3, "column": 4},
                "endPos": {"line": 3, "column": 14},
                "data": "simp made no progress",
            }
        ],
        "env": 6,
    }
    a = rp.analyze_response(resp, STMT3, PROOF3)
    assert a.verdict is Verdict.FAILED
    assert a.verified_prefix == "  constructor\n"


STMT_S = "theorem t6 (n : ℕ) (h₀ : n % 5 = 3) : 2 * n % 5 = 1 := by\n"
PROOF_S = "  sorry"
RESP_S = json.loads(
    """{"sorries":
 [{"proofState": 0,
   "pos": {"line": 2, "column": 2},
   "goal": "n : ℕ\\nh₀ : n % 5 = 3\\n⊢ 2 * n % 5 = 1",
   "endPos": {"line": 2, "column": 7}}],
 "messages":
 [{"severity": "warning",
   "pos": {"line": 1, "column": 8},
   "endPos": {"line": 1, "column": 10},
   "data": "declaration uses 'sorry'"}],
 "env": 7}"""
)


def test_sorry_is_incomplete() -> None:
    a = rp.analyze_response(RESP_S, STMT_S, PROOF_S)
    assert a.verdict is Verdict.INCOMPLETE
    assert a.first_error is None
    assert a.messages[0].severity == "warning" and a.messages[0].line <= 0
    assert a.verified_prefix == PROOF_S
    assert len(a.sorries) == 1
    # the warning alone (e.g. sorry inside a `have` term) is enough
    only_warning = {"messages": RESP_S["messages"], "env": 8}
    assert rp.analyze_response(only_warning, STMT_S, PROOF_S).verdict is Verdict.INCOMPLETE


def test_heartbeat_error_is_timeout_and_info_severity_mapped() -> None:
    resp = {
        "messages": [
            {
                "severity": "info",
                "pos": {"line": 2, "column": 2},
                "endPos": None,
                "data": "Try this: ring_nf",
            },
            {
                "severity": "error",
                "pos": {"line": 2, "column": 2},
                "endPos": {"line": 2, "column": 7},
                "data": "(deterministic) timeout at `whnf`, maximum number of heartbeats "
                "(400000) has been reached",
            },
        ],
        "env": 9,
    }
    a = rp.analyze_response(resp, STMT_S, "  nlinarith")
    assert a.verdict is Verdict.TIMEOUT
    info = [m for m in a.messages if m.severity == "information"]
    assert info and (info[0].end_line, info[0].end_column) == (info[0].line, info[0].column)


def test_repl_level_error_raises() -> None:
    with pytest.raises(rp.ReplProtocolError, match="Unknown environment"):
        rp.analyze_response({"message": "Unknown environment."}, STMT_S, PROOF_S)


def test_statement_positions_relative() -> None:
    frame = rp.ProofFrame.of("theorem t : True := by", " trivial")
    assert (frame.line, frame.column) == (1, 22)
    assert frame.relative(1, 23) == (1, 1)
    assert frame.relative(1, 8) == (0, 8)  # on the statement
    assert frame.proof_offset(1, 23) == 1
    frame2 = rp.ProofFrame.of("theorem t\n  (h : 1 = 1) :\n  True := by\n", "  trivial\n  done")
    assert frame2.relative(4, 2) == (1, 2)
    assert frame2.relative(5, 2) == (2, 2)
    assert frame2.relative(2, 3) == (-2, 3)


# ---------------------------------------------------------------------------------------------
# theorem names and axioms


def test_prepare_statement_names() -> None:
    assert rp.prepare_statement(STMT1).name == "t1"
    assert rp.prepare_statement("lemma foo.bar (x : ℕ) : x = x := by\n").name == "foo.bar"
    doc = "/-- The theorem says: example of a lemma -/\ntheorem real_name : True := by\n"
    assert rp.prepare_statement(doc).name == "real_name"
    assert rp.prepare_statement("-- theorem fake\ntheorem mathd_1 : True := by").name == "mathd_1"
    assert rp.prepare_statement("@[simp] theorem h₁_x : True := by").name == "h₁_x"
    assert rp.prepare_statement("def f := 1").name is None


def test_prepare_statement_example_gets_fresh_name() -> None:
    p = rp.prepare_statement("example (x : ℕ) : x + 0 = x := by\n")
    assert p.name is not None and p.name.startswith("prover_example_")
    assert p.statement == f"theorem {p.name} (x : ℕ) : x + 0 = x := by\n"
    assert rp.prepare_statement("example (x : ℕ) : x + 0 = x := by\n").name == p.name
    assert rp.print_axioms_command(p.name, 4) == {"cmd": f"#print axioms {p.name}", "env": 4}


def _axioms_response(data: str, severity: str = "info") -> dict:
    return {
        "messages": [
            {
                "severity": severity,
                "pos": {"line": 1, "column": 0},
                "endPos": {"line": 1, "column": 13},
                "data": data,
            }
        ],
        "env": 12,
    }


def test_parse_axioms_standard() -> None:
    r = _axioms_response("'t1' depends on axioms: [propext, Classical.choice, Quot.sound]")
    axioms = rp.parse_axioms(r)
    assert axioms == ["propext", "Classical.choice", "Quot.sound"]
    assert rp.axiom_rejection(axioms, allow_native_decide=False) is None


def test_parse_axioms_none_and_wrapped() -> None:
    assert rp.parse_axioms(_axioms_response("'t1' does not depend on any axioms")) == []
    wrapped = (
        "'mathd_algebra_478' depends on axioms:\n  [propext,\n   Classical.choice,\n   Quot.sound]"
    )
    assert rp.parse_axioms(_axioms_response(wrapped)) == [
        "propext",
        "Classical.choice",
        "Quot.sound",
    ]


def test_native_decide_axiom_only_when_allowed() -> None:
    r = _axioms_response(
        "'t7' depends on axioms: [Classical.choice, Lean.ofReduceBool, propext, Quot.sound]"
    )
    axioms = rp.parse_axioms(r)
    why = rp.axiom_rejection(axioms, allow_native_decide=False)
    assert why is not None and "Lean.ofReduceBool" in why and "allow_native_decide" in why
    assert rp.axiom_rejection(axioms, allow_native_decide=True) is None
    aux = ["t7._native.native_decide.ax_1_1"]
    assert rp.axiom_rejection(aux, allow_native_decide=True) is None
    assert rp.axiom_rejection(aux, allow_native_decide=False) is not None


def test_sorry_ax_and_user_axioms_rejected() -> None:
    r = _axioms_response("'t8' depends on axioms: [propext, sorryAx]")
    why = rp.axiom_rejection(rp.parse_axioms(r), allow_native_decide=True)
    assert why is not None and "sorryAx" in why
    why = rp.axiom_rejection(["cheat", "propext"], allow_native_decide=True)
    assert why == "proof depends on disallowed axioms: cheat"


def test_parse_axioms_error_raises() -> None:
    with pytest.raises(rp.ReplProtocolError, match="unknown constant"):
        rp.parse_axioms(_axioms_response("unknown constant 't9'", severity="error"))
