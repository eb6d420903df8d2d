"""`prover export` from the CLI (in process, no Lean) for the sft, dpo, error-fix and verl formats
(grpo has its own tests) on a records directory with proved and failed samples of two problems:
the exact rows each format produces, `--kinds` filtering the record kinds and `--max-pairs`
capping the dpo / error-fix pairs per prompt / problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prover.cli import main
from prover.policy.base import ProofTask
from prover.policy.prompts import v1_prompt
from prover.rl.records import FeedbackRecord, FeedbackWriter

SA = "theorem ex_a (a b : Nat) : a + b = b + a := by\n"
SB = "theorem ex_b : 2 + 2 = 4 := by\n"
PA = "Complete the following Lean 4 code:\n```lean4\n" + SA


def _err(text: str) -> dict:
    return {
        "severity": "error",
        "line": 2,
        "column": 2,
        "end_line": 2,
        "end_column": 9,
        "text": text,
    }


def _rec(pid: str, stmt: str, proof: str, verdict: str, **kw) -> FeedbackRecord:
    return FeedbackRecord(problem_id=pid, formal_statement=stmt, proof=proof, verdict=verdict, **kw)


# file order matters: every format keeps the order of the records
A_G1 = _rec("a", SA, "  omega\n", "proved", prompt=PA, completion="  omega\n```")
A_F1 = _rec("a", SA, "  rfl\n", "failed", prompt=PA, first_error=_err("rfl failed"))
A_G2 = _rec("a", SA, "  exact Nat.add_comm a b\n", "proved", prompt=PA)
A_F2 = _rec("a", SA, "  constructor\n", "failed", prompt=PA, first_error=_err("no constructor"))
A_F3 = _rec("a", SA, "  sorry\n", "incomplete", prompt=PA, reason="declaration uses 'sorry'")
A_T = _rec("a", SA, "  decide\n", "timeout", prompt=PA, reason="timed out after 60 s")
A_TAC_G = _rec("a", SA, "  simp [Nat.add_comm]\n", "proved", prompt=PA, kind="tactic")
A_TAC_F = _rec("a", SA, "  linarith\n", "failed", prompt=PA, kind="tactic")
A_PRE = _rec("a", SA, "sorry", "incomplete", kind="precheck")
B_G = _rec("b", SB, "  norm_num\n", "proved")  # no prompt: the V1.5 prompt is built
B_F = _rec("b", SB, "  simp_arith_x\n", "failed", first_error=_err("unknown tactic"))
B_R = _rec("b", SB, "  native_decide\n", "rejected", reason="uses native_decide")
RECORDS = [A_G1, A_F1, A_G2, A_F2, A_F3, A_T, A_TAC_G, A_TAC_F, A_PRE, B_G, B_F, B_R]

PB = v1_prompt(ProofTask(formal_statement=SB, header=""), default_header="").text


@pytest.fixture
def records_dir(tmp_path: Path) -> Path:
    d = tmp_path / "records"
    with FeedbackWriter(d) as w:
        assert w.write(RECORDS) == len(RECORDS)
    return d


def export(records_dir: Path, tmp_path: Path, capsys, fmt: str, *extra: str) -> list[dict]:
    out = tmp_path / f"{fmt}-{len(list(tmp_path.iterdir()))}.jsonl"
    assert main(["export", str(records_dir), "--format", fmt, "--out", str(out), *extra]) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert f"export: {len(rows)} {fmt} rows -> {out}" in capsys.readouterr().err
    return rows


def common(rec: FeedbackRecord) -> dict:
    return {
        "problem_id": rec.problem_id,
        "formal_statement": rec.formal_statement,
        "header": None,
        "prefix": "",
    }


def test_sft_rows_and_kinds(records_dir: Path, tmp_path: Path, capsys) -> None:
    rows = export(records_dir, tmp_path, capsys, "sft")
    assert rows == [
        {"prompt": PA, "completion": "  omega\n```", **common(A_G1)},  # the raw completion
        {"prompt": PA, "completion": A_G2.proof, **common(A_G2)},
        {"prompt": PB, "completion": B_G.proof, **common(B_G)},
    ]
    rows = export(records_dir, tmp_path, capsys, "sft", "--kinds", "sample,tactic")
    assert [r["completion"] for r in rows] == [
        "  omega\n```",
        A_G2.proof,
        A_TAC_G.proof,
        B_G.proof,
    ]
    assert export(records_dir, tmp_path, capsys, "sft", "--kinds", "tactic") == [
        {"prompt": PA, "completion": A_TAC_G.proof, **common(A_TAC_G)}
    ]
    assert export(records_dir, tmp_path, capsys, "sft", "--kinds", "precheck") == []


def test_dpo_pairs_capped_per_prompt(records_dir: Path, tmp_path: Path, capsys) -> None:
    rows = export(records_dir, tmp_path, capsys, "dpo")  # --max-pairs 4 by default
    pairs = [(r["prompt"], r["chosen"], r["rejected"]) for r in rows]
    g1 = "  omega\n```"
    assert pairs == [
        # problem a: 2 proved x 3 failed = 6 pairs, cut to 4; the timeout is never rejected
        (PA, g1, A_F1.proof),
        (PA, g1, A_F2.proof),
        (PA, g1, A_F3.proof),
        (PA, A_G2.proof, A_F1.proof),
        # problem b: the failed and the rejected (native_decide) sample
        (PB, B_G.proof, B_F.proof),
        (PB, B_G.proof, B_R.proof),
    ]
    assert [r["problem_id"] for r in rows] == ["a"] * 4 + ["b"] * 2
    assert all(r["formal_statement"] == (SA if r["problem_id"] == "a" else SB) for r in rows)

    rows = export(records_dir, tmp_path, capsys, "dpo", "--max-pairs", "1")
    assert [(r["prompt"], r["chosen"], r["rejected"]) for r in rows] == [
        (PA, g1, A_F1.proof),
        (PB, B_G.proof, B_F.proof),
    ]
    # with the tactic records: 3 proved x 4 failed = 12 pairs for a, capped at 10
    rows = export(
        records_dir, tmp_path, capsys, "dpo", "--kinds", "sample,tactic", "--max-pairs", "10"
    )
    assert [r["problem_id"] for r in rows].count("a") == 10
    assert [r["problem_id"] for r in rows].count("b") == 2
    a = [(r["chosen"], r["rejected"]) for r in rows if r["problem_id"] == "a"]
    assert len(set(a)) == 10 and (A_G2.proof, A_TAC_F.proof) in a
    assert (A_TAC_G.proof, A_TAC_F.proof) not in a  # the 11th and 12th pairs are cut
    assert all(rej != A_T.proof for _, rej in a)


def test_error_fix_rows(records_dir: Path, tmp_path: Path, capsys) -> None:
    rows = export(records_dir, tmp_path, capsys, "error-fix")
    assert rows == [
        {
            "prompt": PA,
            "failed_proof": A_F1.proof,
            "error": "line 2, column 2: rfl failed",
            "corrected_proof": A_G1.proof,  # the proof, not the raw completion
            **common(A_F1),
        },
        {
            "prompt": PA,
            "failed_proof": A_F2.proof,
            "error": "line 2, column 2: no constructor",
            "corrected_proof": A_G2.proof,
            **common(A_F2),
        },
        {
            "prompt": PA,
            "failed_proof": A_F3.proof,
            "error": "incomplete: declaration uses 'sorry'",
            "corrected_proof": A_G1.proof,
            **common(A_F3),
        },
        {
            "prompt": PB,
            "failed_proof": B_F.proof,
            "error": "line 2, column 2: unknown tactic",
            "corrected_proof": B_G.proof,
            **common(B_F),
        },
        {
            "prompt": PB,
            "failed_proof": B_R.proof,
            "error": "rejected: uses native_decide",
            "corrected_proof": B_G.proof,
            **common(B_R),
        },
    ]
    rows = export(records_dir, tmp_path, capsys, "error-fix", "--max-pairs", "2")
    assert [(r["problem_id"], r["failed_proof"]) for r in rows] == [
        ("a", A_F1.proof),
        ("a", A_F2.proof),
        ("b", B_F.proof),
        ("b", B_R.proof),
    ]
    # tactic records only: one failed and one proved step of problem a
    rows = export(records_dir, tmp_path, capsys, "error-fix", "--kinds", "tactic")
    assert [(r["failed_proof"], r["error"], r["corrected_proof"]) for r in rows] == [
        (A_TAC_F.proof, "failed", A_TAC_G.proof)
    ]


def test_verl_rows(records_dir: Path, tmp_path: Path, capsys) -> None:
    rows = export(records_dir, tmp_path, capsys, "verl")

    def row(index: int, pid: str, prompt: str, stmt: str) -> dict:
        truth = {"formal_statement": stmt, "header": None, "prefix": ""}
        return {
            "data_source": "lean4",
            "prompt": [{"role": "user", "content": prompt}],
            "ability": "theorem_proving",
            "reward_model": {"style": "rule", "ground_truth": json.dumps(truth)},
            "extra_info": {"index": index, "problem_id": pid, "refusals": []},
        }

    # one row per distinct (problem, prompt), whatever the samples' verdicts
    assert rows == [row(0, "a", PA, SA), row(1, "b", PB, SB)]
    assert export(records_dir, tmp_path, capsys, "verl", "--kinds", "tactic") == [
        row(0, "a", PA, SA)
    ]
    # the precheck record has no prompt: it gets the V1.5 prompt of its statement
    pre = v1_prompt(ProofTask(formal_statement=SA, header=""), default_header="").text
    rows = export(records_dir, tmp_path, capsys, "verl", "--kinds", "sample,precheck")
    assert rows == [row(0, "a", PA, SA), row(1, "a", pre, SA), row(2, "b", PB, SB)]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--kinds", "sample,bogus"], "--kinds 'sample,bogus'"),
        (["--kinds", ","], "--kinds ','"),
        (["--max-pairs", "0"], "--max-pairs must be >= 1"),
    ],
)
def test_bad_options_exit_2(
    records_dir: Path, tmp_path: Path, capsys, extra: list[str], message: str
) -> None:
    out = tmp_path / "x.jsonl"
    argv = ["export", str(records_dir), "--format", "dpo", "--out", str(out), *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
