"""`--ray` (benchmarks.distributed) on one local Ray cluster for the whole module
(`ray.init(num_cpus=2)`): eval and collect give what the local run gives, a task whose worker
process is SIGKILLed is retried with nothing lost or counted twice, a killed driver's run resumes,
and the vLLM policy actor's wiring (a stand-in `vllm` module: no GPU or vLLM here).

The fake-checker tests start no Lean.  The `lean` tests share one checker actor holding one
embedded Lean process (named, so the eval and the collect run reuse it) and compare with the
session's own checker (`shared_checker`)."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import toy_lean

from benchmarks.datasets import Problem
from prover.lean.types import CheckRequest, CheckResult
from prover.policy.base import Completion, ProofTask, SamplingParams


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """One local cluster for every test here; shut down (workers, actors, Lean) at the end."""
    import ray.cloudpickle

    # the fakes below travel by value: Ray's workers need not import this test module
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.cloudpickle.register_pickle_by_value(toy_lean)  # the fake checker's LEAN_PROVES
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


# ----------------------------------------------------------------------------- fakes


GOOD = "  exact rfl"
# what the fake checker says `proved` for: GOOD for each problem of `problems` (real Lean proves
# each: tests/test_fakes_lean.py)
LEAN_PROVES = toy_lean.LeanProves(
    *(
        CheckRequest(f"theorem p{i} : {i} = {i} := by\n", GOOD, header_trusted=True)
        for i in range(5)
    )
)


class FakeChecker:
    """`proved` for a request in LEAN_PROVES, anything else fails; no Lean."""

    name = "fake"
    lean_version = "0"

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        return [CheckResult(LEAN_PROVES.verdict(r), time_s=0.01) for r in requests]

    def close(self) -> None:
        pass


class FakePolicy:
    """Proves the problems named in `solvable`; logs every call to `log` (name and pid), and
    SIGKILLs its own worker process the first time it is asked for `victim` (marker file)."""

    spec = "fake"

    def __init__(self, solvable: set[str], log: Path, victim: str = "", marker: Path | None = None):
        self.solvable, self.log, self.victim, self.marker = solvable, log, victim, marker

    def generate(
        self, tasks: Sequence[ProofTask], params: SamplingParams
    ) -> list[list[Completion]]:
        out = []
        for t in tasks:
            name = t.name.rpartition("/")[2]  # tasks are named by the problem id
            with self.log.open("a") as f:
                f.write(json.dumps({"name": name, "pid": os.getpid()}) + "\n")
            if name == self.victim and self.marker is not None and not self.marker.exists():
                self.marker.write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)  # the worker dies mid-task
            text = GOOD if name in self.solvable else "no"
            out.append([Completion(text=text, prompt=f"prompt {t.name}") for _ in range(params.n)])
        return out

    def close(self) -> None:
        pass


def problems(n: int) -> list[Problem]:
    return [
        Problem(f"fake/p{i}", f"p{i}", "valid", f"theorem p{i} : {i} = {i} := by\n")
        for i in range(n)
    ]


def _eval(records: list[Problem], out: Path, policy: Any, ray_cfg: Any = None) -> dict:
    from benchmarks.harness import run_eval
    from benchmarks.results import EvalConfig
    from search import get_search
    from search.base import Budget

    config = EvalConfig(policy="fake", search="sample", budget=Budget.parse("1x2"), benchmark="b")
    return run_eval(
        records,
        config,
        out,
        checker=FakeChecker(),
        policy=policy,
        search=get_search("sample"),
        quiet=True,
        stream=open(os.devnull, "w"),  # noqa: SIM115
        ray=ray_cfg,
    )


def _lines(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]


def _same(a: dict, b: dict) -> tuple:
    """The fields both runs must agree on (Lean calls with the cache's answers: a task caches
    what the local fake checker does not)."""
    keys = ("id", "solved", "proof", "samples", "found_at", "outcome", "failure")
    return tuple(a[k] for k in keys) + (a["verifications"] + a["cache_hits"],), tuple(
        b[k] for k in keys
    ) + (b["verifications"] + b["cache_hits"],)


# ----------------------------------------------------------------------------- fast (no Lean)


def test_ray_eval_matches_local_fake(cluster: Any, tmp_path: Path) -> None:
    from benchmarks.distributed import RayConfig

    recs = problems(5)
    solvable = {"p0", "p2", "p3"}
    local = _eval(recs, tmp_path / "local", FakePolicy(solvable, tmp_path / "l.log"))
    dist = _eval(
        recs, tmp_path / "ray", FakePolicy(solvable, tmp_path / "r.log"), RayConfig(task_cpus=0.5)
    )
    assert dist["solved"] == local["solved"] == 3
    a = {r["id"]: r for r in _lines(tmp_path / "local")}
    b = {r["id"]: r for r in _lines(tmp_path / "ray")}
    assert a.keys() == b.keys() and len(_lines(tmp_path / "ray")) == 5
    for k in a:
        x, y = _same(a[k], b[k])
        assert x == y
    # the runs happened in Ray worker processes, not here
    pids = {json.loads(x)["pid"] for x in (tmp_path / "r.log").read_text().splitlines()}
    assert os.getpid() not in pids


def test_ray_eval_worker_killed_mid_task(cluster: Any, tmp_path: Path) -> None:
    """The task of p1 SIGKILLs its worker on its first attempt: Ray retries it on a new worker;
    every problem has exactly one line, solved counted once."""
    from benchmarks.distributed import RayConfig

    marker = tmp_path / "killed"
    log = tmp_path / "calls.log"
    policy = FakePolicy({"p1", "p2"}, log, victim="p1", marker=marker)
    summary = _eval(problems(4), tmp_path / "out", policy, RayConfig(task_cpus=0.5))
    assert marker.exists()  # the worker did die
    calls = [json.loads(x) for x in log.read_text().splitlines()]
    p1 = [c for c in calls if c["name"] == "p1"]
    assert len(p1) >= 2 and p1[0]["pid"] == int(marker.read_text())
    assert len({c["pid"] for c in p1}) >= 2  # the retry ran in another process
    lines = _lines(tmp_path / "out")
    assert sorted(r["id"] for r in lines) == [f"fake/p{i}" for i in range(4)]  # once each
    assert {r["id"] for r in lines if r["solved"]} == {"fake/p1", "fake/p2"}
    assert summary["solved"] == 2 and summary["problems"] == 4


def test_ray_eval_resumes_a_killed_driver(cluster: Any, tmp_path: Path) -> None:
    """A driver killed after writing two lines (and tearing a third): the next --ray run runs
    only the rest, and nothing is counted twice."""
    from benchmarks.distributed import RayConfig

    recs = problems(4)
    full = tmp_path / "full"
    _eval(recs, full, FakePolicy({"p0", "p3"}, tmp_path / "a.log"))
    out = tmp_path / "out"
    out.mkdir()
    (out / "config.json").write_text((full / "config.json").read_text())
    first = (full / "results.jsonl").read_text().splitlines()[:2]
    (out / "results.jsonl").write_text("\n".join(first) + '\n{"id": "fake/p2", "sol')
    log = tmp_path / "b.log"
    summary = _eval(recs, out, FakePolicy({"p0", "p3"}, log), RayConfig(task_cpus=0.5))
    ran = sorted(json.loads(x)["name"] for x in log.read_text().splitlines())
    done = {json.loads(x)["id"] for x in first}
    assert ran == sorted({r.name for r in recs if r.id not in done})
    lines = _lines(out)
    assert sorted(r["id"] for r in lines) == [r.id for r in recs]
    assert summary["solved"] == 2


def test_ray_options_cli(capsys: Any) -> None:
    """`--ray-*` without `--ray`, and a bad value, are usage errors before anything starts."""
    from prover.cli import main

    base = ["eval", "--benchmark", "minif2f", "--split", "valid", "--out", "x"]
    assert main([*base, "--ray-checkers", "2"]) == 2
    assert "--ray-checkers only applies to --ray" in capsys.readouterr().err
    assert main([*base, "--ray", "--ray-checker-cpus", "0"]) == 2
    assert "--ray-checker-cpus: RayConfig.checker_cpus must be >= 1" in capsys.readouterr().err


class _FakeVLLMModule:
    """Source of a stand-in `vllm` package (no GPU, no vLLM here), importable by Ray workers."""

    SOURCE = """
