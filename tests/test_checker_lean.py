"""The in-Lean checker against the real embedded Lean: verdicts, positions, tactic states, and
every attack class an RL policy rewarded for "proved" could try.

Each attack runs alone, inside a batch of honest items, and in the reversed batch, and every
one of those runs twice: with the Python text screen on and with it switched off, so no
guarantee rests on the screen.  The checker process is persistent: a check costs milliseconds,
so these tests share one process (the session fixture) and only the lifecycle tests start more.
"""

from __future__ import annotations

import secrets

import pytest

from prover.lean.types import CheckRequest, Verdict

pytestmark = pytest.mark.lean

S_AND = "theorem t_and (p q : Prop) (hp : p) (hq : q) : p ∧ q := by\n"
S_MEM = "theorem t_mem (x : Nat) (h₀ : x ∈ [1, 2]) : x ≤ 2 := by\n"
S_ADD = "theorem t_add (a b : Nat) : a + b = b + a := by\n"
S_FALSE = "theorem t_false : 1 = 2 := by\n"
S_FIVE = "theorem t_five : 2 + 2 = 5 := by\n"

HONEST = {
    "and_ok": (S_AND, "  constructor\n  · exact hp\n  · exact hq\n", Verdict.PROVED),
    "mem_ok": (S_MEM, "  simp at h₀\n  omega\n", Verdict.PROVED),
    "add_ok": (S_ADD, "  omega\n", Verdict.PROVED),
    "four_ok": ("theorem t_four : 2 + 2 = 4 := by\n", "  decide\n", Verdict.PROVED),
    "example_ok": ("example (n : Nat) : n + 0 = n := by\n", "  simp\n", Verdict.PROVED),
    "have_ok": (
        S_AND,
        "  have h : q ∧ p := by\n    constructor\n    · exact hq\n    · exact hp\n  exact ⟨h.2, h.1⟩\n",
        Verdict.PROVED,
    ),
    "add_wrong": (S_ADD, "  constructor\n", Verdict.FAILED),
    "mem_unicode_err": (
        S_MEM,
        "  have h₁ : x ∈ [1, 2] := (fun (α : Nat) => foo) 0\n  omega\n",
        Verdict.FAILED,
    ),
    "add_sorry": (S_ADD, "  sorry\n", Verdict.INCOMPLETE),
    "and_unsolved": (S_AND, "  constructor\n  exact hp\n", Verdict.INCOMPLETE),
    # the statement itself does not elaborate (`ℤ` is no notation in the core header)
    "bad_statement": ("theorem t_bad (a : ℤ) : a % 4 = 0 := by\n", "  sorry\n", Verdict.FAILED),
}

