"""The embedded verifier against real Lean: verdicts, positions, states, and the attack list.

Every attack below is something an RL policy rewarded for "proved" could try.  Each is checked
alone (its own Lean file/process) and inside a batch of honest items whose verdicts must stay
correct.  Costs: a Lean process start is ~15 s, so cases are batched into few calls.
"""

from __future__ import annotations

import os

import pytest

from prover.lean.types import CheckRequest, Verdict

pytestmark = pytest.mark.lean

S_AND = "theorem t_and (p q : Prop) (hp : p) (hq : q) : p ∧ q := by\n"
S_MEM = "theorem t_mem (x : Nat) (h₀ : x ∈ [1, 2]) : x ≤ 2 := by\n"
S_ADD = "theorem t_add (a b : Nat) : a + b = b + a := by\n"
S_FALSE = "theorem t_false : 1 = 2 := by\n"

HONEST = {
    "and_ok": (S_AND, "  constructor\n  · exact hp\n  · exact hq\n", Verdict.PROVED),
    "mem_ok": (S_MEM, "  simp at h₀\n  omega\n", Verdict.PROVED),
    "add_ok": (S_ADD, "  omega\n", Verdict.PROVED),
    "add_wrong": (S_ADD, "  constructor\n", Verdict.FAILED),
    "mem_unicode_err": (
        S_MEM,
        "  have h₁ : x ∈ [1, 2] := (fun (α : Nat) => foo) 0\n  omega\n",
        Verdict.FAILED,
    ),
    "add_sorry": (S_ADD, "  sorry\n", Verdict.INCOMPLETE),
    "and_unsolved": (S_AND, "  constructor\n  exact hp\n", Verdict.INCOMPLETE),
    # the statement itself does not elaborate (`ℤ` is no notation in the core header): the
    # item fails with the statement's error and the batch goes on
    "bad_statement": ("theorem t_bad (a : ℤ) : a % 4 = 0 := by\n", "  sorry\n", Verdict.FAILED),
}

# attacks that the screen must refuse before Lean sees them
SCREENED = {
    "new_command": (S_FALSE, "  omega\n\ntheorem evil : False := sorry\n"),
    "exit": (S_FALSE, "  omega\n#exit\n"),
    "swallow_comment": (S_FALSE, "  omega\n/- the rest of the file is a comment\n"),
    "swallow_string": (S_FALSE, '  exact "unterminated\n'),
    "sorry_axiom": (S_FALSE, "  exact sorryAx _ false\n"),
    "native_decide": (S_FALSE, "  native_decide\n"),
    "decide_native": (S_FALSE, "  decide +native\n"),
    "of_reduce_bool": (S_FALSE, "  exact Lean.ofReduceBool _ _ rfl\n"),
    "skip_kernel": (S_FALSE, "  set_option debug.skipKernelTC true in\n  omega\n"),
    "heartbeats_off": (S_FALSE, "  set_option maxHeartbeats 0 in\n  decide\n"),
    "attribute": (S_FALSE, "  attribute [simp] Nat.add_comm in\n  simp\n"),
    "end_namespace": (S_FALSE, "  omega\nend\ntheorem x : 1 = 2 := sorry\n"),
    "axiom": (S_FALSE, "  exact bad\naxiom bad : 1 = 2\n"),
    "macro": (S_FALSE, '  omega\nmacro "omega" : tactic => `(tactic| sorry)\n'),
    "run_tac": (S_FALSE, "  run_tac Lean.Elab.Tactic.closeMainGoal\n"),
    "meta_api": (S_FALSE, "  exact Lean.Elab.admitGoal\n"),
    "internal_names": (S_FALSE, "  exact prover_steps\n"),
    "quoted_keyword": (S_FALSE, "  omega\n«theorem» x : False := sorry\n"),
    "lambda_glued_keyword": (S_FALSE, "  exact λtheorem x : False := sorry\n"),
    # the statement and header are screened too (`prover verify` input may come from a model)
    "statement_axiom": ("axiom cheat : False\n" + S_FALSE, "  exact cheat.elim\n"),
}
# header attacks: (header, statement, proof)
SCREENED_HEADERS = {
    "header_axiom": ("axiom cheat : False\n", S_FALSE, "  exact cheat.elim\n"),
    "header_sorry_lemma": ("theorem cheat : False := sorry\n", S_FALSE, "  exact cheat.elim\n"),
    "header_variable": ("variable (h : False)\ninclude h\n", S_FALSE, "  exact h.elim\n"),
}

# attacks that reach Lean and must come back not proved
LEAN_LEVEL = {
    "sorry_in_have": (S_FALSE, "  have h : False := by sorry\n  exact h.elim\n"),
    "false_by_decide": (S_FALSE, "  decide\n"),
    "self_reference": ("theorem t_self : False := by\n", "  exact t_self\n"),
    "unsafe_cast": (S_FALSE, "  exact unsafeCast ()\n"),
    "stray_comment_close": (S_FALSE, "  trivial\n-/\n"),
    "admit": (S_FALSE, "  admit\n"),
    # parse errors that Lean reports outside the proof's lines (found by an RL rollout)
    "lone_quote": (S_FALSE, "'\n"),
    "indented_quote": (S_FALSE, "  '\n"),
    "open_paren": (S_FALSE, "  exact (\n"),
    "superscript": (S_FALSE, "  exact x⁻¹ ¹\n"),
    # library search over the environment: earlier items of the batch left `t_false` (with a
    # sorry from a failed proof) in it; the search must not find them
    "library_search": (S_FALSE, "  exact?\n"),
    "apply_search": (S_FALSE, "  apply?\n"),
}
# Lean-level attacks whose verdict is exactly known (the rest: failed or incomplete)
EXACT = {"sorry_in_have": Verdict.INCOMPLETE, "admit": Verdict.INCOMPLETE}


