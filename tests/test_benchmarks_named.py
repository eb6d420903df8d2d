"""PutnamBench, CombiBench and MOBench: loaders on the shipped files (counts, ids, variants,
answer-comment stripping, the trusted-header `sorry`), metadata, version warnings, and the
MOBench download from its pinned commit against a local HTTP server (sha256 mismatch included).
No Lean: the fake checker proves only what real Lean proves (LEAN_PROVES, checked by
tests/test_fakes_lean.py)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from toy_lean import LeanProves

from benchmarks import datasets
from benchmarks.datasets import (
    REGISTRY,
    Problem,
    answer_comment_lines,
    load_benchmark,
    open_answers,
    version_warning,
)
from benchmarks.harness import run_eval
from benchmarks.results import EvalConfig, read_results
from prover.errors import DataError, UsageError
from prover.lean.types import CheckRequest, CheckResult
from prover.policy.prompts import PromptBuilder, PromptConfig
from search.base import Budget, SearchResult


def test_putnambench_counts_ids_and_variants(data_dir: Path) -> None:
    plain = load_benchmark("putnambench", "test", data_dir, variant="plain")
    sol = load_benchmark("putnambench", "test", data_dir)  # default: with-solutions
    assert len(plain) == len(sol) == REGISTRY["putnambench"].upstream_count == 672
    assert len({r.id for r in plain}) == 672 and plain[0].id == "putnambench/putnam_1962_a1"
    assert {r.variant for r in sol} == {"with-solutions"} and plain[0].variant == "plain"
    assert sum(r.has_answer_sorry for r in plain) == 346
    assert not any(r.has_answer_sorry for r in sol)
    assert all(r.formal_statement.endswith(":= by\n") for r in plain + sol)
    # the plain variant's theorem is about an opaque `sorry` answer; with-solutions inlines it
    p = {r.name: r for r in plain}["putnam_1962_a2"]
    s = {r.name: r for r in sol}["putnam_1962_a2"]
    assert "putnam_1962_a2_solution : Set (ℝ → ℝ) := sorry" in (p.header or "")
    assert "putnam_1962_a2_solution" not in s.formal_statement and "((" in s.formal_statement


def test_combibench_counts_and_trusted_header_sorry(data_dir: Path) -> None:
    recs = load_benchmark("combibench", "test", data_dir)
    plain = load_benchmark("combibench", "test", data_dir, variant="plain")
    assert len(recs) == len(plain) == 101 and len({r.id for r in recs}) == 101
    assert REGISTRY["combibench"].upstream_count == 100  # imo_2019_p5 is staged as two records
    assert sum(r.has_answer_sorry for r in plain) == 46
    p2 = {r.name: r for r in recs}["imo_2019_p5_2"]
    # part 2 uses part 1, which its (trusted) header proves by `sorry`: proved-modulo territory
    assert "theorem imo_2019_p5_1" in (p2.header or "") and ":= by sorry" in (p2.header or "")
    assert "imo_2019_p5_1 hn c" in p2.formal_statement


def test_single_split_and_variant_errors(data_dir: Path) -> None:
    with pytest.raises(UsageError, match="choose test .a single-split benchmark"):
        load_benchmark("putnambench", "valid", data_dir)
    with pytest.raises(UsageError, match="--variant 'answers'"):
        load_benchmark("combibench", "test", data_dir, variant="answers")
    with pytest.raises(UsageError, match="--variant"):
        load_benchmark("minif2f", "test", data_dir, variant="with-solutions")


@pytest.mark.parametrize("variant", ["plain", "with-solutions"])
def test_answer_comments_never_reach_the_policy(data_dir: Path, variant: str) -> None:
    """Every PutnamBench answer comment (`-- 18` after a `sorry` answer definition) is in the
    record's header (what Lean checks) and in neither the task's header nor the prompt."""
    plain = {r.name: r for r in load_benchmark("putnambench", "test", data_dir, variant="plain")}
    recs = load_benchmark("putnambench", "test", data_dir, variant=variant)
    builder = PromptBuilder(PromptConfig())
    stripped = 0
    for r in recs:
        answers = answer_comment_lines(plain[r.name].header or "")
        assert bool(answers) == plain[r.name].has_answer_sorry
        task = r.task()
        for line in answers:
            assert line in (r.header or "").split("\n")  # the original is what Lean checks
            assert line not in (task.header or "").split("\n")
        if answers:
            stripped += 1
            prompt = builder.build(task).text
            for line in answers:
                assert line.strip() not in prompt
        # only the answer lines go: everything else of the header is kept, in order
        kept = [x for x in (r.header or "").split("\n") if x not in set(answers)]
        assert (task.header or "").split("\n") == kept
    assert stripped == 346
    r = {x.name: x for x in recs}["putnam_1962_a2"]
    assert "-- {f | (∃ a c : ℝ" in (r.header or "") and "-- {f" not in (r.task().header or "")


def test_combibench_comments_are_not_answers(data_dir: Path) -> None:
    recs = load_benchmark("combibench", "test", data_dir, variant="plain")
    assert all(r.task().header == r.header for r in recs)  # CombiBench marks no answer comments


# Core-Lean problems in PutnamBench's plain layout (the real ones need Mathlib): an answer slot
# whose answer is in a comment the policy never sees; (header, statement, proof, answer)
TOY_PUTNAM = {
    "toy_a": (
        "def double (n : Nat) : Nat := 2 * n\n\nabbrev toy_a_solution : Nat := sorry\n-- 6\n",
        "theorem toy_a : double 3 = toy_a_solution := by\n",
        "  decide\n",
        "6",
    ),
    "toy_b": (
        "abbrev toy_b_solution : Nat := sorry\n-- 2 + 8\n-- (any sum of 10)\n\n",
        "theorem toy_b : toy_b_solution = 10 := by\n",
        "  rfl\n",
        "2 + 8",
    ),
}
# the re-check and the polishing check of each claimed proof, under the original header
LEAN_PROVES = LeanProves(
    *(
        CheckRequest(stmt, proof, header, header_trusted=True, answers=((f"{n}_solution", a),))
        for n, (header, stmt, proof, a) in TOY_PUTNAM.items()
    )
)


class _Recorder:
    name = "fake"

    def __init__(self) -> None:
        self.requests: list[CheckRequest] = []

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        self.requests.extend(requests)
        return [CheckResult(LEAN_PROVES.verdict(r)) for r in requests]

    def close(self) -> None:
        pass


class _ClaimingSearch:
    """Claims each toy problem's proof and answer without checking anything."""

    name = "fake"

    def __init__(self) -> None:
        self.headers: list[str | None] = []

    def close(self) -> None:
        pass

    def run(self, task, policy, checker, budget, seed=0, checkpoint_dir=None):  # noqa: ANN001
        self.headers.append(task.header)
        _, _, proof, answer = TOY_PUTNAM[task.name.split("/")[-1]]
        slot = task.answer_slots[0]
        return SearchResult(True, proof, samples_used=1, found_at=1, answers=((slot, answer),))


