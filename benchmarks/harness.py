"""Evaluation harness: run a search over benchmark problems, re-verify every claimed proof,
append one JSON line per problem to `results.jsonl` (resumable), then write `summary.json`,
`report.md` and `pass_curve.png`.

Resume: problems whose id already has a complete line in `results.jsonl` are skipped, except
those whose latest line records an `error` (an exception in the search or the policy, e.g. a
model-server timeout): they are tried again and the new line wins.  A torn last line (a kill in
the middle of a write) is cut off before appending.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from benchmarks.datasets import Problem
from prover.errors import UsageError
from prover.lean.types import Checker, CheckRequest, LeanInfraError
from prover.policy.base import Policy, ProofTask
from search.base import Budget, Search, SearchResult

RESULTS = "results.jsonl"
_CONFIG_KEYS = ("benchmark", "split", "policy", "search", "budget", "seed", "extra")


@dataclass(frozen=True)
class ProblemResult:
    """One line of `results.jsonl`."""

    id: str
    name: str
    split: str
    solved: bool
    proof: str = ""  # full proof text after the statement (re-verified), or best partial
    samples: int = 0  # policy samples spent (the cost)
    wall_s: float = 0.0
    verifier_s: float = 0.0
    found_at: int | None = None  # 1-based global sample index of the proof
    failure: str = ""
    error: str = ""  # the search raised this: not finished, retried on resume

    def __post_init__(self) -> None:
        if self.samples < 0:
            raise ValueError(f"ProblemResult.samples must be >= 0, got {self.samples}")
        if self.solved and self.found_at is not None and self.found_at < 1:
            raise ValueError(f"ProblemResult.found_at must be >= 1, got {self.found_at}")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["wall_s"] = round(self.wall_s, 3)
        d["verifier_s"] = round(self.verifier_s, 3)
        return d


@dataclass(frozen=True)
class EvalConfig:
    policy: str
    search: str
    budget: Budget
    seed: int = 0
    workers: int = 1
    benchmark: str = ""
    split: str = ""
    backend: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["budget"] = str(self.budget)
        return d


def wilson_interval(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval for k successes out of n (0, 0 when n == 0)."""
    if n == 0:
        return (0.0, 0.0)
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k} n={n}")
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def unwrap_checker(checker: Any) -> Any:
    """The checker under every wrapper layer (result cache, recorder, ...): `.inner` until none.
    A claimed proof is re-verified on it, from scratch, so no cached answer is trusted."""
    while hasattr(checker, "inner"):
        checker = checker.inner
    return checker


def repair_results(path: Path) -> None:
    """Cut a torn (newline-less or unparseable) last line off `path` in place: the file is
    truncated to its good prefix (never rewritten, so a kill here loses nothing) and fsynced."""
    if not path.exists():
        return
    data = path.read_bytes()
    keep = len(data) if data.endswith(b"\n") else data.rfind(b"\n") + 1
    if keep:
        start = data.rfind(b"\n", 0, keep - 1) + 1
        try:
            json.loads(data[start : keep - 1])
        except (json.JSONDecodeError, UnicodeDecodeError):
            keep = start
    if keep != len(data):
        os.truncate(path, keep)
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_results(out_dir: Path | str) -> dict[str, dict[str, Any]]:
    """id -> result line of `out_dir/results.jsonl` (later lines win; broken lines ignored)."""
    path = Path(out_dir) / RESULTS
    out: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("id"), str):
            out[obj["id"]] = obj
    return out


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
    task = ProofTask(
        formal_statement=rec.formal_statement,
        header=rec.header,
        informal_prefix=rec.informal_prefix,
        name=rec.id,  # unique (ProofNet repeats names): recorded feedback is keyed by it
    )
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
                    header=rec.header or None,
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


def _check_config(out_dir: Path, config: EvalConfig) -> None:
    path = out_dir / "config.json"
    new = config.to_json()
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            old = {}
        diff = [k for k in _CONFIG_KEYS if k in old and old[k] != new[k]]
        if diff:
            what = ", ".join(f"{k} {old[k]!r} -> {new[k]!r}" for k in diff)
            raise UsageError(
                f"{out_dir} holds results of a different configuration ({what}); "
                "use another --out directory"
            )
    path.write_text(json.dumps(new, indent=1) + "\n", encoding="utf-8")


