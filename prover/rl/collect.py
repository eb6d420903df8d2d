"""Plain RL rollouts: K whole-proof samples per problem, verified in batches, every verification
recorded to `OUT/records.jsonl` (see prover.rl.records for the columns).

Problems are `benchmarks.datasets.Problem`s, keyed by their unique `id` (`minif2f/<name>`,
`proofnet/<split>/<index>`: ProofNet repeats names), which is the records' `problem_id`.

Resumable: samples already recorded for a problem (by sample index) with a settled verdict are not
drawn again, and a problem whose K samples are all settled is skipped; a sample whose check timed
out or errored is drawn and checked again by the next run.  Sample `j` of a problem is drawn with
seed `seed + j` (one policy call per remaining sample index), so a resumed run draws what the
uninterrupted run would have drawn (for policies that honour the seed).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.datasets import SPLITS, Problem, load_benchmark, load_jsonl
from prover.errors import UsageError
from prover.jsonl import JsonlStore
from prover.lean.types import Checker, CheckRequest, CheckResult
from prover.lean.wrappers import RequestContext
from prover.policy.base import Policy, Sampling, merge_answers
from prover.rl.records import FeedbackRecord, FeedbackWriter

if TYPE_CHECKING:
    from benchmarks.distributed import RayConfig, TaskEnv


def _load_file(path: Path) -> list[Problem]:
    """A DeepSeek-Prover-format JSONL file: ids `<stem>/<name>` when the names are unique, else
    `<stem>/<split>/<line index>` (as for ProofNet)."""
    if not path.is_file():
        raise UsageError(f"--benchmark {path}: no such file")
    problems = load_jsonl(path, key="line")
    if len({p.name for p in problems}) == len(problems):
        problems = load_jsonl(path)
    return problems


def load_problems(
    benchmark: str,
    split: str,
    limit: int | None = None,
    data_dir: Path | None = None,
) -> list[Problem]:
    """Problems of a benchmark split (`all`: both).  `minif2f`, `minif2f-core` and `proofnet` come
    from `benchmarks.datasets.load_benchmark` (files from `data_dir`, else $PROVER_DATA_DIR, else
    the pinned download); a path ending in `.jsonl` is read as a DeepSeek-Prover-format file."""
    if limit is not None and limit < 1:
        raise UsageError("--limit must be >= 1")
    if split != "all" and split not in SPLITS:
        raise UsageError(f"--split {split!r}: choose valid, test or all")
    if benchmark.endswith(".jsonl"):
        problems = _load_file(Path(benchmark))
        if split != "all":
            problems = [p for p in problems if p.split == split]
    else:
        problems = load_benchmark(benchmark, None if split == "all" else split, data_dir)
    if not problems:
        raise UsageError(f"benchmark {benchmark!r} split {split!r} has no problems")
    return problems[:limit] if limit else problems


# collect keeps its cheaper 512-token default (DeepSeek-Prover-V1.5 samples up to 2048)
COLLECT_SAMPLING = Sampling(max_new_tokens=512)


@dataclass(frozen=True)
class CollectConfig:
    samples_per_problem: int = 4
    sampling: Sampling = COLLECT_SAMPLING
    seed: int = 0
    problems_per_batch: int = 8  # problems per policy+checker round
    timeout_s: float | None = None  # per-item wall-clock limit; None: the checker's own
    want_steps: bool = True

    def __post_init__(self) -> None:
        if self.samples_per_problem < 1:
            raise ValueError("samples_per_problem must be >= 1")
        if self.problems_per_batch < 1:
            raise ValueError("problems_per_batch must be >= 1")
        object.__setattr__(self, "sampling", Sampling.coerce(self.sampling, COLLECT_SAMPLING))


@dataclass
class CollectSummary:
    problems: int = 0
    skipped_problems: int = 0
    samples: int = 0
    proved_samples: int = 0
    unsettled_samples: int = 0  # timeout / error: drawn again by the next run
    solved: int = 0
    new_records: int = 0
    wall_s: float = 0.0
    # samples per refusal category (Lean's: README "Refusal categories"), for reward hacking
    refusals: dict[str, int] = field(default_factory=dict)

    def refusal_rates(self) -> str:
        if not self.refusals or not self.samples:
            return "no refusals"
        return ", ".join(
            f"{k} {v} ({100 * v / self.samples:.1f}%)"
            for k, v in sorted(self.refusals.items(), key=lambda kv: -kv[1])
        )

    def __str__(self) -> str:
        return (
            f"{self.problems} problems ({self.skipped_problems} already done), "
            f"{self.samples} samples verified, {self.proved_samples} proved, "
            f"{self.unsettled_samples} timeout/error (retried by the next run); "
            f"{self.solved} problems solved in this run; {self.new_records} new records; "
            f"{self.wall_s:.1f}s; refusals: {self.refusal_rates()}"
        )


@dataclass(frozen=True)
class RayCollect:
    """`collect` on a Ray cluster (`prover collect --ray`): each round of problems is a Ray task
    that builds the policy `policy` names (`vllm:`: one GPU actor) and checks through the
    checker actors on `backend`; the driver alone writes the records."""

    config: RayConfig
    policy: str
    policy_options: Mapping[str, Any] = field(default_factory=dict)
    backend: str = "auto"


def collect(
    problems: Sequence[Problem],
    policy: Policy | None,
    checker: Checker | None,
    writer: FeedbackWriter,
    config: CollectConfig,
    progress: Callable[[str], None] | None = None,
    ray: RayCollect | None = None,
) -> CollectSummary:
    """`ray`: run the rounds as Ray tasks (`policy` and `checker` may then be None: built from
    `ray.policy` in the tasks and `ray.backend` in the checker actors; a given checker must be
    picklable: the actors hold it)."""
    t0 = time.monotonic()
    ids = [p.id for p in problems]
    if len(set(ids)) != len(ids):
        raise UsageError("collect: problem ids repeat; every problem needs a unique id")
    load_done(writer)
    k = config.samples_per_problem
    summary = CollectSummary(problems=len(problems))
    todo: list[tuple[Problem, list[int]]] = []
    for p in problems:
        missing = [j for j in range(k) if j not in writer.done.get(p.id, set())]
        if missing:
            todo.append((p, missing))
        else:
            summary.skipped_problems += 1
    if ray is not None and todo:
        _collect_on_ray(todo, policy, checker, writer, config, progress, ray, summary)
        todo = []
    for b in range(0, len(todo), config.problems_per_batch):
        chunk = todo[b : b + config.problems_per_batch]
        assert policy is not None and checker is not None
        reqs, results, ctxs = sample_and_check(chunk, policy, checker, config)
        _write_batch(writer, checker.name, reqs, results, ctxs, summary, b, config, progress)
    summary.wall_s = time.monotonic() - t0
    return summary


def sample_and_check(
    chunk: Sequence[tuple[Problem, list[int]]],
    policy: Policy,
    checker: Checker,
    config: CollectConfig,
) -> tuple[list[CheckRequest], list[CheckResult], list[RequestContext]]:
    """One round: draw the missing samples of `chunk`'s problems and check them in one batch
    (a Ray task runs this under `collect_on_ray`)."""
    reqs: list[CheckRequest] = []
    ctxs: list[RequestContext] = []
    # group by sample index so that each policy call uses one seed for all its tasks
    by_index: dict[int, list[Problem]] = {}
    for p, missing in chunk:
        for j in missing:
            by_index.setdefault(j, []).append(p)
    for j, ps in sorted(by_index.items()):
        params = config.sampling.params(n=1, seed=config.seed + j)
        # sample j is its own attempt: a `mixture` prompt alternates modes over j
        outs = policy.generate([replace(p.task(), run=j) for p in ps], params)
        for p, comps in zip(ps, outs, strict=True):
            c = comps[0]
            reqs.append(
                CheckRequest(
                    formal_statement=p.formal_statement,
                    proof=c.text,
                    header=p.header,
                    header_trusted=True,  # from the benchmark/problem file
                    id=f"{p.id}#{j}",
                    want_steps=config.want_steps,
                    timeout_s=config.timeout_s,
                    answers=merge_answers(p.answers, c.answers),  # the plain variant's answers
                )
            )
            ctxs.append(
                RequestContext(
                    problem_id=p.id,
                    prompt=c.prompt,
                    completion=c.text,
                    policy=policy.spec,
                    sampling=params,
                    sample_index=j,
                    source="collect",
                    kind="sample",
                )
            )
    return reqs, checker.check(reqs), ctxs


def _write_batch(
    writer: FeedbackWriter,
    backend: str,
    reqs: Sequence[CheckRequest],
    results: Sequence[CheckResult],
    ctxs: Sequence[RequestContext],
    summary: CollectSummary,
    b: int,
    config: CollectConfig,
    progress: Callable[[str], None] | None,
) -> None:
    """Record one round's verifications (the driver alone writes) and count them."""
    recs = []
    solved: set[str] = set()
    for req, res, ctx in zip(reqs, results, ctxs, strict=True):
        rec = FeedbackRecord.from_check(req, res, ctx)
        rec.backend = rec.backend or backend
        recs.append(rec)
        if res.proved:
            summary.proved_samples += 1
            solved.add(ctx.problem_id)
        if res.refusal:
            summary.refusals[res.refusal] = summary.refusals.get(res.refusal, 0) + 1
    new = writer.write(recs)
    # a duplicate (same proof sampled twice) is not rewritten, but its index is done; a
    # timeout / error is not done: the next run draws and checks that sample again
    settled = [ctx for ctx, rec in zip(ctxs, recs, strict=True) if rec.settled]
    for ctx in settled:
        writer.done.setdefault(ctx.problem_id, set()).add(ctx.sample_index)
    _mark_done(writer, settled)
    summary.new_records += new
    summary.samples += len(reqs)
    summary.unsettled_samples += len(reqs) - len(settled)
    summary.solved += len(solved)
    if progress:
        progress(
            f"batch {b // config.problems_per_batch + 1}: {len(reqs)} samples, "
            f"{sum(r.proved for r in recs)} proved, {new} new records"
        )


