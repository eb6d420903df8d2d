"""What the suite claims about Lean without running it, checked on the real embedded Lean (the
session's checker: no new Lean process; one batch for everything but the trusted-header test):

- every request a fake checker of the suite may answer `proved` for (each module's
  `LEAN_PROVES`, tests/toy_lean.py, and the pairs of the checker-process stand-in
  tests/fixtures/fake_checker.py) is proved by Lean, and the stand-in's replies to them (verdict,
  steps, goals) are Lean's;
- `tests/fixtures/checkresults.json` (what tests/test_truncate.py replays) is what Lean says
  today (regenerate it with tests/fixtures/capture_checkresults.py);
- items are isolated: an item cannot use a theorem an earlier item of the batch proved, nor a
  definition of another item's header;
- a 100 KB proof of 2-, 3- and 4-byte characters crosses the embedded Lean's patched stdin
  reader (65536-byte reads: characters split across reads) intact;
- a trusted header (which may run `#eval`: it is the user's own file) writes only into its
  process's scratch directory: `..` from `/scratch` or the library mount stays inside the
  WebAssembly file system, and the library mount is read-only."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import secrets
import sys
from pathlib import Path
from typing import Any

import pytest
from toy_lean import LeanProves, lean_key

from prover.lean.checker import result_from_reply
from prover.lean.types import CheckRequest, CheckResult, Verdict

pytestmark = pytest.mark.lean

TESTS = Path(__file__).resolve().parent


def fake_tables() -> dict[str, LeanProves]:
    """Every fake's table, by module: first the (statement, proof) pairs of the checker-process
    stand-in tests/fixtures/fake_checker.py (as `fake_checker`; its requests ask for steps,
    which its test compares), then every module-level `LEAN_PROVES` of tests/*.py."""
    fake = _fixture_module("fake_checker")
    pairs = fake.LEAN_PROVES
    tables = {"fake_checker": LeanProves(*(CheckRequest(s, p, want_steps=True) for s, p in pairs))}
    for path in sorted(TESTS.glob("*.py")):
        if not re.search(r"^LEAN_PROVES\s*=", path.read_text(encoding="utf-8"), re.M):
            continue
        table = importlib.import_module(path.stem).LEAN_PROVES
        assert isinstance(table, LeanProves), f"{path.name}: LEAN_PROVES must be a LeanProves"
        tables[path.stem] = table
    return tables


def _fixture_module(name: str) -> Any:
    """tests/fixtures/NAME.py as a module."""
    path = TESTS / "fixtures" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# ---- the items of the one batch ---------------------------------------------------------------

S_ISO = "theorem iso_a : 2 + 2 = 4 := by"
ISOLATION = [
    CheckRequest(S_ISO, "\n  rfl", id="iso:declare"),  # proves `iso_a`
    CheckRequest("theorem iso_b : 2 + 2 = 4 := by", "\n  exact iso_a", id="iso:use"),
    CheckRequest(S_ISO, "\n  decide", id="iso:again"),  # the same name again: not "declared"
    CheckRequest(
        "theorem iso_c : iso_def = 1 := by", "\n  rfl", "def iso_def : Nat := 1\n", "iso:hdr", True
    ),
    CheckRequest("theorem iso_d : iso_def = 1 := by", "\n  rfl", id="iso:hdr_use"),
]

# one identifier of 2-, 3- and 4-byte letters (α, ℕ, 𝔸), 50 KB in UTF-8, declared and used: a
# byte lost or garbled where a read splits a character makes the two spellings differ
NAME = "h" + "αℕ𝔸" * 5600
BIG = [
    CheckRequest(
        "theorem big_ok : True := by",
        f"\n  have {NAME} : True := trivial\n  exact {NAME}",
        id="big",
    ),
    # the same text with an error after the name on its line: its column counts code points
    CheckRequest(
        "theorem big_bad : True := by",
        f"\n  have {NAME} : True := trivial; exact nope\n  exact {NAME}",
        id="big:error",
    ),
]


@pytest.fixture(scope="module")
def batch(embedded_checker) -> dict[str, Any]:
    """One `check` call for every test of this module but the trusted-header one."""
    fixture = _fixture_module("capture_checkresults")
    tables = fake_tables()
    fakes: list[tuple[str, CheckRequest]] = []
    seen: set[tuple[object, ...]] = set()
    for module, table in tables.items():
        for req in table:
            if lean_key(req) not in seen:
                seen.add(lean_key(req))
                fakes.append((module, req))
    requests = [*ISOLATION, *BIG, *fixture.requests(), *(r for _, r in fakes)]
    restarts = embedded_checker.stats["restarts"]
    results = embedded_checker.check(requests)
    it = iter(results)
    return {
        "restarts": embedded_checker.stats["restarts"] - restarts,
        "tables": tables,
        "isolation": {r.id: next(it) for r in ISOLATION},
        "big": {r.id: next(it) for r in BIG},
        "fixture": (fixture, [next(it) for _ in fixture.CASES]),
        "fakes": [(m, r, next(it)) for m, r in fakes],
    }


def _why(res: CheckResult) -> str:
    return res.first_error.text if res.first_error else (res.reason or "")


def test_every_fake_proves_only_what_lean_proves(batch: dict[str, Any]) -> None:
    # the fakes of these modules answer `proved` exactly for their table (a module missing here
    # lost its table, or a new fake with one is not found)
    assert {
        "toy_lean",  # test_answers, test_rl_search_context, test_search_reverify use it
        "fake_checker",  # tests/fixtures: test_checker_process, test_native_launch use it
        "serve_util",
        "test_benchmarks_named",
        "test_budget",
        "test_cache",
        "test_cli_verify",
        "test_harness",
        "test_prove_input",
        "test_ray",
        "test_rl_collect",
        "test_rl_dedup",
        "test_rl_records",
        "test_rl_reward",
        "test_rl_verl",
        "test_search_persistence",
    } <= set(batch["tables"])
    assert len(batch["fakes"]) >= 30
    wrong = [
        f"{module}: {req.formal_statement!r} {req.proof!r} (header {req.header!r}, answers "
        f"{req.answers}): {res.verdict.value} {_why(res)}"
        for module, req, res in batch["fakes"]
        if res.verdict is not Verdict.PROVED
    ]
    assert not wrong, "a fake says `proved` where Lean does not:\n" + "\n".join(wrong)


def test_the_fake_checker_process_replies_as_lean(batch: dict[str, Any]) -> None:
    """tests/fixtures/fake_checker.py's reply to each pair it proves is Lean's: the verdict, and
    the steps and initial goals it gives for a one-line proof."""
    fake = _fixture_module("fake_checker")
    got = [(req, res) for module, req, res in batch["fakes"] if module == "fake_checker"]
    assert len(got) == len(fake.LEAN_PROVES) == len(set(fake.LEAN_PROVES))  # each one checked
    wrong = []
    for req, lean in got:
        wire = {"statement": req.formal_statement, "proof": req.proof, "want_steps": True}
        says = result_from_reply(req, fake.lean_reply(wire), "fake", "")
        one_line = "\n" not in req.proof.strip()
        assert (says.steps is not None) == one_line, req.proof  # steps for one-line proofs only
        if says.verdict is not lean.verdict or (
            one_line and (says.steps, says.initial_goals) != (lean.steps, lean.initial_goals)
        ):
            wrong.append(f"{req.proof!r}: the fake says {says}, Lean {lean}")
    assert not wrong, "the fake checker process is not Lean:\n" + "\n".join(wrong)


def test_checkresults_fixture_is_what_lean_says(batch: dict[str, Any]) -> None:
    fixture, results = batch["fixture"]
    stored = json.loads(fixture.OUT.read_text(encoding="utf-8"))
    now = fixture.records(results)
    assert [fixture.comparable(r) for r in now] == [fixture.comparable(r) for r in stored], (
        "tests/fixtures/checkresults.json is stale: run tests/fixtures/capture_checkresults.py"
    )


def test_items_are_isolated(batch: dict[str, Any]) -> None:
    got = batch["isolation"]
    assert batch["restarts"] == 0  # one process answered the whole batch, in order
    assert got["iso:declare"].verdict is Verdict.PROVED
    assert got["iso:use"].verdict is Verdict.FAILED
    assert "Unknown identifier `iso_a`" in _why(got["iso:use"])
    assert got["iso:again"].verdict is Verdict.PROVED  # `iso_a` was never added for good
    assert got["iso:hdr"].verdict is Verdict.PROVED
    assert got["iso:hdr_use"].verdict is Verdict.FAILED
    assert "iso_def" in _why(got["iso:hdr_use"])


def test_a_100_kb_multibyte_proof_crosses_stdin_intact(batch: dict[str, Any]) -> None:
    ok, bad = BIG
    assert len(ok.proof.encode()) > 100_000  # more than one read of the patched reader
    assert {len(c.encode()) for c in ok.proof} == {1, 2, 3, 4}
    got = batch["big"]
    assert got["big"].verdict is Verdict.PROVED, _why(got["big"])
    assert got["big"].verified_prefix == ok.proof
    err = got["big:error"].first_error
    assert got["big:error"].verdict is Verdict.FAILED and err is not None
    line = bad.proof.split("\n")[1]
    assert (err.line, err.column) == (2, line.index("nope")) and err.text == (
        "Unknown identifier `nope`"
    )


def _scratches(checker: Any) -> list[Path]:
    with checker._lock:
        return [p.scratch for p in checker._live]


def test_trusted_header_writes_stay_in_its_scratch_directory(embedded_checker) -> None:
    from prover.lean.toolchain import embedded_toolchain

    tag = f"prover_fs_{secrets.token_hex(6)}"
    inside = f"{tag}_inside.txt"
    escapes = [  # each resolves to the WebAssembly file system's own root, not a host directory
        f"/scratch/../{tag}_a.txt",
        f"../{tag}_b.txt",  # the working directory is /scratch
        f"/lean/lib/lean/../../{tag}_c.txt",
        f"/scratch/../../../../{tag}_d.txt",
    ]
    library = f"/lean/lib/lean/{tag}_lib.txt"  # last: the header stops at its error
    lines = [f'#eval IO.FS.writeFile "{p}" "x"' for p in [f"/scratch/{inside}", *escapes]]
    lines.append(f'#eval IO.FS.writeFile "{library}" "x"')
    header = "\n".join(lines) + "\n"
    req = CheckRequest("theorem fs : True := by", "\n  trivial", header, header_trusted=True)
    checker = embedded_checker.with_screen(False)  # the screen refuses `#eval` in any header
    (res,) = checker.check([req])
    tc = embedded_toolchain()
    scratches = _scratches(embedded_checker)
    try:
        # the library mount refuses the write (the header does not elaborate) ...
        assert res.verdict is Verdict.ERROR, res
        assert "permission denied" in (res.reason or "") and f"{tag}_lib.txt" in (res.reason or "")
        # ... after the writes before it ran: the one inside /scratch reached the host
        assert any((s / inside).is_file() for s in scratches), scratches
        places = {tc.root, tc.lib, tc.lib.parent, tc.root.parent, Path.cwd(), Path("/")}
        places |= {s.parent for s in scratches} | {s.parent.parent for s in scratches}
        leaked = [p for d in places if d.is_dir() for p in d.iterdir() if p.name.startswith(tag)]
        assert leaked == []
        assert not any(p.name.startswith(tag) for p in tc.lib.rglob(f"{tag}*"))
    finally:
        for s in scratches:
            (s / inside).unlink(missing_ok=True)
