"""Budget accounting without Lean: a scripted policy with a tokenizer and a fake checker (not Lean)
that reports CPU/wall seconds, cache hits, a proved-modulo rejection and a statement error.  The
real sampling search runs between them; results.jsonl, summary.json, report.md, the pass curves
and `compare_runs` at equal budget are checked."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

from toy_lean import LeanProves

from benchmarks.datasets import Problem
from benchmarks.harness import run_eval
from benchmarks.report import compare_runs, solved_at
from benchmarks.results import EvalConfig, read_results
from prover.lean.types import CheckRequest, CheckResult, LeanMessage, Verdict
from prover.policy.base import Completion, ProofTask, SamplingParams
from search import get_search
from search.base import Budget

MODULO = "proved modulo header declaration(s) proved by sorry: part1"
GOOD = "  trivial\n"
# the one proof the scripted checker says `proved` for (real Lean proves it: tests/test_fakes_lean.py)
LEAN_PROVES = LeanProves(
    CheckRequest("theorem third : True := by\n", GOOD.rstrip(), header_trusted=True),
)


class ScriptedChecker:
    """Not Lean: a request in LEAN_PROVES proves, `uses_part1` is proved modulo a header sorry, a statement
    containing `BAD` does not elaborate; each item costs 0.5 CPU-s and 0.25 wall-s, except cache
    hits (a repeated sample; re-checks always reach "Lean")."""

    name = "fake"
    lean_version = "9.9.9"

    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        out = []
        for r in requests:
            key = (r.formal_statement, r.proof)
            cached = key in self.seen and r.id.rsplit(":", 1)[-1].isdigit()  # samples only
            self.seen.add(key)
            cpu_s, time_s = (0.0, 0.0) if cached else (0.5, 0.25)
            if "BAD" in r.formal_statement:
                res = CheckResult(
                    Verdict.FAILED,
                    reason="the statement does not elaborate (error before the proof)",
                    first_error=LeanMessage("error", 0, 3, 0, 5, "unknown identifier 'BAD'"),
                    cpu_s=cpu_s,
                    time_s=time_s,
                )
            elif "uses_part1" in r.proof:
                res = CheckResult(Verdict.REJECTED, reason=MODULO, cpu_s=cpu_s, time_s=time_s)
            elif r in LEAN_PROVES:
                res = CheckResult(Verdict.PROVED, cpu_s=cpu_s, time_s=time_s)
            else:
                res = CheckResult(Verdict.FAILED, cpu_s=cpu_s, time_s=time_s)
            res.cached = cached
            out.append(res)
        return out

    def close(self) -> None:
        pass


class TokenPolicy:
    """Returns `script[name][i]` for the i-th sample of a task; 7 prompt tokens, 3 per sample."""

    spec = "scripted"

    def __init__(self, script: dict[str, list[str]]) -> None:
        self.script = script
        self.calls: dict[str, int] = {}

    def count_tokens(self, text: str) -> int:
        return 7 if text == "PROMPT" else len(text.split())

    def generate(
        self, tasks: Sequence[ProofTask], params: SamplingParams
    ) -> list[list[Completion]]:
        out = []
        for t in tasks:
            name = t.name.rsplit("/", 1)[-1]
            comps = []
            for _ in range(params.n):
                i = self.calls.get(name, 0)
                self.calls[name] = i + 1
                text = self.script[name][min(i, len(self.script[name]) - 1)]
                comps.append(Completion(text, prompt="PROMPT", num_tokens=3))
            out.append(comps)
        return out

    def close(self) -> None:
        pass


def _problem(name: str, stmt: str = "") -> Problem:
    return Problem(f"t/{name}", name, "test", stmt or f"theorem {name} : True := by\n")


def _run(out: Path, script: dict[str, list[str]], problems: list[Problem], budget: str) -> dict:
    return run_eval(
        problems,
        EvalConfig("scripted", "sample", Budget.parse(budget), benchmark="fake", split="test"),
        out,
        checker=ScriptedChecker(),
        policy=TokenPolicy(script),
        search=get_search("sample", batch_size=1),
        stream=io.StringIO(),
    )


SCRIPT = {
    "third": ["  nope\n", "  nope\n", GOOD],
    "never": ["  nope\n"],
    "modulo": ["  nope\n", "  exact uses_part1\n"],
    "broken": [GOOD],
}
PROBLEMS = [
    _problem("third"),
    _problem("never"),
    _problem("modulo"),
    _problem("broken", "theorem broken : BAD := by\n"),
]


def test_budget_columns_outcomes_and_curves(tmp_path: Path) -> None:
    summary = _run(tmp_path, SCRIPT, PROBLEMS, "1x4")
    rows = read_results(tmp_path)
    third, never, modulo, broken = (rows[f"t/{n}"] for n in SCRIPT)
    # `third`: 3 samples (2 fail, the 3rd proves; the 2nd `nope` is a cache hit), then the
    # search's and the harness's re-checks
    assert third["outcome"] == "proved" and third["found_at"] == 3 and third["samples"] == 3
    assert (third["verifications"], third["cache_hits"]) == (4, 1)
    assert third["lean_cpu_s"] == 2.0 and third["lean_wall_s"] == 1.0
    assert (third["tokens_in"], third["tokens_out"]) == (3 * 7, 3 * 3)
    assert never["outcome"] == "not_proved" and never["samples"] == 4
    assert (never["verifications"], never["cache_hits"], never["lean_cpu_s"]) == (1, 3, 0.5)
    # Lean's "proved modulo a header `sorry`" is its own outcome, never `proved`
    assert modulo["outcome"] == "proved_modulo" and not modulo["solved"]
    assert modulo["proof"] == "  exact uses_part1" and MODULO in modulo["failure"]
    # a statement that does not elaborate is counted apart from "not proved"
    assert broken["outcome"] == "statement_error" and not broken["solved"]
    assert "unknown identifier 'BAD'" in broken["statement_error"]
    assert summary["outcomes"] == {
        "proved": 1,
        "proved_modulo": 1,
        "not_proved": 1,
        "statement_error": 1,
        "error": 0,
    }
    b = summary["budget"]
    assert b["samples"] == 3 + 4 + 4 + 4 and b["tokens_out"] == 3 * b["samples"]
    assert b["tokens_in"] == 7 * b["samples"]  # one prompt per generate call (batch_size 1)
    assert b["verifications"] == sum(r["verifications"] for r in rows.values())
    assert b["lean_cpu_s"] == round(sum(r["lean_cpu_s"] for r in rows.values()), 3)
    assert summary["versions"] == {"backend": "fake", "lean": "9.9.9", "mathlib": ""}
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "| samples | verifications | tokens in | tokens out | Lean CPU s | wall s |" in md
    assert "| third | test | ✓ | proved | 3 | 3 | 4 | 21 | 9 | 2.00 |" in md
    assert "| modulo | test | ✗ | proved_modulo |" in md
    assert "proved modulo 1" in md and "statement error 1" in md
    assert "- checked with lean: `9.9.9`" in md
    assert (tmp_path / "pass_curve.png").stat().st_size > 0
    assert solved_at(list(rows.values()), samples=2) == 0
    assert solved_at(list(rows.values()), samples=3) == 1
    assert solved_at(list(rows.values()), cpu_s=1.5) == 0
    assert solved_at(list(rows.values()), cpu_s=2.0) == 1


def test_compare_runs_at_equal_budget(tmp_path: Path) -> None:
    fast = {"third": [GOOD], "never": ["  nope\n"]}
    probs = [_problem("third"), _problem("never")]
    _run(tmp_path / "big", SCRIPT, probs, "1x8")  # solves `third` at sample 3
    _run(tmp_path / "small", fast, probs, "1x2")  # solves it at sample 1
    text = compare_runs([tmp_path / "big", tmp_path / "small"])
    head, _, big, small = text.splitlines()[:4]
    assert "solved@2 samples" in head and "solved@1.5 CPU-s" in head
    # at the budget both reached (2 samples, 1.5 CPU-s per problem) only `small` has solved it
    assert big.split()[5:7] == ["0", "0"] and small.split()[5:7] == ["1", "1"]
    assert "equal budget" in text


def test_policy_without_tokenizer_counts_no_tokens(tmp_path: Path) -> None:
    class NoTok(TokenPolicy):
        count_tokens = None  # type: ignore[assignment]

    run_eval(
        [_problem("third")],
        EvalConfig("scripted", "sample", Budget(1, 4)),
        tmp_path,
        checker=ScriptedChecker(),
        policy=NoTok(SCRIPT),
        search=get_search("sample", batch_size=1),
        stream=io.StringIO(),
    )
    row = read_results(tmp_path)["t/third"]
    assert row["tokens_in"] is None and row["tokens_out"] is None
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["budget"]["tokens_in"] is None
    assert "| - | - |" in (tmp_path / "report.md").read_text(encoding="utf-8")


# --- issue 24 ----------------------------------------------------------------------------------


def test_statement_error_is_only_the_benchmarks_own() -> None:
    from benchmarks.budget import Meter

    meter = Meter("theorem broken : BAD := by\n")
    lemma = CheckRequest("theorem gap_1 (h : BAD) : BAD := by", "\n  sorry")  # a lemma's request
    meter.add_results([lemma], ScriptedChecker().check([lemma]))
    assert meter.statement_error is None
    own = CheckRequest("theorem broken : BAD := by\n", GOOD)
    meter.add_results([own], ScriptedChecker().check([own]))
    assert meter.statement_error is not None and "'BAD'" in meter.statement_error


class SkipChecker:
    """Not Lean, and never `proved`: each `skip` line of a proof is a step to the next goal
    `⊢ gK`; anything else fails there.  Every item costs 0.5 CPU-s and 0.25 wall-s."""

    name = "skips"
    lean_version = "0"

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        from prover.lean.types import TacticStep

        out = []
        for r in requests:
            steps, offset, verdict, msgs = [], 0, Verdict.INCOMPLETE, []
            for n, line in enumerate(r.proof.split("\n"), 1):
                start, offset = offset, offset + len(line) + 1
                if line.strip() in ("", "by", "sorry"):
                    continue
                if line.strip() != "skip":
                    e = LeanMessage("error", n, 2, n, len(line), "unknown tactic")
                    verdict, msgs = Verdict.FAILED, [e]
                    break
                goal = f"⊢ g{len(steps)}"
                steps.append(
                    TacticStep(line, start, start + len(line), goal, f"⊢ g{len(steps) + 1}")
                )
            out.append(
                CheckResult(
                    verdict,
                    messages=msgs,
                    first_error=msgs[0] if msgs else None,
                    steps=steps if r.want_steps else None,
                    initial_goals="⊢ g0",
                    cpu_s=0.5,
                    time_s=0.25,
                )
            )
        return out

    def close(self) -> None:
        pass


class SkipPolicy:
    """One to three `skip` lines (or a bad line) per sample, from the task's own seed; 5 prompt
    tokens and 2 per sample; raises KeyboardInterrupt at call `interrupt_at` (a Ctrl-C)."""

    spec = "skips"

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.calls, self.interrupt_at = 0, interrupt_at

    def count_tokens(self, text: str) -> int:
        return 5

    def generate(self, tasks, params):
        import random

        self.calls += 1
        if self.calls == self.interrupt_at:
            raise KeyboardInterrupt
        out = []
        for t in tasks:
            rng = random.Random(f"{t.seed}:{t.prefix}")
            lines = ["  skip"] * rng.randint(1, 3) + (["  oops"] if rng.random() < 0.3 else [])
            lead = "" if t.prefix else "\n"
            out.append([Completion(lead + "\n".join(lines), prompt="P", num_tokens=2)])
        return out

    def close(self) -> None:
        pass


def test_a_resumed_problem_keeps_the_budget_it_spent(tmp_path: Path) -> None:
    import pytest

    def run(out: Path, policy: SkipPolicy) -> dict:
        run_eval(
            [_problem("never")],
            EvalConfig("skips", "rmaxts", Budget(1, 8)),
            out,
            checker=SkipChecker(),
            policy=policy,
            search=get_search("rmaxts", concurrency=2, checkpoint_every=2),
            tree_dir=out / "trees",
            stream=io.StringIO(),
        )
        return read_results(out)["t/never"]

    whole = run(tmp_path / "whole", SkipPolicy())
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C in the third round: two rounds are kept
        run(tmp_path / "resumed", SkipPolicy(interrupt_at=3))
    resumed = run(tmp_path / "resumed", SkipPolicy())
    assert whole["samples"] == resumed["samples"] == 8
    assert whole["verifications"] == 9  # the `sorry` probe and 8 samples
    keys = ("verifications", "cache_hits", "lean_cpu_s", "lean_wall_s", "tokens_in", "tokens_out")
    assert {k: resumed[k] for k in keys} == {k: whole[k] for k in keys}