# (statement, proof): false statements or policy-breaking proofs; none may be `proved`
ATTACKS: dict[str, tuple[str, str]] = {
    # class 1: text the old Python lexer read differently from Lean (string / char literals)
    "sbang_string_axiom": (
        S_FIVE,
        '  exact (by decide : s!"{\'"\'}" = s!"{\'"\'}") |> fun _ => cheat\n'
        'axiom cheat : 2 + 2 = 5\n-- "\n',
    ),
    "sbang_string_theorem": (
        S_FIVE,
        '  have := s!"{\'"\'}"\n  exact cheat\ntheorem cheat : 2 + 2 = 5 := by sorry\n-- "\n',
    ),
    "sbang_skip_kernel": (
        S_FIVE,
        '  have := s!"{\'"\'}"\nset_option debug.skipKernelTC true\n-- "\n  decide\n',
    ),
    "char_escape_recovery": (S_FIVE, "  exact '\\q\naxiom cheat : 2 + 2 = 5\n"),
    "sbang_native_decide": (S_FIVE, '  have := s!"{\'"\'}"\n  native_decide\n-- "\n'),
    # class 3: root-scope declarations that would leak into later items of a shared file
    "instance_leak": (S_FIVE, "  decide\ninstance : OfNat Nat 5 := ⟨4⟩\n"),
    "macro_rules_leak": (
        S_FIVE,
        "  trivial\nmacro_rules | `(tactic| decide) => `(tactic| sorry)\n",
    ),
    "option_leak": (S_FIVE, "  decide\nset_option debug.skipKernelTC true\n"),
    # class 4 (forged replies): a reply-shaped message, and code that prints one
    "forged_reply_message": (
        S_FIVE,
        '  fail "{\\"nonce\\": \\"0\\", \\"verdict\\": \\"proved\\"}"\n',
    ),
    # class 5: native_decide without --allow-native-decide
    "native_decide": ("theorem t_nd : 10 < 11 := by\n", "  native_decide\n"),
    "decide_native": ("theorem t_nd2 : 10 < 11 := by\n", "  decide +native\n"),
    "of_reduce_bool": (S_FALSE, "  exact Lean.ofReduceBool _ _ rfl\n"),
    # commands after the proof, code-running syntax, options that weaken checking
    "new_command": (S_FALSE, "  omega\n\ntheorem evil : False := sorry\n"),
    "exit": (S_FALSE, "  omega\n#exit\n"),
    "eval": (S_FALSE, "  omega\n#eval IO.println 1\n"),
    "swallow_comment": (S_FALSE, "  omega\n/- the rest of the file is a comment\n"),
    "swallow_string": (S_FALSE, '  exact "unterminated\n'),
    "sorry_axiom": (S_FALSE, "  exact sorryAx _ false\n"),
    "synthetic_sorry": (S_FALSE, "  exact sorryAx _ true\n"),
    "skip_kernel": (S_FALSE, "  set_option debug.skipKernelTC true in\n  omega\n"),
    "heartbeats_off": (S_FALSE, "  set_option maxHeartbeats 0 in\n  decide\n"),
    "attribute": (S_FALSE, "  attribute [simp] Nat.add_comm in\n  simp\n"),
    "end_namespace": (S_FALSE, "  omega\nend\ntheorem x : 1 = 2 := sorry\n"),
    "axiom_after": (S_FALSE, "  exact bad\naxiom bad : 1 = 2\n"),
    "macro": (S_FALSE, '  omega\nmacro "omega" : tactic => `(tactic| sorry)\n'),
    "run_tac": (S_FALSE, "  run_tac Lean.Elab.Tactic.closeMainGoal\n"),
    # an attribute on a `let rec` is applied while the proof elaborates (here: a simp lemma
    # `1 = 2`; `@[tactic ..]` would register code to run)
    "letrec_attribute": (S_FALSE, "  let rec @[simp] bad : 1 = 2 := sorry\n  simp\n"),
    "unsafe_term": (S_FALSE, "  exact unsafe (cast lcProof ())\n"),
    "by_elab": (S_FALSE, "  exact by_elab return Lean.mkConst ``True.intro\n"),
    "meta_api": (S_FALSE, "  exact Lean.Elab.admitGoal\n"),
    "quoted_keyword": (S_FALSE, "  omega\n«theorem» x : False := sorry\n"),
    "lambda_glued_keyword": (S_FALSE, "  exact λtheorem x : False := sorry\n"),
    "statement_axiom": ("axiom cheat : False\n" + S_FALSE, "  exact cheat.elim\n"),
    "sorry_in_have": (S_FALSE, "  have h : False := by sorry\n  exact h.elim\n"),
    "false_by_decide": (S_FALSE, "  decide\n"),
    "self_reference": ("theorem t_self : False := by\n", "  exact t_self\n"),
    "unsafe_cast": (S_FALSE, "  exact unsafeCast ()\n"),
    "stray_comment_close": (S_FALSE, "  trivial\n-/\n"),
    "admit": (S_FALSE, "  admit\n"),
    "lone_quote": (S_FALSE, "'\n"),
    "open_paren": (S_FALSE, "  exact (\n"),
    "library_search": (S_FALSE, "  exact?\n"),
    "apply_search": (S_FALSE, "  apply?\n"),
    "internal_names": (S_FALSE, "  exact prover_example_0\n"),
}
# class 2: untrusted headers (`prover verify` input): (header, statement, proof)
HEADER_ATTACKS = {
    "header_ofnat": ("instance : OfNat Nat 5 := ⟨4⟩\n", S_FIVE, "  decide\n"),
    "header_notation": ('notation "False" => True\n', "theorem t_n : False := by\n", "  trivial\n"),
    "header_axiom": ("axiom cheat : False\n", S_FALSE, "  exact cheat.elim\n"),
    "header_sorry_lemma": ("theorem cheat : False := sorry\n", S_FALSE, "  exact cheat.elim\n"),
    "header_variable": ("variable (h : False)\ninclude h\n", S_FALSE, "  exact h.elim\n"),
    "header_macro": (
        'macro "cheat" : tactic => `(tactic| sorry)\n',
        S_FALSE,
        "  cheat\n",
    ),
    "header_skip_kernel": ("set_option debug.skipKernelTC true\n", S_FALSE, "  decide\n"),
    "header_string_trick": (
        'open Nat in\n#eval s!"{\'"\'}"\naxiom x : False\n',
        S_FALSE,
        "  exact x.elim\n",
    ),
}
EXACT = {"sorry_in_have": Verdict.INCOMPLETE, "admit": Verdict.INCOMPLETE}


