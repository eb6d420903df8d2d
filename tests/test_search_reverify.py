"""Re-verification of a found proof, in every search: it reaches the checker under the result
cache (never a cache hit), a proof that fails it is not reported, and in RMaxTS it leaves no
"no goals" node behind; an exception while RMaxTS absorbs a round leaves no virtual loss pending.
A toy checker and scripted policies, no Lean (tests/toy_lean.py): `skip` moves the goal
`⊢ g0 -> ⊢ g1 -> ...`, `trivial` proves `True`, `sorry` is incomplete, anything else is an error."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from toy_lean import toy_result

import search.rmaxts as rmaxts_module
from prover.lean.types import CheckRequest, CheckResult, LeanMessage, Verdict
from prover.lean.wrappers import CachedChecker, CheckerWrapper, uncached
from prover.policy.base import Completion, ProofTask, SamplingParams
from search import get_search
from search.base import Budget
from search.tree import SearchTree, load_tree

STMT = "theorem toy : True := by"
DONE = "\n  trivial"


class ToyChecker:
    """Counts every request it answers.  A proof in `flaky` is proved the first time this checker
    sees it and fails every later time (a first answer that a fresh check contradicts)."""

    name = "toy"

    def __init__(self, flaky: Sequence[str] = ()) -> None:
        self.requests: list[CheckRequest] = []
        self.flaky = set(flaky)

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        out = []
        for r in requests:
            again = any(q.proof == r.proof for q in self.requests)
            self.requests.append(r)
            res = self._one(r)
            if r.proof in self.flaky and again and res.verdict is Verdict.PROVED:
                err = LeanMessage("error", 2, 2, 2, 6, "the fresh check disagrees")
                res = CheckResult(Verdict.FAILED, messages=[err], first_error=err)
            out.append(res)
        return out

    def finals(self) -> list[CheckRequest]:
        return [r for r in self.requests if r.id.endswith(":final")]

    def _one(self, req: CheckRequest) -> CheckResult:
        return toy_result(req)

    def close(self) -> None:
        pass


class Always:
    """Every completion is `text`."""

    spec = "toy"

    def __init__(self, text: str) -> None:
        self.text = text

    def generate(self, tasks: Sequence[ProofTask], params: SamplingParams):
        return [[Completion(self.text, "p")] * params.n for _ in tasks]

    def close(self) -> None:
        pass


def _task() -> ProofTask:
    return ProofTask(formal_statement=STMT, name="toy")


SEARCHES = [
    ("sample", {"batch_size": 1}),
    ("bfs", {"candidates": 1}),
    ("rmaxts", {"concurrency": 1}),
]


@pytest.mark.parametrize(("name", "config"), SEARCHES)
def test_reverification_reaches_the_checker_under_the_cache(name: str, config: dict) -> None:
    inner = ToyChecker()
    cached = CachedChecker(inner, version="toy")
    for run in (1, 2):  # the second run finds the same proof: its re-check is cached by now
        res = get_search(name, **config).run(_task(), Always(DONE), cached, Budget(1, 4))
        assert res.solved and res.proof == DONE.rstrip()
        finals = inner.finals()
        assert len(finals) == run  # each run's re-verification reached the inner checker
        assert finals[-1].proof == res.proof and not finals[-1].want_steps
    assert cached.hits > 0  # the cache did answer other requests (the cache is really in use)


@pytest.mark.parametrize(("name", "config"), SEARCHES)
def test_task_headers_are_sent_as_trusted(name: str, config: dict) -> None:
    # a task's header comes from a benchmark or the user's file (it may declare defs)
    inner = ToyChecker()
    task = ProofTask(formal_statement=STMT, header="def two : Nat := 2\n", name="toy")
    res = get_search(name, **config).run(task, Always(DONE), inner, Budget(1, 4))
    assert res.solved
    assert inner.requests and all(r.header_trusted for r in inner.requests)
    assert {r.header for r in inner.requests} == {task.header}


@pytest.mark.parametrize(("name", "config"), SEARCHES)
def test_proof_failing_the_fresh_check_is_not_reported(name: str, config: dict) -> None:
    # the cache holds "proved" from the first check; only Lean's fresh answer may count
    inner = ToyChecker(flaky=[DONE.rstrip()])
    res = get_search(name, **config).run(
        _task(), Always(DONE), CachedChecker(inner, version="toy"), Budget(1, 2)
    )
    assert not res.solved and res.proof == ""
    assert inner.finals() and all(r.proof == DONE.rstrip() for r in inner.finals())


class SpyRecorder(CheckerWrapper):
    """A recording wrapper (like RecordingChecker): sees contexts, forwards to `inner`."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        super().__init__(inner)
        self.kinds: list[str] = []

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        return self.check_with_context(requests, [None] * len(requests))

    def check_with_context(self, requests, contexts):  # type: ignore[no-untyped-def]
        self.kinds += [c.kind if c is not None else "-" for c in contexts]
        return self.inner.check(requests)

    def close(self) -> None:
        pass


