"""`python -m prover.rl.grpo` without Lean: its options, and the prompts it trains on (one row
per problem and prompt of a `prover export --format grpo` file).  The training run itself, on
real Lean: `tests/test_rl_grpo_lean.py`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prover.errors import UsageError
from prover.rl.grpo import COLUMNS, GrpoArgs, load_rows, main, prompt_rows

S = "theorem t : 1 = 1 := by\n"


def test_prompt_rows_one_per_problem_and_prompt() -> None:
    rows = [
        {
            "prompt": "P",
            "completion": "  rfl",
            "reward": 1.0,
            "formal_statement": S,
            "header": None,
            "prefix": "",
            "problem_id": "a",
            "refusal": None,
        },
        {
            "prompt": "P",
            "completion": "  sorry",
            "reward": 0.0,
            "formal_statement": S,
            "header": None,
            "prefix": "",
            "problem_id": "a",
            "refusal": "sorry",
        },
        {"prompt": "Q", "formal_statement": S, "problem_id": "b"},
    ]
    got = prompt_rows(rows)
    assert [tuple(r) for r in got] == [COLUMNS, COLUMNS]
    assert [(r["problem_id"], r["prompt"], r["prefix"]) for r in got] == [
        ("a", "P", ""),
        ("b", "Q", ""),
    ]
    with pytest.raises(UsageError, match="GRPO row 0: no formal_statement"):
        prompt_rows([{"prompt": "P"}])


def test_options_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UsageError, match="--model and --data are required"):
        GrpoArgs(model="m")
    with pytest.raises(UsageError, match="unknown refusal categories"):
        GrpoArgs(model="m", data="d", penalties='{"cheat": -1}')
    with pytest.raises(UsageError, match="not JSON"):
        GrpoArgs(model="m", data="d", penalties="{")
    args = GrpoArgs(model="m", data="d", penalties='{"sorry": -0.5}')
    assert args.penalty_map() == {"sorry": -0.5}
    with pytest.raises(UsageError, match="no such file"):
        load_rows(tmp_path / "missing.jsonl")
    data = tmp_path / "g.jsonl"
    data.write_text(json.dumps({"prompt": "P", "formal_statement": S}) + "\n")
    assert load_rows(data) == [{"prompt": "P", "formal_statement": S}]
    out = str(tmp_path / "out")
    argv = ["--model", "m", "--data", str(data), "--output_dir", out]
    assert main([*argv, "--penalties", '{"cheat": 1}', "--report_to", "none"]) == 2
    assert "unknown refusal categories ['cheat']" in capsys.readouterr().err