from types import SimpleNamespace
import os
CALLS = []
class LLM:
    def __init__(self, **kw):
        with open(os.environ["FAKE_VLLM_LOG"], "a") as f:
            f.write("LLM %s %d\\n" % (sorted(kw), os.getpid()))
        self.llm_engine = SimpleNamespace(model_config=SimpleNamespace(max_model_len=4096))
    def get_tokenizer(self):
        return SimpleNamespace(encode=lambda t: t.split(), chat_template=None)
    def generate(self, prompts, sps, **kw):
        out = SimpleNamespace(text="  rfl\\n```", token_ids=[1, 2], finish_reason="stop")
        return [SimpleNamespace(outputs=[out]) for _ in prompts]
def SamplingParams(**kw):
    return SimpleNamespace(kwargs=kw)
"""


def test_ray_vllm_policy_actor_wiring(
    cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`vllm:` starts one policy actor (on GPUs: its tensor-parallel size, or --ray-policy-gpus)
    and the tasks generate through it.  The GPU request is replaced by 0 GPUs here (none on
    this cluster) and `vllm` by a stand-in module; the real engine is not run."""
    import benchmarks.distributed as dist
    from benchmarks.distributed import RayConfig

    opts = dist.policy_actor_options("vllm:m", {"tensor_parallel_size": 2}, RayConfig())
    assert opts["num_gpus"] == 2
    assert dist.policy_actor_options("vllm:m", {}, RayConfig(policy_gpus=4))["num_gpus"] == 4
    assert dist.needs_policy_actor("vllm:/m") and not dist.needs_policy_actor("automation")

    pkg = tmp_path / "fakepkgs"
    (pkg / "vllm").mkdir(parents=True)
    (pkg / "vllm" / "__init__.py").write_text(_FakeVLLMModule.SOURCE)
    log = tmp_path / "vllm.log"
    real = dist.policy_actor_options

    def no_gpu(spec: str, options: Any, config: Any) -> dict:
        out = {**real(spec, options, config), "num_gpus": 0, "num_cpus": 0}  # 2 CPUs here
        path = os.pathsep.join([str(pkg), *sys.path])
        out["runtime_env"] = {"env_vars": {"PYTHONPATH": path, "FAKE_VLLM_LOG": str(log)}}
        return out

    monkeypatch.setattr(dist, "policy_actor_options", no_gpu)
    from benchmarks.harness import run_eval
    from benchmarks.results import EvalConfig
    from search import get_search
    from search.base import Budget

    config = EvalConfig(
        policy="vllm:/models/fake", search="sample", budget=Budget.parse("1x1"), benchmark="b"
    )
    summary = run_eval(
        problems(3),
        config,
        tmp_path / "out",
        checker=FakeChecker(),
        search=get_search("sample"),
        quiet=True,
        stream=open(os.devnull, "w"),  # noqa: SIM115
        ray=RayConfig(task_cpus=0.5),
    )
    assert summary["problems"] == 3 and summary["solved"] == 0  # "rfl" is not GOOD
    engines = log.read_text().splitlines()
    assert len(engines) == 1  # one engine, in the actor, for every task
    lines = _lines(tmp_path / "out")
    assert len(lines) == 3 and all(r["samples"] == 1 for r in lines)
    # tokens counted through ActorPolicy: the engine's 2 tokens, the prompt's count from vLLM's
    assert all(r["tokens_out"] == 2 and r["tokens_in"] > 0 for r in lines)


