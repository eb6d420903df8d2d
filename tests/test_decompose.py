"""Subgoal decomposition (`search/decompose.py`): lemma extraction, re-indentation, the options,
and on real Lean a replayed sketch of a miniF2F-core problem that RMaxTS alone misses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prover.lean.types import TacticStep
from search.decompose import (
    DecomposeConfig,
    Gap,
    fill,
    find_gaps,
    first_goal,
    in_place_statement,
    lemma_statement,
    lemma_type,
    reindent,
)

FIXTURES = Path(__file__).parent / "fixtures"
SKETCHES = FIXTURES / "decompose_sketches.jsonl"
BAD_SKETCH = FIXTURES / "decompose_bad_sketch.jsonl"
CORE = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "minif2f_core.json"
# miniF2F valid, in miniF2F-core; RMaxTS + automation at 1x16 does not prove it (asserted below)
NAME = "amc12_2001_p2"
STATEMENT = (
    "theorem amc12_2001_p2 (a b n : ℕ) (h₀ : 1 ≤ a ∧ a ≤ 9) (h₁ : 0 ≤ b ∧ b ≤ 9) "
    "(h₂ : n = 10 * a + b)\n  (h₃ : n = a * b + a + b) : b = 9 := by\n"
)


def test_first_goal_reads_hypotheses_and_target() -> None:
    goals = (
        "case h\nx y : ℤ\nh₀ : 0 < y\nv : ℕ := 3\nh : x +\n    y = 1\n⊢ x = 26\ncase two\n⊢ True"
    )
    hyps, target = first_goal(goals)
    assert [(h.names, h.type) for h in hyps] == [
        (("x", "y"), "ℤ"),
        (("h₀",), "0 < y"),
        (("v",), "ℕ"),  # a let value is dropped
        (("h",), "x +\n    y = 1"),
    ]
    assert target == "x = 26"


def test_lemma_statement_names_hidden_hypotheses() -> None:
    hyps, target = first_goal("n : ℕ\nh✝ : n > 0\nh✝¹ : n < 9\n⊢ n ≠ 0")
    stmt = lemma_statement("gap_1", hyps, target)
    assert stmt == "theorem gap_1 (n : ℕ) (h_hidden : n > 0) (h_hidden1 : n < 9) : n ≠ 0 := by"
    assert lemma_type(stmt) == "(n : ℕ) (h_hidden : n > 0) (h_hidden1 : n < 9) : n ≠ 0"


def test_reindent_and_fill_put_proofs_at_their_gaps() -> None:
    assert reindent("\n  intro x\n  cases x\n    · rfl", 4) == "intro x\n    cases x\n      · rfl"
    sketch = "\n  have h : P := by\n    sorry\n  have g : Q := by sorry\n  exact g"
    a, b = sketch.index("sorry"), sketch.rindex("sorry")
    gaps = [Gap(1, a, a + 5, 3, 4, ""), Gap(2, b, b + 5, 4, 20, "")]
    out = fill(sketch, gaps, {1: "\n  constructor\n  simp", 2: "\n  omega"})
    assert (
        out
        == "\n  have h : P := by\n    constructor\n    simp\n  have g : Q := by omega\n  exact g"
    )


def _steps(sketch: str) -> list[TacticStep]:
    a, b = sketch.index("sorry"), sketch.rindex("sorry")
    h1 = sketch.index("have h")
    return [
        TacticStep(sketch[h1 : a + 5], h1, a + 5, "⊢ R", "h : P\n⊢ R", 1),
        TacticStep("sorry", a, a + 5, "⊢ P", "no goals", 2),
        TacticStep("sorry", b, b + 5, "h : P\n⊢ R", "no goals", 1),
    ]


def test_find_gaps_and_the_in_place_statement() -> None:
    sketch = "\n  have h : P := by\n    sorry\n  sorry"
    steps = _steps(sketch)
    gaps = find_gaps(sketch, steps)
    assert [(g.index, g.line, g.column, g.goal) for g in gaps] == [
        (1, 3, 4, "⊢ P"),
        (2, 4, 2, "h : P\n⊢ R"),
    ]
    stmt = "theorem t : R := by\n"
    first = in_place_statement(stmt, sketch, gaps, gaps[0], steps, {2: "\n  exact foo"})
    # the gap's goal last: the fixed text one column left of the searched proof's column
    assert first == "theorem t : R := by\n suffices h : P by\n  exact foo\n exact by"
    last = in_place_statement(stmt, sketch, gaps, gaps[1], steps, {1: "\n  trivial"})
    assert last == "theorem t : R := by\n have h : P := by\n   trivial\n exact by"
    with pytest.raises(ValueError, match="not a tactic `sorry`"):
        find_gaps("\n  exact sorry", [])


def test_config_and_options_validate(tmp_path: Path, capsys) -> None:
    from prover.cli import main

    with pytest.raises(ValueError, match="sketches"):
        DecomposeConfig(sketches=0)
    with pytest.raises(ValueError, match="sketch_policy"):
        DecomposeConfig(sketch_policy="nope:x")
    with pytest.raises(ValueError, match="subgoal_search 'sample'"):
        DecomposeConfig(correction={"fix_rounds": 1})  # type: ignore[arg-type]
    assert DecomposeConfig(subgoal_cache="off").cache_dir() is None
    rc = main(["prove", "--statement", STATEMENT, "--search", "decompose"])
    assert rc == 2 and "--sketch-policy" in capsys.readouterr().err
    rc = main(["prove", "--statement", STATEMENT, "--sketch-policy", f"replay:{SKETCHES}"])
    assert rc == 2 and "only applies to --search decompose" in capsys.readouterr().err


# --- real Lean ---------------------------------------------------------------------------------


class _Sink:
    def __init__(self) -> None:
        self.records: list = []

    def record(self, checked, backend: str) -> None:
        self.records += checked


@pytest.mark.lean
def test_decompose_proves_what_rmaxts_misses_and_reuses_cached_lemmas(
    embedded_checker, shared_checker, tmp_path: Path, capsys
) -> None:
    from prover.cli import main
    from prover.lean.types import CheckRequest, Verdict
    from prover.lean.wrappers import RecordingChecker
    from prover.policy.automation import AutomationPolicy
    from prover.policy.base import ProofTask
    from search import get_search
    from search.base import Budget

    header = json.loads(CORE.read_text(encoding="utf-8"))["header"]
    assert NAME in json.loads(CORE.read_text(encoding="utf-8"))["valid"]
    task = ProofTask(formal_statement=STATEMENT, header=header, name=NAME)
    budget = Budget(1, 16)
    alone = get_search("rmaxts", concurrency=4).run(
        task, AutomationPolicy(), embedded_checker, budget
    )
    assert not alone.solved  # RMaxTS with automation does not prove it at 1x16

    # the CLI: sketch with two `have … := by sorry` gaps, automation proves both lemmas
    cache = tmp_path / "subgoals"
    (tmp_path / "p.lean").write_text(header + STATEMENT, encoding="utf-8")
    args = ["prove", str(tmp_path / "p.lean"), "--search", "decompose", "--budget", "1x16"]
    args += ["--subgoal-cache", str(cache), "--json"]
    rc = main([*args, "--sketch-policy", f"replay:{SKETCHES}"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0, out
    assert out["proof"].count("have ") == 2 and "sorry" not in out["proof"]
    assert out["samples"] == 4  # sketch, one sample per lemma, the final check
    (fresh,) = embedded_checker.check(
        [CheckRequest(STATEMENT, out["proof"], header, header_trusted=True)]
    )
    assert fresh.verdict is Verdict.PROVED  # the recomposed proof, one declaration, from scratch

    # a second run reuses both cached lemmas, each re-verified by Lean
    sink = _Sink()
    recording = RecordingChecker(embedded_checker, sink)
    search = get_search("decompose", sketch_policy=f"replay:{SKETCHES}", subgoal_cache=str(cache))
    again = search.run(task, AutomationPolicy(), recording, budget)
    assert again.solved and again.proof == out["proof"]
    assert again.stats["subgoal_cache_hits"] == 2 and again.stats["subgoal_cache_reverified"] == 2
    assert [g["source"] for g in again.stats["gaps"]] == ["cache", "cache"]
    kinds = [(ctx.problem_id, ctx.kind, res.cached) for _, res, ctx in sink.records]
    assert kinds == [
        (NAME, "sketch", False),
        (f"{NAME}/gap1", "final", False),  # the cached lemma proof, re-checked by Lean
        (f"{NAME}/gap2", "final", False),
        (NAME, "final", False),
    ]

    # a sketch that does not elaborate is reported as such, with Lean's error
    rc = main([*args, "--sketch-policy", f"replay:{BAD_SKETCH}"])
    bad = json.loads(capsys.readouterr().out)
    assert rc == 1 and "sketch does not elaborate" in bad["failure"], bad
    assert "Application type mismatch" in bad["failure"] or "mismatch" in bad["failure"]


# --- issue 24 -----------------------------------------------------------------------------------


class _Refuses:
    """Not Lean: every item fails with an error (nothing is ever proved here)."""

    name = "refuses"

    def __init__(self) -> None:
        self.requests: list = []

    def check(self, reqs):
        from prover.lean.types import CheckResult, LeanMessage, Verdict

        self.requests += reqs
        e = LeanMessage("error", 2, 4, 2, 9, "unknown identifier 'x_hidden'")
        return [CheckResult(Verdict.FAILED, messages=[e], first_error=e) for _ in reqs]

    def close(self) -> None:
        pass


def test_two_gaps_that_do_not_transplant_are_not_searched_in_place() -> None:
    # an in-place statement for one gap would still hold the other gap's `sorry`: Lean never
    # proves it, so the search is not run (no budget burnt) and the reason says why
    from prover.policy.base import ProofTask
    from search.base import Budget
    from search.decompose import DecomposeSearch, _Run

    sketch = "\n  have h : P := by\n    sorry\n  sorry"
    steps = _steps(sketch)
    gaps = find_gaps(sketch, steps)
    stmt = "theorem t : R := by\n"
    assert in_place_statement(stmt, sketch, gaps, gaps[0], steps, {}) is None
    assert in_place_statement(stmt, sketch, gaps, gaps[1], steps, {}) is None
    gaps[0].proof, gaps[1].proof = "\n  exact x_hidden", "\n  exact x_hidden"

    class NeverSearched:
        name = "never"

        def run(self, *a, **k):
            raise AssertionError(f"an in-place search was started: {a[0].formal_statement!r}")

    owner = DecomposeSearch(sketch_policy="replay:none.jsonl")
    checker = _Refuses()
    run = _Run(owner, ProofTask(stmt, name="t"), None, checker, Budget(1, 4), 0)  # type: ignore[arg-type]
    run.search = NeverSearched()  # type: ignore[assignment]
    proof, why = run.recompose(sketch, gaps, steps, {})
    assert proof is None
    assert run.used == 3  # the recomposed proof, then each gap alone
    assert "gap 1" in why and "gap 2" in why and "in-place search needs every other gap" in why
    assert all("sorry" not in r.formal_statement for r in checker.requests)


def test_sketcher_is_loaded_once_by_concurrent_workers(monkeypatch) -> None:
    import threading

    import prover.policy
    from search.decompose import DecomposeSearch

    search = DecomposeSearch(sketch_policy="replay:none.jsonl")
    second = threading.Event()  # a second worker asked for the sketcher
    loads: list[str] = []

    class Watched:  # the lock the fix takes, watched: a second acquirer says so
        def __init__(self) -> None:
            self.inner = threading.Lock()

        def __enter__(self):
            if not self.inner.acquire(blocking=False):
                second.set()
                self.inner.acquire()
            return self

        def __exit__(self, *exc) -> None:
            self.inner.release()

    def load_policy(spec, **kw):
        loads.append(spec)
        if len(loads) == 1:  # the first load lasts until the second worker arrives
            assert second.wait(60), "the second worker never arrived"
        else:
            second.set()
        return object()

    monkeypatch.setattr(prover.policy, "load_policy", load_policy)
    monkeypatch.setattr(search, "_sketcher_lock", Watched(), raising=False)
    got: list[object] = []
    workers = [
        threading.Thread(target=lambda: got.append(search.sketcher("embedded"))) for _ in "ab"
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert len(loads) == 1 and len(got) == 2 and got[0] is got[1]


def test_subgoal_cache_is_off_unless_asked_for(tmp_path: Path) -> None:
    # a run's results must not depend on earlier runs: no cache by default
    assert DecomposeConfig().cache_dir() is None
    assert DecomposeConfig(subgoal_cache="off").cache_dir() is None
    assert DecomposeConfig(subgoal_cache=str(tmp_path)).cache_dir() == tmp_path


# a hypothesis holding a proof: Lean prints it `⟨1, ⋯⟩`, and a lemma stated from that goal does
# not elaborate (`⋯` is read as `_`, and the proof it stands for cannot be synthesized)
FIN = "theorem fin_val (x : Fin 3) (h : x = ⟨1, by decide⟩) : x.val = 1 := by"
FIN_SKETCH_GAP = "\n  have g : x.val = 1 := by sorry\n  exact g"  # gap_1 (… (h : x = ⟨1, ⋯⟩) …)
FIN_SKETCH_OK = "\n  subst h\n  have g : (1 : Nat) = 1 := by sorry\n  exact g"


def _replay(tmp_path: Path, *sketches: str) -> str:
    f = tmp_path / "sketches.jsonl"
    rows = [json.dumps({"name": "fin_val", "completion": s}) for s in sketches]
    f.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return f"replay:{f}"


@pytest.mark.lean
def test_a_lemma_that_does_not_elaborate_leaves_its_gap_open_and_the_next_sketch_is_tried(
    embedded_checker, tmp_path: Path
) -> None:
    from prover.policy.automation import AutomationPolicy
    from prover.policy.base import ProofTask
    from search import get_search
    from search.base import Budget

    search = get_search(
        "decompose",
        sketch_policy=_replay(tmp_path, FIN_SKETCH_GAP, FIN_SKETCH_OK),
        sketches=2,
        subgoal_config={"concurrency": 2},
    )
    res = search.run(
        ProofTask(FIN, name="fin_val"), AutomationPolicy(), embedded_checker, Budget(1, 4)
    )
    first, second = res.stats["sketches"]
    (gap,) = first["gaps"]
    assert not gap["proved"] and "⋯" in gap["lemma"]
    assert "does not elaborate" in gap["open_reason"] and "synthesize" in gap["open_reason"]
    assert res.solved and res.run_index == 1 and second["proved"], res.failure
    assert "subst h" in res.proof


@pytest.mark.lean
def test_a_lemmas_statement_error_is_not_the_benchmarks(embedded_checker, tmp_path: Path) -> None:
    # with the sample subgoal search every lemma sample is "the statement does not elaborate";
    # that is Lean's answer about the lemma: the problem is `not_proved`, not `statement_error`
    import io

    from benchmarks.datasets import Problem
    from benchmarks.harness import run_eval
    from benchmarks.results import EvalConfig, read_results
    from prover.policy.automation import AutomationPolicy
    from search import get_search
    from search.base import Budget

    search = get_search(
        "decompose", sketch_policy=_replay(tmp_path, FIN_SKETCH_GAP), subgoal_search="sample"
    )
    out = tmp_path / "run"
    summary = run_eval(
        [Problem("t/fin_val", "fin_val", "test", FIN + "\n")],
        EvalConfig("automation", "decompose", Budget(1, 2), polish=False),
        out,
        checker=embedded_checker,
        policy=AutomationPolicy(),
        search=search,
        stream=io.StringIO(),
    )
    row = read_results(out)["t/fin_val"]
    assert row["outcome"] == "not_proved" and row["statement_error"] == "", row
    assert "gap 1" in row["failure"] and summary["outcomes"]["statement_error"] == 0
