"""Refusal categories (set by Lean, README "Refusal categories") reach every place a user reads
verdicts from, on the real embedded Lean (the session's checker: no new Lean process):

- `prover eval`: each `results.jsonl` line counts its requests per category, `report.md` and
  `prover report` print the rates;
- `prover export`: GRPO rows carry each record's `refusal`, verl rows list their prompt's;
- the verl reward (`compute_score`): penalties per category, and verl's dict form with one
  `refusal_<category>` rate key per category;
- `prover serve`: `/v1/verify` results, the Kimina `/api/check` response, and `HTTPChecker`."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from serve_util import InProcessServer

from prover.lean.types import REFUSAL_CATEGORIES, CheckRequest, Verdict

pytestmark = pytest.mark.lean

S_LT = "theorem ref_lt : 10 < 11 := by\n"
S_SUM = "theorem ref_sum : (List.range 2000).foldl (· + ·) 0 = 1999000 := by\n"
# one problem, three samples in this order: two refused by Lean (`sorry`; `limit`: out of
# heartbeats), the third fails (`omega` cannot read the fold).  These two categories pass the
# checker's Python screen, which `eval` keeps on: the screen refuses `native_decide`, `run_tac`,
# ... itself, before Lean, and such an early refusal has no category (the serve and verl tests
# below use the screen-off view, as `prover serve --no-screen` does)
COMPLETIONS = ("  sorry\n", "  set_option maxHeartbeats 1 in\n  decide\n", "  omega\n")


def _eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    from prover.cli import main

    data = tmp_path / "ref.jsonl"
    row = {"name": "ref_sum", "split": "valid", "formal_statement": S_SUM, "header": ""}
    data.write_text(json.dumps(row) + "\n", encoding="utf-8")
    replay = tmp_path / "replay.jsonl"
    replay.write_text(
        "".join(json.dumps({"name": "ref_sum", "completion": c}) + "\n" for c in COMPLETIONS),
        encoding="utf-8",
    )
    out, rec = tmp_path / "run", tmp_path / "rec"
    argv = ["eval", "--benchmark", str(data), "--split", "valid", "--policy", f"replay:{replay}"]
    argv += ["--search", "sample", "--sample-batch-size", "1", "--budget", "1x3"]
    argv += ["--out", str(out), "--record", str(rec), "--quiet", "--backend", "embedded"]
    assert main(argv) == 0, capsys.readouterr().err
    return out, rec


def test_eval_results_report_and_exports_carry_refusals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], shared_checker
) -> None:
    from benchmarks.results import read_results
    from prover.cli import main

    out, rec = _eval(tmp_path, capsys)
    (line,) = read_results(out).values()
    assert not line["solved"] and line["samples"] == 3
    # the three samples were verified; Lean refused the first two, each with its category
    # (a statement probe with `sorry`, if the search made one, is refused as `sorry` too)
    probes = sum(1 for r in _records(rec) if r["kind"] == "precheck")
    assert line["refusal"] == {"sorry": 1 + probes, "limit": 1}, line
    checked = line["verifications"] + line["cache_hits"]
    report = (out / "report.md").read_text(encoding="utf-8")
    assert f"Refusals (of {checked} checked requests" in report
    assert f"limit 1 ({100 / checked:.1f}%)" in report
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["refusals"] == {"checked": checked, "by_category": line["refusal"]}
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "refusals per category" in printed and "limit" in printed
    assert f"1 ({100 / checked:.1f}%)" in printed

    # GRPO rows: each recorded sample with Lean's category (None for the failed one)
    grpo = tmp_path / "grpo.jsonl"
    assert main(["export", str(rec), "--format", "grpo", "--out", str(grpo)]) == 0
    rows = [json.loads(x) for x in grpo.read_text(encoding="utf-8").splitlines()]
    by_proof = {r["completion"]: (r["refusal"], r["reward"]) for r in rows}
    assert by_proof == {
        "  sorry\n": ("sorry", 0.0),
        COMPLETIONS[1]: ("limit", 0.0),
        "  omega\n": (None, 0.0),
    }
    # verl rows: one per prompt, listing its samples' categories
    verl = tmp_path / "verl.jsonl"
    assert main(["export", str(rec), "--format", "verl", "--out", str(verl)]) == 0
    (vrow,) = [json.loads(x) for x in verl.read_text(encoding="utf-8").splitlines()]
    assert sorted(vrow["extra_info"]["refusals"]) == ["limit", "sorry"]


def _records(rec: Path) -> list[dict]:
    return [json.loads(x) for x in (rec / "records.jsonl").read_text().splitlines()]


def test_verl_reward_penalties_and_rates(embedded_checker) -> None:
    from prover.rl import verl_reward

    truth = {"formal_statement": S_LT, "header": None, "prefix": ""}
    verl_reward.set_checker(embedded_checker.with_screen(False))
    try:
        score = verl_reward.compute_score
        assert score("lean4", "  native_decide\n", truth) == 0.0  # default: as before
        pen = {"native_decide": -1.0, "sorry": -0.5}
        assert score("lean4", "  native_decide\n", truth, penalties=pen) == -1.0
        assert score("lean4", "  sorry\n", truth, penalties=pen) == -0.5
        assert score("lean4", "  omega\n", truth, penalties=pen) == 1.0
        got = score("lean4", "  sorry\n", truth, refusals=True)
        assert isinstance(got, dict)
        assert got == {
            "score": 0.0,
            **{f"refusal_{c}": float(c == "sorry") for c in sorted(REFUSAL_CATEGORIES)},
        }
        ok = score("lean4", "  omega\n", truth, refusals=True)
        assert isinstance(ok, dict) and ok["score"] == 1.0
        assert not any(v for k, v in ok.items() if k != "score")
        with pytest.raises(ValueError, match="unknown refusal categories"):
            score("lean4", "  omega\n", truth, penalties={"cheating": -1.0})
    finally:
        verl_reward.set_checker(None)


def test_serve_responses_carry_refusals(embedded_checker) -> None:
    from prover.service.client import HTTPChecker

    items = [
        ("honest", "  omega\n"),
        ("sorry", "  sorry\n"),
        ("native", "  native_decide\n"),
    ]
    # `prover serve --no-screen`: every item reaches Lean, which names each refusal
    srv = InProcessServer(embedded_checker.with_screen(False), workers=1, timeout_s=90)
    try:
        body = {"items": [{"id": i, "formal_statement": S_LT, "proof": p} for i, p in items]}
        got = httpx.post(srv.url + "/v1/verify", json=body, timeout=120).json()["results"]
        assert [(r["id"], r["verdict"], r.get("refusal")) for r in got] == [
            ("honest", "proved", None),
            ("sorry", "incomplete", "sorry"),
            ("native", "rejected", "native_decide"),
        ]
        # HTTPChecker (--checker http://HOST:PORT) hands the category on
        client = HTTPChecker(srv.url)
        try:
            res = client.check([CheckRequest(S_LT, p, id=i) for i, p in items])
        finally:
            client.close()
        assert [r.refusal for r in res] == [None, "sorry", "native_decide"]
        assert res[0].verdict is Verdict.PROVED
        # Kimina /api/check: the response lists the categories of its refused declarations
        snippets = [{"id": i, "code": S_LT + p} for i, p in items]
        two = S_LT + "  sorry\n\n" + S_LT.replace("ref_lt", "ref_lt2") + "  native_decide\n"
        snippets.append({"id": "both", "code": two})
        kim = httpx.post(srv.url + "/api/check", json={"snippets": snippets}, timeout=120)
        resp = {r["id"]: r["response"] for r in kim.json()["results"]}
        assert "refusals" not in resp["honest"]
        assert resp["sorry"]["refusals"] == ["sorry"]
        assert resp["native"]["refusals"] == ["native_decide"]
        assert resp["both"]["refusals"] == ["sorry", "native_decide"]
        err = [m["data"] for m in resp["native"]["messages"] if m["severity"] == "error"]
        assert any("[refusal native_decide]" in m for m in err), err
        # Kimina's older /verify carries the same response
        old = httpx.post(
            srv.url + "/verify",
            json={"codes": [{"custom_id": "s", "proof": S_LT + "  sorry\n"}]},
            timeout=120,
        ).json()
        assert old["results"][0]["response"]["refusals"] == ["sorry"]
    finally:
        srv.stop()
