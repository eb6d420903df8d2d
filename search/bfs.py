"""Best-first tactic search (GPT-f style), for tactic-level policies, behind the `Search` interface.

State = (verified prefix, goals).  Repeatedly pop the best open state, ask the policy for
`candidates` next steps with `ProofTask(prefix=..., goals=...)` (one generate call), verify each
`prefix + step` (one batched check call, one sample each), and push every candidate that verified
without a hard error or `sorry` and reached a goal state not seen before.

Priority: the cumulative log-probability of the steps (`Completion.meta["logprob"]`) when the
policy reports it; otherwise -depth (shallower states first, i.e. breadth-first, FIFO on ties).
A proof counts only after a fresh re-verification; `found_at` is its 1-based global sample index.
"""

from __future__ import annotations

import heapq
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from prover.lean.syntax import first_sorry
from prover.lean.types import Checker, CheckResult, Verdict
from prover.lean.wrappers import RequestContext, check_with_context
from prover.policy.base import Completion, Policy, ProofTask, Sampling, derive_seed
from search.base import Budget, SearchResult, reverify
from search.truncate import NO_GOALS, cut_position

logger = logging.getLogger(__name__)


# one tactic step is short: a best-first expansion asks for at most 256 new tokens
STEP_SAMPLING = Sampling(max_new_tokens=256)


@dataclass(frozen=True)
class BFSConfig:
    """Best-first search's knobs; each field's metadata `help` is its command-line help
    (`prover.commands.options`: `--bfs-candidates`, `--max-new-tokens`, ...)."""

    candidates: int = field(default=8, metadata={"help": "next-step samples per expansion"})
    max_depth: int = field(default=64, metadata={"help": "most tactic steps in a proof"})
    sampling: Sampling = field(default=STEP_SAMPLING, metadata={"help": "sampling knobs"})

    def __post_init__(self) -> None:
        object.__setattr__(self, "sampling", Sampling.coerce(self.sampling, STEP_SAMPLING))
        if self.candidates < 1:
            raise ValueError(f"candidates must be >= 1, got {self.candidates}")
        if self.max_depth < 1:
            raise ValueError(f"max_depth must be >= 1, got {self.max_depth}")


def join_step(prefix: str, step: str) -> str:
    """`prefix` followed by one tactic step, on its own line, indented like the prefix."""
    if step.startswith(("\n", " ")):
        return prefix + step
    lines = [ln for ln in prefix.split("\n") if ln.strip()]
    indent = len(lines[0]) - len(lines[0].lstrip(" ")) if lines else 2
    lead = "" if prefix.endswith("\n") else "\n"
    return prefix + lead + " " * indent + step


def _goals_after(proof: str, res: CheckResult) -> str | None:
    """Goals after a candidate that verified up to its end, else None."""
    if res.verdict is not Verdict.INCOMPLETE or first_sorry(proof) is not None:
        return None
    if cut_position(proof, res) < len(proof) or not res.steps:
        return None
    last = max(res.steps, key=lambda s: s.end)
    if proof[last.end :].strip():
        return None  # trailing text that is not a verified step
    return last.goals_after or None


