"""A timeout / error verdict is not final: it is not deduplicated or marked done, a later record
for the same (statement, proof) replaces it when loading, and it is never a DPO `rejected` or an
error-fix `failed_proof`.  Two processes can append to one records.jsonl (flock).  No Lean: the
fake checker proves only what real Lean proves (LEAN_PROVES, checked by
tests/test_fakes_lean.py)."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Sequence
from pathlib import Path

from toy_lean import LeanProves

from benchmarks.datasets import Problem
from prover.lean.types import CheckRequest, CheckResult, Verdict
from prover.policy.base import Completion, ProofTask, SamplingParams
from prover.rl.collect import CollectConfig, collect
from prover.rl.export import build_rows
from prover.rl.records import FeedbackRecord, FeedbackWriter, load_records, read_records

STMT = "theorem t (a b : Nat) : a + b = b + a := by\n"
LEAN_PROVES = LeanProves(CheckRequest(STMT, "  omega\n", header_trusted=True))


def _rec(proof: str, verdict: str, idx: int = 0) -> FeedbackRecord:
    return FeedbackRecord(
        problem_id="p", formal_statement=STMT, proof=proof, verdict=verdict, sample_index=idx
    )


def test_transient_verdicts_are_not_final(tmp_path: Path):
    with FeedbackWriter(tmp_path) as w:
        assert w.write([_rec("  omega", "timeout", 0), _rec("  simp", "failed", 1)]) == 2
        assert w.done == {"p": {1}} and _rec("  omega", "timeout") not in w
    with FeedbackWriter(tmp_path) as w:  # after a restart: still not final
        assert w.done == {"p": {1}}
        assert w.write([_rec("  omega", "error", 0)]) == 1
        assert w.write([_rec("  omega", "proved", 0), _rec("  simp", "failed", 1)]) == 1
        assert w.write([_rec("  omega", "timeout", 0)]) == 0  # settled now
        assert w.done == {"p": {0, 1}}
    assert [r.verdict for r in read_records(tmp_path)] == ["timeout", "failed", "error", "proved"]
    assert [(r.proof, r.verdict) for r in load_records(tmp_path)] == [
        ("  omega", "proved"),
        ("  simp", "failed"),
    ]


class FlakyChecker:
    """Times out on the first check of each proof, then answers: a request in LEAN_PROVES
    (`omega`) is proved, any other fails."""

    name = "fake"

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        out = []
        for r in requests:
            if r.proof not in self.seen:
                self.seen.add(r.proof)
                out.append(CheckResult(Verdict.TIMEOUT, reason="wall-clock limit"))
            else:
                out.append(CheckResult(LEAN_PROVES.verdict(r)))
        return out

    def close(self) -> None:
        pass


class TwoProofs:
    spec = "two"

    def generate(self, tasks: Sequence[ProofTask], params: SamplingParams):
        text = "  omega\n" if params.seed == 0 else "  simp\n"
        return [[Completion(text, prompt="P")] for _ in tasks]

    def close(self) -> None:
        pass


def test_collect_redraws_timed_out_samples(tmp_path: Path):
    problem = Problem(id="x/p", name="p", split="valid", formal_statement=STMT)
    cfg = CollectConfig(samples_per_problem=2)
    checker = FlakyChecker()
    with FeedbackWriter(tmp_path) as w:
        s = collect([problem], TwoProofs(), checker, w, cfg)
    assert s.unsettled_samples == 2 and s.proved_samples == 0
    with FeedbackWriter(tmp_path) as w:
        s = collect([problem], TwoProofs(), checker, w, cfg)
    assert s.skipped_problems == 0 and s.samples == 2 and s.unsettled_samples == 0
    with FeedbackWriter(tmp_path) as w:
        s = collect([problem], TwoProofs(), checker, w, cfg)
    assert s.skipped_problems == 1 and s.samples == 0
    recs = load_records(tmp_path)
    assert sorted((r.sample_index, r.verdict) for r in recs) == [(0, "proved"), (1, "failed")]


def test_transient_verdicts_are_never_the_negative_example():
    recs = [
        FeedbackRecord(
            problem_id="p",
            formal_statement=STMT,
            proof=proof,
            verdict=verdict,
            prompt="P",
            first_error={"line": 1, "column": 2, "text": "unknown tactic"},
        )
        for proof, verdict in (
            ("  omega", "proved"),
            ("  slow", "timeout"),
            ("  crash", "error"),
            ("  simp", "failed"),
        )
    ]
    dpo = build_rows(recs, "dpo")
    assert [r["rejected"] for r in dpo] == ["  simp"]
    fix = build_rows(recs, "error-fix")
    assert [r["failed_proof"] for r in fix] == ["  simp"]
    assert len(build_rows(recs, "grpo")) == 4


def _append(args: tuple[str, int]) -> None:
    directory, worker = args
    with FeedbackWriter(directory) as w:
        for i in range(60):  # keys 0..89 overlap between the two workers
            proof = f"  tac{i + 30 * worker}"
            w.write([_rec(proof, "failed", i)])


def test_two_processes_share_one_file(tmp_path: Path):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        pool.map(_append, [(str(tmp_path), 0), (str(tmp_path), 1)])
    lines = (tmp_path / "records.jsonl").read_text(encoding="utf-8").splitlines()
    proofs = [json.loads(line)["proof"] for line in lines]  # every line is whole JSON
    assert sorted(proofs) == sorted(f"  tac{k}" for k in range(90))  # no pair written twice
