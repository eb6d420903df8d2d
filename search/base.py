"""The contract every search strategy implements (RMaxTS, whole-proof sampling, best-first)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from prover.lean.types import Checker, CheckResult
from prover.lean.wrappers import RequestContext, check_with_context, uncached
from prover.policy.base import Answers, Policy, ProofTask


@dataclass(frozen=True)
class Budget:
    """`runs x samples`: independent runs (fresh trees / seeds), each with at most `samples`
    policy samples (= verifications).  Parsed from strings like "16x6400"."""

    runs: int = 1
    samples: int = 32

    def __post_init__(self) -> None:
        if self.runs < 1 or self.samples < 1:
            raise ValueError(
                f"budget must be positive RUNSxSAMPLES, got {self.runs}x{self.samples}"
            )

    @property
    def total(self) -> int:
        return self.runs * self.samples

    @staticmethod
    def parse(text: str) -> Budget:
        parts = text.lower().split("x")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(
                f"budget {text!r} is not RUNSxSAMPLES with two positive integers, e.g. 4x128"
            )
        return Budget(int(parts[0]), int(parts[1]))

    def __str__(self) -> str:
        return f"{self.runs}x{self.samples}"


class StatementError(ValueError):
    """Lean's answer that a search's statement does not elaborate with `sorry` for its proof: an
    outcome of the statement (a benchmark's, or a lemma a decomposition made), not a failure of
    the search.  `verifications`: what the search spent before it knew."""

    def __init__(self, message: str, verifications: int = 0) -> None:
        super().__init__(message)
        self.verifications = verifications


@dataclass
class SearchResult:
    solved: bool
    proof: str = ""  # the proof text that follows the statement (re-verified from scratch)
    samples_used: int = 0  # policy samples consumed until the proof was found (or the budget)
    found_at: int | None = None  # 1-based global sample index at which the proof was found
    run_index: int | None = None
    best_partial: str = ""  # longest verified prefix seen, for reporting failures
    failure: str = ""  # why it failed (last/first error text), when not solved
    wall_s: float = 0.0
    verifier_s: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)
    answers: Answers = ()  # the answers the proof is proved with (a completion's, else the task's)


class Search(Protocol):
    name: str

    def run(
        self,
        task: ProofTask,
        policy: Policy,
        checker: Checker,
        budget: Budget,
        seed: int = 0,
        checkpoint_dir: Path | None = None,
    ) -> SearchResult: ...

    def close(self) -> None:
        """Release what the search itself holds (decompose: its sketch policy)."""
        ...


def reverify(checker: Checker, claims: Sequence[tuple[ProofTask, str, int]]) -> list[CheckResult]:
    """Check claimed proofs `(task, proof, sample index)` again, from scratch: past every result
    cache (`uncached`), to Lean, recorded as kind `final`.  Every search calls this before it
    reports a proof; a proof whose re-check is not `proved` is not a proof."""
    if not claims:
        return []
    return check_with_context(
        uncached(checker),
        [task.request(proof, f"{task.name}:final") for task, proof, _ in claims],
        [RequestContext(task.name, sample_index=index, kind="final") for task, _, index in claims],
    )