class BestFirstSearch:
    name = "bfs"

    def __init__(self, config: BFSConfig | None = None, **overrides: object) -> None:
        if config is not None and overrides:
            raise ValueError("pass either a BFSConfig or keyword overrides, not both")
        self.config = config or BFSConfig(**overrides)  # type: ignore[arg-type]

    def close(self) -> None:
        """Nothing to release: the policy and the checker belong to the caller."""

    def run(
        self,
        task: ProofTask,
        policy: Policy,
        checker: Checker,
        budget: Budget,
        seed: int = 0,
        checkpoint_dir: Path | None = None,  # not resumable (cheap to restart)
    ) -> SearchResult:
        cfg = self.config
        t0 = time.perf_counter()
        gen_s = ver_s = 0.0
        used, last_error, best_partial, expansions = 0, "", "", 0
        for run in range(budget.runs):
            in_run, tick = 0, 0
            # heap of (-score, tick, prefix, goals, depth, logprob)
            heap: list[tuple[float, int, str, str, int, float]] = [(0.0, 0, "", "", 0, 0.0)]
            seen: set[str] = set()
            while heap and in_run < budget.samples:
                _, _, prefix, goals, depth, logprob = heapq.heappop(heap)
                n = min(cfg.candidates, budget.samples - in_run)
                # derived seeds do not overlap with seed + i's
                params = cfg.sampling.params(n=n, seed=derive_seed("bfs", seed, expansions))
                expansions += 1
                node_task = ProofTask(
                    formal_statement=task.formal_statement,
                    header=task.header,
                    informal_prefix=task.informal_prefix,
                    prefix=prefix,
                    goals=goals,
                    name=task.name,
                    run=run,
                    answers=task.answers,
                )
                g0 = time.perf_counter()
                (outs,) = policy.generate([node_task], params)
                gen_s += time.perf_counter() - g0
                outs = list(outs[:n])
                proofs = [join_step(prefix, c.text).rstrip(" \n") for c in outs]
                reqs = [
                    task.request(pr, f"{task.name}:{used + i}", want_steps=True)
                    for i, pr in enumerate(proofs)
                ]
                ctxs = [
                    RequestContext(
                        task.name,
                        c.prompt,
                        c.text,
                        prefix,
                        sampling=params,
                        sample_index=used + i,
                        kind="tactic",
                    )
                    for i, c in enumerate(outs)
                ]
                v0 = time.perf_counter()
                results = check_with_context(checker, reqs, ctxs) if reqs else []
                ver_s += time.perf_counter() - v0
                in_run += max(len(outs), 1)
                for c, pr, res in zip(outs, proofs, results, strict=True):
                    used += 1
                    if res.first_error is not None:
                        last_error = res.first_error.text
                    if res.verdict is Verdict.PROVED and first_sorry(pr) is None:
                        if self._reverify(task, pr, checker, used - 1):
                            wall = time.perf_counter() - t0
                            logger.info("bfs %s: proof at sample %d", task.name, used)
                            return SearchResult(
                                solved=True,
                                proof=pr,
                                samples_used=used,
                                found_at=used,
                                run_index=run,
                                wall_s=wall,
                                verifier_s=ver_s,
                                stats=self._stats(used, expansions, len(seen), gen_s, ver_s, wall),
                            )
                        continue
                    after = _goals_after(pr, res)
                    if after is None or after == NO_GOALS or after in seen:
                        continue
                    if depth + 1 > cfg.max_depth:
                        continue
                    seen.add(after)
                    if len(pr) > len(best_partial):
                        best_partial = pr
                    tick += 1
                    lp = _logprob(c)
                    score = logprob + lp if lp is not None else -(depth + 1.0)
                    heapq.heappush(
                        heap, (-score, tick, pr + "\n", after, depth + 1, logprob + (lp or 0.0))
                    )
                if not outs:
                    used += 1
        wall = time.perf_counter() - t0
        return SearchResult(
            solved=False,
            samples_used=used,
            best_partial=best_partial,
            wall_s=wall,
            verifier_s=ver_s,
            failure=last_error or "budget exhausted or no open states",
            stats=self._stats(used, expansions, 0, gen_s, ver_s, wall),
        )

    def _reverify(self, task: ProofTask, proof: str, checker: Checker, index: int) -> bool:
        (res,) = reverify(checker, [(task, proof, index)])
        return res.verdict is Verdict.PROVED

    def _stats(
        self, used: int, expansions: int, states: int, gen_s: float, ver_s: float, wall: float
    ) -> dict[str, object]:
        total = gen_s + ver_s
        return {
            "samples": used,
            "expansions": expansions,
            "states": states,
            "samples_per_s": used / wall if wall > 0 else 0.0,
            "generator_s": round(gen_s, 4),
            "verifier_s": round(ver_s, 4),
            "verifier_share": ver_s / total if total > 0 else 0.0,
            "config": asdict(self.config),
        }


def _logprob(c: Completion) -> float | None:
    lp = c.meta.get("logprob") if c.meta else None
    return float(lp) if isinstance(lp, int | float) else None