def run_eval(
    records: Sequence[Problem],
    policy_spec: str,
    search_name: str,
    budget: Budget | str,
    out_dir: Path | str,
    workers: int = 1,
    seed: int = 0,
    quiet: bool = False,
    checker: Checker | None = None,
    *,
    policy: Policy | None = None,
    search: Search | None = None,
    backend: str = "auto",
    benchmark: str = "",
    split: str = "",
    stream: TextIO | None = None,
    search_options: Mapping[str, Any] | None = None,
    tree_dir: Path | None = None,
) -> dict[str, Any]:
    """Evaluate `records`; returns the summary (also written to `out_dir/summary.json`).

    `checker`, `policy` and `search` may be given (tests, reuse); otherwise they are built from
    `backend`, `policy_spec` and `search_name`, and closed at the end."""
    if isinstance(budget, str):
        try:
            budget = Budget.parse(budget)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    stream = stream if stream is not None else sys.stderr
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = EvalConfig(
        policy=policy_spec,
        search=search_name,
        budget=budget,
        seed=seed,
        workers=workers,
        benchmark=benchmark,
        split=split,
        backend=backend if checker is None else checker.name,
        extra={"search_options": dict(search_options)} if search_options else {},
    )
    ids = [r.id for r in records]
    if len(set(ids)) != len(ids):
        raise UsageError("duplicate problem ids in the records")
    _check_config(out, config)
    path = out / RESULTS
    repair_results(path)
    done = {i: x for i, x in read_results(out).items() if not x.get("error")}
    todo = [r for r in records if r.id not in done]
    prev_solved = sum(1 for r in records if r.id in done and done[r.id].get("solved"))

    own: list[Any] = []
    try:
        if search is None:
            from search import get_search

            try:
                search = get_search(search_name, **(search_options or {}))
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        if todo and policy is None:
            from prover.lean import resolve_backend
            from prover.policy import load_policy

            policy = load_policy(policy_spec, lean_backend=resolve_backend(backend))
            own.append(policy)
        if todo and checker is None:
            from prover.lean import make_checker

            checker = make_checker(backend)
            own.append(checker)
        verifier = unwrap_checker(checker)
        progress = _Progress(len(records), len(records) - len(todo), prev_solved, quiet, stream)
        progress.draw()
        lock = threading.Lock()
        with open(path, "a", encoding="utf-8") as sink:

            def one(rec: Problem) -> ProblemResult:
                assert policy is not None and checker is not None and search is not None
                r = _solve_one(rec, search, policy, checker, verifier, budget, seed, tree_dir)
                with lock:
                    sink.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")
                    sink.flush()
                    os.fsync(sink.fileno())
                    progress.update(r)
                return r

            if workers <= 1:
                for rec in todo:
                    one(rec)
            else:
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    for fut in as_completed([pool.submit(one, rec) for rec in todo]):
                        fut.result()
        progress.close()
    finally:
        for obj in own:
            obj.close()
    return write_outputs(out, records, config)


def summarize(
    records: Sequence[Problem], results: dict[str, dict[str, Any]], config: EvalConfig
) -> dict[str, Any]:
    rows = [results[r.id] for r in records if r.id in results]
    n, k = len(rows), sum(1 for x in rows if x.get("solved"))
    lo, hi = wilson_interval(k, n)
    by_split: dict[str, dict[str, int]] = {}
    for x in rows:
        s = by_split.setdefault(str(x.get("split", "")), {"problems": 0, "solved": 0})
        s["problems"] += 1
        s["solved"] += int(bool(x.get("solved")))
    return {
        "problems": n,
        "solved": k,
        "pass_rate": k / n if n else 0.0,
        "wilson95": [lo, hi],
        "missing": len(records) - n,
        "errors": sum(1 for x in rows if x.get("error")),
        "by_split": by_split,
        "samples_total": sum(int(x.get("samples", 0)) for x in rows),
        "wall_s_total": round(sum(float(x.get("wall_s", 0.0)) for x in rows), 3),
        "verifier_s_total": round(sum(float(x.get("verifier_s", 0.0)) for x in rows), 3),
        "config": config.to_json(),
        "ids": [r.id for r in records if r.id in results],
    }