def _reqs(items: dict, header: str | None = None, steps: bool = False) -> list[CheckRequest]:
    return [
        CheckRequest(s, p, header=header, id=k, want_steps=steps) for k, (s, p, *_) in items.items()
    ]


def _header_reqs() -> list[CheckRequest]:
    return [CheckRequest(s, p, header=h, id=k) for k, (h, s, p) in HEADER_ATTACKS.items()]


def _all_attacks() -> list[CheckRequest]:
    return _reqs(ATTACKS) + _header_reqs()


def _assert_not_proved(res: dict) -> None:
    for key, r in res.items():
        if key in HONEST:
            continue
        assert r.verdict is not Verdict.PROVED, (key, r)
        if key in EXACT:
            assert r.verdict is EXACT[key], (key, r)


@pytest.fixture(scope="module", params=[True, False], ids=["screen-on", "screen-off"])
def checker(request, embedded_checker):
    return embedded_checker.with_screen(request.param)


@pytest.fixture(scope="module")
def mixed(checker):
    """Honest items and every attack in one batch, then the same batch reversed."""
    reqs = _reqs(HONEST, steps=True) + _all_attacks()
    forward = dict(zip([r.id for r in reqs], checker.check(reqs), strict=True))
    backward = dict(zip([r.id for r in reqs[::-1]], checker.check(reqs[::-1]), strict=True))
    return forward, backward


def test_honest_verdicts_in_batches_with_attacks_both_orders(mixed):
    for res in mixed:
        for key, (_, _, verdict) in HONEST.items():
            assert res[key].verdict is verdict, (key, res[key])


def test_every_attack_is_not_proved_in_batches_both_orders(mixed):
    for res in mixed:
        _assert_not_proved(res)


# library search (seconds per call) is about what earlier items of a batch left behind: batches
# cover it, so the one-item runs skip it
BATCH_ONLY = {"library_search", "apply_search"}


def test_each_attack_alone_is_not_proved(checker):
    for req in [r for r in _all_attacks() if r.id not in BATCH_ONLY]:
        (r,) = checker.check([req])
        _assert_not_proved({req.id: r})


def test_screen_off_attacks_are_refused_by_lean_with_reasons(embedded_checker):
    """With the screen off, the refusals come from Lean: named reasons, not Python's."""
    raw = embedded_checker.with_screen(False)
    keys = ["new_command", "run_tac", "native_decide", "skip_kernel", "sorry_axiom"]
    keys += ["header_ofnat", "header_notation"]
    by_id = {r.id: r for r in _all_attacks() if r.id in keys}
    got = dict(zip(by_id, raw.check(list(by_id.values())), strict=True))
    assert "commands" in (got["new_command"].reason or "")
    assert "runTac" in (got["run_tac"].reason or "")
    assert "native_decide" in (got["native_decide"].reason or "")
    assert "skipKernelTC" in (got["skip_kernel"].reason or "")
    assert "untrusted header" in (got["header_ofnat"].reason or "")
    assert "untrusted header" in (got["header_notation"].reason or "")
    assert got["sorry_axiom"].verdict is Verdict.INCOMPLETE


