"""Where refusal categories are counted and shown, without Lean: the categories here are given
values (as a checker result carries them), and the tests check the bookkeeping: the eval meter's
per-problem counts, `report.md` / `summary.json` / `prover report` rates, the GRPO / verl export
columns and the Kimina response mapping.  That the categories come from Lean is
`tests/test_checker_lean.py` and `tests/test_refusal_lean.py`."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.budget import Meter
from benchmarks.report import compare_runs, refusal_counts, refusal_rates, render_report
from benchmarks.results import ProblemResult
from prover.lean.types import CheckRequest, CheckResult, Verdict
from prover.rl.export import build_rows
from prover.rl.records import FeedbackRecord

S = "theorem t : 1 = 1 := by\n"


def test_meter_counts_refusals_per_category_cache_hits_included() -> None:
    meter = Meter()
    reqs = [CheckRequest(S, p) for p in ("  sorry", "  sorry", "  x", "  rfl")]
    res = [
        CheckResult(Verdict.INCOMPLETE, refusal="sorry"),
        CheckResult(Verdict.INCOMPLETE, refusal="sorry", cached=True),
        CheckResult(Verdict.REJECTED, refusal="native_decide"),
        CheckResult(Verdict.PROVED),
    ]
    meter.add_results(reqs, res)
    fields = meter.fields()
    assert fields["refusal"] == {"sorry": 2, "native_decide": 1}
    assert (fields["verifications"], fields["cache_hits"]) == (3, 1)
    line = ProblemResult("a", "a", "test", False, **fields).to_json()
    assert line["refusal"] == {"sorry": 2, "native_decide": 1}
    assert ProblemResult("b", "b", "test", False).to_json()["refusal"] == {}


def _line(name: str, refusal: dict[str, int], verifications: int, hits: int = 0) -> dict:
    r = ProblemResult(
        name, name, "test", False, verifications=verifications, cache_hits=hits, refusal=refusal
    )
    return r.to_json()


def test_report_and_compare_print_rates_per_category(tmp_path: Path) -> None:
    rows = [_line("a", {"sorry": 3}, 8, 2), _line("b", {"sorry": 1, "limit": 2}, 10)]
    counts = refusal_counts(rows)
    assert counts == {"checked": 20, "by_category": {"sorry": 4, "limit": 2}}
    assert refusal_rates(counts) == "sorry 4 (20.0%), limit 2 (10.0%)"
    assert refusal_rates(refusal_counts([_line("c", {}, 4)])) == "none"
    summary = {
        "config": {"benchmark": "x"},
        "wilson95": [0.0, 0.0],
        "problems": 2,
        "solved": 0,
        "pass_rate": 0.0,
        "samples_total": 0,
        "wall_s_total": 0.0,
        "refusals": counts,
    }
    md = render_report(summary, rows)
    assert "Refusals (of 20 checked requests" in md and "sorry 4 (20.0%), limit 2 (10.0%)" in md
    assert "Refusals" not in render_report({**summary, "refusals": None}, [_line("c", {}, 4)])

    # `prover report`: one row per run, one column per category any run has
    for d, rs in (("one", rows), ("two", [_line("a", {"native_decide": 1}, 4)])):
        (tmp_path / d).mkdir()
        (tmp_path / d / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rs))
    text = compare_runs([tmp_path / "one", tmp_path / "two"])
    block = text.split("refusals per category (of the checked requests):\n", 1)[1]
    head, _, one, two = block.splitlines()[:4]
    assert head.split() == ["run", "checked", "limit", "native_decide", "sorry"]
    assert one.split()[1:] == ["20", "2", "(10.0%)", "0", "(0.0%)", "4", "(20.0%)"]
    assert two.split()[1:] == ["4", "0", "(0.0%)", "1", "(25.0%)", "0", "(0.0%)"]
    (tmp_path / "three").mkdir()
    (tmp_path / "three" / "results.jsonl").write_text(json.dumps(_line("a", {}, 1)) + "\n")
    assert "refusals: none in any run" in compare_runs([tmp_path / "three"])


def test_grpo_and_verl_rows_carry_refusals() -> None:
    recs = [
        FeedbackRecord("p", S, "  sorry", "incomplete", prompt="P", refusal="sorry"),
        FeedbackRecord("p", S, "  native_decide", "rejected", prompt="P", refusal="native_decide"),
        FeedbackRecord("p", S, "  rfl", "proved", prompt="P"),
        FeedbackRecord("q", S, "  rfl", "proved", prompt="Q"),
    ]
    grpo = build_rows(recs, "grpo")
    assert [(r["completion"], r["refusal"]) for r in grpo] == [
        ("  sorry", "sorry"),
        ("  native_decide", "native_decide"),
        ("  rfl", None),
        ("  rfl", None),
    ]
    verl = build_rows(recs, "verl")
    assert [r["extra_info"]["refusals"] for r in verl] == [["sorry", "native_decide"], []]


def test_kimina_response_lists_refusals() -> None:
    from prover.service.kimina import snippet_items, snippet_response

    code = S + "  sorry\n\n" + S.replace("t :", "u :") + "  native_decide\n"
    items = snippet_items(code, "s", 30.0)
    res = [
        CheckResult(Verdict.INCOMPLETE, refusal="sorry"),
        CheckResult(Verdict.REJECTED, reason="native code", refusal="native_decide"),
    ]
    resp = snippet_response(items, res)
    assert resp["refusals"] == ["sorry", "native_decide"]
    assert any("[refusal native_decide] native code" in m["data"] for m in resp["messages"])
    ok = snippet_response(items[:1], [CheckResult(Verdict.PROVED)])
    assert "refusals" not in ok
