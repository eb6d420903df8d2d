"""Evaluation harness without Lean: a scripted search and a fake checker (it does not run Lean)
that says `proved` only for the requests of LEAN_PROVES, each of which real Lean proves
(tests/test_fakes_lean.py checks them)."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from toy_lean import LeanProves

from benchmarks.datasets import Problem
from benchmarks.harness import run_eval
from benchmarks.report import compare_runs, render_report, wilson_interval
from benchmarks.results import EvalConfig, read_results, results_store
from prover.errors import UsageError
from prover.lean.types import CheckRequest, CheckResult
from search.base import Budget, SearchResult

GOOD = "  trivial\n"
# the GOOD proof of each problem the fake search solves, as the harness re-verifies (and
# polishes) it: under the problem's header (none in `_recs`, "" in `_row`), trusted
LEAN_PROVES = LeanProves(
    *(
        CheckRequest(f"theorem {name} : True := by\n", GOOD, header, header_trusted=True)
        for name in ("ok1", "ok2", "ok3", "ok_extra")
        for header in (None, "")
    )
)


class FakeChecker:
    """`proved` for a request in LEAN_PROVES; everything else `failed`.  Not Lean."""

    name = "fake"

    def __init__(self) -> None:
        self.calls: list[CheckRequest] = []
        self.lock = threading.Lock()

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        with self.lock:
            self.calls.extend(requests)
        return [CheckResult(LEAN_PROVES.verdict(r), time_s=0.01) for r in requests]

    def close(self) -> None:
        pass


class FakeSearch:
    """Solves problems whose name starts with 'ok' (at sample 3), claims a bogus proof for
    names starting with 'liar', fails the rest, and raises for 'boom' unless `healed`."""

    name = "fake"

    def __init__(self, healed: bool = False) -> None:
        self.healed = healed
        self.seen: list[str] = []
        self.lock = threading.Lock()

    def close(self) -> None:
        pass

    def run(self, task, policy, checker, budget, seed=0, checkpoint_dir=None):  # noqa: ANN001
        name = task.name.rsplit("/", 1)[-1]  # tasks are named by problem id ("t/ok1")
        with self.lock:
            self.seen.append(name)
        if name == "boom" and not self.healed:
            raise RuntimeError("policy exploded")
        if name.startswith("ok"):
            return SearchResult(True, GOOD, samples_used=3, found_at=3, verifier_s=0.1)
        if name.startswith("liar"):
            return SearchResult(True, "  sorry\n", samples_used=1, found_at=1)
        return SearchResult(
            False, samples_used=budget.total, best_partial="  intro x\n", failure="unsolved goals"
        )


class NoPolicy:
    spec = "none"

    def generate(self, tasks, params):  # noqa: ANN001
        raise AssertionError("the fake search never asks the policy")

    def close(self) -> None:
        pass


def _recs(*names: str) -> list[Problem]:
    return [
        Problem(f"t/{n}", n, "valid", f"theorem {n} : True := by\n", line=i + 1)
        for i, n in enumerate(names)
    ]


def _run(
    recs,
    out,
    search=None,
    checker=None,
    budget="1x4",
    quiet=False,
    stream=None,
    **kw,
):
    """run_eval with the fakes; `kw` are further EvalConfig fields (workers, benchmark, ...)."""
    budget = budget if isinstance(budget, Budget) else Budget.parse(budget)
    return run_eval(
        recs,
        EvalConfig("none", "fake", budget, seed=0, **kw),
        out,
        checker=checker or FakeChecker(),
        policy=NoPolicy(),
        search=search or FakeSearch(),
        quiet=quiet,
        stream=stream if stream is not None else io.StringIO(),
    )


def test_wilson_interval() -> None:
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-3) and hi == pytest.approx(0.7634, abs=1e-3)
    assert wilson_interval(0, 0) == (0.0, 0.0)
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and hi == pytest.approx(0.1611, abs=1e-3)
    assert wilson_interval(20, 20)[1] == 1.0
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_run_eval_outputs_and_reverification(tmp_path: Path) -> None:
    checker = FakeChecker()
    recs = _recs("ok1", "hard", "liar", "boom", "ok2")
    summary = _run(recs, tmp_path, checker=checker, workers=3)
    rows = read_results(tmp_path)
    assert set(rows) == {r.id for r in recs}
    assert summary["problems"] == 5 and summary["solved"] == 2
    assert summary["pass_rate"] == pytest.approx(0.4)
    assert summary["wilson95"] == pytest.approx(list(wilson_interval(2, 5)))
    assert summary["config"]["budget"] == "1x4" and summary["config"]["workers"] == 3
    ok = rows["t/ok1"]
    assert ok["solved"] and ok["proof"] == GOOD and ok["samples"] == 3 and ok["found_at"] == 3
    assert set(ok) >= {
        "name",
        "split",
        "solved",
        "proof",
        "samples",
        "wall_s",
        "verifier_s",
        "found_at",
        "failure",
    }
    liar = rows["t/liar"]  # claimed solved, re-verification disagrees
    assert not liar["solved"] and "re-verification failed (failed)" in liar["failure"]
    assert rows["t/hard"]["proof"] == "  intro x\n" and rows["t/hard"]["samples"] == 4
    boom = rows["t/boom"]  # written (nothing is lost) but marked as an error, not finished
    assert not boom["solved"] and boom["error"] == "RuntimeError: policy exploded"
    assert "policy exploded" in boom["failure"] and summary["errors"] == 1
    # every claimed proof was re-checked from scratch, without steps
    rechecks = [c for c in checker.calls if not c.id.endswith(":polish")]  # solved: polished too
    assert len(rechecks) == 3 and not any(c.want_steps for c in rechecks)
    for f in ("summary.json", "report.md", "pass_curve.png", "config.json"):
        assert (tmp_path / f).stat().st_size > 0
    assert json.loads((tmp_path / "summary.json").read_text())["solved"] == 2


def test_resume_retries_errors_and_counts_each_problem_once(tmp_path: Path) -> None:
    recs = _recs("ok1", "boom", "hard")
    _run(recs, tmp_path)
    search = FakeSearch()
    summary = _run(recs, tmp_path, search=search)  # still failing: tried again, row appended
    assert search.seen == ["boom"] and summary["problems"] == 3 and summary["errors"] == 1
    search = FakeSearch(healed=True)
    summary = _run(recs, tmp_path, search=search)
    assert search.seen == ["boom"]
    lines = (tmp_path / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["id"] for x in lines].count("t/boom") == 3
    assert summary["problems"] == 3 and summary["errors"] == 0 and summary["solved"] == 1
    assert not read_results(tmp_path)["t/boom"]["error"]  # the latest row wins
    assert "| 3 | 1 | 33.3% |" in (tmp_path / "report.md").read_text(encoding="utf-8")
    assert compare_runs([tmp_path]).splitlines()[2].split()[1:4] == ["3", "1", "33.3%"]
    search = FakeSearch(healed=True)
    _run(recs, tmp_path, search=search)
    assert search.seen == []


def test_resume_skips_done_and_handles_torn_line(tmp_path: Path) -> None:
    recs = _recs("ok1", "hard", "ok2", "ok3")
    _run(recs[:2], tmp_path)
    path = tmp_path / "results.jsonl"
    with open(path, "a", encoding="utf-8") as f:  # a kill -9 in the middle of a write
        f.write('{"id": "t/ok2", "name": "ok2", "solv')
    search = FakeSearch()
    summary = _run(recs, tmp_path, search=search, quiet=True)
    assert sorted(search.seen) == ["ok2", "ok3"]
    lines = path.read_text(encoding="utf-8").splitlines()
    ids = [json.loads(x)["id"] for x in lines]  # every line parses
    assert sorted(ids) == sorted(r.id for r in recs)  # no duplicates
    assert summary["problems"] == 4 and summary["solved"] == 3
    search2 = FakeSearch()
    _run(recs, tmp_path, search=search2)
    assert search2.seen == []


def test_results_file_repair_variants(tmp_path: Path) -> None:
    store = results_store(tmp_path)  # a prover.jsonl.JsonlStore: see tests/test_jsonl.py
    p = tmp_path / "results.jsonl"
    assert store.path == p
    p.write_text('{"id": "a"}\n{"id": "b"}\n', encoding="utf-8")
    store.repair()
    assert p.read_text() == '{"id": "a"}\n{"id": "b"}\n'
    p.write_text('{"id": "a"}\n{"id"', encoding="utf-8")
    inode = p.stat().st_ino
    store.repair()
    assert p.read_text() == '{"id": "a"}\n' and p.stat().st_ino == inode  # truncated in place
    p.write_text('{"id"', encoding="utf-8")
    store.repair()
    assert p.read_text() == ""
    p.write_text('{"id": "a"}\n{"id": \n', encoding="utf-8")  # newline made it, JSON did not
    store.repair()
    assert p.read_text() == '{"id": "a"}\n'


def test_config_change_refused(tmp_path: Path) -> None:
    _run(_recs("ok1"), tmp_path)
    with pytest.raises(UsageError, match="different configuration"):
        _run(_recs("ok1"), tmp_path, budget="2x4")
    _run(_recs("ok1"), tmp_path / "b", benchmark="minif2f", split="valid")
    with pytest.raises(UsageError, match="split 'valid' -> 'test'"):
        _run(_recs("ok1"), tmp_path / "b", benchmark="minif2f", split="test")
    with pytest.raises(UsageError, match="benchmark 'minif2f' -> 'proofnet'"):
        _run(_recs("ok1"), tmp_path / "b", benchmark="proofnet", split="valid")
    _run(_recs("ok1"), tmp_path, workers=2)  # workers may change between runs


def test_eval_config_validation() -> None:
    with pytest.raises(TypeError, match="Budget"):
        EvalConfig("none", "fake", "3x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="workers"):
        EvalConfig("none", "fake", Budget(1, 4), workers=0)
    with pytest.raises(ValueError, match="non-empty"):
        EvalConfig("", "fake", Budget(1, 4))
    cfg = EvalConfig("p", "rmaxts", Budget(1, 4), search_options={"concurrency": 2})
    assert cfg.to_json() == {
        "policy": "p",
        "search": "rmaxts",
        "budget": "1x4",
        "seed": 0,
        "workers": 1,
        "benchmark": "",
        "split": "",
        "backend": "auto",
        "extra": {"search_options": {"concurrency": 2}},  # where earlier runs recorded them
    }


def test_progress_and_quiet_output(tmp_path: Path) -> None:
    s = io.StringIO()
    _run(_recs("ok1", "hard"), tmp_path / "a", stream=s)
    assert "2/2" in s.getvalue() and "solved=1" in s.getvalue()  # the tqdm bar
    s = io.StringIO()
    _run(_recs("ok1", "hard"), tmp_path / "b", stream=s, quiet=True)
    lines = s.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in s.getvalue()
    assert "ok1 (valid): solved at sample 3" in s.getvalue()


def test_progress_ticks_name_the_running_problem() -> None:
    """No silent minute: while a problem runs, a line says which, for how long, and what Lean
    answered for it so far."""
    from benchmarks.budget import Meter
    from benchmarks.harness import _Progress

    s = io.StringIO()
    progress = _Progress(3, 0, 0, quiet=True, stream=s, tick_s=0.01)
    meter = Meter()
    meter.verifications = 7
    progress.start("imo_1977_p6", meter)
    deadline = time.monotonic() + 30
    while "imo_1977_p6" not in s.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    progress.close()
    assert "imo_1977_p6" in s.getvalue() and "7 Lean verifications" in s.getvalue()


def test_report_rendering_and_compare(tmp_path: Path) -> None:
    _run(_recs("ok1", "hard", "liar"), tmp_path / "a", benchmark="fake", split="valid")
    md = (tmp_path / "a" / "report.md").read_text(encoding="utf-8")
    assert "| 3 | 1 | 33.3% |" in md
    assert (
        "## Failures" in md and "`hard`: unsolved goals" in md and "`liar`: re-verification" in md
    )
    assert "- budget: `1x4`" in md
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert render_report(summary, []).startswith("# Evaluation: fake valid")
    _run(_recs("ok1", "hard", "ok_extra"), tmp_path / "b")
    text = compare_runs([tmp_path / "a", tmp_path / "b"])
    assert "33.3%" in text and "66.7%" in text
    assert "t/liar" in text and "t/ok_extra" in text and "t/ok1" not in text.split("differ")[1]
    with pytest.raises(UsageError):
        compare_runs([tmp_path / "empty"])


def test_compare_agrees_with_summary(tmp_path: Path) -> None:
    _run(_recs("ok1", "hard", "ok2"), tmp_path)
    summary = _run(_recs("ok1", "hard"), tmp_path)  # a smaller selection in the same directory
    assert summary["problems"] == 2 and summary["solved"] == 1
    row = compare_runs([tmp_path]).splitlines()[2].split()
    assert row[1:4] == ["2", "1", "50.0%"]
    (tmp_path / "summary.json").unlink()  # killed before any summary: every problem counts
    assert compare_runs([tmp_path]).splitlines()[2].split()[1:3] == ["3", "2"]


def test_budget_object_accepted(tmp_path: Path) -> None:
    summary = _run(_recs("hard"), tmp_path, budget=Budget(2, 3))
    assert read_results(tmp_path)["t/hard"]["samples"] == 6 and summary["config"]["budget"] == "2x3"


def _jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _row(name: str, split: str = "valid") -> dict[str, str]:
    return {
        "name": name,
        "split": split,
        "informal_prefix": "",
        "formal_statement": f"theorem {name} : True := by\n",
        "goal": "⊢ True",
        "header": "",
    }


def test_eval_cli_on_a_jsonl_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from prover.cli import main

    data = _jsonl(tmp_path / "mine.jsonl", [_row("ok1"), _row("hard"), _row("ok2", "test")])
    monkeypatch.setattr("prover.lean.make_checker", lambda backend, **_: FakeChecker())
    monkeypatch.setattr("prover.lean.resolve_backend", lambda backend: "embedded")
    monkeypatch.setattr("prover.policy.load_policy", lambda spec, lean_backend: NoPolicy())
    monkeypatch.setattr("search.get_search", lambda name: FakeSearch())
    out = tmp_path / "out"
    argv = ["eval", "--benchmark", str(data), "--split", "valid", "--search", "sample"]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    assert sorted(read_results(out)) == ["mine/hard", "mine/ok1"]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["solved"] == 1 and summary["config"]["benchmark"] == str(data.resolve())
    assert "solved 1/2" in capsys.readouterr().err
    assert main([*argv[:4], "test", *argv[5:], "--out", str(out)]) == 2  # another split
    assert "split 'valid' -> 'test'" in capsys.readouterr().err


def test_eval_jsonl_ids_and_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from prover.cli import main
    from prover.commands.eval import load_records

    data = _jsonl(tmp_path / "pn.jsonl", [_row("x"), _row("x"), _row("y", "test")])
    name, recs = load_records(str(data), "valid")  # names repeat: keyed by line index
    assert name == str(data.resolve()) and [r.id for r in recs] == ["pn/valid/0", "pn/valid/1"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(_row("a")) + '\n{"name": "b", "split": "valid"}\n', encoding="utf-8")
    for benchmark, split, message in [
        (str(tmp_path / "none.jsonl"), "valid", "none.jsonl does not exist"),
        (str(bad), "valid", "bad.jsonl:2: missing field 'formal_statement'"),
        (str(data), "train", "pn.jsonl: no problems with split 'train' (splits: test, valid)"),
        ("putnam", "valid", "unknown benchmark 'putnam'"),
    ]:
        argv = ["eval", "--benchmark", benchmark, "--split", split, "--out", str(tmp_path / "o")]
        assert main(argv) == 2
        assert message in capsys.readouterr().err