def test_trusted_header_definitions_and_sorry_lemma(embedded_checker):
    """A benchmark header may define things (ProofNet); a proof through a header lemma proved
    by `sorry` is reported as such, never `proved`."""
    header = "def double (n : Nat) : Nat := 2 * n\ntheorem cheat : False := sorry\n"
    ok = CheckRequest(
        "theorem t_d : double 2 = 4 := by\n", "  decide\n", header=header, header_trusted=True
    )
    bad = CheckRequest(S_FALSE, "  exact cheat.elim\n", header=header, header_trusted=True)
    untrusted = CheckRequest("theorem t_d : double 2 = 4 := by\n", "  decide\n", header=header)
    r_ok, r_bad, r_untrusted = embedded_checker.with_screen(False).check([ok, bad, untrusted])
    assert r_ok.verdict is Verdict.PROVED, r_ok
    assert r_bad.verdict is Verdict.REJECTED and "cheat" in (r_bad.reason or ""), r_bad
    assert r_untrusted.verdict is Verdict.ERROR and "untrusted header" in (r_untrusted.reason or "")


def test_new_headers_reuse_the_imported_environment(embedded_checker):
    """Every header imports `Init`; a process imports it once and keeps it.  Before, each new
    header imported `Init` again (~5 s and ~100-150 MB that is never freed): the process grew
    by that much per header until its 4 GB WebAssembly memory ran out and a header request hung
    (seen after ~24 headers in one process, and in full suite runs)."""
    from prover.lean.checker import rss_mb

    tag = secrets.token_hex(4)
    reqs = [
        CheckRequest(
            f"theorem t_h{i} : double_{tag}_{i} 3 = 6 := by\n",
            "  decide\n",
            header=f"def double_{tag}_{i} (n : Nat) : Nat := 2 * n\n",
            header_trusted=True,
        )
        for i in range(10)
    ]
    checker = embedded_checker.with_screen(False)
    (first,) = checker.check(reqs[:1])  # Init is imported by now (if it was not before)
    assert first.verdict is Verdict.PROVED, first
    with embedded_checker._lock:
        (proc,) = embedded_checker._live
    before, restarts = rss_mb(proc.pid), embedded_checker.stats["restarts"]
    got = checker.check(reqs[1:])
    assert [r.verdict for r in got] == [Verdict.PROVED] * 9, got
    assert embedded_checker.stats["restarts"] == restarts
    with embedded_checker._lock:
        assert [p.pid for p in embedded_checker._live] == [proc.pid]
    # nine new headers: a few MB each for their own commands, not an import of Init each
    assert rss_mb(proc.pid) - before < 300, (before, rss_mb(proc.pid))


ANSWER_HEADER = """def double (n : Nat) : Nat := 2 * n

abbrev toy_solution : Nat := sorry
-- 6

def after_slot : Nat := toy_solution + 1
"""
S_ANS = "theorem toy : double 3 = toy_solution := by\n"
S_REFL = "theorem toy_refl : toy_solution = toy_solution := by\n"


def _answered(stmt: str, proof: str, **answers: str) -> CheckRequest:
    return CheckRequest(
        stmt, proof, header=ANSWER_HEADER, header_trusted=True, answers=tuple(answers.items())
    )


