"""Evaluation harness: run a search over benchmark problems, re-verify every claimed proof,
append one JSON line per problem to `results.jsonl` (resumable), then write `summary.json`,
`report.md` and `pass_curve.png` (`benchmarks.report`).  The run directory's files are described
in `benchmarks.results`.

Resume: problems whose id already has a complete line in `results.jsonl` are skipped, except
those whose latest line records an `error` (an exception in the search or the policy, e.g. a
model-server timeout): they are tried again and the new line wins.  A torn last line (a kill in
the middle of a write) is cut off before appending.  A directory holding a run of another
configuration (`EvalConfig`, recorded in `config.json`) is refused.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from benchmarks.datasets import Problem
from benchmarks.report import write_outputs
from benchmarks.results import EvalConfig, ProblemResult, read_results, results_store, write_config
from prover.errors import UsageError
from prover.lean.types import Checker, CheckRequest, LeanInfraError
from prover.lean.wrappers import bare
from prover.policy.base import Policy
from search.base import Budget, Search, SearchResult


class _Progress:
    def __init__(self, total: int, done: int, solved: int, quiet: bool, stream: TextIO) -> None:
        self.total, self.done, self.solved = total, done, solved
        self.quiet, self.stream = quiet, stream
        self.t0 = time.monotonic()
        self.new = 0

    def update(self, r: ProblemResult) -> None:
        self.done += 1
        self.new += 1
        self.solved += int(r.solved)
        if self.quiet:
            what = f"solved at sample {r.found_at}" if r.solved else "failed"
            print(
                f"[{self.done}/{self.total}] {r.name} ({r.split}): {what}, "
                f"{r.samples} samples, {r.wall_s:.1f} s",
                file=self.stream,
                flush=True,
            )
        else:
            self.draw()

    def draw(self) -> None:
        if self.quiet:
            return
        el = time.monotonic() - self.t0
        rate = self.new / el * 60 if el > 0 else 0.0
        pct = 100 * self.solved / self.done if self.done else 0.0
        self.stream.write(
            f"\r{self.done}/{self.total} problems | solved {self.solved} ({pct:.1f}%) | "
            f"{rate:.1f} problems/min | {el:.0f} s "
        )
        self.stream.flush()

    def close(self) -> None:
        if not self.quiet:
            self.draw()
            self.stream.write("\n")
            self.stream.flush()


def _solve_one(
    rec: Problem,
    search: Search,
    policy: Policy,
    checker: Checker,
    verifier: Checker,
    budget: Budget,
    seed: int,
    tree_dir: Path | None = None,
) -> ProblemResult:
    t0 = time.monotonic()
    task = rec.task()  # named by the unique id: recorded feedback and checkpoints are keyed by it
    try:
        res: SearchResult = search.run(
            task, policy, checker, budget, seed=seed, checkpoint_dir=tree_dir
        )
    except LeanInfraError:
        raise
    except Exception as exc:  # a bug or a policy failure costs this problem, not the run
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return ProblemResult(
            rec.id,
            rec.name,
            rec.split,
            False,
            wall_s=time.monotonic() - t0,
            failure=f"error: {tb}",
            error=tb,
        )
    solved, proof, failure = res.solved, res.proof, res.failure
    verifier_s = res.verifier_s
    if solved:
        check = verifier.check(
            [
                CheckRequest(
                    rec.formal_statement,
                    proof,
                    header=rec.header,
                    id=rec.id,
                    header_trusted=True,  # the benchmark file's header
                )
            ]
        )[0]
        verifier_s += check.time_s
        if not check.proved:
            solved = False
            err = check.first_error.text if check.first_error else (check.reason or "")
            failure = f"re-verification failed ({check.verdict.value}): {err}".strip()
    if not solved and not proof:
        proof = res.best_partial
    return ProblemResult(
        id=rec.id,
        name=rec.name,
        split=rec.split,
        solved=solved,
        proof=proof,
        samples=res.samples_used,
        wall_s=time.monotonic() - t0,
        verifier_s=verifier_s,
        found_at=res.found_at if solved else None,
        failure="" if solved else failure,
    )


def run_eval(
    records: Sequence[Problem],
    config: EvalConfig,
    out_dir: Path | str,
    *,
    checker: Checker | None = None,
    policy: Policy | None = None,
    search: Search | None = None,
    tree_dir: Path | None = None,
    quiet: bool = False,
    stream: TextIO | None = None,
) -> dict[str, Any]:
    """Evaluate `records` as `config` says; returns the summary (also written to
    `out_dir/summary.json`).

    `checker`, `policy` and `search` may be given (tests, reuse; `config.backend` then records the
    checker's name); otherwise they are built from `config.backend`, `config.policy` and
    `config.search` + `config.search_options`, and closed at the end.  `tree_dir`: where RMaxTS
    checkpoints its trees; `quiet`: one line per problem on `stream` (default stderr) instead of
    a progress bar."""
    stream = stream if stream is not None else sys.stderr
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if checker is not None:
        config = replace(config, backend=checker.name)
    ids = [r.id for r in records]
    if len(set(ids)) != len(ids):
        raise UsageError("duplicate problem ids in the records")
    write_config(out, config)
    store = results_store(out)
    store.repair()
    done = {i: x for i, x in read_results(out).items() if not x.get("error")}
    todo = [r for r in records if r.id not in done]
    prev_solved = sum(1 for r in records if r.id in done and done[r.id].get("solved"))

    own: list[Any] = []
    try:
        if search is None:
            from search import get_search

            try:
                search = get_search(config.search, **config.search_options)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        if todo and policy is None:
            from prover.lean import resolve_backend
            from prover.policy import load_policy

            policy = load_policy(
                config.policy,
                lean_backend=resolve_backend(config.backend),
                **config.policy_options,
            )
            own.append(policy)
        if todo and checker is None:
            from prover.lean import make_checker

            checker = make_checker(config.backend)
            own.append(checker)
        verifier = bare(checker) if checker is not None else None  # re-checks from scratch
        progress = _Progress(len(records), len(records) - len(todo), prev_solved, quiet, stream)
        progress.draw()
        lock = threading.Lock()

        def one(rec: Problem) -> ProblemResult:
            assert policy is not None and search is not None
            assert checker is not None and verifier is not None
            r = _solve_one(
                rec, search, policy, checker, verifier, config.budget, config.seed, tree_dir
            )
            with lock:
                store.append([r.to_json()])  # whole line, fsynced
                progress.update(r)
            return r

        if config.workers <= 1:
            for rec in todo:
                one(rec)
        else:
            with ThreadPoolExecutor(max_workers=config.workers) as pool:
                for fut in as_completed([pool.submit(one, rec) for rec in todo]):
                    fut.result()
        progress.close()
    finally:
        for obj in own:
            obj.close()
    return write_outputs(out, records, config)
