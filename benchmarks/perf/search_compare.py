"""RMaxTS vs whole-proof sampling vs one-shot automation on miniF2F-core, at equal budget.

    python -m benchmarks.perf.search_compare [--split valid] [--samples 16] [--concurrency 4]

Every method uses the `automation` policy and the embedded Lean.  Budget accounting is the
same for all: one policy sample = one verification.  Sampling and RMaxTS both get `--samples`
per problem; work is batched across problems (RMaxTS: `run_many`, one generate and one check
call per round for all trees; sampling: all problems' samples in one check call), so the
figures measure search quality, not Lean start-up.  Every proof counted as solved is re-checked
from scratch in one final call.
"""

from __future__ import annotations

import argparse
import os
import time

from benchmarks.datasets import load_benchmark
from prover.lean.checker import CheckerConfig
from prover.lean.embedded import EmbeddedChecker
from prover.lean.types import Checker, CheckRequest, Verdict
from prover.policy.automation import COMBINED, AutomationPolicy
from prover.policy.base import ProofTask, SamplingParams
from search.base import Budget
from search.rmaxts import RMaxTS, RMaxTSConfig


def _solved(
    checker: Checker, stmts: list[str], proofs: list[str], headers: list[str | None]
) -> list[bool]:
    reqs = [  # headers from the benchmark file: trusted
        CheckRequest(s, p, h or None, header_trusted=True)
        for s, p, h in zip(stmts, proofs, headers, strict=True)
    ]
    return [r.verdict is Verdict.PROVED for r in checker.check(reqs)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default="valid")
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--data-dir")
    args = ap.parse_args()
    probs = load_benchmark("minif2f-core", args.split, args.data_dir)[: args.limit]
    tasks = [
        ProofTask(formal_statement=p.formal_statement, header=p.header, name=p.name) for p in probs
    ]
    stmts = [p.formal_statement for p in probs]
    headers = [p.header for p in probs]
    policy = AutomationPolicy()
    out: dict[str, tuple[int, float]] = {}
    with EmbeddedChecker(CheckerConfig(workers=2)) as checker:
        t = time.monotonic()
        ok = _solved(checker, stmts, [f"  {COMBINED}\n"] * len(probs), headers)
        out["combined single shot"] = (sum(ok), time.monotonic() - t)

        t = time.monotonic()
        shots = policy.generate(tasks, SamplingParams(n=1, temperature=0.0))
        ok = _solved(checker, stmts, [c[0].text for c in shots], headers)
        out["automation, 1 shot"] = (sum(ok), time.monotonic() - t)

        t = time.monotonic()
        k = args.samples
        samples = policy.generate(tasks, SamplingParams(n=k, temperature=1.0, seed=0))
        flat = [c.text for cs in samples for c in cs]
        ok = _solved(
            checker,
            [s for s in stmts for _ in range(k)],
            flat,
            [h for h in headers for _ in range(k)],
        )
        per = [any(ok[i * k : (i + 1) * k]) for i in range(len(probs))]
        out[f"sampling, pass@{k}"] = (sum(per), time.monotonic() - t)

        t = time.monotonic()
        search = RMaxTS(RMaxTSConfig(concurrency=args.concurrency))
        results = search.run_many(tasks, policy, checker, Budget(1, k), seed=0)
        found = [i for i, r in enumerate(results) if r.solved]
        again = _solved(
            checker,
            [stmts[i] for i in found],
            [results[i].proof for i in found],
            [headers[i] for i in found],
        )
        out[f"RMaxTS, 1x{k}"] = (sum(again), time.monotonic() - t)
        rmax_only = sorted(
            probs[i].name for i, a in zip(found, again, strict=True) if a and not per[i]
        )
    print(
        f"miniF2F-core {args.split}: {len(probs)} problems, automation policy, embedded Lean, "
        f"{os.cpu_count()} cores"
    )
    for name, (n, secs) in out.items():
        print(f"  {name:<24} {n:>3}/{len(probs)}  ({secs:.0f} s)")
    print(f"  solved by RMaxTS but not by sampling: {', '.join(rmax_only) or 'none'}")


if __name__ == "__main__":
    main()