def _ray_round(
    item: tuple[int, list[tuple[Problem, list[int]]]], env: TaskEnv, config: CollectConfig
) -> tuple[list[CheckRequest], list[CheckResult], list[RequestContext]]:
    """One round in a Ray task (benchmarks.distributed)."""
    return sample_and_check(item[1], env.policy(), env.checker(), config)


def _collect_on_ray(
    todo: Sequence[tuple[Problem, list[int]]],
    policy: Policy | None,
    checker: Checker | None,
    writer: FeedbackWriter,
    config: CollectConfig,
    progress: Callable[[str], None] | None,
    ray: RayCollect,
    summary: CollectSummary,
) -> None:
    """The rounds of `collect` (the same chunks, so the same seeds) as Ray tasks; each round's
    records are written here as it finishes."""
    from benchmarks.distributed import RaySession, task_env

    step = config.problems_per_batch
    rounds = [(b, list(todo[b : b + step])) for b in range(0, len(todo), step)]
    factory = (lambda: checker) if checker is not None else None
    backend = checker.name if checker is not None else ray.backend
    with RaySession(ray.config, backend=backend, checker_factory=factory) as session:
        source = session.policy_source(
            ray.policy, ray.policy_options, session.info["name"], policy=policy
        )
        env = task_env(session, source)
        for (b, _), (reqs, results, ctxs) in session.map_unordered(_ray_round, rounds, env, config):
            name = str(session.info["name"])
            _write_batch(writer, name, reqs, results, ctxs, summary, b, config, progress)


PROGRESS_FILE = "collect_done.jsonl"


def _mark_done(writer: FeedbackWriter, ctxs: Sequence[RequestContext]) -> None:
    """Remember the settled sample indices, including duplicates (same proof as an earlier
    sample: no record of their own), so a resumed run does not draw them again."""
    JsonlStore(writer.out_dir / PROGRESS_FILE).append(
        {"problem_id": c.problem_id, "sample_index": c.sample_index} for c in ctxs
    )


def load_done(writer: FeedbackWriter) -> None:
    """Merge the progress file into `writer.done` (torn and invalid lines ignored)."""
    for d in JsonlStore(writer.out_dir / PROGRESS_FILE).read():
        try:
            writer.done.setdefault(str(d["problem_id"]), set()).add(int(d["sample_index"]))
        except (KeyError, TypeError, ValueError):
            continue
