"""Lean reward for verl: `compute_score(data_source, solution_str, ground_truth, extra_info=None)`.

verl's reward manager calls a custom reward function once per response with these arguments;
`ground_truth` is the row's `reward_model.ground_truth` as written by
`prover export --format verl` (JSON {formal_statement, header, prefix}, and `answer_slots` for
a plain-variant row, whose response writes the answers too: `prover.rl.reward.answers_of`).
Each call runs ONE verification through a checker created on the first call and reused
afterwards; the score is 1.0
iff Lean says `proved` (default axiom policy), else 0.0.  The proof is taken from the response
as `LeanReward` does (`prover.rl.reward.proof_of`): the text after the statement in the last
```` ```lean4 ```` block of a chat answer, else the response cut at the first code fence, after
the prefix.

Point verl at this file (it loads the file by path, so `prover` must be importable in verl's
workers, e.g. installed with `pip install -e .`)::

    custom_reward_function.path=$(python -c "import prover.rl.verl_reward as m; print(m.__file__)")
    custom_reward_function.name=compute_score
    # optional: +custom_reward_function.reward_kwargs.backend=native
    #           +custom_reward_function.reward_kwargs.timeout_s=60

`backend` (auto | embedded | native, or http://HOST:PORT of a running `prover serve`) and `timeout_s` (per proof) only take effect on the call that
creates the checker.

Refusals (README "Refusal categories", set by Lean): `penalties` gives a refused response the
score of its category (as `LeanReward(penalties=...)`; default 0.0), and `refusals=True` makes
`compute_score` return verl's dict form, `{"score": s, "refusal_<category>": 1.0 or 0.0 for
every category}`: verl keeps the extra keys per response (`reward_extra_info`) and averages
them in its validation metrics, i.e. the rate of each category::

    +custom_reward_function.reward_kwargs.refusals=true
    +custom_reward_function.reward_kwargs.penalties.code_evaluation=-1.0
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from prover.lean.types import REFUSAL_CATEGORIES, Checker, CheckRequest, Verdict
from prover.rl.reward import answers_of, proof_of

_lock = threading.Lock()
_checker: Checker | None = None


def set_checker(checker: Checker | None) -> None:
    """Use `checker` for the following calls (None: create one on the next call)."""
    global _checker
    with _lock:
        _checker = checker


def _shared_checker(backend: str, timeout_s: float | None) -> Checker:
    global _checker
    with _lock:
        if _checker is None:
            from prover.service import is_url, open_checker

            options: dict[str, Any] = {} if timeout_s is None else {"timeout_s": timeout_s}
            # backend=http://HOST:PORT: a running `prover serve` shared by every verl worker
            url = backend if is_url(backend) else None
            _checker = open_checker(url, "auto" if url else backend, **options)
        return _checker


def parse_ground_truth(
    ground_truth: str | dict[str, Any],
) -> tuple[str, str | None, str, tuple[str, ...]]:
    """(formal_statement, header, prefix, answer slots) of a verl export row's ground truth;
    ValueError if it is not one."""
    data = json.loads(ground_truth) if isinstance(ground_truth, str) else ground_truth
    if not isinstance(data, dict) or not isinstance(data.get("formal_statement"), str):
        raise ValueError(
            "compute_score: ground_truth must be the JSON object of `prover export --format "
            f"verl` with a formal_statement, got {str(ground_truth)[:80]!r}"
        )
    header = data.get("header")
    slots = tuple(str(x) for x in data.get("answer_slots") or ())
    return data["formal_statement"], header or None, data.get("prefix") or "", slots


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str | dict[str, Any],
    extra_info: dict[str, Any] | None = None,
    *,
    backend: str = "auto",
    timeout_s: float | None = None,
    penalties: Mapping[str, float] | None = None,
    refusals: bool = False,
) -> float | dict[str, float]:
    """1.0 iff `solution_str` proves the ground truth's statement (`data_source` and
    `extra_info` are not needed: the ground truth says everything); a refused response gets
    `penalties[category]` (default 0.0).  `refusals`: return `{"score", "refusal_<category>"
    for every category}` (the module docstring)."""
    unknown = sorted(set(penalties or {}) - REFUSAL_CATEGORIES)
    if unknown:
        raise ValueError(
            f"compute_score penalties: unknown refusal categories {unknown}; "
            f"known: {sorted(REFUSAL_CATEGORIES)}"
        )
    statement, header, prefix, slots = parse_ground_truth(ground_truth)
    request = CheckRequest(
        formal_statement=statement,
        proof=proof_of(solution_str, statement, prefix, slots),
        answers=answers_of(solution_str, slots),
        header=header,
        header_trusted=True,  # the training data's ground truth, not the model
        id=str((extra_info or {}).get("problem_id", "")),
        timeout_s=timeout_s,
    )
    (result,) = _shared_checker(backend, timeout_s).check([request])
    if result.verdict is Verdict.PROVED:
        score = 1.0
    else:
        score = float((penalties or {}).get(result.refusal or "", 0.0))
    if not refusals:
        return score
    cats = {f"refusal_{c}": float(c == result.refusal) for c in sorted(REFUSAL_CATEGORIES)}
    return {"score": score, **cats}
