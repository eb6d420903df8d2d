"""Searches attach a context to every verification they make (problem id, prompt, completion,
prefix, sampling, sample index, kind), so `prove --record` / `eval --record` records are usable
training data; exports keep only whole-proof samples by default.  A toy checker and policy, no
Lean (tests/toy_lean.py): `skip` moves to a new toy goal, `trivial` proves `True` (as in real
Lean), anything else is an error."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from toy_lean import toy_result

from prover.errors import UsageError
from prover.lean.types import CheckRequest, CheckResult
from prover.lean.wrappers import CheckerWrapper, RecordingChecker, RequestContext
from prover.policy.base import Completion, ProofTask, Sampling, SamplingParams
from prover.rl.export import build_rows, parse_kinds
from prover.rl.records import FeedbackRecord, FeedbackWriter, load_records
from search import get_search
from search.base import Budget

STMT = "theorem toy : True := by"


class ToyChecker:
    name = "toy"

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        return [self._one(r) for r in requests]

    def _one(self, req: CheckRequest) -> CheckResult:
        return toy_result(req)

    def close(self) -> None:
        pass


class CyclePolicy:
    """Completions cycle through `texts`; the prompt names the prefix it continues."""

    spec = "toy-policy"

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = list(texts)
        self.drawn = 0

    def generate(self, tasks: Sequence[ProofTask], params: SamplingParams):
        out = []
        for t in tasks:
            comps = []
            for _ in range(params.n):
                comps.append(Completion(self.texts[self.drawn % len(self.texts)], f"P|{t.prefix}"))
                self.drawn += 1
            out.append(comps)
        return out

    def close(self) -> None:
        pass


class Spy(CheckerWrapper):
    """Records the contexts a search attaches (what a RecordingChecker would get)."""

    def __init__(self) -> None:
        super().__init__(ToyChecker())
        self.seen: list[tuple[CheckRequest, RequestContext | None]] = []

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        return self.check_with_context(requests, [None] * len(requests))

    def check_with_context(self, requests, contexts) -> list[CheckResult]:
        self.seen += list(zip(requests, contexts, strict=True))
        return self.inner.check(requests)

    def close(self) -> None:
        pass


def _task() -> ProofTask:
    return ProofTask(formal_statement=STMT, name="minif2f/toy")


def test_sampling_search_contexts():
    spy = Spy()
    res = get_search("sample", batch_size=2, sampling=Sampling(temperature=0.5)).run(
        _task(), CyclePolicy(["\n  bad", "\n  trivial"]), spy, Budget(1, 4)
    )
    assert res.solved
    ctxs = [c for _, c in spy.seen]
    assert all(c is not None and c.problem_id == "minif2f/toy" for c in ctxs)
    assert [(c.kind, c.sample_index) for c in ctxs] == [("sample", 0), ("sample", 1), ("final", 1)]
    first = ctxs[0]
    assert first.prompt == "P|" and first.completion == "\n  bad" and first.prefix == ""
    assert first.sampling.temperature == 0.5 and first.sampling.n == 2


def test_rmaxts_contexts():
    spy = Spy()
    policy = CyclePolicy(["\n  skip", "\n  bad", "\n  trivial"])
    res = get_search("rmaxts", concurrency=2).run(_task(), policy, spy, Budget(1, 8))
    assert res.solved
    kinds = [c.kind for _, c in spy.seen if c is not None]
    assert kinds[0] == "precheck" and kinds[-1] == "final" and set(kinds[1:-1]) == {"sample"}
    samples = [(r, c) for r, c in spy.seen if c is not None and c.kind == "sample"]
    assert [c.sample_index for _, c in samples] == list(range(len(samples)))
    for req, c in samples:  # an expansion: the policy's completion of a verified prefix
        assert c.problem_id == "minif2f/toy" and c.prompt == f"P|{c.prefix}"
        assert req.proof == (c.prefix + c.completion).rstrip(" \n")
        assert c.sampling.temperature == 1.0
    assert any(c.prefix for _, c in samples)  # some expansion resumed from a prefix


def test_bfs_contexts_are_tactics():
    spy = Spy()
    res = get_search("bfs", candidates=1).run(
        _task(), CyclePolicy(["skip", "trivial"]), spy, Budget(1, 4)
    )
    assert res.solved
    ctxs = [c for _, c in spy.seen if c is not None]
    assert [c.kind for c in ctxs] == ["tactic", "tactic", "final"]
    assert ctxs[1].prefix.strip() == "skip" and ctxs[1].completion == "trivial"


def test_recorded_search_exports_only_samples(tmp_path: Path):
    with FeedbackWriter(tmp_path) as w:
        rc = RecordingChecker(ToyChecker(), w, RequestContext(policy="toy", source="prove"))
        get_search("rmaxts", concurrency=2).run(
            _task(), CyclePolicy(["\n  skip", "\n  bad", "\n  trivial"]), rc, Budget(1, 8)
        )
    recs = load_records(tmp_path)
    assert {r.kind for r in recs} == {"precheck", "sample"}  # the final re-check is a duplicate
    assert all(r.problem_id == "minif2f/toy" and r.source == "prove" for r in recs)
    assert all(r.policy == "toy" for r in recs)
    samples = [r for r in recs if r.kind == "sample"]
    assert all(r.prompt and r.sample_index >= 0 and r.sampling["top_p"] == 0.95 for r in samples)
    rows = build_rows(recs, "grpo")
    assert len(rows) == len(samples) and all("sorry" not in r["completion"] for r in rows)
    assert len(build_rows(recs, "grpo", kinds=("sample", "precheck"))) == len(recs)


def test_old_records_without_kind_are_samples(tmp_path: Path):
    rec = FeedbackRecord(problem_id="p", formal_statement=STMT, proof="  trivial", verdict="proved")
    old = {k: v for k, v in rec.to_json().items() if k not in ("kind", "prefix")}
    (tmp_path / "records.jsonl").write_text(json.dumps(old) + "\n", encoding="utf-8")
    (back,) = load_records(tmp_path)
    assert back.kind == "sample" and back.prefix == ""
    assert len(build_rows([back], "sft")) == 1


def test_kinds_are_validated():
    assert parse_kinds("sample, tactic") == ("sample", "tactic")
    with pytest.raises(UsageError, match="precheck"):
        parse_kinds("samples")
    with pytest.raises(ValueError, match="kind"):
        RequestContext(kind="whole")
