"""`CachedChecker` with a fake inner checker: hits/misses, uncacheable verdicts, what the key
depends on (every field Lean's verdict depends on: header trust and answers too), the on-disk
cache, and the toolchain identity in the key.  The fake proves only what real Lean proves
(LEAN_PROVES, checked by tests/test_fakes_lean.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from toy_lean import LeanProves

from prover.lean.checker import LeanChecker, checker_digest
from prover.lean.embedded import EmbeddedLauncher
from prover.lean.native import NativeLauncher
from prover.lean.toolchain import EmbeddedToolchain, NativeToolchain, native_identity
from prover.lean.types import CheckRequest, CheckResult, Verdict
from prover.lean.wrappers import CachedChecker, toolchain_version

REQ = CheckRequest(formal_statement="theorem t : 1 = 1 := by", proof="  rfl", header="")
LEAN_PROVES = LeanProves(
    REQ,
    replace(REQ, header=None),
    replace(REQ, header="import Std"),
    replace(REQ, formal_statement="theorem t : 2 = 2 := by"),
    replace(REQ, proof="  exact rfl"),
    replace(REQ, allow_native_decide=True),
    replace(REQ, header_trusted=True),
)


class FakeChecker:
    """Verdict from the proof text: 'timeout' / 'error'; else proved for a request in
    LEAN_PROVES, failed for any other."""

    def __init__(self, name: str = "embedded", lean_version: str = "4.28.0-pre") -> None:
        self.name = name
        self.lean_version = lean_version
        self.seen: list[str] = []
        self.closed = False

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        self.seen += [r.proof for r in requests]
        verdicts = {"timeout": Verdict.TIMEOUT, "error": Verdict.ERROR}
        return [
            CheckResult(
                verdicts.get(r.proof.strip(), LEAN_PROVES.verdict(r)),
                verified_prefix=r.proof,
                backend=self.name,
                lean_version=self.lean_version,
            )
            for r in requests
        ]

    def close(self) -> None:
        self.closed = True


def test_hits_and_misses() -> None:
    inner = FakeChecker()
    cache = CachedChecker(inner)
    first = cache.check([REQ])
    assert (cache.hits, cache.misses) == (0, 1) and not first[0].cached
    again = cache.check([REQ, replace(REQ, proof="  bad")])
    assert (cache.hits, cache.misses) == (1, 2)
    assert [r.verdict for r in again] == [Verdict.PROVED, Verdict.FAILED]
    assert again[0].cached and not again[1].cached
    assert again[0].backend == "embedded" and again[0].lean_version == "4.28.0-pre"
    assert again[0].verified_prefix == "  rfl"
    assert inner.seen == ["  rfl", "  bad"]


def test_duplicates_in_one_batch_are_checked_once() -> None:
    inner = FakeChecker()
    cache = CachedChecker(inner)
    out = cache.check([REQ, replace(REQ, id="other"), REQ])
    assert inner.seen == ["  rfl"]
    assert (cache.hits, cache.misses) == (2, 1)
    assert [r.cached for r in out] == [False, True, True]
    assert all(r.verdict is Verdict.PROVED for r in out)


@pytest.mark.parametrize("proof", ["timeout", "error"])
def test_timeout_and_error_are_not_cached(proof: str) -> None:
    inner = FakeChecker()
    cache = CachedChecker(inner)
    req = replace(REQ, proof=proof)
    cache.check([req])
    res = cache.check([req])
    assert inner.seen == [proof, proof]
    assert (cache.hits, cache.misses) == (0, 2) and not res[0].cached


@pytest.mark.parametrize(
    "change",
    [
        {"header": "import Std"},
        {"header": None},
        {"formal_statement": "theorem t : 2 = 2 := by"},
        {"proof": "  exact rfl"},
        {"allow_native_decide": True},
        {"want_steps": True},
        {"header_trusted": True},
        {"answers": (("x_solution", "1"),)},
    ],
)
def test_key_depends_on_each_request_field(change: dict[str, object]) -> None:
    inner = FakeChecker()
    cache = CachedChecker(inner)
    cache.check([REQ])
    cache.check([replace(REQ, **change)])  # type: ignore[arg-type]
    assert cache.misses == 2 and cache.hits == 0


def test_key_depends_on_each_answer_and_the_header_trust(tmp_path: Path) -> None:
    # Lean's verdict depends on them: an untrusted header may declare nothing, and an answer is
    # judged with the proof; a verdict for one answer must never be served for another
    header = "abbrev x_solution : Nat := sorry\n"
    base = replace(REQ, header=header, header_trusted=True, answers=(("x_solution", "1"),))
    variants = [
        base,
        replace(base, answers=(("x_solution", "2"),)),
        replace(base, answers=(("x_solution", "1"), ("y_solution", "1"))),
        replace(base, answers=()),
        replace(base, header_trusted=False),
    ]
    db = tmp_path / "cache.sqlite"
    with CachedChecker(FakeChecker(), path=db) as cache:
        cache.check(variants)
        assert (cache.hits, cache.misses) == (0, len(variants))
    inner = FakeChecker()
    with CachedChecker(inner, path=db) as cache:  # each is found again on disk, by its own key
        cache.check(variants)
        assert (cache.hits, cache.misses) == (len(variants), 0) and inner.seen == []


def test_key_ignores_id_and_timeout() -> None:
    cache = CachedChecker(FakeChecker())
    cache.check([REQ])
    cache.check([replace(REQ, id="x", timeout_s=5.0)])
    assert (cache.hits, cache.misses) == (1, 1)


def test_on_disk_cache_persists_across_instances(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "cache.sqlite"
    with CachedChecker(FakeChecker(), path=db) as cache:
        cache.check([REQ, replace(REQ, proof="timeout")])
    inner = FakeChecker()
    with CachedChecker(inner, path=db) as cache:
        out = cache.check([REQ, replace(REQ, proof="timeout")])
        assert (cache.hits, cache.misses) == (1, 1)
    assert inner.seen == ["timeout"] and inner.closed
    assert out[0].cached and out[0].verdict is Verdict.PROVED
    assert out[0].lean_version == "4.28.0-pre"


@pytest.mark.parametrize(
    "other",
    [
        {"name": "native"},  # backend
        {"lean_version": "4.29.0"},  # toolchain
    ],
)
def test_key_depends_on_backend_and_lean_version(tmp_path: Path, other: dict[str, str]) -> None:
    db = tmp_path / "cache.sqlite"
    with CachedChecker(FakeChecker(), path=db) as cache:
        cache.check([REQ])
    inner = FakeChecker(**other)
    with CachedChecker(inner, path=db) as cache:
        cache.check([REQ])
        assert (cache.hits, cache.misses) == (0, 1)
    assert inner.seen == ["  rfl"]


def test_explicit_version_is_part_of_the_key(tmp_path: Path) -> None:
    db = tmp_path / "cache.sqlite"
    with CachedChecker(FakeChecker(), path=db, version="lock=aaa") as cache:
        cache.check([REQ])
    for version, hits in (("lock=aaa", 1), ("lock=bbb", 0)):
        with CachedChecker(FakeChecker(), path=db, version=version) as cache:
            cache.check([REQ])
            assert cache.hits == hits


def _stamp(root: Path, **meta: str) -> EmbeddedToolchain:
    root.mkdir(parents=True, exist_ok=True)
    tc = EmbeddedToolchain(root)
    tc.stamp.write_text(json.dumps(meta))
    return tc


class _Checker:
    """The identity part of a `LeanChecker` (the real method) without its processes."""

    identity = LeanChecker.identity

    def __init__(self, launcher: object, lean_version: str) -> None:
        self.launcher = launcher
        self.name = getattr(launcher, "name", "")
        self.lean_version = lean_version


def test_embedded_install_identity_changes_the_version(tmp_path: Path) -> None:
    def version(tc: EmbeddedToolchain) -> str:
        return toolchain_version(_Checker(EmbeddedLauncher(tc), "4.28.0-pre"))

    meta = {"lean_version": "4.28.0-pre", "lean_commit": "c", "lock": "l1", "lean_js_sha256": "s"}
    a = version(_stamp(tmp_path / "a", **meta))
    b = version(_stamp(tmp_path / "b", **{**meta, "lock": "l2"}))
    c = version(_stamp(tmp_path / "c", **{**meta, "lean_js_sha256": "t"}))
    assert "lock=l1" in a and len({a, b, c}) == 3
    assert f"checker={checker_digest()}" in a
    assert EmbeddedToolchain(tmp_path / "none").identity() == ""


def test_native_project_identity_changes_the_version(tmp_path: Path) -> None:
    launcher = NativeLauncher.__new__(NativeLauncher)  # its __init__ wants a built project
    launcher.toolchain = NativeToolchain(project=tmp_path)
    (tmp_path / "lean-toolchain").write_text("leanprover/lean4:v4.15.0\n")
    (tmp_path / "lake-manifest.json").write_text('{"packages": [{"rev": "aaa"}]}')
    before = toolchain_version(_Checker(launcher, "4.15.0"))
    assert "lean-toolchain=leanprover/lean4:v4.15.0" in before
    (tmp_path / "lake-manifest.json").write_text('{"packages": [{"rev": "bbb"}]}')
    assert toolchain_version(_Checker(launcher, "4.15.0")) != before
    assert "lake-manifest.json=?" in native_identity(tmp_path / "missing")


def test_checker_program_change_changes_the_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tc = _stamp(tmp_path, lean_version="4.28.0-pre", lean_commit="c", lock="l", lean_js_sha256="s")
    checker = _Checker(EmbeddedLauncher(tc), "4.28.0-pre")
    before = toolchain_version(checker)
    monkeypatch.setattr("prover.lean.checker.checker_digest", lambda: "0" * 12)
    assert toolchain_version(checker) != before
