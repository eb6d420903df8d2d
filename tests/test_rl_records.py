"""Feedback records: crash-safe append + resume without duplicates, exports load with `datasets`
with the documented columns, parquet round-trip, RecordingChecker and LeanReward with a fake
checker (no Lean) that proves only what real Lean proves (LEAN_PROVES, checked by
tests/test_fakes_lean.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from toy_lean import LeanProves

from benchmarks.datasets import Problem
from prover.lean.types import CheckRequest, CheckResult, LeanMessage, TacticStep, Verdict
from prover.lean.wrappers import RecordingChecker, RequestContext
from prover.policy.base import Completion, ProofTask, SamplingParams
from prover.rl.collect import CollectConfig, collect
from prover.rl.export import COLUMNS, COMMON, build_rows, export
from prover.rl.records import (
    FeedbackRecord,
    FeedbackWriter,
    read_records,
    to_parquet,
)
from prover.rl.reward import LeanReward

STMT = "theorem t (a b : Nat) : a + b = b + a := by\n"
GOOD = "  omega\n"
LEAN_PROVES = LeanProves(
    CheckRequest(STMT, GOOD),
    *(
        CheckRequest(STMT.replace("t ", n), GOOD, header_trusted=True)
        for n in ("t ", "t0 ", "t1 ", "t2 ")
    ),
)


class FakeChecker:
    """A request in LEAN_PROVES (`omega`) is proved, `sorry` is incomplete, anything else fails
    with an error at line 1."""

    name = "fake"

    def __init__(self) -> None:
        self.calls = 0

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        self.calls += 1
        out = []
        for r in requests:
            if r in LEAN_PROVES:
                steps = [TacticStep("omega", 2, 7, "a b : Nat\n⊢ a + b = b + a", "no goals")]
                out.append(
                    CheckResult(
                        Verdict.PROVED,
                        verified_prefix=r.proof,
                        steps=steps,
                        backend="fake",
                        lean_version="4.x",
                    )
                )
            elif "sorry" in r.proof:
                out.append(CheckResult(Verdict.INCOMPLETE, backend="fake"))
            else:
                err = LeanMessage("error", 1, 2, 1, 5, "unknown tactic")
                out.append(
                    CheckResult(Verdict.FAILED, messages=[err], first_error=err, backend="fake")
                )
        return out

    def close(self) -> None:
        pass


def _rec(proof: str, verdict: str = "failed", pid: str = "t", idx: int = -1) -> FeedbackRecord:
    return FeedbackRecord(
        problem_id=pid,
        formal_statement=STMT,
        proof=proof,
        verdict=verdict,
        prompt=f"PROMPT {pid}",
        completion=proof,
        sample_index=idx,
        sampling=SamplingParams(n=1, temperature=0.7, seed=3),
    )


def test_record_validation():
    with pytest.raises(ValueError):
        _rec(GOOD, verdict="great")
    r = _rec(GOOD, verdict="proved")
    assert r.reward == 1.0 and r.sampling["temperature"] == 0.7 and r.sampling["top_p"] == 0.95
    assert _rec("  rfl\n").reward == 0.0
    assert FeedbackRecord.from_json(json.loads(json.dumps(r.to_json()))) == r


def test_writer_resume_after_torn_line_without_duplicates(tmp_path: Path):
    w = FeedbackWriter(tmp_path)
    assert w.write([_rec(GOOD, "proved", idx=0), _rec("  simp\n", idx=1)]) == 2
    assert w.write([_rec(GOOD, "proved", idx=0)]) == 0  # duplicate in the same session
    w.close()
    # simulated kill -9 in the middle of a write: a partial last line
    path = tmp_path / "records.jsonl"
    with path.open("a", encoding="utf-8") as f:
        f.write('{"problem_id": "t", "formal_statement": "theorem')
    w2 = FeedbackWriter(tmp_path)
    assert len(w2) == 2 and w2.done == {"t": {0, 1}}
    assert w2.write([_rec(GOOD, "proved"), _rec("  simp\n"), _rec("  decide\n", idx=2)]) == 1
    w2.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    assert all(json.loads(line)["formal_statement"] == STMT for line in lines)
    assert [r.proof for r in read_records(tmp_path)] == [GOOD, "  simp\n", "  decide\n"]


def test_writer_is_thread_safe(tmp_path: Path):
    from concurrent.futures import ThreadPoolExecutor

    with FeedbackWriter(tmp_path) as w, ThreadPoolExecutor(4) as ex:
        list(ex.map(lambda i: w.write([_rec(f"  tac{i % 25}\n")]), range(100)))
    assert len(list(read_records(tmp_path))) == 25


def test_recording_checker_contexts(tmp_path: Path):
    with FeedbackWriter(tmp_path) as w:
        rc = RecordingChecker(FakeChecker(), w, RequestContext(source="eval", policy="p"))
        reqs = [CheckRequest(STMT, GOOD, id="a", want_steps=True), CheckRequest(STMT, "  x\n")]
        ctx = RequestContext(
            problem_id="t",
            prompt="P",
            completion="C",
            policy="hf:m",
            sample_index=0,
            source="prove",
        )
        res = rc.check_with_context(reqs, [ctx, None])
        assert [r.verdict for r in res] == [Verdict.PROVED, Verdict.FAILED]
        rc.set_context(CheckRequest(STMT, "  sorry\n"), RequestContext(problem_id="side"))
        rc.check([CheckRequest(STMT, "  sorry\n")])
        rc.check([CheckRequest(STMT.replace("t ", "u "), " sorry\n", id="u")])  # a precheck
    recs = list(read_records(tmp_path))
    assert [(r.problem_id, r.source, r.policy, r.verdict, r.kind) for r in recs] == [
        ("t", "prove", "hf:m", "proved", "sample"),
        ("", "eval", "p", "failed", "sample"),
        ("side", "eval", "p", "incomplete", "sample"),  # empty fields from the default context
        ("u", "eval", "p", "incomplete", "precheck"),
    ]
    assert (
        recs[0].prompt == "P" and recs[0].completion == "C" and recs[0].steps[0]["text"] == "omega"
    )
    assert recs[0].lean_version == "4.x" and recs[1].first_error["text"] == "unknown tactic"


class CyclingPolicy:
    spec = "scripted"

    def __init__(self) -> None:
        self.calls = 0

    def generate(self, tasks: Sequence[ProofTask], params: SamplingParams):
        self.calls += 1
        proofs = ["  omega\n", "  simp\n", "  sorry\n", "  rfl\n"]
        return [
            [
                Completion(text=proofs[(params.seed or 0) % 4], prompt=f"P:{t.name}")
                for _ in range(params.n)
            ]
            for t in tasks
        ]

    def close(self) -> None:
        pass


def _collected(tmp_path: Path) -> Path:
    problems = [
        Problem(
            id=f"bench/p{i}",
            name=f"p{i}",
            split="valid",
            formal_statement=STMT.replace("t ", f"t{i} "),
        )
        for i in range(3)
    ]
    cfg = CollectConfig(samples_per_problem=4, problems_per_batch=2)
    with FeedbackWriter(tmp_path) as w:
        s = collect(problems[:2], CyclingPolicy(), FakeChecker(), w, cfg)
    assert s.samples == 8 and s.proved_samples == 2 and s.solved == 2
    pol = CyclingPolicy()
    with FeedbackWriter(tmp_path) as w:  # resume with one more problem
        s = collect(problems, pol, FakeChecker(), w, cfg)
    assert s.skipped_problems == 2 and s.samples == 4 and s.new_records == 4
    return tmp_path


def test_collect_resumes(tmp_path: Path):
    d = _collected(tmp_path)
    recs = list(read_records(d))
    assert len(recs) == 12
    assert {(r.problem_id, r.sample_index) for r in recs} == {
        (f"bench/p{i}", j) for i in range(3) for j in range(4)
    }
    assert all(r.source == "collect" and r.policy == "scripted" for r in recs)
    assert all(
        r.kind == "sample" and r.header is None and r.sampling["seed"] == r.sample_index
        for r in recs
    )


def test_exports_load_with_datasets(tmp_path: Path):
    from datasets import load_dataset

    d = _collected(tmp_path / "run")
    for fmt, n in (("grpo", 12), ("sft", 3), ("dpo", 9), ("error-fix", 9), ("verl", 3)):
        for ext in ("jsonl", "parquet"):
            path, rows = export(d, fmt, tmp_path / f"{fmt}.{ext}")
            assert rows == n, fmt
            kind = "json" if ext == "jsonl" else "parquet"
            ds = load_dataset(
                kind, data_files=str(path), split="train", cache_dir=str(tmp_path / "hf")
            )
            assert len(ds) == n
            common = set() if fmt == "verl" else set(COMMON)
            assert set(COLUMNS[fmt]) | common == set(ds.column_names)
    grpo = [json.loads(x) for x in (tmp_path / "grpo.jsonl").read_text().splitlines()]
    assert sorted(r["reward"] for r in grpo) == [0.0] * 9 + [1.0] * 3
    assert all(r["prompt"].startswith("P:bench/p") for r in grpo)  # tasks named by id
    assert all(r["header"] is None and r["prefix"] == "" for r in grpo)  # null stays null
    fix = json.loads((tmp_path / "error-fix.jsonl").read_text().splitlines()[0])
    assert fix["corrected_proof"] == GOOD and fix["error"]
    dpo = [json.loads(x) for x in (tmp_path / "dpo.jsonl").read_text().splitlines()]
    assert all(r["chosen"] == GOOD and r["rejected"] != GOOD for r in dpo)


def test_export_empty_and_no_prompt(tmp_path: Path):
    with FeedbackWriter(tmp_path) as w:
        w.write(
            [
                FeedbackRecord(
                    problem_id="x", formal_statement=STMT, proof="  simp\n", verdict="failed"
                )
            ]
        )
    path, n = export(tmp_path, "sft", tmp_path / "sft.parquet")
    assert n == 0
    import pyarrow.parquet as pq  # datasets refuses to load a 0-row file; check the schema

    assert set(pq.read_schema(path).names) == {"prompt", "completion", *COMMON}
    path, n = export(tmp_path, "verl", tmp_path / "verl.parquet")
    assert n == 1 and set(pq.read_schema(path).names) == set(COLUMNS["verl"])
    rows = build_rows(read_records(tmp_path), "grpo")
    assert "Complete the following Lean 4 code" in rows[0]["prompt"]


def test_records_parquet_round_trip(tmp_path: Path):
    from datasets import load_dataset

    d = _collected(tmp_path / "run")
    pq = to_parquet(d)
    ds = load_dataset("parquet", data_files=str(pq), split="train", cache_dir=str(tmp_path / "hf"))
    js = load_dataset(
        "json", data_files=str(d / "records.jsonl"), split="train", cache_dir=str(tmp_path / "hf")
    )
    assert len(ds) == len(js) == 12
    back = [FeedbackRecord.from_json(row) for row in ds]
    assert back == list(read_records(d))


def test_reward_with_fake_checker():
    chk = FakeChecker()
    reward = LeanReward(chk)
    assert reward.__name__ == "lean_reward"
    comps = [GOOD + "```\nextra", [{"role": "assistant", "content": "  sorry\n"}], "  simp"]
    out = reward(["p"] * 3, comps, formal_statement=[STMT] * 3, header=[None] * 3)
    assert out == [1.0, 0.0, 0.0] and chk.calls == 1
    with pytest.raises(ValueError, match="formal_statement"):
        reward(["p"], ["x"])


def test_answers_are_recorded_and_part_of_the_identity(tmp_path: Path):
    """Plain-variant records carry the answers checked with the proof: the same proof with
    another answer is another record, and parquet holds rows with and without answers."""
    from datasets import load_dataset

    def req(answer: str | None) -> CheckRequest:
        answers = (("t_solution", answer),) if answer is not None else ()
        return CheckRequest(STMT, GOOD, "abbrev t_solution : Nat := sorry\n", answers=answers)

    with FeedbackWriter(tmp_path) as w:
        ok, ctx = CheckResult(Verdict.PROVED), RequestContext(problem_id="p")
        w.record([(req(a), ok, ctx) for a in ("6", "7", "6", None)], "embedded")
    recs = list(read_records(tmp_path))
    assert [x.answers for x in recs] == [
        [{"name": "t_solution", "term": "6"}],
        [{"name": "t_solution", "term": "7"}],
        [],
    ]
    pq = to_parquet(tmp_path)
    ds = load_dataset("parquet", data_files=str(pq), split="train", cache_dir=str(tmp_path / "hf"))
    assert [FeedbackRecord.from_json(row) for row in ds] == recs
    from prover.rl.export import ground_truth

    # the problem's slots (from its header), whatever answers a record was checked with
    assert json.loads(ground_truth(recs[0]))["answer_slots"] == ["t_solution"]
    assert json.loads(ground_truth(recs[2]))["answer_slots"] == ["t_solution"]
    plain = FeedbackRecord("q", STMT, GOOD, "proved", header="def d : Nat := 1\n")
    assert "answer_slots" not in json.loads(ground_truth(plain))
