"""The policy interface: a theorem (and, during search, a verified proof prefix with its tactic
state) in, candidate continuations out.  Search and benchmarks do not care which policy runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class ProofTask:
    """What a policy is asked to continue.

    `formal_statement` ends with `:= by` (or `:=`); `prefix` is an already verified proof prefix
    (text that follows the statement, possibly empty); `goals` is Lean's pretty-printed goal
    state after `prefix` (empty if unknown).
    """

    formal_statement: str
    header: str = ""
    informal_prefix: str = ""  # the record's `/-- ... -/` doc comment, if any
    prefix: str = ""
    goals: str = ""
    name: str = ""


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


@dataclass(frozen=True)
class Completion:
    """One sampled continuation.  `text` is what follows `task.prefix` in the proof (already cut
    at the closing code fence); `prompt` is the exact prompt text that produced it (for RL logs)."""

    text: str
    prompt: str = ""
    num_tokens: int = 0
    meta: dict = field(default_factory=dict)


class Policy(Protocol):
    spec: str  # e.g. "automation", "hf:PATH", "vllm:PATH", "openai:URL#MODEL"

    def generate(
        self, tasks: Sequence[ProofTask], params: SamplingParams
    ) -> list[list[Completion]]:
        """For each task, `params.n` completions (same order as `tasks`)."""
        ...

    def close(self) -> None: ...
