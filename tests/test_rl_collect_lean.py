"""`prover collect` end to end with the tiny model and the real embedded Lean (one Lean batch),
then resume (nothing re-drawn), OUT/records.parquet, and `prover export`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prover.cli import main

pytestmark = pytest.mark.lean


def test_collect_resume_export(tmp_path: Path, data_dir: Path, capsys):
    from prover.policy.tiny import build_tiny_model

    model = build_tiny_model(tmp_path / "tiny", [data_dir / "minif2f_valid_few_shot.jsonl"])
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
    recs = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
    assert {(r["problem_id"], r["sample_index"]) for r in recs} <= {
        ("bench/c_add", 0),
        ("bench/c_add", 1),
        ("bench/c_two", 0),
        ("bench/c_two", 1),
    }
    assert all(r["kind"] == "sample" and r["header"] is None for r in recs)
    assert all(r["backend"] and r["policy"] == f"hf:{model}" and r["prompt"] for r in recs)
    assert all(
        r["verdict"] in {"proved", "failed", "incomplete", "rejected", "timeout", "error"}
        for r in recs
    )
    capsys.readouterr()
    assert main(argv) == 0  # resume: everything is recorded already
    assert "2 already done" in capsys.readouterr().err
    assert main(["export", str(out), "--format", "grpo", "--out", str(tmp_path / "g.parquet")]) == 0
    import pyarrow.parquet as pq

    assert pq.read_table(out / "records.parquet").num_rows == len(recs)
    t = pq.read_table(tmp_path / "g.parquet")
    assert t.num_rows == len(recs) and {"prompt", "completion", "reward"} <= set(t.column_names)
