"""The native backend's launch path, without Lean: a fake built Lake project (lean-toolchain, a
Mathlib build directory) and a fake `lake` on PATH that runs the fake checker
(tests/fixtures/fake_checker.py) in place of `lake env lean ProverChecker.lean`.  The fake proves
only the (statement, proof) pairs of its LEAN_PROVES, which real Lean proves
(tests/test_fakes_lean.py): STMT and the proofs expected to pass here are listed there."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from procs import pid_gone

from prover.errors import UsageError
from prover.lean import make_checker, resolve_backend
from prover.lean.checker import CHECKER_SOURCE, CheckerConfig, LeanChecker, checker_digest
from prover.lean.native import NATIVE_DEFAULT_HEADER, NativeChecker, NativeLauncher
from prover.lean.toolchain import NativeToolchain, ToolchainError, native_toolchain
from prover.lean.types import CheckRequest, Verdict
from prover.lean.wrappers import CachedChecker

FAKE = Path(__file__).resolve().with_name("fixtures") / "fake_checker.py"
STMT = "theorem t (n : Nat) : n = n := by\n"


class Project:
    """A fake built project in `root`: `lake` logs its working directory and arguments to
    state/lake.<its PID>, then runs the fake checker (exec'd, or as its child as the real `lake env`
    does when `exec_checker` is false)."""

    def __init__(self, root: Path, exec_checker: bool = True) -> None:
        self.dir = root / "lean_project"
        self.dir.mkdir()
        (self.dir / "lean-toolchain").write_text("leanprover/lean4:v4.28.0\n")
        self.state = root / "state"
        self.state.mkdir()
        self.bin = root / "bin"
        self.bin.mkdir()
        self.lake = self.bin / "lake"
        run = f"{sys.executable} {FAKE} {self.state}"
        self.lake.write_text(
            "#!/bin/sh\n"
            f'printf "%s\\n" "$PWD" "$@" > {self.state}/lake.$$\n'
            + (f"exec {run}\n" if exec_checker else f"{run}\nexit $?\n")
        )
        self.lake.chmod(0o755)

    def build(self) -> Project:
        (self.dir / ".lake" / "packages" / "mathlib" / ".lake" / "build").mkdir(parents=True)
        return self

    def toolchain(self) -> NativeToolchain:
        return NativeToolchain(project=self.dir, lake=self.lake)

    def lake_calls(self) -> dict[int, tuple[str, list[str]]]:
        """lake's runs: PID -> (working directory, arguments)."""
        calls = {}
        for path in self.state.glob("lake.*"):
            cwd, *args = path.read_text().splitlines()
            calls[int(path.suffix[1:])] = (cwd, args)
        return calls

    def requests(self) -> list[dict[str, Any]]:
        path = self.state / "requests"
        reqs = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
        return [r for r in reqs if r.get("kind") != "ping"]  # the driver's clean boundaries

    def pids(self) -> list[int]:
        path = self.state / "pids"
        return [int(x) for x in path.read_text().split()] if path.exists() else []


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path).build()


# ---------------------------------------------------------------------------------------------
# NativeLauncher


def test_launch_runs_lake_env_lean_in_the_project(project: Project, tmp_path: Path) -> None:
    launcher = NativeLauncher(project.toolchain())
    argv, env, cwd = launcher.launch(tmp_path)
    # no checker source in the project copy: the repository's is used
    assert argv == [str(project.lake), "env", "lean", str(CHECKER_SOURCE)]
    repo = Path(__file__).resolve().parents[1]
    assert str(CHECKER_SOURCE) == str(repo / "lean_project" / "ProverChecker.lean")
    assert cwd == project.dir
    assert env["PATH"] == os.environ["PATH"] and env["HOME"]
    (project.dir / "ProverChecker.lean").write_text("-- a project's own copy\n")
    argv, _, cwd = launcher.launch(tmp_path)
    assert argv == [str(project.lake), "env", "lean", str(project.dir / "ProverChecker.lean")]
    assert cwd == project.dir


def test_launcher_rules_and_identity(project: Project) -> None:
    launcher = NativeLauncher(project.toolchain())
    assert launcher.name == "native"
    assert launcher.strict_axioms is True
    assert launcher.default_header == NATIVE_DEFAULT_HEADER
    assert NATIVE_DEFAULT_HEADER.startswith("import Mathlib\nimport Aesop\n")
    assert "maxHeartbeats 400000" in NATIVE_DEFAULT_HEADER
    assert launcher.lean_version == "4.28.0"
    assert launcher.identity() == (
        "native lean-toolchain=leanprover/lean4:v4.28.0 lake-manifest.json=?"
    )


@pytest.mark.parametrize("missing", ["lake", "mathlib build"])
def test_unbuilt_project_says_how_to_fix(tmp_path: Path, missing: str) -> None:
    p = Project(tmp_path)
    tc = NativeToolchain(project=p.dir, lake=None) if missing == "lake" else p.toolchain()
    if missing == "lake":
        p.build()
    assert not tc.is_built()
    with pytest.raises(ToolchainError) as info:
        NativeLauncher(tc)
    text = str(info.value)
    assert f"the native Lean project at {p.dir} is not built" in text
    assert "bash lean_project/setup_native.sh" in text and "make lean-native" in text
    with pytest.raises(ToolchainError):
        NativeChecker(toolchain=tc)


# ---------------------------------------------------------------------------------------------
# NativeChecker end to end (lake -> fake checker)