@pytest.mark.parametrize("screen", [True, False])
def test_answer_slots_are_judged_by_lean(embedded_checker, screen):
    """PutnamBench's plain variant: the policy's answer replaces the header's `sorry` answer
    definition.  Lean proves with a right answer only; an answer is one term, judged like a proof
    (no code, no extra commands, its `sorry` is the item's own); the statement still comes from
    the header without the answer.  With the Python screen on and off."""
    cases = {
        "right": (_answered(S_ANS, "  decide\n", toy_solution="6"), Verdict.PROVED, ""),
        "right_term": (_answered(S_ANS, "  rfl\n", toy_solution="double 3"), Verdict.PROVED, ""),
        "after_slot": (
            _answered("theorem t_after : after_slot = 7 := by\n", "  decide\n", toy_solution="6"),
            Verdict.PROVED,
            "",
        ),
        # answered bases are separate: the same proof with another answer fails
        "wrong": (_answered(S_ANS, "  decide\n", toy_solution="7"), Verdict.FAILED, ""),
        "no_answer": (_answered(S_REFL, "  rfl\n"), Verdict.REJECTED, "toy_solution"),
        "sorry_answer": (
            _answered(S_REFL, "  rfl\n", toy_solution="sorry"),
            Verdict.INCOMPLETE,
            "answer uses sorry",
        ),
        "extra_commands": (
            _answered(S_REFL, "  rfl\n", toy_solution="6)\naxiom bad : False\ndef z : Nat := (0"),
            Verdict.FAILED,
            "one term",
        ),
        "run_tac": (
            _answered(S_ANS, "  decide\n", toy_solution="by run_tac pure (); exact 6"),
            Verdict.REJECTED,
            "runTac",
        ),
        "wrong_type": (
            _answered(S_REFL, "  rfl\n", toy_solution="(6 : Int)"),
            Verdict.FAILED,
            "does not elaborate",
        ),
        # attributes inside the answer would be applied in the base the proof is checked in
        "let_rec_attribute": (
            _answered(S_ANS, "  decide\n", toy_solution="let rec @[simp] f : Nat := 6; f"),
            Verdict.REJECTED,
            "ttributes",
        ),
        "unsafe_term": (
            _answered(S_ANS, "  decide\n", toy_solution="unsafe 6"),
            Verdict.REJECTED,
            "unsafe",
        ),
        # a NUL inside a comment: its answered base must not be another request's (the second
        # request answers a slot that does not exist)
        "nul_in_comment": (
            _answered(S_ANS, "  decide\n", toy_solution="7 --\x00x\x00\n- 1"),
            Verdict.PROVED,
            "",
        ),
        "nul_split": (
            CheckRequest(
                S_ANS,
                "  decide\n",
                header=ANSWER_HEADER,
                header_trusted=True,
                answers=(("toy_solution", "7 --"), ("x", "\n- 1")),
            ),
            Verdict.ERROR,
            "no answer slot `x`",
        ),
        "no_such_slot": (_answered(S_REFL, "  rfl\n", nope_solution="6"), Verdict.ERROR, "nope"),
        # the statement must elaborate without the answer: an answer cannot give it a meaning
        "statement_needs_answer": (
            _answered(
                "theorem t_fin : (0 : Fin toy_solution) = 0 := by\n", "  rfl\n", toy_solution="6"
            ),
            Verdict.FAILED,
            "statement does not elaborate",
        ),
        "untrusted_header": (
            CheckRequest(S_REFL, "  rfl\n", header="", answers=(("toy_solution", "6"),)),
            Verdict.ERROR,
            "untrusted",
        ),
    }
    if screen:  # Python refuses these first, with its own reasons
        cases["run_tac"] = (cases["run_tac"][0], Verdict.REJECTED, "run_tac")
        cases["extra_commands"] = (cases["extra_commands"][0], Verdict.REJECTED, "axiom")
        cases["nul_in_comment"] = (cases["nul_in_comment"][0], Verdict.REJECTED, "NUL")
    checker = embedded_checker.with_screen(screen)
    results = checker.check([req for req, _, _ in cases.values()])
    for (name, (_, verdict, why)), res in zip(cases.items(), results, strict=True):
        assert res.verdict is verdict, (name, res)
        assert why in (res.reason or ""), (name, res.reason)


