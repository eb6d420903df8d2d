"""RMaxTS and the model's context (issue 24, item 3): a node whose whole prompt (instruction,
header, statement, prefix, state comment, plus the tokens to generate) can never fit in the
policy's context never enters the tree, so no sample is spent on a prompt the policy refuses.
Pure search logic on a checker that is not Lean and never answers `proved`."""

from __future__ import annotations

import random
from collections.abc import Sequence

from prover.lean.types import CheckRequest, CheckResult, LeanMessage, TacticStep, Verdict
from prover.policy.base import Completion, ProofTask, SamplingParams
from prover.policy.prompts import PromptBuilder, PromptConfig, state_comment
from search.base import Budget
from search.rmaxts import RMaxTS

NEW_TOKENS = 8


class SkipChecker:
    """Each `skip` line moves the goal `⊢ gK` to `⊢ gK+1`; another line fails there.  Never
    `proved` (goals stay open)."""

    name = "skips"

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        out = []
        for r in requests:
            steps: list[TacticStep] = []
            offset, msgs = 0, []
            for n, line in enumerate(r.proof.split("\n"), 1):
                start, offset = offset, offset + len(line) + 1
                if line.strip() in ("", "by", "sorry"):
                    continue
                if line.strip() != "skip":
                    msgs = [LeanMessage("error", n, 2, n, len(line), "unknown tactic")]
                    break
                k = len(steps)
                steps.append(TacticStep(line, start, start + len(line), f"⊢ g{k}", f"⊢ g{k + 1}"))
            verdict = Verdict.FAILED if msgs else Verdict.INCOMPLETE
            out.append(
                CheckResult(
                    verdict,
                    messages=msgs,
                    first_error=msgs[0] if msgs else None,
                    steps=steps if r.want_steps else None,
                    initial_goals="⊢ g0",
                )
            )
        return out

    def close(self) -> None:
        pass


class ContextPolicy:
    """A policy with a context limit, as the model backends (hf, vLLM) have: its PromptBuilder,
    a tokenizer (one token per character) and `max_context_tokens`; `generate` refuses prompts
    that do not fit (PromptTooLongError naming them).  Writes one to three `skip` lines."""

    spec = "context"

    def __init__(self, max_context_tokens: int) -> None:
        self.prompts = PromptBuilder(PromptConfig())
        self.max_context_tokens = max_context_tokens
        self.generated = 0

    def count_tokens(self, text: str) -> int:
        return len(text)

    def generate(
        self, tasks: Sequence[ProofTask], params: SamplingParams
    ) -> list[list[Completion]]:
        self.prompts.build_checked(tasks, params, self.count_tokens, self.max_context_tokens)
        out = []
        for t in tasks:
            rng = random.Random(f"{t.seed}:{t.prefix}")
            lead = "" if t.prefix else "\n"
            text = lead + "\n".join(["  skip"] * rng.randint(1, 3))
            out.append([Completion(text, prompt="P")])
            self.generated += 1
        return out

    def close(self) -> None:
        pass


def _task(name: str) -> ProofTask:
    return ProofTask(f"theorem {name} : True := by", name=name)


def _prompt_len(task: ProofTask, prefix: str, goals: str) -> int:
    job = ProofTask(
        task.formal_statement,
        name=task.name,
        prefix=prefix,
        goals=goals,
        comment=state_comment(goals, 2) if prefix else "",
        run=0,
    )
    return len(PromptBuilder(PromptConfig()).build(job).text)


def _search() -> RMaxTS:
    # the prefix limit out of the way: only the model's context limits the prompts
    return RMaxTS(concurrency=2, max_prefix_tokens=10**6, sampling={"max_new_tokens": NEW_TOKENS})


def test_nodes_whose_prompt_cannot_fit_never_enter_the_tree() -> None:
    task = _task("t")
    # the context holds the prompt after one `skip` line, not after two
    limit = _prompt_len(task, "\n  skip\n", "⊢ g1") + NEW_TOKENS
    assert _prompt_len(task, "\n  skip\n  skip\n", "⊢ g2") + NEW_TOKENS > limit
    policy = ContextPolicy(limit)
    res = _search().run(task, policy, SkipChecker(), Budget(1, 12))
    assert res.stats["prompt_too_long"] == 0  # no sample spent on a refused prompt
    assert res.stats["samples_generated"] == policy.generated == 12
    assert res.stats["nodes"] == 2 and res.stats["max_depth"] == 1  # root and `⊢ g1`


def test_a_root_prompt_that_cannot_fit_spends_no_sample() -> None:
    task = _task("a_theorem_whose_prompt_is_too_long_for_the_context")
    limit = _prompt_len(_task("t"), "", "⊢ g0") + NEW_TOKENS  # a shorter name's root fits
    policy = ContextPolicy(limit)
    res = _search().run(task, policy, SkipChecker(), Budget(1, 12))
    assert not res.solved and res.samples_used == 0 and policy.generated == 0
    assert res.stats["prompt_too_long"] == 0
    assert "does not fit" in res.failure and "context" in res.failure
