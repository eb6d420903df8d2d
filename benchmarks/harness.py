"""Evaluation harness: run a search over benchmark problems, re-verify every claimed proof,
append one JSON line per problem to `results.jsonl` (resumable), then write `summary.json`,
`report.md` and `pass_curve.png` (`benchmarks.report`).  The run directory's files are described
in `benchmarks.results`.

Resume: problems whose id already has a complete line in `results.jsonl` are skipped, except
those whose latest line records an `error` (an exception in the search or the policy, e.g. a
model-server timeout): they are tried again and the new line wins.  A problem tried again (or
one killed before its line was written) counts its budget from zero, unless its search resumes
from a checkpoint (RMaxTS with `--tree-dir`): then its counts go on from those stored with that
checkpoint (`benchmarks.budget`), like its samples.  A torn last line (a kill in the middle of
a write) is cut off before appending.  A directory holding a run of another configuration
(`EvalConfig`, recorded in `config.json`) is refused.
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
from typing import TYPE_CHECKING, Any, TextIO

from benchmarks.budget import Meter, checker_versions
from benchmarks.datasets import Problem
from benchmarks.report import write_outputs
from benchmarks.results import EvalConfig, ProblemResult, read_results, results_store, write_config
from prover.errors import UsageError
from prover.lean.types import Checker, LeanInfraError
from prover.lean.wrappers import bare
from prover.policy.base import Policy, ProofTask
from prover.policy.prompts import answers_match
from search.base import Budget, Search, SearchResult
from search.base import reverify as recheck
from search.polish import polish

if TYPE_CHECKING:
    from benchmarks.distributed import RayConfig, TaskEnv
    from prover.jsonl import JsonlStore


class _Progress:
    """A tqdm bar over the problems, and every `tick_s` one line per problem still running (how
    long, what Lean has answered for it so far, the checker's process kills): a long problem is
    never a silent minute.  `quiet`: no bar, one line per finished problem (and the same ticks)."""

    def __init__(
        self,
        total: int,
        done: int,
        solved: int,
        quiet: bool,
        stream: TextIO,
        checker: Checker | None = None,
        tick_s: float = 30.0,
    ) -> None:
        from tqdm import tqdm

        self.total, self.done, self.solved = total, done, solved
        self.quiet, self.stream, self.checker = quiet, stream, checker
        self.bar = tqdm(
            total=total, initial=done, file=stream, disable=quiet, unit="problem", leave=True
        )
        self.bar.set_postfix(solved=solved)
        self._running: dict[str, tuple[float, Meter]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, args=(tick_s,), daemon=True)
        self._ticker.start()

    def start(self, name: str, meter: Meter) -> None:
        with self._lock:
            self._running[name] = (time.monotonic(), meter)

    def update(self, r: ProblemResult) -> None:
        with self._lock:
            self._running.pop(r.name, None)
        self.done += 1
        self.solved += int(r.solved)
        if self.quiet:
            what = f"solved at sample {r.found_at}" if r.solved else "failed"
            self._say(
                f"[{self.done}/{self.total}] {r.name} ({r.split}): {what}, "
                f"{r.samples} samples, {r.wall_s:.1f} s"
            )
        else:
            self.bar.update(1)
            self.bar.set_postfix(solved=self.solved)

    def draw(self) -> None:
        self.bar.refresh()

    def _say(self, line: str) -> None:
        if self.quiet:
            print(line, file=self.stream, flush=True)
        else:
            self.bar.write(line, file=self.stream)

    def _tick(self, tick_s: float) -> None:
        while not self._stop.wait(tick_s):
            stats = getattr(bare(self.checker), "stats", {}) if self.checker is not None else {}
            kills = stats.get("restarts", 0) if isinstance(stats, dict) else 0
            with self._lock:
                running = list(self._running.items())
            now = time.monotonic()
            for name, (t0, m) in running:
                self._say(
                    f"  … {name}: {now - t0:.0f} s, {m.verifications} Lean verifications "
                    f"({m.lean_cpu_s:.1f} Lean CPU-s), checker process kills so far: {kills}"
                )

    def close(self) -> None:
        self._stop.set()
        self.bar.close()


def _solve_one(
    rec: Problem,
    search: Search,
    policy: Policy,
    checker: Checker,
    verifier: Checker | None,
    budget: Budget,
    seed: int,
    tree_dir: Path | None = None,
    progress: _Progress | None = None,
    polish_proof: bool = True,
) -> ProblemResult:
    """`verifier` None: the caller re-verifies a solved result (`reverify_result`, under Ray)."""
    t0 = time.monotonic()
    task = rec.task()  # named by the unique id: recorded feedback and checkpoints are keyed by it
    # budget accounting (benchmarks.budget): everything the search and the re-check spend; the
    # statement error is the benchmark's statement's own (not a lemma's a search checked)
    meter = Meter(task.formal_statement)
    if progress is not None:
        progress.start(rec.name, meter)
    checker = meter.checker(checker)
    policy = meter.policy(policy)
    try:
        res: SearchResult = search.run(
            task, policy, checker, budget, seed=seed, checkpoint_dir=tree_dir
        )
    except LeanInfraError:
        raise
    except Exception as exc:  # a bug or a policy failure costs this problem, not the run
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        lean_said = meter.statement_error  # Lean's answer, not a failure to retry
        return ProblemResult(
            rec.id,
            rec.name,
            rec.split,
            False,
            wall_s=time.monotonic() - t0,
            failure=lean_said or f"error: {tb}",
            statement_error=lean_said or "",
            error="" if lean_said else tb,
            **meter.fields(),
        )
    solved, proof, failure = res.solved, res.proof, res.failure
    outcome = "proved" if solved else "not_proved"
    if not solved and meter.statement_error:
        outcome, failure = "statement_error", meter.statement_error
    elif not solved and meter.modulo is not None:  # Lean: proved modulo a `sorry` header lemma
        outcome, failure = "proved_modulo", meter.modulo[1]
        proof = meter.modulo[0]
    if not solved and not proof:
        proof = res.best_partial
    answers = dict(res.answers or task.answers) if solved else {}
    r = ProblemResult(
        id=rec.id,
        name=rec.name,
        split=rec.split,
        solved=solved,
        proof=proof,
        samples=res.samples_used,
        wall_s=time.monotonic() - t0,
        verifier_s=res.verifier_s,
        found_at=res.found_at if solved else None,
        failure="" if solved else failure,
        outcome=outcome,
        statement_error=meter.statement_error or "",
        answers=answers,
        answers_match_reference=answers_match(answers, dict(rec.reference_answers)),
        **meter.fields(),
    )
    return reverify_result(rec, r, verifier, polish_proof) if verifier is not None else r


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
    ray: RayConfig | None = None,
) -> dict[str, Any]:
    """Evaluate `records` as `config` says; returns the summary (also written to
    `out_dir/summary.json`).

    `checker`, `policy` and `search` may be given (tests, reuse; `config.backend` then records the
    checker's name); otherwise they are built from `config.backend`, `config.policy` and
    `config.search` + `config.search_options`, and closed at the end.  `tree_dir`: where RMaxTS
    checkpoints its trees; `quiet`: one line per problem on `stream` (default stderr) instead of
    a progress bar.  `ray`: run the problems as Ray tasks (`_run_on_ray`)."""
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
            own.append(search)
        if ray is not None:  # problems are Ray tasks; this process alone writes the results
            progress = _Progress(len(records), len(records) - len(todo), prev_solved, quiet, stream)
            progress.draw()
            versions = _run_on_ray(
                todo, config, ray, search, policy, checker, tree_dir, store, progress
            )
            progress.close()
            return write_outputs(out, records, config, versions=versions)
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

            checker = make_checker(config.backend, **config.checker_options)
            own.append(checker)
        verifier = bare(checker) if checker is not None else None  # re-checks from scratch
        progress = _Progress(
            len(records), len(records) - len(todo), prev_solved, quiet, stream, checker
        )
        progress.draw()
        lock = threading.Lock()

        def one(rec: Problem) -> ProblemResult:
            assert policy is not None and search is not None
            assert checker is not None and verifier is not None
            r = _solve_one(
                rec,
                search,
                policy,
                checker,
                verifier,
                config.budget,
                config.seed,
                tree_dir,
                progress,
                config.polish,
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
        versions = checker_versions(checker) if checker is not None else None
    finally:
        for obj in own:
            obj.close()
    return write_outputs(out, records, config, versions=versions)


# ----------------------------------------------------------------------------- Ray (--ray)


def reverify_result(
    rec: Problem, r: ProblemResult, verifier: Checker, polish_proof: bool = True
) -> ProblemResult:
    """`r` with its claimed proof re-checked by `verifier` from scratch (after the search, in this
    process or a Ray task): the re-check's Lean time is counted in the result's budget, and a
    proof it does not prove is not a proof.  A proof that stands also gets its readable version
    unless `polish_proof` is false (`search.polish`: the winning alternative of each
    `first | ...` and the steps that changed no goal read from one elaboration, verified again
    against the benchmark's own header); polishing is metered apart from the search's budget
    (`polish_verifications`, `polish_lean_cpu_s`)."""
    if not r.solved:
        return r
    # the benchmark's own header (the search may have seen one without answer comments)
    task = ProofTask(
        rec.formal_statement, header=rec.header, name=rec.id, answers=tuple(r.answers.items())
    )
    (check,) = recheck(verifier, [(task, r.proof, -1)])
    spent = replace(
        r,
        verifier_s=r.verifier_s + check.time_s,
        verifications=r.verifications + int(not check.cached),
        lean_cpu_s=r.lean_cpu_s + check.cpu_s,
        lean_wall_s=r.lean_wall_s + check.time_s,
    )
    if check.proved:
        if not polish_proof:
            return spent
        meter = Meter()
        polished = polish(meter.checker(verifier), task, r.proof)
        return replace(
            spent,
            polished=polished,
            polish_verifications=meter.verifications,
            polish_lean_cpu_s=meter.lean_cpu_s,
        )
    err = check.first_error.text if check.first_error else (check.reason or "")
    failure = f"re-verification failed ({check.verdict.value}): {err}".strip()
    outcome = "statement_error" if r.statement_error else "not_proved"
    return replace(
        spent,
        solved=False,
        found_at=None,
        outcome=outcome,
        answers={},
        answers_match_reference=None,
        failure=r.statement_error if r.statement_error else failure,
    )


def _ray_solve(
    rec: Problem, env: TaskEnv, search: Search, config: EvalConfig, tree_dir: Path | None
) -> ProblemResult:
    """One problem, in a Ray task: the search with the task's policy and the checker actors."""
    return _solve_one(
        rec, search, env.policy(), env.checker(), None, config.budget, config.seed, tree_dir
    )


def _run_on_ray(
    todo: Sequence[Problem],
    config: EvalConfig,
    ray: RayConfig,
    search: Search,
    policy: Policy | None,
    checker: Checker | None,
    tree_dir: Path | None,
    store: JsonlStore,
    progress: _Progress,
) -> dict[str, str] | None:
    """`run_eval` under Ray (benchmarks.distributed): a task per problem; the re-verification of
    every solved proof and the line in results.jsonl happen here, as each task finishes.
    `checker`: a picklable checker the actors hold (tests); default: `config.backend`'s Lean."""
    if not todo:
        return None
    from benchmarks.distributed import RaySession, task_env

    factory = (lambda: checker) if checker is not None else None
    with RaySession(ray, backend=config.backend, checker_factory=factory) as session:
        source = session.policy_source(
            config.policy, config.policy_options, session.info["name"], policy=policy
        )
        env = task_env(session, source)
        verifier = session.checker()  # the actors' Lean, no cache: from scratch
        for rec, r in session.map_unordered(_ray_solve, todo, env, search, config, tree_dir):
            r = reverify_result(rec, r, verifier, config.polish)
            store.append([r.to_json()])  # whole line, fsynced
            progress.update(r)
        return session.versions()
