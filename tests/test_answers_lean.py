"""PutnamBench's plain variant end to end on the real embedded Lean: the header leaves the answer
as `abbrev NAME_solution : T := sorry` (with the benchmark's answer in a comment the policy never
sees), and the policy writes its own answer, which Lean judges with the proof.  Core-Lean toy
problems in PutnamBench's layout stand in for the Mathlib ones (embedded Lean has no Mathlib)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.results import read_results

pytestmark = pytest.mark.lean

HEADER = "def double (n : Nat) : Nat := 2 * n\n\n"
PROBLEMS = {
    # the policy answers 7 (Lean refutes the proof), then 6: the benchmark's answer
    "toy_a": ("toy_a_solution : Nat", "6", "theorem toy_a : double 3 = toy_a_solution := by"),
    # answered `2 + 8`: right, but not the benchmark's text: counted apart, for review
    "toy_b": ("toy_b_solution : Nat", "10", "theorem toy_b : toy_b_solution = 2 + 8 := by"),
    # the policy writes no answer: the proof reaches the header's `sorry`, never "proved"
    "toy_c": ("toy_c_solution : Nat", "3", "theorem toy_c : toy_c_solution = toy_c_solution := by"),
    # the policy's answer is `sorry`, then code-running syntax: neither proves anything
    "toy_d": ("toy_d_solution : Nat", "4", "theorem toy_d : toy_d_solution = 4 := by"),
}
REPLAY = [
    ("toy_a", "\n  decide\n\nabbrev toy_a_solution : Nat := 7\n"),
    ("toy_a", "\n  decide\n\nabbrev toy_a_solution : Nat := 6\n"),
    ("toy_b", "\n  rfl\n\nabbrev toy_b_solution : Nat := 2 + 8\n"),
    ("toy_c", "\n  rfl\n"),
    ("toy_d", "\n  rfl\n\nnoncomputable abbrev toy_d_solution : Nat := sorry\n"),
    ("toy_d", "\n  rfl\n\nabbrev toy_d_solution : Nat := by run_tac pure (); exact 4\n"),
]


def _bench(tmp_path: Path) -> Path:
    path = tmp_path / "toy_putnam.jsonl"
    rows = []
    for name, (slot, ref, stmt) in PROBLEMS.items():
        header = f"{HEADER}abbrev {slot} := sorry\n-- {ref}\n"
        rows.append({"name": name, "split": "test", "formal_statement": stmt, "header": header})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_policy_answers_plain_variant(tmp_path: Path, shared_checker: object) -> None:
    from prover.cli import main

    replay = tmp_path / "replay.jsonl"
    replay.write_text(
        "".join(json.dumps({"name": n, "completion": c}) + "\n" for n, c in REPLAY),
        encoding="utf-8",
    )
    out = tmp_path / "run"
    args = ["eval", "--benchmark", str(_bench(tmp_path)), "--split", "test"]
    args += ["--policy", f"replay:{replay}", "--search", "sample", "--budget", "1x2"]
    args += ["--backend", "embedded", "--out", str(out), "--quiet"]
    assert main(args) == 0
    rows = {r["name"]: r for r in read_results(out).values()}
    a, b, c, d = (rows[n] for n in PROBLEMS)
    assert a["outcome"] == "proved" and a["found_at"] == 2
    assert a["answers"] == {"toy_a_solution": "6"} and a["answers_match_reference"] is True
    assert b["outcome"] == "proved" and b["answers"] == {"toy_b_solution": "2 + 8"}
    assert b["answers_match_reference"] is False
    assert c["outcome"] == "proved_modulo" and "toy_c_solution" in c["failure"]
    assert c["answers"] == {}
    assert d["outcome"] == "not_proved" and not d["solved"]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["answers"] == {
        "proved_with_answers": 2,
        "match_reference": 1,
        "differ_from_reference": 1,
    }
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "## Answers" in md and "`toy_b_solution := 2 + 8`" in md and "differs: review" in md


def test_fixed_answers_file_for_a_tree_search(tmp_path: Path, shared_checker: object) -> None:
    """`--answers` fixes the answers before the search: RMaxTS's every request carries them,
    and a bad answers file is a usage error naming its line."""
    from prover.cli import main

    bench = _bench(tmp_path)
    answers = tmp_path / "answers.jsonl"
    answers.write_text(
        json.dumps({"id": "toy_a", "answers": {"toy_a_solution": "double 3"}}) + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "run"
    args = ["eval", "--benchmark", str(bench), "--split", "test", "--names", "toy_a"]
    args += ["--policy", "automation", "--search", "rmaxts", "--budget", "1x4"]
    args += ["--backend", "embedded", "--out", str(out), "--quiet", "--answers", str(answers)]
    assert main(args) == 0
    (row,) = read_results(out).values()
    assert row["outcome"] == "proved", row
    assert row["answers"] == {"toy_a_solution": "double 3"}
    assert row["answers_match_reference"] is False
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert len(config["extra"]["answers_sha256"]) == 64

    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"id": "toy_a", "answers": {"toy_z_solution": "1"}}) + "\n",
        encoding="utf-8",
    )
    args[-1] = str(bad)
    args[args.index("--out") + 1] = str(tmp_path / "run2")
    assert main(args) == 2


def test_prove_with_an_answer_from_the_command_line(
    tmp_path: Path, shared_checker: object, capsys: pytest.CaptureFixture[str]
) -> None:
    from prover.cli import main

    src = tmp_path / "toy.lean"
    src.write_text(
        f"{HEADER}abbrev toy_a_solution : Nat := sorry\n\n{PROBLEMS['toy_a'][2]}\n  sorry\n",
        encoding="utf-8",
    )
    args = ["prove", str(src), "--backend", "embedded", "--budget", "1x4", "--search", "sample"]
    assert main([*args, "--answer", "toy_a_solution=6"]) == 0
    out = capsys.readouterr().out
    assert "-- with the answer toy_a_solution := 6" in out and "decide" in out
    assert main([*args, "--answer", "toy_a_solution=7"]) == 1  # Lean refutes every proof