# ----------------------------------------------------------------------------- real Lean

# closed by the automation policy's one-shot proof (its first whole-proof sample)
OBVIOUS = ("mathd_numbertheory_132", "mathd_algebra_123")
HARD = "amc12a_2015_p10"


@pytest.fixture
def lean_cluster(cluster: Any) -> Any:
    """The cluster without the fake tests' checker actor (it holds one of the two CPUs)."""
    from benchmarks.distributed import _LIVE

    for key in [k for k in _LIVE if k[1].startswith("prover-checker:fake:")]:
        cluster.kill(_LIVE.pop(key))
    return cluster


@pytest.mark.lean
def test_ray_eval_cli_matches_local_lean(
    lean_cluster: Any, tmp_path: Path, data_dir: Path, capsys: Any, shared_checker: Any
) -> None:
    from prover.cli import main

    def run(out: Path, *extra: str) -> list[dict]:
        argv = ["eval", "--benchmark", "minif2f-core", "--split", "valid", "--names",
                *OBVIOUS, HARD, "--policy", "automation", "--search", "sample", "--budget",
                "1x1", "--backend", "embedded", "--data-dir", str(data_dir), "--out", str(out),
                "--quiet", *extra]  # fmt: skip
        assert main(argv) == 0
        return sorted(_lines(out), key=lambda r: r["id"])

    t0 = time.monotonic()
    dist = run(tmp_path / "ray", "--ray", "--ray-task-cpus", "0.5")
    t_ray = time.monotonic() - t0
    local = run(tmp_path / "local")
    assert [r["id"] for r in dist] == [r["id"] for r in local]
    solved = {r["id"] for r in local if r["solved"]}
    assert solved == {f"minif2f/{n}" for n in OBVIOUS}
    assert {r["id"] for r in dist if r["solved"]} == solved
    for a, b in zip(dist, local, strict=True):
        assert (a["solved"], a["proof"], a["outcome"]) == (b["solved"], b["proof"], b["outcome"])
        if a["solved"]:  # re-verified by Lean (the actor's, from scratch): a verification and time
            assert a["verifier_s"] > 0
            assert a["verifications"] + a["cache_hits"] == b["verifications"] + b["cache_hits"]
    summary = json.loads((tmp_path / "ray" / "summary.json").read_text())
    assert summary["solved"] == 2
    print(f"ray eval: {t_ray:.1f} s")


