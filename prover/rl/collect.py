"""Plain RL rollouts: K whole-proof samples per problem, verified in batches, every verification
recorded to `OUT/records.jsonl` (see prover.rl.records for the columns).

Resumable: samples already recorded for a problem (by sample index) are not drawn again, and a
problem whose K samples are all recorded is skipped.  Sample `j` of a problem is drawn with seed
`seed + j` (one policy call per remaining sample index), so a resumed run draws what the
uninterrupted run would have drawn (for policies that honour the seed).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prover.errors import DataError, UsageError
from prover.lean.types import Checker, CheckRequest, CheckResult, Verdict
from prover.policy.base import Policy, ProofTask, SamplingParams
from prover.rl.records import FeedbackRecord, FeedbackWriter, RequestContext, _drop_torn_tail


@dataclass(frozen=True)
class Problem:
    name: str
    formal_statement: str
    header: str | None = None
    informal_prefix: str = ""
    split: str = ""

    def __post_init__(self) -> None:
        if not self.name or not self.formal_statement:
            raise ValueError("Problem needs a name and a formal_statement")

    def task(self) -> ProofTask:
        return ProofTask(
            formal_statement=self.formal_statement,
            header=self.header or "",
            informal_prefix=self.informal_prefix,
            name=self.name,
        )


def default_data_dir() -> Path:
    env = os.environ.get("PROVER_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def _from_any(item: Any) -> Problem:
    get = item.get if isinstance(item, dict) else lambda k, d=None: getattr(item, k, d)
    return Problem(
        name=str(get("name") or get("id") or ""),
        formal_statement=str(get("formal_statement") or ""),
        header=get("header"),
        informal_prefix=str(get("informal_prefix") or ""),
        split=str(get("split") or ""),
    )


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DataError(f"{path}: benchmark file not found (set PROVER_DATA_DIR)")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def load_problems(
    benchmark: str,
    split: str,
    limit: int | None = None,
    data_dir: Path | None = None,
    notes: list[str] | None = None,
) -> list[Problem]:
    """Problems of a benchmark split.  Uses `benchmarks.datasets` when it is available; otherwise
    `minif2f` reads minif2f.jsonl and `minif2f-core` is the same problems with the core-Lean
    (empty) header, or a `.jsonl` path is read directly.  The same fallback is used when the
    miniF2F-core problem list has not been built yet (a line saying so is added to `notes`)."""
    if limit is not None and limit < 1:
        raise UsageError("--limit must be >= 1")
    problems: list[Problem] | None = None
    if not benchmark.endswith(".jsonl"):
        bd: Any = None
        try:
            from benchmarks import datasets as bd
        except ImportError:
            pass
        loader: Callable[..., Any] | None = getattr(bd, "load_benchmark", None) if bd else None
        if loader is not None:
            try:
                items = loader(
                    benchmark,
                    split=None if split == "all" else split,
                    data_dir=data_dir or default_data_dir(),
                )
                problems = [_from_any(x) for x in items]
            except DataError as exc:
                if benchmark != "minif2f-core":
                    raise
                if notes is not None:
                    notes.append(
                        f"miniF2F-core list unavailable ({str(exc).splitlines()[0]}); using "
                        "miniF2F problems in file order under the core-Lean (empty) header"
                    )
    if problems is None:
        if benchmark.endswith(".jsonl"):
            rows = _read_jsonl(Path(benchmark))
        elif benchmark in ("minif2f", "minif2f-core"):
            rows = _read_jsonl((data_dir or default_data_dir()) / "minif2f.jsonl")
            if benchmark == "minif2f-core":
                rows = [{**r, "header": ""} for r in rows]
        else:
            raise UsageError(
                f"unknown benchmark {benchmark!r}; use minif2f, minif2f-core or a .jsonl file"
            )
        problems = [_from_any(r) for r in rows]
        if split != "all":
            problems = [p for p in problems if p.split == split]
    if not problems:
        raise UsageError(f"benchmark {benchmark!r} split {split!r} has no problems")
    return problems[:limit] if limit else problems


@dataclass(frozen=True)
class CollectConfig:
    samples_per_problem: int = 4
    temperature: float = 1.0
    top_p: float = 0.95
    max_new_tokens: int = 512
    seed: int = 0
    problems_per_batch: int = 8  # problems per policy+checker round
    timeout_s: float | None = 60.0
    want_steps: bool = True

    def __post_init__(self) -> None:
        if self.samples_per_problem < 1:
            raise ValueError("samples_per_problem must be >= 1")
        if self.problems_per_batch < 1:
            raise ValueError("problems_per_batch must be >= 1")
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0")


@dataclass
class CollectSummary:
    problems: int = 0
    skipped_problems: int = 0
    samples: int = 0
    proved_samples: int = 0
    solved: int = 0
    new_records: int = 0
    wall_s: float = 0.0

    def __str__(self) -> str:
        return (
            f"{self.problems} problems ({self.skipped_problems} already done), "
            f"{self.samples} samples verified, {self.proved_samples} proved; "
            f"{self.solved} problems solved in this run; {self.new_records} new records; "
            f"{self.wall_s:.1f}s"
        )


def collect(
    problems: Sequence[Problem],
    policy: Policy,
    checker: Checker,
    writer: FeedbackWriter,
    config: CollectConfig,
    progress: Callable[[str], None] | None = None,
) -> CollectSummary:
    t0 = time.monotonic()
    load_done(writer)
    k = config.samples_per_problem
    summary = CollectSummary(problems=len(problems))
    todo: list[tuple[Problem, list[int]]] = []
    for p in problems:
        missing = [j for j in range(k) if j not in writer.done.get(p.name, set())]
        if missing:
            todo.append((p, missing))
        else:
            summary.skipped_problems += 1
    for b in range(0, len(todo), config.problems_per_batch):
        chunk = todo[b : b + config.problems_per_batch]
        reqs: list[CheckRequest] = []
        ctxs: list[RequestContext] = []
        # group by sample index so that each policy call uses one seed for all its tasks
        by_index: dict[int, list[Problem]] = {}
        for p, missing in chunk:
            for j in missing:
                by_index.setdefault(j, []).append(p)
        for j, ps in sorted(by_index.items()):
            params = SamplingParams(
                n=1,
                temperature=config.temperature,
                top_p=config.top_p,
                max_new_tokens=config.max_new_tokens,
                seed=config.seed + j,
            )
            outs = policy.generate([p.task() for p in ps], params)
            for p, comps in zip(ps, outs, strict=True):
                c = comps[0]
                reqs.append(
                    CheckRequest(
                        formal_statement=p.formal_statement,
                        proof=c.text,
                        header=p.header,
                        id=f"{p.name}#{j}",
                        want_steps=config.want_steps,
                        timeout_s=config.timeout_s,
                    )
                )
                ctxs.append(
                    RequestContext(
                        problem_id=p.name,
                        prompt=c.prompt,
                        completion=c.text,
                        policy=policy.spec,
                        sampling=params,
                        sample_index=j,
                        source="collect",
                    )
                )
        results = checker.check(reqs)
        recs = []
        solved: set[str] = set()
        for req, res, ctx in zip(reqs, results, ctxs, strict=True):
            rec = FeedbackRecord.from_check(req, res, ctx)
            rec.backend = rec.backend or checker.name
            recs.append(rec)
            if res.proved:
                summary.proved_samples += 1
                solved.add(ctx.problem_id)
        new = writer.write(recs)
        # duplicates (same proof sampled twice) are not rewritten, but their index is done
        for ctx in ctxs:
            writer.done.setdefault(ctx.problem_id, set()).add(ctx.sample_index)
        _mark_done(writer, ctxs)
        summary.new_records += new
        summary.samples += len(reqs)
        summary.solved += len(solved)
        if progress:
            progress(
                f"batch {b // config.problems_per_batch + 1}: {len(reqs)} samples, "
                f"{sum(r.proved for r in recs)} proved, {new} new records"
            )
    summary.wall_s = time.monotonic() - t0
    return summary


PROGRESS_FILE = "collect_done.jsonl"


def _mark_done(writer: FeedbackWriter, ctxs: Sequence[RequestContext]) -> None:
    """Remember sample indices whose record was a duplicate (so resume does not redraw them)."""
    lines = "".join(
        json.dumps({"problem_id": c.problem_id, "sample_index": c.sample_index}) + "\n"
        for c in ctxs
    )
    path = writer.out_dir / PROGRESS_FILE
    with path.open("a", encoding="utf-8") as f:
        f.write(lines)
        f.flush()
        os.fsync(f.fileno())


def load_done(writer: FeedbackWriter) -> None:
    """Merge the progress file into `writer.done` (torn lines ignored)."""
    path = writer.out_dir / PROGRESS_FILE
    if not path.exists():
        return
    _drop_torn_tail(path)
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            d = json.loads(line)
            writer.done.setdefault(str(d["problem_id"]), set()).add(int(d["sample_index"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue


class GuardedChecker:
    """Wraps a Checker so that a request whose pre-Lean soundness screen raises (a checker bug,
    e.g. on unusual Unicode digits such as `²` in random model output) gets an ERROR verdict
    instead of failing the whole batch.  Everything else goes to the inner checker unchanged."""

    def __init__(self, inner: Checker) -> None:
        self.inner = inner
        self.name = inner.name
        self.guarded = 0

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        from prover.lean.soundness import screen_proof

        results: list[CheckResult | None] = [None] * len(requests)
        ok: list[int] = []
        for i, req in enumerate(requests):
            try:
                screen_proof(req.proof, req.allow_native_decide)
            except Exception as exc:  # noqa: BLE001 - any crash of the screen is a checker bug
                self.guarded += 1
                results[i] = CheckResult(
                    verdict=Verdict.ERROR,
                    reason=f"soundness screen crashed: {type(exc).__name__}: {exc}",
                    backend=self.name,
                )
            else:
                ok.append(i)
        if ok:
            for i, res in zip(ok, self.inner.check([requests[i] for i in ok]), strict=True):
                results[i] = res
        return [r for r in results if r is not None]

    def close(self) -> None:
        self.inner.close()
