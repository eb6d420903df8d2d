"""`LeanReward`: a reward function for TRL's GRPOTrainer (`reward_funcs=[LeanReward(checker)]`)
or any trainer that scores a batch of completions.

    reward = LeanReward(make_checker("embedded"))
    reward = LeanReward(prover.service.open_checker("http://HOST:PORT"))  # a running `prover serve`
    reward(prompts, completions, formal_statement=[...], header=[...]) -> [1.0, 0.0, ...]

GRPOTrainer calls it with keyword arguments only: `prompts=`, `completions=`, `completion_ids=`,
`trainer_state=` and every other dataset column as a keyword list (one value per completion);
those it does not use are ignored.  The proof of a completion (see `proof_of`): a completion that
opens with a ```` ```lean4 ```` block (a chat answer holding the whole theorem) gives the text
after the statement in its last such block; any other completion continues the prompt's code
block and is cut at the first code fence, after the `prefix` column's verified prefix, if any.
All completions are verified in ONE checker call; the reward is 1.0 for `proved` (no errors, no
sorry, default axiom policy: native_decide is refused unless `allow_native_decide=True`) and 0.0
otherwise.  Columns: `formal_statement` is required; `header` optional (None, "" or missing: the
backend's default header -- an empty string from a dataset is a missing value, not "no
imports"); `prefix` optional; `problem_id` (or `name`) names the records; `answer_slots`
optional (a list of names per row: PutnamBench's plain variant, whose completions also write the
answers, `answers_of`).  Lean proves a theorem about whatever answer the completion wrote, and an
answer that restates the question can make it easy: a policy trained on such rewards learns to
write those.  The optional `reference_answers` column ({slot: term} per row) pays 1.0 only when
the completion's answers are those, word for word (whitespace aside).  Conversational
completions (lists of {"role", "content"} messages, as GRPOTrainer passes them for a
conversational dataset) use the last message's content.  Pass a FeedbackWriter to record every
verification.

Refusals (README "Refusal categories", set by Lean): `penalties` gives a refused completion the
reward of its category (default 0.0).  When the trainer passes TRL's logging hooks (GRPOTrainer
does: `log_extra`, `log_metric`), each call adds the column `lean_refusal` (the category of
each completion, "" when none) to TRL's completions table and logs the metric
`lean_refusal/<category>` (the fraction of the batch refused with it) for every category, so
the training logs show the rate of each category per step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prover.lean.types import Checker, CheckRequest, Verdict
from prover.lean.wrappers import RequestContext
from prover.policy.base import Answers, ProofTask
from prover.policy.prompts import (
    FENCE,
    answers_match,
    answers_written,
    cut_at_fence,
    extract_last_lean4_block,
    v2_extract_proof,
    without_answer_definitions,
)
from prover.rl.records import FeedbackRecord, FeedbackWriter


def _text(completion: Any) -> str:
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    raise TypeError(f"LeanReward: unsupported completion type {type(completion).__name__}")


def _chat_answer(text: str) -> bool:
    start = text.find(FENCE)
    return start >= 0 and text.startswith(FENCE + "lean4", start)


def proof_of(
    text: str, formal_statement: str, prefix: str = "", answer_slots: Sequence[str] = ()
) -> str:
    """The proof (text after the statement) that a completion stands for, without definitions
    of the answer slots `answer_slots` (see `answers_of`)."""
    task = ProofTask(formal_statement, answer_slots=tuple(answer_slots))
    if _chat_answer(text):
        whole = v2_extract_proof(text, formal_statement)
        if whole is not None:
            return without_answer_definitions(whole, task)
    return without_answer_definitions(prefix + cut_at_fence(text), task)


def answers_of(text: str, answer_slots: Sequence[str]) -> Answers:
    """The answers a completion writes for `answer_slots` (PutnamBench's plain variant): from
    the last ```` ```lean4 ```` block of a chat answer, else from the text up to the first fence
    (`prover.policy.prompts.answers_written`)."""
    if not answer_slots:
        return ()
    code = extract_last_lean4_block(text) if _chat_answer(text) else cut_at_fence(text)
    return answers_written(code or "", ProofTask("", answer_slots=tuple(answer_slots)))


def _column(kwargs: dict[str, Any], name: str, n: int, required: bool) -> list[Any]:
    col = kwargs.get(name)
    if col is None:
        if required:
            raise ValueError(
                f"LeanReward needs the dataset column {name!r} (passed as a keyword list by "
                "GRPOTrainer); add it to the training dataset"
            )
        return [None] * n
    if isinstance(col, str):
        return [col] * n
    col = list(col)
    if len(col) != n:
        raise ValueError(f"LeanReward: column {name!r} has {len(col)} values for {n} completions")
    return col


def _log_refusals(results: Sequence[Any], kwargs: dict[str, Any]) -> None:
    """Hand the refusal categories to TRL's logging hooks, when the caller passed them."""
    from prover.lean.types import REFUSAL_CATEGORIES

    log_extra, log_metric = kwargs.get("log_extra"), kwargs.get("log_metric")
    if callable(log_extra):
        log_extra("lean_refusal", [r.refusal or "" for r in results])
    if callable(log_metric):
        for cat in sorted(REFUSAL_CATEGORIES):
            log_metric(f"lean_refusal/{cat}", sum(r.refusal == cat for r in results) / len(results))


class LeanReward:
    """Callable `(prompts, completions, **columns) -> list[float]`; 1.0 iff Lean says proved."""

    def __init__(
        self,
        checker: Checker,
        *,
        allow_native_decide: bool = False,
        timeout_s: float | None = None,
        writer: FeedbackWriter | None = None,
        policy: str = "",
        name: str = "lean_reward",
        penalties: dict[str, float] | None = None,
    ) -> None:
        """`penalties`: reward for a refused completion by its refusal category (README
        "Refusal categories", e.g. {"code_evaluation": -1.0, "sorry": -0.1}); a category not
        named gets 0.0, as every non-proof does by default."""
        if timeout_s is not None and timeout_s <= 0:
            raise ValueError(f"LeanReward timeout_s must be positive, got {timeout_s}")
        from prover.lean.types import REFUSAL_CATEGORIES

        unknown = sorted(set(penalties or {}) - REFUSAL_CATEGORIES)
        if unknown:
            raise ValueError(
                f"LeanReward penalties: unknown refusal categories {unknown}; "
                f"known: {sorted(REFUSAL_CATEGORIES)}"
            )
        self.penalties = dict(penalties or {})
        self.checker = checker
        self.allow_native_decide = allow_native_decide
        self.timeout_s = timeout_s
        self.writer = writer
        self.policy = policy
        self.__name__ = name  # TRL logs rewards under the function's __name__
        self.last_results: list[Any] = []

    def requests(self, completions: Sequence[Any], **kwargs: Any) -> list[CheckRequest]:
        n = len(completions)
        stmts = _column(kwargs, "formal_statement", n, required=True)
        headers = _column(kwargs, "header", n, required=False)
        prefixes = _column(kwargs, "prefix", n, required=False)
        ids = _column(kwargs, "problem_id" if "problem_id" in kwargs else "name", n, False)
        slots = [tuple(x or ()) for x in _column(kwargs, "answer_slots", n, required=False)]
        return [
            CheckRequest(
                formal_statement=str(s),
                proof=proof_of(_text(c), str(s), pre or "", sl),
                header=h or None,
                header_trusted=True,  # a dataset column, not model output
                id=str(i) if i is not None else f"reward-{k}",
                allow_native_decide=self.allow_native_decide,
                timeout_s=self.timeout_s,
                answers=answers_of(_text(c), sl),
            )
            for k, (c, s, h, pre, i, sl) in enumerate(
                zip(completions, stmts, headers, prefixes, ids, slots, strict=True)
            )
        ]

    def __call__(
        self, prompts: Sequence[Any] | None, completions: Sequence[Any], **kwargs: Any
    ) -> list[float]:
        reqs = self.requests(completions, **kwargs)
        if not reqs:
            return []
        results = self.checker.check(reqs)
        self.last_results = list(results)
        if self.writer is not None:
            ps = list(prompts) if prompts is not None else [""] * len(reqs)
            recs = [
                FeedbackRecord.from_check(
                    req,
                    res,
                    RequestContext(
                        problem_id=req.id,
                        prompt=_text(p) if p is not None else "",
                        completion=_text(c),
                        prefix=pre or "",
                        policy=self.policy,
                        source="reward",
                        kind="sample",
                    ),
                )
                for req, res, p, c, pre in zip(
                    reqs,
                    results,
                    ps,
                    completions,
                    _column(kwargs, "prefix", len(reqs), required=False),
                    strict=True,
                )
            ]
            self.writer.write(recs)
        _log_refusals(results, kwargs)
        refs = _column(kwargs, "reference_answers", len(reqs), required=False)
        return [
            1.0
            if r.verdict is Verdict.PROVED
            and (not ref or answers_match(dict(req.answers), dict(ref)) is True)
            else self.penalties.get(r.refusal or "", 0.0)
            for req, r, ref in zip(reqs, results, refs, strict=True)
        ]