def test_native_checker_end_to_end(project: Project) -> None:
    checker = NativeChecker(toolchain=project.toolchain())
    try:
        assert checker.config.memory_mb == 32768 and checker.config.timeout_s == 120.0
        assert checker.config.spare_processes == 1  # a warm spare beside the worker
        assert checker.name == "native" and checker.lean_version == "4.28.0"
        assert checker.identity().endswith(f"checker={checker_digest()}")
        (res,) = checker.check([CheckRequest(STMT, "  rfl\n")])
        checker.wait_warm()
    finally:
        checker.close()
    assert res.verdict is Verdict.PROVED and res.backend == "native"
    assert res.lean_version == "4.28.0"
    reqs = project.requests()
    headers = [r for r in reqs if r["kind"] == "header"]
    (check,) = [r for r in reqs if r["kind"] == "check"]
    assert len(headers) == 2  # each process built the default header's base before it was ready
    for header in headers:
        assert header["header"] == NATIVE_DEFAULT_HEADER and header["trusted_header"] is True
    assert check["strict_axioms"] is True
    assert check["header"] == NATIVE_DEFAULT_HEADER and check["trusted_header"] is True
    assert check["statement"] == STMT and check["proof"] == "  rfl\n"
    assert check["allow_native_decide"] is False
    calls = project.lake_calls()
    assert len(calls) == 2
    for cwd, args in calls.values():
        assert Path(cwd) == project.dir
        assert args == ["env", "lean", str(CHECKER_SOURCE)]
    pids = project.pids()
    assert len(pids) == 2
    for pid in pids:
        assert pid in calls  # exec'd: the checker runs as lake's own process
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_limits_hold_when_lean_is_lakes_child(tmp_path: Path) -> None:
    """`lake env` starts Lean as its child: the memory cap covers the whole process group (not
    lake alone), and a timeout or a kill leaves neither lake nor Lean behind."""
    p = Project(tmp_path, exec_checker=False).build()
    cfg = CheckerConfig(
        memory_mb=512, timeout_s=60.0, restart_backoff_s=0.01, screen=False, spare_processes=0
    )
    with NativeChecker(cfg, toolchain=p.toolchain()) as checker:
        res = checker.check(
            [
                CheckRequest(STMT, "  rfl\n"),
                CheckRequest(STMT, "  alloc\n"),
                CheckRequest(STMT, "  hang\n", timeout_s=0.5),
                CheckRequest(STMT, "  simp\n"),
            ]
        )
        assert checker.stats["restarts"] == 2
    assert [r.verdict for r in res] == [
        Verdict.PROVED,
        Verdict.ERROR,
        Verdict.TIMEOUT,
        Verdict.PROVED,
    ]
    assert "memory limit (item)" in (res[1].reason or "")
    assert "wall-clock limit (item)" in (res[2].reason or "")
    lakes = set(p.lake_calls())
    checkers = p.pids()
    assert len(checkers) >= 3 and len(lakes) == len(checkers)
    assert not lakes & set(checkers)  # each fake ran as lake's child, not in its place
    for pid in lakes:  # started (and reaped) by the checker
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    for pid in checkers:
        assert pid_gone(pid), f"Lean stand-in {pid} outlived its lake"


# ---------------------------------------------------------------------------------------------
# backend selection through the environment


@pytest.fixture
def native_env(project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("PROVER_LEAN_PROJECT", str(project.dir))
    monkeypatch.setenv("PATH", f"{project.bin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PROVER_EMBEDDED_DIR", str(tmp_path / "no-embedded"))
    return project


def test_environment_finds_the_built_project(native_env: Project) -> None:
    tc = native_toolchain()
    assert tc.project == native_env.dir and tc.lake == native_env.lake and tc.is_built()
    assert resolve_backend("auto") == "native"
    assert resolve_backend("native") == "native"


def test_make_checker_native_from_the_environment(native_env: Project, tmp_path: Path) -> None:
    checker = make_checker("auto", cache=False, workers=1, timeout_s=7.0)
    try:
        assert isinstance(checker, LeanChecker) and checker.name == "native"
        assert checker.config.timeout_s == 7.0 and checker.config.memory_mb == 32768
        assert checker.config.workers == 1
        (res,) = checker.check([CheckRequest(STMT, "  rfl\n")])
    finally:
        checker.close()
    assert res.verdict is Verdict.PROVED and res.backend == "native"
    assert native_env.requests()[-1]["strict_axioms"] is True
    cached = make_checker("native", cache_path=tmp_path / "cache.sqlite", memory_mb=4096)
    try:
        assert isinstance(cached, CachedChecker) and cached.name == "native"
        assert isinstance(cached.inner, LeanChecker)
        assert cached.inner.config.memory_mb == 4096
        assert "lean-toolchain=leanprover/lean4:v4.28.0" in cached.version
        (again,) = cached.check([CheckRequest(STMT, "  rfl\n")])
        assert again.verdict is Verdict.PROVED
    finally:
        cached.close()


def test_auto_without_a_build_and_without_embedded(native_env: Project) -> None:
    build = native_env.dir / ".lake" / "packages" / "mathlib" / ".lake" / "build"
    build.rmdir()
    with pytest.raises(UsageError, match="prover lean doctor"):
        resolve_backend("auto")
    with pytest.raises(ToolchainError, match="is not built"):
        make_checker("native", cache=False)
    with pytest.raises(UsageError, match="choose auto, embedded or native"):
        resolve_backend("wasm")
