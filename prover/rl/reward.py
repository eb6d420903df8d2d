"""`LeanReward`: a reward function for TRL's GRPOTrainer (`reward_funcs=[LeanReward(checker)]`)
or any trainer that scores a batch of completions.

    reward = LeanReward(make_checker("embedded"))
    reward(prompts, completions, formal_statement=[...], header=[...]) -> [1.0, 0.0, ...]

Each completion is cut at the first code fence (```` ``` ````), then all completions are verified
in ONE checker call; the reward is 1.0 for `proved` (no errors, no sorry, default axiom policy:
native_decide is refused unless `allow_native_decide=True`) and 0.0 otherwise.  Dataset columns
arrive as keyword lists: `formal_statement` is required, `header` optional (None / missing: the
backend's default header).  Conversational completions (lists of {"role", "content"}) use the
last message's content.  Pass a FeedbackWriter to record every verification.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prover.lean.types import Checker, CheckRequest, Verdict
from prover.policy.prompts import cut_at_fence
from prover.rl.records import FeedbackRecord, FeedbackWriter, RequestContext


def _text(completion: Any) -> str:
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    raise TypeError(f"LeanReward: unsupported completion type {type(completion).__name__}")


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
    ) -> None:
        if timeout_s is not None and timeout_s <= 0:
            raise ValueError(f"LeanReward timeout_s must be positive, got {timeout_s}")
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
        ids = _column(kwargs, "name", n, required=False)
        return [
            CheckRequest(
                formal_statement=str(s),
                proof=cut_at_fence(_text(c)),
                header=h,
                id=str(i) if i is not None else f"reward-{k}",
                allow_native_decide=self.allow_native_decide,
                timeout_s=self.timeout_s,
            )
            for k, (c, s, h, i) in enumerate(zip(completions, stmts, headers, ids, strict=True))
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
                        policy=self.policy,
                        source="reward",
                    ),
                )
                for req, res, p, c in zip(reqs, results, ps, completions, strict=True)
            ]
            self.writer.write(recs)
        return [1.0 if r.verdict is Verdict.PROVED else 0.0 for r in results]
