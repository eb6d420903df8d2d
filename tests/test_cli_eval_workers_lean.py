"""`prover eval` in process (the session's running Lean checker) with RMaxTS, two problem workers
and tree checkpoints, on a small benchmark file of easy core-Lean problems: every problem is
solved once, each tree is checkpointed, and the run's config records the options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prover.cli import main

pytestmark = pytest.mark.lean

# closed by the automation policy's one-shot proof `first | omega | decide | grind | simp_all | rfl`
PROBLEMS = {
    "w_add": "theorem w_add (a b : Nat) : a + b = b + a := by\n",
    "w_two": "theorem w_two : 2 + 2 = 4 := by\n",
    "w_lt": "theorem w_lt (n : Nat) : n < n + 1 := by\n",
    "w_mod": "theorem w_mod (n : Nat) : (2 * n) % 2 = 0 := by\n",
}


def test_eval_rmaxts_two_workers_with_tree_checkpoints(
    tmp_path: Path, capsys, shared_checker
) -> None:
    bench = tmp_path / "bench.jsonl"
    rows = [
        {"name": name, "split": "valid", "header": "", "formal_statement": stmt}
        for name, stmt in PROBLEMS.items()
    ]
    # a problem of another split is not run
    rows.append(
        {
            "name": "w_test",
            "split": "test",
            "header": "",
            "formal_statement": "theorem w_test : 1 = 1 := by\n",
        }
    )
    bench.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    trees = tmp_path / "trees"
    argv = [
        "eval",
        "--benchmark",
        str(bench),
        "--split",
        "valid",
        "--policy",
        "automation",
        "--search",
        "rmaxts",
        "--budget",
        "1x4",
        "--workers",
        "2",
        "--checkpoint-every",
        "2",
        "--tree-dir",
        str(trees),
        "--out",
        str(out),
        "--quiet",
    ]
    assert main(argv) == 0
    assert "solved 4/4" in capsys.readouterr().err
    assert shared_checker.calls == [{"backend": "auto", "heartbeats": 20_000}]  # a search default

    results = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in results) == sorted(f"bench/{n}" for n in PROBLEMS)
    for r in results:
        assert r["solved"], r
        assert r["proof"].strip() and 1 <= r["found_at"] <= r["samples"] <= 4, r
        assert r["split"] == "valid" and not r["failure"]

    # one checkpoint per problem (run 0), the finished tree of a solved search
    files = sorted(p.name for p in trees.iterdir())
    assert len(files) == len(PROBLEMS), files
    for name in PROBLEMS:
        (ckpt,) = trees.glob(f"rmaxts-bench_{name}-*.run0.json")
        data = json.loads(ckpt.read_text())
        assert data["name"] == f"bench/{name}"
        assert data["formal_statement"] == PROBLEMS[name]
        assert data["solved"] and data["finished"] and data["run_index"] == 0
        assert data["config"]["checkpoint_every"] == 2
        assert data["tree"]

    summary = json.loads((out / "summary.json").read_text())
    assert summary["problems"] == 4 and summary["solved"] == 4
    cfg = summary["config"]
    assert cfg["workers"] == 2
    assert cfg["extra"] == {
        "search_options": {"checkpoint_every": 2},
        "checker_limits": {"heartbeats": 20_000},  # a search on embedded Lean: the default
    }
    assert cfg["search"] == "rmaxts" and cfg["budget"] == "1x4" and cfg["policy"] == "automation"
    assert cfg["split"] == "valid" and cfg["benchmark"] == str(bench.resolve())
    assert json.loads((out / "config.json").read_text()) == cfg
    assert (out / "report.md").exists()

    # the same command again: everything is done, nothing is run or written again
    before = (out / "results.jsonl").read_bytes()
    assert main(argv) == 0
    assert (out / "results.jsonl").read_bytes() == before
    assert len(shared_checker.calls) == 1
