"""`collect` without Lean: problems keyed by their unique id (ProofNet-style repeated names), the
documented data-dir order, a missing miniF2F-core list is an error, and the CLI writes
OUT/records.parquet that `datasets` loads.  The fake checker proves only what real Lean proves
(LEAN_PROVES, checked by tests/test_fakes_lean.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from toy_lean import LeanProves

import benchmarks.datasets as datasets
from prover.cli import main
from prover.errors import DataError, UsageError
from prover.lean.types import CheckRequest, CheckResult
from prover.policy.base import Completion, ProofTask, SamplingParams
from prover.rl.collect import CollectConfig, collect, load_problems
from prover.rl.records import FeedbackWriter, read_records

STMT = "theorem {name} (a b : Nat) : a + b = b + a := by\n"
# `omega` for the problems collected below (a name is `<name>_<row index>`)
LEAN_PROVES = LeanProves(
    *(
        CheckRequest(STMT.format(name=n), "  omega\n", header_trusted=True)
        for n in ("exercise_1_0", "exercise_1_1", "exercise_2_2", "a_0", "b_1")
    )
)


class OmegaChecker:
    """Proves the requests in LEAN_PROVES (`omega`), fails the others."""

    name = "fake"

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        return [CheckResult(LEAN_PROVES.verdict(r)) for r in requests]

    def close(self) -> None:
        pass


class SeedPolicy:
    spec = "seeded"

    def generate(self, tasks: Sequence[ProofTask], params: SamplingParams):
        text = "  omega\n" if (params.seed or 0) % 2 == 0 else "  simp\n"
        return [[Completion(text, prompt=f"P:{t.name}")] for t in tasks]

    def close(self) -> None:
        pass


def _jsonl(path: Path, names: Sequence[str], split: str = "valid") -> Path:
    rows = [
        {"name": n, "split": split, "formal_statement": STMT.format(name=f"{n}_{i}")}
        for i, n in enumerate(names)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_repeated_names_get_unique_ids_and_resume_by_id(tmp_path: Path):
    bench = _jsonl(tmp_path / "pn.jsonl", ["exercise_1", "exercise_1", "exercise_2"])
    problems = load_problems(str(bench), "valid")
    assert [p.id for p in problems] == ["pn/valid/0", "pn/valid/1", "pn/valid/2"]
    cfg = CollectConfig(samples_per_problem=2)
    with FeedbackWriter(tmp_path / "run") as w:
        s = collect(problems, SeedPolicy(), OmegaChecker(), w, cfg)
    assert s.samples == 6 and s.solved == 3
    recs = list(read_records(tmp_path / "run"))
    assert sorted((r.problem_id, r.sample_index) for r in recs) == [
        (f"pn/valid/{i}", j) for i in range(3) for j in range(2)
    ]
    with FeedbackWriter(tmp_path / "run") as w:
        s = collect(problems, SeedPolicy(), OmegaChecker(), w, cfg)
    assert s.skipped_problems == 3 and s.samples == 0
    with pytest.raises(UsageError, match="unique id"), FeedbackWriter(tmp_path / "x") as w:
        collect([problems[0], problems[0]], SeedPolicy(), OmegaChecker(), w, cfg)


def test_unique_names_keep_name_ids(tmp_path: Path):
    bench = _jsonl(tmp_path / "mine.jsonl", ["a", "b"])
    assert [p.id for p in load_problems(str(bench), "all", limit=1)] == ["mine/a"]
    with pytest.raises(UsageError, match="split"):
        load_problems(str(bench), "train")
    with pytest.raises(UsageError, match="no such file"):
        load_problems(str(tmp_path / "none.jsonl"), "valid")


def test_data_dir_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    env_dir, flag_dir = tmp_path / "env", tmp_path / "flag"
    env_dir.mkdir()
    flag_dir.mkdir()
    row = {"name": "m1", "split": "valid", "formal_statement": STMT.format(name="m1")}
    (env_dir / "minif2f.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    row2 = {**row, "name": "m2", "formal_statement": STMT.format(name="m2")}
    (flag_dir / "minif2f.jsonl").write_text(json.dumps(row2) + "\n", encoding="utf-8")
    monkeypatch.setenv("PROVER_DATA_DIR", str(env_dir))
    assert [p.id for p in load_problems("minif2f", "valid")] == ["minif2f/m1"]
    assert [p.id for p in load_problems("minif2f", "valid", data_dir=flag_dir)] == ["minif2f/m2"]
    with pytest.raises(DataError, match="--data-dir"):
        load_problems("minif2f", "valid", data_dir=tmp_path / "missing")
    argv = ["collect", "--policy", "x", "--out", str(tmp_path / "o")]
    assert main([*argv, "--data-dir", str(tmp_path / "missing")]) == 2  # a usage error


def test_missing_core_list_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    real = datasets.load_core_list
    monkeypatch.setattr(datasets, "load_core_list", lambda path=None: real(tmp_path / "none.json"))
    with pytest.raises(DataError, match="minif2f_core build"):
        load_problems("minif2f-core", "valid")


def test_cli_writes_records_parquet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    import prover.lean
    import prover.policy

    monkeypatch.setattr(prover.lean, "resolve_backend", lambda backend: "embedded")
    monkeypatch.setattr(prover.lean, "make_checker", lambda *a, **k: OmegaChecker())
    monkeypatch.setattr(prover.policy, "load_policy", lambda *a, **k: SeedPolicy())
    bench = _jsonl(tmp_path / "b.jsonl", ["a", "b"])
    out = tmp_path / "run"
    argv = ["collect", "--benchmark", str(bench), "--policy", "automation", "-k", "2"]
    argv += ["--out", str(out)]
    assert main(argv) == 0
    assert "records.parquet" in capsys.readouterr().err
    from datasets import load_dataset

    ds = load_dataset(
        "parquet",
        data_files=str(out / "records.parquet"),
        split="train",
        cache_dir=str(tmp_path / "hf"),
    )
    assert len(ds) == 4 and {"problem_id", "kind", "verdict", "prompt"} <= set(ds.column_names)
    assert sorted(ds["problem_id"]) == ["b/a", "b/a", "b/b", "b/b"]