def test_uncached_drops_only_cache_layers() -> None:
    inner = ToyChecker()
    assert uncached(inner) is inner
    plain = SpyRecorder(inner)
    assert uncached(plain) is plain  # no cache in the chain: unchanged
    cache = CachedChecker(inner, version="toy")
    assert uncached(cache) is inner
    spy = SpyRecorder(cache)
    bare = uncached(spy)
    assert isinstance(bare, SpyRecorder) and bare is not spy
    assert bare.inner is inner and spy.inner is cache  # the original chain is left as it is
    assert bare.kinds is spy.kinds  # a shallow copy: what it records lands in the same place


def test_reverification_is_still_recorded_past_the_cache() -> None:
    inner = ToyChecker()
    spy = SpyRecorder(CachedChecker(inner, version="toy"))
    res = get_search("sample", batch_size=1).run(_task(), Always(DONE), spy, Budget(1, 2))
    assert res.solved
    assert spy.kinds == ["sample", "final"]  # the recorder saw the re-check ...
    assert [r.id.endswith(":final") for r in inner.requests] == [False, True]  # ... and Lean did


# ---- RMaxTS tree logic ---------------------------------------------------------------------


class RootThenStep:
    """At the root: `trivial` the first time, then `skip`; below the root: `trivial`."""

    spec = "toy"

    def __init__(self) -> None:
        self.tasks: list[ProofTask] = []
        self.root_calls = 0

    def generate(self, tasks: Sequence[ProofTask], params: SamplingParams):
        out = []
        for t in tasks:
            self.tasks.append(t)
            if t.prefix:
                text = "  trivial"
            else:
                text = DONE if self.root_calls == 0 else "\n  skip"
                self.root_calls += 1
            out.append([Completion(text, "p")])
        return out

    def close(self) -> None:
        pass


def test_rmaxts_failed_reverification_leaves_no_solved_node(tmp_path: Path) -> None:
    checker = ToyChecker(flaky=[DONE.rstrip()])  # sample 1 "proves", its fresh re-check fails
    policy = RootThenStep()
    res = get_search("rmaxts", concurrency=1).run(
        _task(), policy, checker, Budget(1, 16), checkpoint_dir=tmp_path
    )
    # the search went on and found the real proof through the `skip` node
    assert res.solved and res.proof == "\n  skip\n  trivial" and res.found_at == 3
    assert [r.proof for r in checker.finals()] == [DONE.rstrip(), res.proof]
    assert all(t.goals != "no goals" for t in policy.tasks)  # never expanded a "solved" node
    (ckpt,) = tmp_path.glob("rmaxts-*.run0.json")
    tree = load_tree(ckpt)
    solved_nodes = [n.id for n in tree.nodes if n.goal == "no goals"]
    assert solved_nodes == [tree.proof_path[-1]]  # only the re-verified proof's node
    assert [n.goal for n in tree.nodes] == ["⊢ g0", "⊢ g1", "no goals"]
    assert all(code != DONE.rstrip() + "\n" for n in tree.nodes for code, _ in n.codes)
    root = tree.root
    assert root.expansions == 2 and root.w == pytest.approx(1.0)  # rewards 0 (refuted), then 1


def test_rmaxts_exception_while_absorbing_leaves_no_virtual_loss(monkeypatch) -> None:
    trees: list[SearchTree] = []

    class Recorded(SearchTree):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            trees.append(self)

    calls = 0
    real = rmaxts_module.truncate_and_resume

    def flaky_truncate(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 2:  # the second job of the first problem
            raise RuntimeError("truncate bug")
        return real(*args, **kwargs)

    monkeypatch.setattr(rmaxts_module, "SearchTree", Recorded)
    monkeypatch.setattr(rmaxts_module, "truncate_and_resume", flaky_truncate)
    tasks = [ProofTask(formal_statement=STMT, name=n) for n in ("a", "b")]
    with pytest.raises(RuntimeError, match="truncate bug"):
        get_search("rmaxts", concurrency=3).run_many(  # type: ignore[attr-defined]
            tasks, Always("\n  skip"), ToyChecker(), Budget(1, 8)
        )
    assert len(trees) == 2 and calls == 2
    for tree in trees:  # the failing problem's jobs, and the other problem's never absorbed
        assert all(n.pending == 0 and n.pending_sub == 0 for n in tree.nodes)
    assert trees[0].root.expansions == 1  # the job absorbed before the failure kept its update
