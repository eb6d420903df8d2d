"""Self-correction chains (Goedel-Prover-V2, arXiv 2508.03613, Sec. "verifier-guided
self-correction"): a failed whole-proof attempt goes back to the policy with Lean's feedback, up
to `Correction.fix_rounds` times.  Round r's prompt holds every earlier answer and the feedback on
it (`ProofTask.corrections`; the formats are in `prover.policy.correction`).  Each correction is
one verification of the budget, recorded as kind `correction` with its round and the chat turns
before it.  Used by whole-proof sampling and by decomposition's subgoal attempts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from prover.lean.types import Checker, CheckResult, Verdict
from prover.lean.wrappers import RequestContext, check_with_context
from prover.policy.base import (
    Answers,
    Completion,
    Policy,
    ProofTask,
    SamplingParams,
    merge_answers,
)
from prover.policy.correction import Correction, chat_feedback, feedback_text
from prover.policy.prompts import shown_header


@dataclass
class Attempt:
    """One failed attempt that may start a chain: the completion, the proof checked, its result."""

    completion: Completion
    proof: str
    result: CheckResult


@dataclass
class ChainOutcome:
    proof: str | None  # a proof Lean accepted (not yet re-verified), else None
    used: int  # verifications spent
    index: int  # sample index of the proof (or of the last correction)
    last_error: str
    answers: Answers = ()  # the answers the proof was checked with (the last round's)


def correctable(result: CheckResult) -> bool:
    """Lean judged the attempt wrong (a timeout or checker error says nothing about it)."""
    return result.verdict in (Verdict.FAILED, Verdict.INCOMPLETE)


def run_chain(
    task: ProofTask,
    first: Attempt,
    policy: Policy,
    checker: Checker,
    cfg: Correction,
    params: Callable[[int], SamplingParams],
    next_index: int,
    left: int,
    header: str,
) -> ChainOutcome:
    """Correct `first` for up to `cfg.fix_rounds` rounds and at most `left` verifications;
    `params(round)` gives each round's sampling parameters (n=1), `next_index` the sample index
    of the first correction, `header` the header text the feedback shows (the task's or the
    backend default's)."""
    history: list[tuple[str, str, str]] = []
    turns: list[tuple[str, str]] = [("user", first.completion.prompt)]
    # the assistant turns are what the model wrote (Goedel keeps the raw output), the feedback
    # is on the proof Lean checked
    answer, proof, result = first.completion.output, first.proof, first.result
    answers = merge_answers(task.answers, first.completion.answers)
    used, index, last_error = 0, next_index, ""
    for rnd in range(1, cfg.fix_rounds + 1):
        if used >= left or not correctable(result):
            break
        # the header as Lean judged the attempt: with the answers it was checked with in place
        shown = shown_header(replace(task, header=header, answers=answers))
        report = feedback_text(
            cfg.fix_format, shown, task.formal_statement, proof, result, cfg.fix_max_errors
        )
        history.append((answer, report, cfg.fix_format))
        turns += [("assistant", answer), ("user", chat_feedback(cfg.fix_format, rnd, report))]
        fixed_task = replace(task, corrections=tuple(history), prefix="", goals="", comment="")
        p = params(rnd)
        ((comp, *_),) = policy.generate([fixed_task], p)
        answer = comp.output
        proof = comp.text.rstrip(" \n")
        answers = merge_answers(answers, comp.answers)  # a round may keep the last answer
        (result,) = check_with_context(
            checker,
            [
                task.request(
                    proof,
                    f"{task.name}:{index}",
                    want_steps=cfg.fix_format == "goal-state",
                    answers=answers,
                )
            ],
            [
                RequestContext(
                    task.name,
                    comp.prompt,
                    comp.text,
                    sampling=p,
                    sample_index=index,
                    kind="correction",
                    round=rnd,
                    turns=tuple(turns),
                )
            ],
        )
        used += 1
        if result.first_error is not None:
            last_error = result.first_error.text
        if result.verdict is Verdict.PROVED:
            return ChainOutcome(proof, used, index, last_error, answers)
        index += 1
    return ChainOutcome(None, used, index, last_error)
