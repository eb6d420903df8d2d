"""The policy interface: a theorem (and, during search, a verified proof prefix with its tactic
state) in, candidate continuations out.  Search and benchmarks do not care which policy runs."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from prover.lean.types import CheckRequest

Answers = tuple[tuple[str, str], ...]  # (answer-slot name, Lean term), see CheckRequest.answers


@dataclass(frozen=True)
class ProofTask:
    """What a policy is asked to continue.

    `formal_statement` ends with `:= by` (or `:=`); `prefix` is an already verified proof prefix
    (text that follows the statement, possibly empty); `goals` is Lean's pretty-printed goal
    state after `prefix` (empty if unknown).  `comment` is the exact `/- tactic state: ... -/`
    comment a search stored with the prefix (truncate-and-resume indents it like the step the
    prefix ends with: top-level after a top-level step, a block's inside it); when empty, prompts
    build it from `goals`.  `seed` is this task's own sampling seed, set by searches that send
    many identical prompts in one call; it overrides `SamplingParams.seed` (see `task_seeds`).  `run` is the independent attempt the task belongs
    to (a search's run index, `collect`'s sample index; None: unknown); a `mixture` prompt
    (`prover.policy.prompts`) prompts even runs non-CoT and odd runs CoT.  `corrections` are the
    earlier failed attempts of a self-correction chain with Lean's feedback on each.

    Answers (PutnamBench's plain variant): `answer_slots` names the header's `abbrev NAME : T :=
    sorry` definitions the policy is asked to answer (a completion's answers are
    `Completion.answers`); `answers` are answers fixed for the whole task (`prover eval
    --answers`), which every request of the task carries.
    """

    formal_statement: str
    header: str | None = None  # None: the backend's default header (see CheckRequest.header)
    informal_prefix: str = ""  # the record's `/-- ... -/` doc comment, if any
    prefix: str = ""
    goals: str = ""
    name: str = ""
    comment: str = ""
    seed: int | None = None
    run: int | None = None
    # self-correction (`prover.policy.correction`): one (failed answer, Lean's error report,
    # feedback format) per earlier round, oldest first; prompts add them as turns
    corrections: tuple[tuple[str, str, str], ...] = ()
    answer_slots: tuple[str, ...] = ()
    answers: Answers = ()

    @property
    def open_slots(self) -> tuple[str, ...]:
        """The answer slots the policy is asked to answer: those without a fixed answer."""
        fixed = dict(self.answers)
        return tuple(n for n in self.answer_slots if n not in fixed)

    def request(
        self,
        proof: str,
        id: str,
        *,
        statement: str | None = None,
        want_steps: bool = False,
        answers: Answers | None = None,
    ) -> CheckRequest:
        """The check request of `proof` for this task (or for `statement`, a lemma of it), under
        the task's header (a benchmark or user file: trusted) with the task's answers (or
        `answers`, a completion's own).  Every search builds its requests here."""
        return CheckRequest(
            self.formal_statement if statement is None else statement,
            proof,
            self.header,
            id=id,
            header_trusted=True,
            want_steps=want_steps,
            answers=self.answers if answers is None else answers,
        )


@dataclass(frozen=True)
class Sampling:
    """The sampling knobs a run fixes once, shared by every search config and by `collect` (one
    owner); each `generate` call adds its own `n` and `seed` (`Sampling.params`).  The defaults
    are DeepSeek-Prover-V1.5's: temperature 1, top-p 0.95, at most 2048 new tokens (arXiv
    2408.08152, Sec. 2.4).  The metadata `help` of each field is its command-line help."""

    temperature: float = field(
        default=1.0, metadata={"help": "sampling temperature (0: greedy decoding)"}
    )
    top_p: float = field(
        default=0.95,
        metadata={
            "help": "nucleus sampling: sample from the smallest set of tokens holding this "
            "much probability, in (0, 1]"
        },
    )
    max_new_tokens: int = field(default=2048, metadata={"help": "most tokens generated per sample"})

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(
                f"temperature must be >= 0, got {self.temperature} (0 decodes greedily)"
            )
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p} (1 keeps every token)")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")

    def params(self, n: int = 1, seed: int | None = None) -> SamplingParams:
        """The parameters of one `generate` call: `n` samples per task, seeded with `seed`."""
        return SamplingParams(
            n=n,
            temperature=self.temperature,
            top_p=self.top_p,
            max_new_tokens=self.max_new_tokens,
            seed=seed,
        )

    @staticmethod
    def coerce(value: Sampling | Mapping[str, Any] | None, default: Sampling) -> Sampling:
        """`value` as a Sampling: a mapping (e.g. a recorded config's `{"temperature": 0.5}`)
        overrides the fields of `default`; None is `default`."""
        if value is None:
            return default
        if isinstance(value, Sampling):
            return value
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - {f.name for f in dataclasses.fields(Sampling)})
            if unknown:
                raise ValueError(
                    f"unknown sampling field(s) {', '.join(unknown)}; use temperature, top_p, "
                    "max_new_tokens"
                )
            return dataclasses.replace(default, **value)
        raise TypeError(f"sampling must be a Sampling or a mapping, got {type(value).__name__}")


@dataclass(frozen=True)
class SamplingParams:
    n: int = 1
    temperature: float = 1.0
    top_p: float = 0.95
    max_new_tokens: int = 2048
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"SamplingParams.n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"SamplingParams.temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"SamplingParams.top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(
                f"SamplingParams.max_new_tokens must be >= 1, got {self.max_new_tokens}"
            )


def task_seeds(tasks: Sequence[ProofTask], params: SamplingParams) -> list[int | None]:
    """The sampling seed of each task of one `generate` call: the task's own `seed`, else
    `params.seed + i` for the i-th task (so identical prompts in one call never share a seed),
    else None (unseeded)."""
    return [
        t.seed if t.seed is not None else None if params.seed is None else params.seed + i
        for i, t in enumerate(tasks)
    ]


def derive_seed(*parts: object) -> int:
    """A 31-bit seed determined by `parts` (e.g. search seed, run, sample index).  Unlike
    `seed + i`, seeds derived from different parts do not collide with each other's neighbours."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFF_FFFF


def merge_answers(fixed: Answers, own: Answers) -> Answers:
    """The answers a request carries: the task's fixed ones (`--answers`), with a completion's
    own for the other slots (and an earlier round's, in a correction chain)."""
    merged = dict(fixed)
    merged.update(own)
    return tuple(merged.items())


@dataclass(frozen=True)
class Completion:
    """One sampled continuation.  `text` is what follows `task.prefix` in the proof (already cut
    at the closing code fence); `prompt` is the exact prompt text that produced it (for RL logs);
    `raw` is the model's generated text before the proof was taken out of it (a V2 answer's
    reasoning and code block), None when it is `text` itself."""

    text: str
    prompt: str = ""
    num_tokens: int = 0
    meta: dict = field(default_factory=dict)
    # the answers the completion writes for `ProofTask.answer_slots` (`answer_definitions`)
    answers: Answers = ()
    raw: str | None = None

    @property
    def output(self) -> str:
        """What the model wrote (`raw`, else `text`): a self-correction chain's assistant turn."""
        return self.text if self.raw is None else self.raw


class Policy(Protocol):
    spec: str  # e.g. "automation", "hf:PATH", "vllm:PATH", "openai:URL#MODEL"

    def generate(
        self, tasks: Sequence[ProofTask], params: SamplingParams
    ) -> list[list[Completion]]:
        """For each task, `params.n` completions (same order as `tasks`)."""
        ...

    def close(self) -> None: ...
