"""`prover audit` in-process on the real embedded Lean (the session's checker): planted vacuous,
false and trivial statements are flagged, each with a proof Lean proves; an honest statement
the one-shot automation does not prove gets no flag; a statement that does not elaborate says
so; a rerun skips the statements already audited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.datasets import CORE_HEADER
from prover.lean.types import CheckRequest, Verdict

pytestmark = pytest.mark.lean

PLANTED = {
    # contradictory hypotheses (omega proves False from them; it also proves the goal, so the
    # one-shot automation flags it trivial too)
    "plant_vacuous": "theorem plant_vacuous (n : ℕ) (h₀ : n < 2) (h₁ : 5 < n) : n * n = 7 := by\n",
    # false for n = 4: `decide` proves the negation (a bounded ∀ over ℕ)
    "plant_false": "theorem plant_false (n : ℕ) (h₀ : n < 5) : n * n < 10 := by\n",
    # linear arithmetic: the one shot's `omega`
    "plant_trivial": "theorem plant_trivial (a b : ℕ) (h₀ : a = b + 2) : a - b = 2 := by\n",
    # honest: miniF2F's numbertheory_2dvd4expn, which the one shot does not prove (README)
    "plant_hard": "theorem plant_hard (n : ℕ) (h₀ : n ≠ 0) : 2 ∣ 4 ^ n := by\n",
    "plant_broken": 'theorem plant_broken (x : ℕ) : x + "a" = 1 := by\n',
}
WANT = {
    "plant_vacuous": ["vacuous", "trivial"],
    "plant_false": ["false_as_stated"],
    "plant_trivial": ["trivial"],
    "plant_hard": [],
    "plant_broken": [],
}


def test_audit_flags_planted_statements_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], shared_checker, embedded_checker
) -> None:
    from prover.cli import main

    data = tmp_path / "planted.jsonl"
    data.write_text(
        "".join(
            json.dumps({"name": n, "split": "test", "formal_statement": s, "header": CORE_HEADER})
            + "\n"
            for n, s in PLANTED.items()
        ),
        encoding="utf-8",
    )
    out = tmp_path / "audit"
    argv = ["audit", "--benchmark", str(data), "--split", "test", "--out", str(out)]
    argv += ["--budget", "1x4", "--concurrency", "2", "--backend", "embedded"]
    # the first three, then all: the rerun audits only the other two
    assert main([*argv, "--limit", "3"]) == 0, capsys.readouterr().err
    first = (out / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["name"] for x in first] == list(PLANTED)[:3]
    seen: list[str] = []
    check = shared_checker.check

    def counting(requests):
        seen.extend(r.formal_statement for r in requests)
        return check(requests)

    shared_checker.check = counting
    assert main(argv) == 0, capsys.readouterr().err
    audited = {s.split()[1] for s in seen}
    assert audited == {"plant_hard", "plant_broken"}, audited
    lines = [json.loads(x) for x in (out / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    assert lines[:3] == [json.loads(x) for x in first]  # untouched
    by = {x["name"]: x for x in lines}
    assert len(lines) == len(by) == len(PLANTED)
    assert {n: x["flags"] for n, x in by.items()} == WANT
    assert {n: x["elaborates"] for n, x in by.items()} == {n: n != "plant_broken" for n in PLANTED}
    assert by["plant_broken"]["statement_error"]
    for x in lines:
        assert x["id"] == f"planted/{x['name']}" and set(x["proofs"]) == set(x["flags"])
        assert not x["error"]
    # the derived statements: False from the hypotheses, the negation of the whole statement
    vac = by["plant_vacuous"]["proofs"]["vacuous"]["formal_statement"]
    assert vac == "theorem plant_vacuous (n : ℕ) (h₀ : n < 2) (h₁ : 5 < n) : False := by\n"
    neg = by["plant_false"]["proofs"]["false_as_stated"]["formal_statement"]
    assert neg == "theorem plant_false : ¬ (∀ (n : ℕ) (h₀ : n < 5), n * n < 10) := by\n"
    # every stored proof, and its readable version, proves its statement (Lean again, here)
    proofs = [
        (x["name"], f, p["formal_statement"], text)
        for x in lines
        for f, p in x["proofs"].items()
        for text in (p["proof"], p.get("polished", p["proof"]))
    ]
    assert any("polished" in p for x in lines for p in x["proofs"].values())
    reqs = [CheckRequest(s, t, CORE_HEADER, header_trusted=True) for _, _, s, t in proofs]
    verdicts = [r.verdict for r in embedded_checker.check(reqs)]
    assert verdicts == [Verdict.PROVED] * len(proofs), list(zip(proofs, verdicts, strict=True))
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| 5 | 4 | 1 | 1 | 2 |" in report  # statements, elaborate, vacuous, false, trivial
    assert "### `plant_false`: false_as_stated" in report
    assert "plant_broken" in report.split("## Statements that do not elaborate")[1]
    # a third run has nothing left to audit
    seen.clear()
    assert main(argv) == 0
    assert seen == []
    assert "vacuous 1, false as stated 1, trivial 2" in capsys.readouterr().err
