"""Whole-proof sampling baseline (pass@k), behind the same `Search` interface as RMaxTS.

Each sample is one complete proof attempt from the empty prefix and costs one verification, so
`runs x samples` budgets compare directly with RMaxTS.  Samples are drawn `batch_size` at a time
(one `policy.generate` call with `n = batch_size`, one batched `checker.check`); a run stops at the
first proof, which counts only after a fresh re-verification, and `found_at` is its 1-based global
sample index.  Completions containing `sorry`/`admit` never count.

With `--fix-rounds K` (Goedel-Prover-V2's self-correction, `search/correction.py`) each failed
sample of a batch is sent back with Lean's feedback up to K times before the next batch; every
correction is one sample of the budget.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

from prover.lean.syntax import first_sorry
from prover.lean.types import Checker, Verdict
from prover.lean.wrappers import RequestContext, check_with_context
from prover.policy.base import (
    Policy,
    ProofTask,
    Sampling,
    SamplingParams,
    derive_seed,
    merge_answers,
)
from prover.policy.correction import Correction
from search.base import Budget, SearchResult, reverify
from search.correction import Attempt, run_chain

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SamplingConfig:
    """Whole-proof sampling's knobs; each field's metadata `help` is its command-line help
    (`prover.commands.options`: `--sample-batch-size`, `--temperature`, ...)."""

    batch_size: int = field(
        default=32, metadata={"help": "samples per policy call and per batched Lean check"}
    )
    sampling: Sampling = field(default=Sampling(), metadata={"help": "sampling knobs"})
    correction: Correction = field(
        default=Correction(), metadata={"help": "self-correction knobs (--fix-rounds, ...)"}
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "sampling", Sampling.coerce(self.sampling, Sampling()))
        object.__setattr__(self, "correction", Correction.coerce(self.correction))
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")


def fix_params(sampling: Sampling, key: tuple[object, ...], round_: int) -> SamplingParams:
    """Sampling parameters of one correction round (n=1, its own derived seed)."""
    return sampling.params(n=1, seed=derive_seed(*key, round_))


class SamplingSearch:
    name = "sample"

    def __init__(self, config: SamplingConfig | None = None, **overrides: object) -> None:
        if config is not None and overrides:
            raise ValueError("pass either a SamplingConfig or keyword overrides, not both")
        self.config = config or SamplingConfig(**overrides)  # type: ignore[arg-type]

    def close(self) -> None:
        """Nothing to release: the policy and the checker belong to the caller."""

    def run(
        self,
        task: ProofTask,
        policy: Policy,
        checker: Checker,
        budget: Budget,
        seed: int = 0,
        checkpoint_dir: Path | None = None,  # sampling keeps no state worth resuming
    ) -> SearchResult:
        cfg = self.config
        t0 = time.perf_counter()
        gen_s = ver_s = 0.0
        used, last_error, batches = 0, "", 0
        fixing = cfg.correction.fix_rounds > 0
        for run in range(budget.runs):
            root = ProofTask(
                formal_statement=task.formal_statement,
                header=task.header,
                informal_prefix=task.informal_prefix,
                name=task.name,
                run=run,
                answer_slots=task.answer_slots,
                answers=task.answers,
            )
            in_run = 0
            while in_run < budget.samples:
                n = min(cfg.batch_size, budget.samples - in_run)
                # derived seeds do not overlap with batch + 1's
                params = cfg.sampling.params(n=n, seed=derive_seed("sample", seed, batches))
                batches += 1
                g0 = time.perf_counter()
                (outs,) = policy.generate([root], params)
                gen_s += time.perf_counter() - g0
                proofs = [c.text.rstrip(" \n") for c in outs[:n]]
                # a completion's own answers (PutnamBench's plain variant), else the task's
                answers = [merge_answers(task.answers, c.answers) for c in outs[:n]]
                reqs = [
                    task.request(
                        pr,
                        f"{task.name}:{used + i}",
                        want_steps=fixing and cfg.correction.fix_format == "goal-state",
                        answers=ans,
                    )
                    for i, (pr, ans) in enumerate(zip(proofs, answers, strict=True))
                ]
                ctxs = [
                    RequestContext(
                        task.name, c.prompt, c.text, sampling=params, sample_index=used + i
                    )
                    for i, c in enumerate(outs[:n])
                ]
                v0 = time.perf_counter()
                results = check_with_context(checker, reqs, ctxs) if reqs else []
                ver_s += time.perf_counter() - v0
                failed: list[Attempt] = []
                for comp, pr, ans, res in zip(outs, proofs, answers, results, strict=False):
                    used += 1
                    in_run += 1
                    if res.first_error is not None:
                        last_error = res.first_error.text
                    if res.verdict is not Verdict.PROVED or first_sorry(pr) is not None:
                        failed.append(Attempt(comp, pr, res))
                        continue
                    v0 = time.perf_counter()
                    (again,) = reverify(checker, [(replace(task, answers=ans), pr, used - 1)])
                    ver_s += time.perf_counter() - v0
                    if again.verdict is not Verdict.PROVED:
                        logger.warning("sample %s: proof failed re-verification", task.name)
                        continue
                    wall = time.perf_counter() - t0
                    logger.info("sample %s: proof at sample %d (run %d)", task.name, used, run)
                    return SearchResult(
                        solved=True,
                        proof=pr,
                        answers=ans,
                        samples_used=used,
                        found_at=used,
                        run_index=run,
                        wall_s=wall,
                        verifier_s=ver_s,
                        stats=self._stats(used, gen_s, ver_s, wall),
                    )
                if len(outs) < n:  # a policy that under-delivers must not loop forever
                    used += n - len(outs)
                    in_run += n - len(outs)
                for att in failed if fixing else []:  # self-correction chains, budget permitting
                    if in_run >= budget.samples:
                        break
                    v0 = time.perf_counter()
                    out = run_chain(
                        root,
                        att,
                        policy,
                        checker,
                        cfg.correction,
                        partial(fix_params, cfg.sampling, ("fix", seed, run, used)),
                        used,
                        budget.samples - in_run,
                        task.header or "",
                    )
                    ver_s += time.perf_counter() - v0
                    used += out.used
                    in_run += out.used
                    last_error = out.last_error or last_error
                    if out.proof is None or first_sorry(out.proof) is not None:
                        continue
                    claim = replace(task, answers=out.answers)
                    (again,) = reverify(checker, [(claim, out.proof, out.index)])
                    if again.verdict is not Verdict.PROVED:
                        continue
                    wall = time.perf_counter() - t0
                    return SearchResult(
                        solved=True,
                        proof=out.proof,
                        answers=out.answers,
                        samples_used=used,
                        found_at=out.index + 1,
                        run_index=run,
                        wall_s=wall,
                        verifier_s=ver_s,
                        stats=self._stats(used, gen_s, ver_s, wall),
                    )
        wall = time.perf_counter() - t0
        return SearchResult(
            solved=False,
            samples_used=used,
            wall_s=wall,
            verifier_s=ver_s,
            failure=last_error or "budget exhausted without a proof",
            stats=self._stats(used, gen_s, ver_s, wall),
        )

    def _stats(self, used: int, gen_s: float, ver_s: float, wall: float) -> dict[str, object]:
        total = gen_s + ver_s
        return {
            "samples": used,
            "samples_per_s": used / wall if wall > 0 else 0.0,
            "generator_s": round(gen_s, 4),
            "verifier_s": round(ver_s, 4),
            "verifier_share": ver_s / total if total > 0 else 0.0,
            "config": asdict(self.config),
        }
