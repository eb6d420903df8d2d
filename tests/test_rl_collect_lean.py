"""`prover collect` end to end with the tiny model and the real embedded Lean (one Lean batch),
then resume (nothing re-drawn), OUT/records.parquet, and `prover export`; and with the
automation policy, whose one-shot proof must prove two easy statements."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prover.cli import main

pytestmark = pytest.mark.lean


def _bench(tmp_path: Path) -> Path:
    """Two core-Lean problems with an explicit empty header, in DeepSeek-Prover's format."""
    bench = tmp_path / "bench.jsonl"
    rows = [
        {
            "name": "c_add",
            "split": "valid",
            "header": "",
            "formal_statement": "theorem c_add (a b : Nat) : a + b = b + a := by\n",
        },
        {
            "name": "c_two",
            "split": "valid",
            "header": "",
            "formal_statement": "theorem c_two : 2 + 2 = 4 := by\n",
        },
    ]
    bench.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return bench


def test_collect_resume_export(tmp_path: Path, data_dir: Path, capsys, shared_checker):
    from prover.policy.tiny import build_tiny_model

    model = build_tiny_model(tmp_path / "tiny", [data_dir / "minif2f_valid_few_shot.jsonl"])
    bench = _bench(tmp_path)
    out = tmp_path / "run"
    argv = [
        "collect",
        "--benchmark",
        str(bench),
        "--policy",
        f"hf:{model}",
        "-k",
        "2",
        "--out",
        str(out),
        "--max-new-tokens",
        "16",
        "--backend",
        "embedded",
        "--seed",
        "1",
    ]
    assert main(argv) == 0
    records = out / "records.jsonl"
    recs = [json.loads(x) for x in records.read_text().splitlines()]
    every = {(pid, j) for pid in ("bench/c_add", "bench/c_two") for j in (0, 1)}
    keys = [(r["problem_id"], r["sample_index"]) for r in recs]
    # one record per distinct (statement, proof): sample 0 of each problem is always new, a
    # later sample is left out only when it repeats an earlier proof of the same problem
    assert len(keys) == len(set(keys)) and set(keys) <= every
    assert {("bench/c_add", 0), ("bench/c_two", 0)} <= set(keys)
    by_problem: dict[str, list[str]] = {}
    for r in recs:
        by_problem.setdefault(r["problem_id"], []).append(r["proof"])
    assert all(len(set(v)) == len(v) for v in by_problem.values())
    assert all(r["kind"] == "sample" and r["header"] == "" for r in recs)
    assert all(r["backend"] and r["policy"] == f"hf:{model}" and r["prompt"] for r in recs)
    assert all(r["completion"] == r["proof"] for r in recs)
    # every check finished (settled verdicts only: a timeout / error would be drawn again and
    # the resume below would not find both problems done)
    assert all(r["verdict"] in {"proved", "failed", "incomplete", "rejected"} for r in recs)
    done = [json.loads(x) for x in (out / "collect_done.jsonl").read_text().splitlines()]
    assert {(d["problem_id"], d["sample_index"]) for d in done} == every
    before = records.read_bytes()
    capsys.readouterr()
    assert main(argv) == 0  # resume: everything is recorded already
    assert "2 already done" in capsys.readouterr().err
    assert records.read_bytes() == before  # nothing drawn or written again
    assert main(["export", str(out), "--format", "grpo", "--out", str(tmp_path / "g.parquet")]) == 0
    import pyarrow.parquet as pq

    assert pq.read_table(out / "records.parquet").num_rows == len(recs)
    t = pq.read_table(tmp_path / "g.parquet")
    assert t.num_rows == len(recs) and {"prompt", "completion", "reward"} <= set(t.column_names)


def test_collect_automation_proves_easy_problems(tmp_path: Path, capsys, shared_checker):
    """The automation policy's first whole-proof sample is its one shot (`first | omega |
    decide | ...`), which proves both statements in core Lean: every sample 0 is `proved`."""
    bench = _bench(tmp_path)
    out = tmp_path / "auto"
    argv = ["collect", "--benchmark", str(bench), "--policy", "automation", "-k", "1"]
    assert main([*argv, "--out", str(out), "--backend", "embedded"]) == 0
    err = capsys.readouterr().err
    assert "2 samples verified, 2 proved" in err and "2 problems solved" in err
    recs = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
    assert sorted((r["problem_id"], r["sample_index"], r["verdict"]) for r in recs) == [
        ("bench/c_add", 0, "proved"),
        ("bench/c_two", 0, "proved"),
    ]
    assert all(r["proof"].lstrip().startswith("first | omega") for r in recs)
    assert all(r["policy"] == "automation" for r in recs)