def test_harness_reverifies_the_original_header(tmp_path: Path) -> None:
    recs = [
        open_answers(
            Problem(
                f"putnambench/{n}", n, "test", stmt, header, has_answer_sorry=True, variant="plain"
            )
        )
        for n, (header, stmt, _, _) in TOY_PUTNAM.items()
    ]
    assert all(r.policy_header and "-- " not in r.policy_header for r in recs)
    checker, search = _Recorder(), _ClaimingSearch()
    run_eval(
        recs,
        EvalConfig("none", "fake", Budget(1, 1)),
        tmp_path,
        checker=checker,
        policy=_NoPolicy(),
        search=search,
        stream=io.StringIO(),
    )
    assert search.headers == [r.task().header for r in recs]  # the search saw the stripped one
    rechecks = [q for q in checker.requests if not q.id.endswith(":polish")]
    polished = [q for q in checker.requests if q.id.endswith(":polish")]
    assert [q.header for q in rechecks] == [r.header for r in recs]  # Lean: the original
    assert [q.header for q in polished] == [r.header for r in recs]  # polishing too
    results = read_results(tmp_path)
    assert {k: v["outcome"] for k, v in results.items()} == {r.id: "proved" for r in recs}


class _NoPolicy:
    spec = "none"

    def generate(self, tasks, params):  # noqa: ANN001
        raise AssertionError("not called")

    def close(self) -> None:
        pass