@pytest.mark.lean
def test_ray_collect_cli_matches_local_lean(
    lean_cluster: Any, tmp_path: Path, capsys: Any, shared_checker: Any
) -> None:
    from prover.cli import main

    bench = tmp_path / "bench.jsonl"
    rows = [
        {"name": "c_add", "split": "valid", "header": "",
         "formal_statement": "theorem c_add (a b : Nat) : a + b = b + a := by\n"},
        {"name": "c_two", "split": "valid", "header": "",
         "formal_statement": "theorem c_two : 2 + 2 = 4 := by\n"},
        {"name": "c_no", "split": "valid", "header": "",
         "formal_statement": "theorem c_no (n : Nat) : n * n = n := by\n"},
    ]  # fmt: skip
    bench.write_text("".join(json.dumps(r) + "\n" for r in rows))

    def run(out: Path, *extra: str) -> list[tuple]:
        argv = ["collect", "--benchmark", str(bench), "--policy", "automation", "-k", "2",
                "--batch-problems", "2", "--backend", "embedded", "--out", str(out), *extra]  # fmt: skip
        assert main(argv) == 0
        recs = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
        keys = ("problem_id", "sample_index", "proof", "verdict", "kind", "policy", "backend")
        return sorted(tuple(r[k] for k in keys) for r in recs)

    t0 = time.monotonic()
    dist = run(tmp_path / "ray", "--ray", "--ray-task-cpus", "0.5")
    t_ray = time.monotonic() - t0
    local = run(tmp_path / "local")
    print(f"ray collect: {t_ray:.1f} s, local: {time.monotonic() - t0 - t_ray:.1f} s")
    assert dist == local and dist
    assert {r[0] for r in dist if r[3] == "proved"} == {"bench/c_add", "bench/c_two"}
    done = (tmp_path / "ray" / "collect_done.jsonl").read_text().splitlines()
    assert len(done) == len(set(done)) == 6  # 3 problems x 2 samples, each settled once