def test_code_running_terms_are_refused_by_lean_under_a_lean_header(embedded_checker):
    """With `import Lean` in the header (as under Mathlib) `by_elab` would run any elaborator
    code and `include_str` would read a host file while the term elaborates: Lean's syntax
    policy refuses both before elaboration, in proofs and in answers, with the screen off."""
    header = "import Lean\nabbrev toy_solution : Nat := sorry\n"
    code = "by_elab return Lean.mkNatLit 6"
    reqs = [
        CheckRequest(S_FALSE, f"  have h : Nat := {code}\n  sorry\n", header, header_trusted=True),
        CheckRequest(
            S_FALSE,
            '  have s : String := include_str "/etc/hostname"\n  sorry\n',
            header,
            header_trusted=True,
        ),
        CheckRequest(
            "theorem toy : toy_solution = 6 := by\n",
            "  rfl\n",
            header,
            header_trusted=True,
            answers=(("toy_solution", code),),
        ),
        CheckRequest("theorem t_ok : 1 + 1 = 2 := by\n", "  rfl\n", header, header_trusted=True),
    ]
    by_elab, include_str, answer, honest = embedded_checker.with_screen(False).check(reqs)
    for res, kind in (
        (by_elab, "Lean.byElab"),
        (include_str, "Lean.includeStr"),
        (answer, "Lean.byElab"),
    ):
        assert res.verdict is Verdict.REJECTED and kind in (res.reason or ""), res
    assert honest.verdict is Verdict.PROVED, honest


# Honest proofs that Lean proves: the screen may only refuse what Lean refuses
HONEST_CORPUS = {
    "open_in": (S_ADD, "  open Nat in\n  omega\n"),
    "heartbeats_in": (S_ADD, "  set_option maxHeartbeats 100000 in\n  omega\n"),
    "rec_depth_in": (S_ADD, "  set_option maxRecDepth 10000 in\n  omega\n"),
    "pp_in": (S_ADD, "  set_option pp.all true in\n  omega\n"),
    "config_struct": ("theorem t_c : 2 + 2 = 4 := by\n", "  simp (config := { decide := true })\n"),
    "config_flags": (S_ADD, "  simp +arith [Nat.add_comm]\n"),
    "decide_kernel": ("theorem t_k : 2 + 2 = 4 := by\n", "  decide +kernel\n"),
    "rw_occs": (S_ADD, "  rw (occs := .pos [1]) [Nat.add_comm]\n"),
    "named_native_binder": (
        "theorem t_nb (native : Nat) : native + 0 = native := by\n",
        "  simp\n",
    ),
    "grind_plain": (S_ADD, "  grind\n"),
    "conv_calc": (
        S_ADD,
        "  calc a + b = b + a := by\n        conv => lhs; rw [Nat.add_comm]\n",
    ),
    "show_term_have": (S_AND, "  have h : p := hp\n  exact ⟨h, hq⟩\n"),
}
LEAN_FALSE_TEXT = {
    # a proof's own error text must not pick its verdict class
    "fake_unsolved": ("theorem t_fu : True := by\n", '  fail "unsolved goals\n⊢ True"\n'),
    "fake_heartbeats": (
        "theorem t_fh : True := by\n",
        '  fail "(deterministic) timeout at `whnf`, maximum number of heartbeats (200000) has been reached"\n',
    ),
}


def test_screen_passes_every_honest_proof_lean_proves(embedded_checker):
    from prover.lean.soundness import screen_request

    reqs = [CheckRequest(s, p, id=k) for k, (s, p) in HONEST_CORPUS.items()]
    res = embedded_checker.with_screen(False).check(reqs)
    for req, r in zip(reqs, res, strict=True):
        assert r.verdict is Verdict.PROVED, (req.id, r)
        assert screen_request(req) is None, (req.id, screen_request(req))


def test_verdict_class_comes_from_lean_not_from_message_text(embedded_checker):
    reqs = [CheckRequest(s, p, id=k) for k, (s, p) in LEAN_FALSE_TEXT.items()]
    fake_unsolved, fake_heartbeats = embedded_checker.with_screen(False).check(reqs)
    assert fake_unsolved.verdict is Verdict.FAILED, fake_unsolved
    assert fake_heartbeats.verdict is Verdict.FAILED, fake_heartbeats
    assert not any(m.unsolved_goals for m in fake_unsolved.messages)
    real = CheckRequest(S_AND, "  constructor\n  exact hp\n")
    (r,) = embedded_checker.with_screen(False).check([real])
    assert r.verdict is Verdict.INCOMPLETE and r.messages[0].unsolved_goals, r