def test_metadata_listing_and_cli(capsys: pytest.CaptureFixture[str]) -> None:
    from prover.cli import main

    with pytest.raises(SystemExit) as ei:
        main(["eval", "--list-benchmarks"])
    assert ei.value.code == 0
    out = capsys.readouterr().out
    for name in ("putnambench", "combibench", "mobench", "minif2f", "proofnet"):
        assert f"\n{name}\n" in f"\n{out}"
    assert "672 problems upstream" in out and "Lean/Mathlib v4.27.0" in out
    assert "Apache-2.0" in out and "MIT" in out and "no LICENSE file" in out
    assert "with-solutions (default)" in out


def test_version_warnings() -> None:
    w = version_warning("putnambench", "native", "4.28.0")
    assert w and "4.27.0" in w and "4.28.0" in w
    assert version_warning("putnambench", "native", "4.27.0") is None
    assert "Mathlib" in (version_warning("combibench", "embedded", "4.28.0-pre") or "")
    assert version_warning("minif2f-core", "embedded", "4.28.0-pre") is None


# ------------------------------------------------------------------------------- MOBench


MOBENCH_ROWS = [
    {
        "name": "imo_2001_p6",
        "split": "test",
        "informal_prefix": "/-- a problem -/\n",
        "header": "import Mathlib\n\nopen Nat\n\n",
        "formal_statement": "theorem imo_2001_p6 (a : ℕ) (h : 0 < a) : 0 < a := by\n  sorry",
    },
    {
        "name": "with_defs",
        "header": "import Mathlib\n",
        "formal_statement": "def f (n : ℕ) : ℕ := n + 1\n\ntheorem with_defs : f 1 = 2 := by sorry",
    },
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "srv"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/dataset", root
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_mobench_download_pinned_and_sha256(
    tmp_path: Path, server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert datasets.file_url("MOBench.jsonl") == (
        "https://raw.githubusercontent.com/Goedel-LM/Goedel-Prover-V2/"
        "2e9036e118464aa96a8bebaf9f5b9d091aa3585c/dataset"
    )
    assert datasets.SHA256["MOBench.jsonl"].startswith("f286b8942a7b")
    url, root = server
    (root / "dataset").mkdir()
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in MOBENCH_ROWS).encode()
    (root / "dataset" / "MOBench.jsonl").write_bytes(body)
    monkeypatch.delenv("PROVER_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(datasets, "MOBENCH_URL", url)
    cached = tmp_path / "cache" / "prover" / "data" / "MOBench.jsonl"
    # the served file is not the pinned one: refused, nothing left behind
    with pytest.raises(DataError, match="sha256"):
        load_benchmark("mobench", "test")
    assert not cached.exists() and not list(cached.parent.iterdir())
    monkeypatch.setitem(datasets.SHA256, "MOBench.jsonl", hashlib.sha256(body).hexdigest())
    recs = load_benchmark("mobench", "test")
    assert cached.read_bytes() == body
    assert [r.id for r in recs] == ["mobench/imo_2001_p6", "mobench/with_defs"]
    a, b = recs
    assert a.formal_statement == "theorem imo_2001_p6 (a : ℕ) (h : 0 < a) : 0 < a := by\n"
    assert a.header == "import Mathlib\n\nopen Nat\n\n" and a.informal_prefix.startswith("/--")
    # definitions before the theorem go to the (trusted) header: one declaration per item
    assert b.formal_statement == "theorem with_defs : f 1 = 2 := by\n"
    assert b.header == "import Mathlib\n\ndef f (n : ℕ) : ℕ := n + 1\n\n" and b.split == "test"
    (root / "dataset" / "MOBench.jsonl").unlink()
    assert len(load_benchmark("mobench", "test")) == 2  # from the verified cache, no fetch


def test_mobench_malformed_names_file_line_field(tmp_path: Path) -> None:
    p = tmp_path / "MOBench.jsonl"
    p.write_text(json.dumps({"name": "x", "formal_statement": "def g := 1"}) + "\n", "utf-8")
    with pytest.raises(
        DataError, match=r"MOBench.jsonl:1: field 'formal_statement' has no theorem"
    ):
        load_benchmark("mobench", "test", tmp_path)


def test_converted_files_are_not_downloaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROVER_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(DataError, match="not published at a pinned URL.*PROVER_DATA_DIR"):
        load_benchmark("putnambench", "test")


def test_results_outcome_defaults() -> None:
    from benchmarks.results import ProblemResult

    assert ProblemResult("a", "a", "test", True).outcome == "proved"
    assert ProblemResult("a", "a", "test", False, error="x").outcome == "error"
    assert ProblemResult("a", "a", "test", False, statement_error="e").outcome == "statement_error"
    with pytest.raises(ValueError, match="outcome"):
        ProblemResult("a", "a", "test", True, outcome="proved_modulo")


def test_plain_variant_answer_slots_and_references(data_dir: Path) -> None:
    """The plain variant's open answers: each `NAME_solution := sorry` of the header is a slot the
    policy answers; PutnamBench's comment after it is the reference (for review, never shown)."""
    plain = load_benchmark("putnambench", "test", data_dir, variant="plain")
    sol = load_benchmark("putnambench", "test", data_dir)
    slotted = [r for r in plain if r.answer_slots]
    assert len(slotted) == 346 and all(r.has_answer_sorry for r in slotted)
    assert not any(r.answer_slots for r in sol)
    for r in slotted:
        assert len(r.reference_answers) == len(r.answer_slots) == 1
        (slot,) = r.answer_slots
        assert f"{slot} :" in (r.header or "") and r.task().answer_slots == (slot,)
    r = {x.name: x for x in plain}["putnam_1962_a2"]
    ((slot, ref),) = r.reference_answers
    assert slot == "putnam_1962_a2_solution" and ref.startswith("{f | (∃ a c : ℝ, 0 ≤ a")
    prompt = PromptBuilder(PromptConfig(mode="v2")).build(r.task()).text
    assert "`putnam_1962_a2_solution` are `sorry`: write your answer" in prompt
    assert ref not in prompt
    combi = load_benchmark("combibench", "test", data_dir, variant="plain")
    assert sum(bool(r.answer_slots) for r in combi) == 46
    assert not any(r.reference_answers for r in combi)  # CombiBench marks no answers
    h6 = {x.name: x for x in combi}["hackmath_6"]
    assert h6.answer_slots == tuple(f"hackmath_6_{i}_solution" for i in (1, 2, 3))


def test_answers_file_sets_fixed_answers_and_names_bad_lines(
    data_dir: Path, tmp_path: Path
) -> None:
    plain = load_benchmark("putnambench", "test", data_dir, variant="plain")
    good = tmp_path / "answers.jsonl"
    good.write_text(
        json.dumps({"id": "putnam_1963_b1", "answers": {"putnam_1963_b1_solution": "2"}}) + "\n",
        encoding="utf-8",
    )
    got = {r.name: r for r in datasets.with_answers(plain, good)}
    task = got["putnam_1963_b1"].task()
    assert task.answers == (("putnam_1963_b1_solution", "2"),)
    assert task.request("  simp", "x").answers == task.answers  # every request carries them
    assert got["putnam_1962_a2"].answers == ()
    cases = [
        ({"id": "nope", "answers": {"a": "1"}}, "answers.jsonl:1: field 'id'"),
        ({"id": "putnam_1963_b1", "answers": {"putnam_1963_b1_solution": 18}}, "Lean terms"),
        ({"id": "putnam_1963_b1", "answers": {"x_solution": "1"}}, "not an open answer slot"),
    ]
    for obj, match in cases:
        good.write_text(json.dumps(obj) + "\n", encoding="utf-8")
        with pytest.raises(DataError, match=match):
            datasets.with_answers(plain, good)
    sol = load_benchmark("putnambench", "test", data_dir)  # answers inlined: no open slots
    good.write_text(json.dumps(cases[0][0] | {"id": "putnam_1963_b1"}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="use --variant plain"):
        datasets.with_answers(sol, good)


def test_answers_read_back_from_every_real_answer_slot(data_dir: Path) -> None:
    """A chat model that restates a real PutnamBench file with the benchmark's answer in each
    slot has exactly that answer read back, for all 346 answer problems (the slot shapes of the
    real headers: multi-line sets, `noncomputable`, functions; the doc comment after them)."""
    from prover.policy.prompts import answers_written

    plain = load_benchmark("putnambench", "test", data_dir, variant="plain")
    n = 0
    for r in plain:
        if not r.answer_slots:
            continue
        task = r.task()
        code = task.header or ""
        for slot, ref in r.reference_answers:
            line = next(x for x in code.split("\n") if f" {slot} " in x and x.endswith("sorry"))
            code = code.replace(line, line[: -len("sorry")] + ref)
        # as a V2 prompt shows it: the informal statement's doc comment before the theorem
        code += r.informal_prefix + r.formal_statement + "\n  sorry\n"
        assert answers_written(code, task) == r.reference_answers, r.name
        n += 1
    assert n == 346
