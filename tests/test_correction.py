"""Self-correction (Goedel-Prover-V2's feedback format, pinned), the replay policy, polished
proofs and the honest partial proof; the Lean tests share the session checker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prover.lean.types import CheckResult, LeanMessage, Verdict
from prover.policy import load_policy, parse_spec
from prover.policy.base import ProofTask, SamplingParams
from prover.policy.correction import (
    Correction,
    chat_feedback,
    completion_feedback,
    feedback_text,
    goedel_error_str,
)
from prover.policy.prompts import PromptBuilder, PromptConfig

# --- Goedel-Prover-V2's format, pinned --------------------------------------------------------
# Goedel-LM/Goedel-Prover-V2 at commit 2e9036e118464aa96a8bebaf9f5b9d091aa3585c, src/utils.py:
# get_error_str(code, errors, error_thres=True) on this code with one error at line 6, columns
# 2-6 ({"pos": {"line": 6, "column": 2}, "endPos": {"line": 6, "column": 6}, "data": ...}) and
# DeepSeekCoTHandler.generate_correction_prompt's user turn for round 1.
CODE = "import Mathlib\n\ntheorem t (a : Nat) : a = a := by\n  intro x\n  skip\n  rfla\n  done"
GOLDEN_CHAT_HEAD = (
    "The proof (Round 0) is not correct. Following is the compilation error message, where we "
    "use <error></error> to signal the position of the error.\n\n"
)
GOLDEN_CHAT_TAIL = (
    "\n\nBefore producing the Lean 4 code to formally prove the given theorem, provide a "
    "detailed analysis of the error message."
)


def test_goedel_error_str_golden() -> None:
    err = LeanMessage("error", 6, 2, 6, 6, "unknown tactic")
    got = goedel_error_str(CODE, [err], 8)
    expected = (
        "\nError 1:\n\nCorresponding Code:\n```lean4\n"
        "\ntheorem t (a : Nat) : a = a := by\n  intro x\n  skip\n"
        "  <error>rfla</error>\n  done\n\n```\n\nError Message: unknown tactic\n"
    )
    assert got == expected
    assert chat_feedback("goedel", 1, got) == GOLDEN_CHAT_HEAD + got + GOLDEN_CHAT_TAIL


def test_goedel_error_str_limits_and_truncates() -> None:
    code = "\n".join(f"l{i}" for i in range(20))
    errs = [LeanMessage("error", 2, 0, 12, 1, "long")] + [
        LeanMessage("error", 1, 0, 1, 1, f"e{i}") for i in range(9)
    ]
    got = goedel_error_str(code, errs, 8)
    assert "... --[Truncated]-- ..." in got
    assert got.endswith("\n... [Omitted 2 more errors] ...\n")
    assert got.count("Error Message:") == 8


def test_completion_feedback_is_goedels_noncot_block() -> None:
    got = completion_feedback("goedel", 2, "\nError 1:\nbad\n")
    assert got == (
        "-- The previous proof attempt (Round 1) resulted in compilation errors:\n"
        "-- Error 1:\n-- bad\n"
        "-- Please provide a corrected version. Wrap the proof in ```lean4 and ```."
    )


def test_feedback_positions_are_shifted_to_the_full_code() -> None:
    stmt = "theorem t (a : Nat) : a = a := by\n"
    res = CheckResult(
        Verdict.FAILED,
        messages=[LeanMessage("error", 2, 2, 2, 6, "unknown tactic")],
        first_error=LeanMessage("error", 2, 2, 2, 6, "unknown tactic"),
    )
    text = feedback_text("goedel", "import Mathlib\n\n", stmt, "\n  rfla", res)
    assert "  <error>rfla</error>\n" in text
    gs = feedback_text("goal-state", "", stmt, "\n  rfla", res)
    # the statement's newline and the proof's: Lean checked `...:= by\n\n  rfla`
    assert "Line 3, column 2: unknown tactic" in gs


def test_prompts_of_correction_rounds() -> None:
    task = ProofTask("theorem t : 1 = 1 := by", header="", name="t")
    fixed = ProofTask(
        "theorem t : 1 = 1 := by", header="", name="t", corrections=(("\n  rfla", "ERR", "goedel"),)
    )
    v15 = PromptBuilder(PromptConfig())
    assert v15.build(fixed).text == (
        completion_feedback("goedel", 1, "ERR") + "\n\n" + v15.build(task).text
    )
    v2 = PromptBuilder(PromptConfig(mode="v2"))
    seen: list[list[dict[str, str]]] = []

    def chat(msgs: list[dict[str, str]]) -> str:
        seen.append(msgs)
        return "CHAT"

    v2.chat_messages = chat
    assert v2.build(fixed).text == "CHAT"
    assert [m["role"] for m in seen[0]] == ["user", "assistant", "user"]
    assert seen[0][1]["content"] == "\n  rfla"
    assert seen[0][2]["content"] == chat_feedback("goedel", 1, "ERR")


def test_correction_config_validates() -> None:
    with pytest.raises(ValueError, match="fix_rounds"):
        Correction(fix_rounds=-1)
    with pytest.raises(ValueError, match="fix_format"):
        Correction(fix_format="kimina")  # type: ignore[arg-type]


# --- replay policy -----------------------------------------------------------------------------


def test_replay_serves_in_order_then_cycles(tmp_path: Path) -> None:
    f = tmp_path / "r.jsonl"
    f.write_text(
        "\n".join(
            json.dumps(x)
            for x in [
                {"name": "a", "completion": "\n  one"},
                {"name": "b", "completion": "\n  bee"},
                {"name": "a", "completion": "\n  two"},
            ]
        )
        + "\n"
    )
    assert parse_spec(f"replay:{f}") == ("replay", (str(f),))
    pol = load_policy(f"replay:{f}")
    task = ProofTask("theorem a : True := by", name="minif2f/a")
    outs = pol.generate([task], SamplingParams(n=3))
    assert [c.text for c in outs[0]] == ["\n  one", "\n  two", "\n  one"]
    assert outs[0][0].prompt.startswith("Complete the following Lean 4 code:")
    (none,) = pol.generate([ProofTask("theorem z : True := by", name="z")], SamplingParams())
    assert none[0].text == ""
    resumed = ProofTask("theorem b : True := by", name="b", prefix="\n  b")
    assert pol.generate([resumed], SamplingParams())[0][0].text == "ee"


def test_replay_bad_file(tmp_path: Path) -> None:
    from prover.errors import DataError

    f = tmp_path / "bad.jsonl"
    f.write_text('{"name": "a"}\n')
    with pytest.raises(DataError, match="bad.jsonl:1"):
        load_policy(f"replay:{f}")


# --- real Lean ---------------------------------------------------------------------------------

STMT = "theorem fixme (a b : Nat) (h : a < b) : a + 1 ≤ b := by"


@pytest.mark.lean
def test_correction_round_fixes_a_replayed_failure(tmp_path: Path, shared_checker, capsys) -> None:
    from prover.cli import main
    from prover.rl.export import build_rows
    from prover.rl.records import load_records

    f = tmp_path / "fix.jsonl"
    f.write_text(
        json.dumps({"name": "fixme", "completion": "\n  exact Nat.le_refl a"})
        + "\n"
        + json.dumps({"name": "fixme", "completion": "\n  omega"})
        + "\n"
    )
    rec = tmp_path / "rec"
    rc = main(
        [
            "prove", "--statement", STMT, "--policy", f"replay:{f}", "--search", "sample",
            "--budget", "1x2", "--sample-batch-size", "1", "--fix-rounds", "1",
            "--record", str(rec), "--json",
        ]
    )  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert rc == 0, out
    assert out["proof"].strip() == "omega" and out["found_at"] == 2
    records = load_records(rec)
    (fix,) = [r for r in records if r.kind == "correction"]
    assert fix.round == 1 and fix.verdict == "proved"
    assert "<error>" in fix.prompt and "Error Message:" in fix.prompt  # the annotated error
    assert fix.prompt.startswith("-- The previous proof attempt (Round 0)")
    (row,) = build_rows(records, "multiturn")
    roles = [m["role"] for m in row["messages"]]
    assert roles == ["user", "assistant", "user", "assistant"]
    assert row["messages"][1]["content"] == "\n  exact Nat.le_refl a"
    assert "<error>" in row["messages"][2]["content"]  # Lean's feedback: a user turn, masked
    assert row["messages"][3]["content"] == "\n  omega" and row["reward"] == 1.0


@pytest.mark.lean
def test_polish_collapses_first_and_drops_noops(embedded_checker) -> None:
    from search.polish import polish

    class Counting:  # every Lean verification polishing asks for
        name = "counting"

        def __init__(self) -> None:
            self.calls = 0

        def check(self, reqs):
            self.calls += len(reqs)
            return embedded_checker.check(reqs)

    task = ProofTask("theorem p (n : Nat) (h : n > 2) : n > 1 := by", name="p")
    counting = Counting()
    out = polish(counting, task, "\n  skip\n  first | omega | decide")
    assert out == "\n  omega"
    # from the info trees of one elaboration, then one re-check: the failed and heavy
    # alternatives are never re-run
    assert counting.calls == 2
    counting.calls = 0
    later = polish(counting, task, "\n  first | decide | omega | simp_all")  # omega won
    assert later == "\n  omega" and counting.calls == 2
    from prover.lean import CheckRequest

    (res,) = embedded_checker.check([CheckRequest(task.formal_statement, out)])
    assert res.verdict is Verdict.PROVED
    bad = "\n  exact foo"  # not a proof: polishing leaves it alone
    assert polish(embedded_checker, task, bad) == bad


@pytest.mark.lean
def test_prove_failure_prints_a_verified_partial_and_the_real_reason(
    shared_checker, capsys
) -> None:
    from prover.cli import main

    stmt = "theorem t (x y : Nat) (h : x * y = 0) (hx : x ≠ 0) : y = 0 := by"
    rc = main(["prove", "--statement", stmt, "--budget", "1x8", "--concurrency", "4", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 1
    assert "first |" not in out["proof"]
    assert out["proof"].strip() == "simp_all"  # the alternative that made the progress
    assert "open goal" in out["failure"] or "no tactic made progress" in out["failure"]
    assert "rfl" not in out["failure"].split("\n", 1)[0]
    from prover.lean import CheckRequest

    (res,) = shared_checker.check([CheckRequest(stmt, out["proof"])])
    assert res.verdict is Verdict.INCOMPLETE
    assert all(m.text.startswith("unsolved goals") for m in res.messages if m.severity == "error")


# --- issue 24, item 1: the annotated code is the code Lean checked -----------------------------


def test_error_on_the_proofs_first_line_keeps_the_statement_line() -> None:
    # the proof continues the statement's line: Lean's columns on proof line 1 count from the
    # proof's start, so the mark must land on the proof's text, not on `theorem`
    stmt = "theorem t (x : Nat) : x = x := by"
    err = LeanMessage("error", 1, 1, 1, 6, "unknown tactic")
    res = CheckResult(Verdict.FAILED, messages=[err], first_error=err)
    text = feedback_text("goedel", "", stmt, " rfla x", res)
    assert "theorem t (x : Nat) : x = x := by <error>rfla </error>x\n" in text
    gs = feedback_text("goal-state", "", stmt, " rfla x", res)
    assert "Line 1, column 34: unknown tactic" in gs  # the column in the code shown


def test_statement_ending_with_a_newline_is_shown_as_lean_checked_it() -> None:
    # Lean checks statement + proof as given: `...:= by\n` then `  rfla`
    stmt = "theorem t (a : Nat) : a = a := by\n"
    err = LeanMessage("error", 1, 2, 1, 6, "unknown tactic")
    res = CheckResult(Verdict.FAILED, messages=[err], first_error=err)
    text = feedback_text("goedel", "import Mathlib\n", stmt, "  rfla", res)
    assert "theorem t (a : Nat) : a = a := by\n  <error>rfla</error>\n" in text
    assert ":= by  rfla" not in text


def test_message_without_an_end_position_marks_to_the_end_of_its_line() -> None:
    # the checker reports a message without an end position with its end at its start;
    # Goedel's get_error_str marks such an error (endPos None) to the end of the line
    err = LeanMessage("error", 6, 2, 6, 2, "unexpected token")
    got = goedel_error_str(CODE, [err], 8)
    assert "  <error>rfla</error>\n" in got and "<error></error>" not in got


def test_correction_history_keeps_the_models_raw_output() -> None:
    from prover.lean.types import CheckRequest
    from prover.policy.base import Completion
    from search.correction import Attempt, run_chain

    raw = "Plan: rewrite.\n```lean4\ntheorem t : 1 = 1 := by\n  rfla\n```"

    class Chat:  # a V2 policy: the completion's text is the proof extracted from `raw`
        spec = "chat"

        def __init__(self) -> None:
            self.tasks: list[ProofTask] = []

        def generate(self, tasks, params):
            self.tasks += tasks
            return [[Completion(text="\n  rflb", raw="Plan 2.\n```lean4\n  rflb\n```")]]

        def close(self) -> None:
            pass

    class Fails:  # Lean's verdict on both attempts (an unknown tactic): never proved here
        name = "fails"

        def check(self, reqs: list[CheckRequest]) -> list[CheckResult]:
            e = LeanMessage("error", 2, 2, 2, 6, "unknown tactic")
            return [CheckResult(Verdict.FAILED, messages=[e], first_error=e) for _ in reqs]

        def close(self) -> None:
            pass

    task = ProofTask("theorem t : 1 = 1 := by", header="", name="t")
    (failed,) = Fails().check([task.request("\n  rfla", "t:0")])
    first = Attempt(Completion(text="\n  rfla", prompt="P", raw=raw), "\n  rfla", failed)
    pol = Chat()
    out = run_chain(
        task, first, pol, Fails(), Correction(fix_rounds=2), lambda r: SamplingParams(n=1), 1, 2, ""
    )
    assert out.proof is None and out.used == 2
    answers = [c[0] for c in pol.tasks[-1].corrections]
    assert answers == [raw, "Plan 2.\n```lean4\n  rflb\n```"]  # as the model wrote them
