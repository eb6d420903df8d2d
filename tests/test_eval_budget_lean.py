"""Budget accounting and outcomes on the real embedded Lean (the session's one checker process):
an offline `prover eval` on miniF2F-core whose summary.json and report.md carry the budget columns
and the versions checked with, and a run whose outcomes Lean decides (proved, proved modulo a
header `sorry`, statement error) with a policy that counts tokens."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from benchmarks.datasets import CORE_HEADER, Problem
from benchmarks.harness import run_eval
from benchmarks.results import EvalConfig, read_results
from prover.policy.base import Completion, ProofTask, SamplingParams
from search import get_search
from search.base import Budget

pytestmark = pytest.mark.lean

# closed by `omega`, the automation policy's first whole-proof sample; the last one is hard
NAMES = ("mathd_numbertheory_132", "mathd_algebra_123", "imo_1984_p2")


def test_offline_eval_minif2f_core_budget_columns(
    tmp_path: Path, data_dir: Path, shared_checker: object
) -> None:
    from prover.cli import main

    out = tmp_path / "run"
    args = ["eval", "--benchmark", "minif2f-core", "--split", "valid", "--names", *NAMES]
    args += ["--policy", "automation", "--search", "sample", "--budget", "1x3"]
    args += ["--backend", "embedded", "--data-dir", str(data_dir), "--out", str(out), "--quiet"]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["solved"] == 2 and summary["outcomes"]["not_proved"] == 1
    b = summary["budget"]
    assert b["samples"] == 1 + 1 + 3 and b["verifications"] >= b["samples"]
    assert b["lean_cpu_s"] > 0 and b["tokens_in"] is None  # automation has no tokenizer
    assert summary["versions"] == {
        "backend": "embedded",
        "lean": "4.28.0-pre",
        "mathlib": "none (core Lean only)",
    }
    rows = read_results(out)
    assert all(r["lean_cpu_s"] > 0 for r in rows.values())
    # polishing the two solved proofs is metered apart: one elaboration with steps and at most
    # one re-check each, none of it in the search's budget above
    solved = [r for r in rows.values() if r["solved"]]
    assert all(1 <= r["polish_verifications"] <= 2 for r in solved), solved
    assert all(r["polish_verifications"] == 0 for r in rows.values() if not r["solved"])
    assert summary["polish"]["verifications"] == sum(r["polish_verifications"] for r in solved)
    # no limits given: the defaults (a search on embedded Lean: SEARCH_HEARTBEATS_EMBEDDED)
    assert shared_checker.calls == [{"backend": "embedded", "heartbeats": 20_000}]
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "Polish (readable versions of the solved proofs; not in the search budget" in md
    assert "| verifications | tokens in | tokens out | Lean CPU s | wall s |" in md
    assert "- checked with lean: `4.28.0-pre`" in md
    assert (out / "pass_curve.png").stat().st_size > 10_000


class ScriptedPolicy:
    """Every sample of a task is `proofs[name]`; 5 prompt tokens a task, 2 per sample (a call
    of batch 2 makes 2 samples)."""

    spec = "scripted"

    def __init__(self, proofs: dict[str, str]) -> None:
        self.proofs = proofs

    def count_tokens(self, text: str) -> int:
        return 5

    def generate(
        self, tasks: Sequence[ProofTask], params: SamplingParams
    ) -> list[list[Completion]]:
        return [
            [
                Completion(self.proofs[t.name.rsplit("/", 1)[-1]], prompt="p", num_tokens=2)
                for _ in range(params.n)
            ]
            for t in tasks
        ]

    def close(self) -> None:
        pass


def test_lean_decides_outcomes(tmp_path: Path, embedded_checker: object) -> None:
    part1 = "theorem part1 (n : Nat) : n = n + 0 := by sorry\n\n"
    problems = [
        Problem("t/ok", "ok", "test", "theorem ok (n : Nat) : n + 0 = n := by\n", CORE_HEADER),
        # a header lemma proved by `sorry` (like CombiBench's imo_2019_p5_2): proved modulo it
        Problem("t/mod", "mod", "test", "theorem mod (n : Nat) : n = n + 0 := by\n", part1),
        # `ℝ` needs Mathlib: the statement does not elaborate on the embedded backend
        Problem("t/bad", "bad", "test", "theorem bad (x : ℝ) : x = x := by\n", CORE_HEADER),
    ]
    proofs = {"ok": "  omega", "mod": "  exact part1 n", "bad": "  rfl"}
    summary = run_eval(
        problems,
        EvalConfig("scripted", "sample", Budget(1, 2)),
        tmp_path,
        checker=embedded_checker,  # type: ignore[arg-type]
        policy=ScriptedPolicy(proofs),
        search=get_search("sample", batch_size=2),
        stream=io.StringIO(),
    )
    rows = read_results(tmp_path)
    assert rows["t/ok"]["outcome"] == "proved" and rows["t/ok"]["tokens_out"] == 2 * 2
    assert rows["t/ok"]["tokens_in"] == 5
    assert rows["t/mod"]["outcome"] == "proved_modulo" and not rows["t/mod"]["solved"]
    assert "proved modulo header declaration(s) proved by sorry" in rows["t/mod"]["failure"]
    assert rows["t/bad"]["outcome"] == "statement_error" and rows["t/bad"]["statement_error"]
    assert summary["outcomes"]["proved_modulo"] == 1 and summary["outcomes"]["statement_error"] == 1
    assert summary["solved"] == 1
    # CPU time is read from /proc in clock ticks (10 ms): a problem whose items all took less
    # Lean wall time than a couple of ticks may read 0
    assert all(r["lean_cpu_s"] > 0 or r["lean_wall_s"] < 0.02 for r in rows.values()), rows
    assert sum(r["lean_cpu_s"] for r in rows.values()) > 0