def _req(
    key: str, stmt: str, proof: str, steps: bool = False, header: str | None = None
) -> CheckRequest:
    return CheckRequest(stmt, proof, header=header, id=key, want_steps=steps)


def _attacks() -> list[CheckRequest]:
    reqs = [_req(k, s, p) for k, (s, p) in {**SCREENED, **LEAN_LEVEL}.items()]
    return reqs + [_req(k, s, p, header=h) for k, (h, s, p) in SCREENED_HEADERS.items()]


def _expected(key: str) -> set[Verdict]:
    if key in SCREENED or key in SCREENED_HEADERS:
        return {Verdict.REJECTED}
    return {EXACT[key]} if key in EXACT else {Verdict.FAILED, Verdict.INCOMPLETE}


@pytest.fixture(scope="module")
def mixed(embedded_checker):
    """Honest items and every attack in one batch."""
    reqs = [_req(k, s, p, steps=True) for k, (s, p, _) in HONEST.items()]
    reqs += _attacks()
    return {r.id: res for r, res in zip(reqs, embedded_checker.check(reqs), strict=True)}


def test_honest_verdicts_in_a_batch_with_attacks(mixed):
    for key, (_, _, verdict) in HONEST.items():
        assert mixed[key].verdict is verdict, (key, mixed[key])


def test_statement_error_is_reported_as_such(mixed):
    r = mixed["bad_statement"]
    assert r.reason and "statement does not elaborate" in r.reason
    assert r.first_error is not None and "ℤ" in r.first_error.text


def test_every_attack_in_batch_is_not_proved(mixed):
    for req in _attacks():
        assert mixed[req.id].verdict in _expected(req.id), (req.id, mixed[req.id])
        if req.id not in LEAN_LEVEL:
            assert mixed[req.id].reason


def test_each_attack_alone_is_not_proved():
    from prover.lean.embedded import EmbeddedChecker, EmbeddedConfig

    # batch_size=1: every item runs alone in its own Lean file and process
    with EmbeddedChecker(EmbeddedConfig(workers=2, batch_size=1, warm=2)) as checker:
        reqs = _attacks()
        res = checker.check(reqs)
    for req, r in zip(reqs, res, strict=True):
        assert r.verdict in _expected(req.id), (req.id, r)


def test_error_position_counts_code_points(mixed):
    r = mixed["mem_unicode_err"]
    proof_line = HONEST["mem_unicode_err"][1].splitlines()[0]
    assert r.first_error is not None
    assert r.first_error.line == 1
    # `α` and `∈`, `₁` are multi-byte in UTF-8; the column is in code points
    assert r.first_error.column == proof_line.index("foo")
    assert "foo" in r.first_error.text


def test_wrong_tactic_position(mixed):
    r = mixed["add_wrong"]
    assert r.first_error is not None and r.first_error.line == 1 and r.first_error.column == 2
    assert r.verified_prefix == ""


def test_unsolved_goals_keep_verified_prefix_and_states(mixed):
    r = mixed["and_unsolved"]
    assert r.first_error is not None and r.first_error.text.startswith("unsolved goals")
    assert r.verified_prefix == "  constructor\n  exact hp"
    assert [s.text for s in r.steps] == ["  constructor", "  exact hp"]
    assert r.steps[-1].goals_after.startswith("case right")
    assert r.initial_goals.endswith("⊢ p ∧ q")


def test_steps_of_a_proved_bullet_proof(mixed):
    r = mixed["and_ok"]
    assert [s.text for s in r.steps] == ["  constructor", "  · exact hp", "  · exact hq"]
    assert r.steps[-1].goals_after == "no goals"
    assert "h₀ : x ∈ [1, 2]" in mixed["mem_ok"].initial_goals


def test_crashing_item_does_not_take_others_with_it():
    from prover.lean.embedded import EmbeddedChecker, EmbeddedConfig

    # deep `decide` with a huge recursion limit overflows the wasm stack: Lean stops mid-file
    crash = CheckRequest(
        "theorem t_crash : (List.range 3000).foldl (· + ·) 0 = 4498500 := by\n",
        "  set_option maxRecDepth 100000 in\n  decide\n",
        id="crash",
    )
    ok1 = _req("ok1", S_ADD, "  omega\n")
    ok2 = _req("ok2", S_AND, "  exact ⟨hp, hq⟩\n")
    bad = _req("bad", S_ADD, "  rfl\n")
    with EmbeddedChecker(EmbeddedConfig(workers=1, heartbeats=10**9)) as checker:
        res = checker.check([ok1, crash, ok2, bad])
        pids = checker.pids()
    assert [r.verdict for r in res] == [
        Verdict.PROVED,
        Verdict.ERROR,
        Verdict.PROVED,
        Verdict.FAILED,
    ], [(r.verdict, r.reason) for r in res]
    assert res[1].reason
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_no_lean_process_outlives_the_checker(monkeypatch):
    from prover.lean import embedded

    started: list[int] = []
    real_init = embedded.LeanProcess.__init__

    def spy(self, *a, **k):
        real_init(self, *a, **k)
        started.append(self.pid)

    monkeypatch.setattr(embedded.LeanProcess, "__init__", spy)
    checker = embedded.EmbeddedChecker(embedded.EmbeddedConfig(workers=1, warm=1))
    res = checker.check([_req("x", S_ADD, "  omega\n")])
    assert res[0].verdict is Verdict.PROVED
    checker.close()
    assert len(started) >= 2  # the warm process and its replacement
    for pid in started:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