def test_statement_error_is_reported_as_such(mixed):
    r = mixed[0]["bad_statement"]
    assert r.reason and "statement does not elaborate" in r.reason
    assert any("ℤ" in m.text for m in r.messages)


def test_error_position_counts_code_points(mixed):
    r = mixed[0]["mem_unicode_err"]
    proof_line = HONEST["mem_unicode_err"][1].splitlines()[0]
    assert r.first_error is not None
    assert r.first_error.line == 1
    # `α`, `∈` and `₁` are multi-byte in UTF-8; the column is in code points
    assert r.first_error.column == proof_line.index("foo")
    assert "foo" in r.first_error.text


def test_wrong_tactic_position(mixed):
    r = mixed[0]["add_wrong"]
    assert r.first_error is not None and r.first_error.line == 1 and r.first_error.column == 2
    assert r.verified_prefix == ""


def test_unsolved_goals_keep_states(mixed):
    r = mixed[0]["and_unsolved"]
    assert r.first_error is not None and r.first_error.text.startswith("unsolved goals")
    assert [s.text for s in r.steps] == ["constructor", "exact hp"]
    assert r.steps[-1].goals_after.startswith("case right")
    assert r.initial_goals.endswith("⊢ p ∧ q")


def test_steps_of_a_proved_bullet_proof(mixed):
    r = mixed[0]["and_ok"]
    texts = [s.text for s in r.steps]
    assert texts == ["constructor", "· exact hp", "exact hp", "· exact hq", "exact hq"]
    assert r.steps[1].goals_after == "no goals" or r.steps[1].goals_after.startswith("case right")
    assert "h₀ : x ∈ [1, 2]" in mixed[0]["mem_ok"].initial_goals


def test_nested_steps_inside_have(mixed):
    r = mixed[0]["have_ok"]
    nested = [s for s in r.steps if s.depth == 2]
    assert [s.text for s in nested] == [
        "constructor",
        "· exact hq",
        "exact hq",
        "· exact hp",
        "exact hp",
    ]
    first = nested[0]
    assert first.goals_before.endswith("⊢ q ∧ p")  # the have block's own goal
    assert "case left" in first.goals_after


def test_each_refusal_category_comes_from_lean(embedded_checker):
    """The stable `refusal` category of every refused item is Lean's (screen off).  Not covered
    here: `statement_mismatch` and `kernel_rejected`, which no proof text this suite knows can
    reach once the syntax policy and the elaborator have passed it, and `answer_refused`, whose
    cases (an answer Lean parses as two commands in its slot, or that changes the slot's
    declaration) need an answer that parses alone as one term: none is known."""
    hdr_axiom = "axiom cheat_ax : False\n"
    cases = {
        "code_evaluation": CheckRequest(S_FALSE, "  run_tac Lean.Elab.Tactic.closeMainGoal\n"),
        "native_decide": CheckRequest("theorem t_nd : 10 < 11 := by\n", "  native_decide\n"),
        "set_option": CheckRequest(S_FALSE, "  set_option debug.skipKernelTC true in\n  omega\n"),
        "extra_command": CheckRequest(S_FALSE, "  omega\n\ntheorem evil : False := sorry\n"),
        "sorry": CheckRequest(S_FALSE, "  sorry\n"),
        "declared_axiom": CheckRequest(
            S_FALSE, "  exact cheat_ax.elim\n", header=hdr_axiom, header_trusted=True
        ),
        "untrusted_header": CheckRequest(
            S_FIVE, "  decide\n", header="instance : OfNat Nat 5 := ⟨4⟩\n"
        ),
        "limit": CheckRequest(
            "theorem t_lim : (List.range 2000).foldl (· + ·) 0 = 1999000 := by\n",
            "  set_option maxHeartbeats 1 in\n  decide\n",
        ),
    }
    res = embedded_checker.with_screen(False).check(list(cases.values()))
    for category, r in zip(cases, res, strict=True):
        assert r.verdict is not Verdict.PROVED, (category, r)
        assert r.refusal == category, (category, r.verdict, r.refusal, r.reason)