def render_report(summary: dict[str, Any], rows: Sequence[dict[str, Any]]) -> str:
    """Markdown report: totals, configuration, per-problem table, failures."""
    cfg = summary["config"]
    lo, hi = summary["wilson95"]
    lines = [
        f"# Evaluation: {cfg.get('benchmark') or 'custom'} {cfg.get('split') or ''}".rstrip(),
        "",
        "| problems | solved | pass rate | 95% Wilson CI | samples | wall s |",
        "|---:|---:|---:|---|---:|---:|",
        f"| {summary['problems']} | {summary['solved']} | {100 * summary['pass_rate']:.1f}% | "
        f"{100 * lo:.1f}% – {100 * hi:.1f}% | {summary['samples_total']} | "
        f"{summary['wall_s_total']:.1f} |",
        "",
        "## Configuration",
        "",
    ]
    lines += [f"- {k}: `{v}`" for k, v in cfg.items() if v not in ("", {}, None)]
    lines += [
        "",
        "## Problems",
        "",
        "| problem | split | solved | samples | found at | wall s |",
        "|---|---|:-:|---:|---:|---:|",
    ]
    for x in rows:
        fa = x.get("found_at")
        lines.append(
            f"| {x['name']} | {x.get('split', '')} | {'✓' if x.get('solved') else '✗'} | "
            f"{x.get('samples', 0)} | {'' if fa is None else fa} | {x.get('wall_s', 0.0):.1f} |"
        )
    failures = [x for x in rows if not x.get("solved")]
    if failures:
        lines += ["", "## Failures", ""]
        for x in failures:
            why = " ".join(str(x.get("failure") or "no proof found").split())
            lines.append(f"- `{x['name']}`: {why[:300]}")
    return "\n".join(lines) + "\n"


def plot_pass_curve(rows: Sequence[dict[str, Any]], budget_total: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found = sorted(int(x["found_at"]) for x in rows if x.get("solved") and x.get("found_at"))
    xs = list(range(0, max([budget_total, *found]) + 1))
    ys, j = [], 0
    for x in xs:
        while j < len(found) and found[j] <= x:
            j += 1
        ys.append(j)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.step(xs, ys, where="post")
    ax.set_xlabel("samples")
    ax.set_ylabel(f"problems solved (of {len(rows)})")
    ax.set_title("solved vs samples")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_outputs(out: Path, records: Sequence[Problem], config: EvalConfig) -> dict[str, Any]:
    results = read_results(out)
    summary = summarize(records, results, config)
    rows = [results[r.id] for r in records if r.id in results]
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    (out / "report.md").write_text(render_report(summary, rows), encoding="utf-8")
    plot_pass_curve(rows, config.budget.total, out / "pass_curve.png")
    return summary


def run_rows(out_dir: Path | str) -> dict[str, dict[str, Any]]:
    """The rows `summary.json` of `out_dir` counts: the latest line of each of its problems
    (every problem of `results.jsonl` when there is no summary yet, e.g. after a kill)."""
    d = Path(out_dir)
    res = read_results(d)
    try:
        ids = json.loads((d / "summary.json").read_text(encoding="utf-8"))["ids"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        return res
    return {i: res[i] for i in ids if i in res}


def compare_runs(dirs: Sequence[Path | str]) -> str:
    """Side-by-side pass rates of several eval directories and the problems they disagree on;
    each directory counts as its `summary.json` does (latest line per problem)."""
    runs = []
    for d in dirs:
        d = Path(d)
        res = run_rows(d)
        if not res:
            raise UsageError(f"{d} has no {RESULTS} with results")
        runs.append((str(d), res))
    head = ["run", "problems", "solved", "pass rate", "95% CI"]
    table = []
    for d, res in runs:
        n, k = len(res), sum(1 for x in res.values() if x.get("solved"))
        lo, hi = wilson_interval(k, n)
        pr = f"{100 * k / n:.1f}%" if n else "-"
        table.append([d, str(n), str(k), pr, f"{100 * lo:.1f}–{100 * hi:.1f}%"])
    out = [_fmt_table(head, table)]
    ids = sorted({i for _, res in runs for i in res})
    diffs = []
    for i in ids:
        marks = []
        for _, res in runs:
            x = res.get(i)
            marks.append("-" if x is None else ("✓" if x.get("solved") else "✗"))
        if len({m for m in marks if m != "-"}) > 1 or ("-" in marks and len(set(marks)) > 1):
            diffs.append([i, *marks])
    out.append("")
    if diffs:
        out.append(f"{len(diffs)} problems differ (✓ solved, ✗ failed, - not run):")
        out.append(_fmt_table(["problem", *[f"#{j + 1}" for j in range(len(runs))]], diffs))
    else:
        out.append("no per-problem differences")
    return "\n".join(out) + "\n"


def _fmt_table(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[c]) for r in [head, *rows]) for c in range(len(head))]
    fmt = "  ".join(f"{{:{w}}}" for w in widths)
    return "\n".join(
        [fmt.format(*head), fmt.format(*["-" * w for w in widths])] + [fmt.format(*r) for r in rows]
    )
