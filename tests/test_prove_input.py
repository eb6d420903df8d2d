"""`prover prove` without Lean: theorems split out of a .lean file, the header taken from it,
input checks that come before Lean starts, and the from-scratch re-verification of a found
proof (fake checkers and a scripted search, not Lean; the fakes prove only what real Lean proves,
LEAN_PROVES, checked by tests/test_fakes_lean.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from toy_lean import LeanProves, lean_key

from prover.cli import main
from prover.commands.prove import split_theorems
from prover.errors import UsageError
from prover.lean.types import CheckRequest, CheckResult, Verdict
from prover.lean.wrappers import CachedChecker
from search.base import SearchResult

FILE = """import Foo
open Nat

/-- doc of a -/
theorem a (n : Nat) : n + 0 = n := by
  sorry

-- a comment that belongs to the next theorem, not to `a`'s statement
/- and a block comment
   over two lines -/
theorem b (x : Nat) (h₀ : x ∈ [1, 2]) : x ≤ 2 := by

lemma c : True := sorry
"""


def test_split_theorems_drops_sorry_and_trailing_comments() -> None:
    header, goals = split_theorems(FILE, "f.lean")
    assert header == "import Foo\nopen Nat\n\n"  # a's doc comment is not header
    assert [g.name for g in goals] == ["a", "b", "c"]
    assert goals[0].statement == "theorem a (n : Nat) : n + 0 = n := by\n"
    assert goals[1].statement == "theorem b (x : Nat) (h₀ : x ∈ [1, 2]) : x ≤ 2 := by\n"
    assert goals[2].statement == "lemma c : True :=\n"


def test_comment_only_preamble_keeps_the_default_header() -> None:
    text = "-- demo theorems\n/- a block\n   comment -/\n\n/-- doc -/\ntheorem t : True := by\n"
    header, goals = split_theorems(text, "demo.lean")
    assert header is None and [g.name for g in goals] == ["t"]
    assert split_theorems("theorem t : True := by\n", "-")[0] is None


def test_header_keeps_code_and_strings_but_not_commented_out_theorems() -> None:
    text = (
        'import Foo\nnotation "ℕ" => Nat -- why\n'
        "/-\ntheorem old : False := by\n-/\n"
        '/-- doc with a "quote" -/\ntheorem t : True := by\n'
    )
    header, goals = split_theorems(text, "f.lean")
    assert header == 'import Foo\nnotation "ℕ" => Nat\n\n'
    assert [g.name for g in goals] == ["t"]
    header, _ = split_theorems('set_option trace.x "a" -- c\ntheorem t : True := by\n', "f")
    assert header == 'set_option trace.x "a"\n\n'


def test_a_statement_with_a_proof_names_file_and_line() -> None:
    with pytest.raises(UsageError, match=r"f\.lean:3: statement 'd' must end with ':= by'"):
        split_theorems("import Foo\n\ntheorem d : 1 = 1 := by rfl\n", "f.lean")
    with pytest.raises(UsageError, match="no statement given"):
        split_theorems("  \n", "<stdin>")


GOOD = "  trivial\n"
STATEMENT = "theorem t : True := by\n"
# GOOD as the commands of this file send it (RMaxTS indents a completion its own way)
LEAN_PROVES = LeanProves(
    CheckRequest(STATEMENT, GOOD, header_trusted=True),
    CheckRequest(STATEMENT, GOOD.rstrip("\n"), header_trusted=True),
)


class HonestChecker:
    """Not Lean: `sorry` is incomplete, a request in LEAN_PROVES is proved, anything else
    failed."""

    name = "fake"

    def __init__(self) -> None:
        self.calls: list[CheckRequest] = []

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        self.calls.extend(requests)
        return [
            CheckResult(Verdict.INCOMPLETE if "sorry" in r.proof else LEAN_PROVES.verdict(r))
            for r in requests
        ]

    def close(self) -> None:
        pass


def _poison(db: Path, req: CheckRequest) -> None:
    """Write a stale `proved` for `req` into the on-disk cache at `db` (as an older checker, or
    anyone with write access to the file, might have left it)."""
    cache = CachedChecker(HonestChecker(), path=db)
    cache._put(cache._key(req), {**CheckResult(Verdict.PROVED).to_json(), "backend": "fake"})
    assert cache.check([req])[0].proved and cache.hits == 1
    cache.close()


class ClaimingSearch:
    """Claims `proof` solves every task without checking anything."""

    name = "fake"

    def __init__(self, proof: str) -> None:
        self.proof = proof

    def close(self) -> None:
        pass

    def run(self, task, policy, checker, budget, seed=0, checkpoint_dir=None):  # noqa: ANN001
        return SearchResult(True, self.proof, samples_used=1, found_at=1)


class NoPolicy:
    def close(self) -> None:
        pass


@pytest.mark.parametrize(("proof", "solved"), [("  exact bogus\n", False), (GOOD, True)])
def test_found_proof_is_rechecked_past_cache_and_recorder(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    proof: str,
    solved: bool,
) -> None:
    db = tmp_path / "cache.sqlite"
    stale = CheckRequest(STATEMENT, proof, header_trusted=True)
    _poison(db, stale)  # the on-disk cache says `proved`
    honest = HonestChecker()
    monkeypatch.setattr(
        "prover.lean.make_checker", lambda backend, **_: CachedChecker(honest, path=db)
    )
    monkeypatch.setattr("prover.policy.load_policy", lambda spec, lean_backend: NoPolicy())
    monkeypatch.setattr("search.get_search", lambda name: ClaimingSearch(proof))
    argv = ["prove", "--statement", STATEMENT, "--record", str(tmp_path / "rec"), "--json"]
    assert main(argv) == (0 if solved else 1)
    out = json.loads(capsys.readouterr().out)
    assert out["solved"] is solved
    # pre-check, then the re-check (past the stale cache); polishing / the verified partial
    # proof check after that, on the bare checker too
    assert [c.proof for c in honest.calls][:2] == ["\n  sorry", proof]
    assert lean_key(honest.calls[1]) == lean_key(stale)  # the request the cache holds
    if not solved:
        assert out["failure"].startswith("re-verification failed (failed)")


def test_bad_policy_is_refused_before_lean_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_lean(backend: str) -> None:
        raise AssertionError("Lean must not start for a bad --policy")

    monkeypatch.setattr("prover.lean.make_checker", no_lean)
    assert main(["prove", "--statement", STATEMENT, "--policy", "foo:bar"]) == 2
    assert "unknown policy spec 'foo:bar'" in capsys.readouterr().err


class OneProofPolicy:
    """A scripted policy: every completion is GOOD."""

    spec = "scripted"

    def generate(self, tasks, params):  # type: ignore[no-untyped-def]
        from prover.policy.base import Completion

        return [[Completion(GOOD) for _ in range(params.n)] for _ in tasks]

    def close(self) -> None:
        pass


def test_the_statement_reaches_lean_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`prove`'s pre-check and RMaxTS's root-goal probe are the same request, so the statement is
    elaborated once: the second probe is answered by the result cache."""

    honest = HonestChecker()
    monkeypatch.setattr("prover.lean.make_checker", lambda backend, **_: CachedChecker(honest))
    monkeypatch.setattr("prover.policy.load_policy", lambda spec, **kw: OneProofPolicy())
    argv = ["prove", "--statement", STATEMENT, "--budget", "1x2", "--concurrency", "1", "--json"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["solved"]
    probes = [c for c in honest.calls if "sorry" in c.proof]
    assert len(probes) == 1, [c.proof for c in honest.calls]


def test_answer_flags_parse_and_refuse_malformed(capsys: pytest.CaptureFixture[str]) -> None:
    from prover.commands.prove import parse_answers

    assert parse_answers(["a_solution=6", "b_solution = {n | n = 2}"]) == (
        ("a_solution", "6"),
        ("b_solution", "{n | n = 2}"),
    )
    for bad in (["6"], ["a_solution="], ["a b=1"], ["a=1", "a=2"]):
        with pytest.raises(UsageError, match="--answer"):
            parse_answers(bad)
    assert main(["prove", "--statement", "theorem t : True := by", "--answer", "x"]) == 2
    assert "--answer 'x': write NAME=TERM" in capsys.readouterr().err
