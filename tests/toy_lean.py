"""A scripted stand-in for Lean's answer in pure-logic search tests (never used to claim a real
theorem proved): a proof is lines of `step` (each moves the goal `⊢ gK` to `⊢ gK+1`), ending in
`done` (proved), `sorry` (incomplete) or anything else (an unknown tactic)."""

from __future__ import annotations

from prover.lean.types import CheckRequest, CheckResult, LeanMessage, TacticStep, Verdict


def toy_result(req: CheckRequest) -> CheckResult:
    steps: list[TacticStep] = []
    offset, goal = 0, "⊢ g0"
    for line in req.proof.split("\n"):
        start, offset = offset, offset + len(line) + 1
        text = line.strip()
        if not text:
            continue
        if text == "sorry":
            return CheckResult(Verdict.INCOMPLETE, initial_goals="⊢ g0", steps=steps)
        if text == "done":
            return CheckResult(Verdict.PROVED, steps=steps, initial_goals="⊢ g0")
        if text != "step":
            err = LeanMessage("error", 1, 2, 1, 5, "unknown tactic")
            return CheckResult(Verdict.FAILED, messages=[err], first_error=err, steps=steps)
        after = f"⊢ g{len(steps) + 1}"
        steps.append(TacticStep(line, start, start + len(line), goal, after))
        goal = after
    err = LeanMessage("error", 1, 0, 1, 1, "unsolved goals\n" + goal, unsolved_goals=True)
    return CheckResult(
        Verdict.INCOMPLETE if steps else Verdict.FAILED,
        messages=[err],
        first_error=err,
        steps=steps,
        initial_goals="⊢ g0",
    )
