"""ReplProcess / ReplPool / NativeChecker lifecycle against a fake REPL (no Lean needed).

The fake is a small Python program speaking the REPL protocol (blank-line separated JSON in and
out).  What it does is steered by words in the command text: HANG, SPAWN (start a child, then
hang), CRASH, CRASHONCE, FAIL, sorry, native_decide; a header containing IMPORTFAIL fails.
"""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from prover.lean import native
from prover.lean.native import (
    NativeChecker,
    NativeConfig,
    ReplCrashed,
    ReplPool,
    ReplProcess,
    ReplTimeout,
)
from prover.lean.types import CheckRequest, LeanInfraError, Verdict

FAKE_REPL = textwrap.dedent(
    r"""
    import fcntl, json, os, resource, subprocess, sys, time

    state = sys.argv[1]
    crash_first = int(sys.argv[2])
    with open(os.path.join(state, "pids"), "a") as f:
        f.write(f"{os.getpid()}\n")
    with open(os.path.join(state, "starts"), "a+") as f:  # concurrent starts: count under a lock
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write("x")
        f.flush()
        f.seek(0)
        starts = len(f.read())
    if starts <= crash_first:
        sys.stderr.write("fake: crashed at start-up\n")
        sys.exit(3)

    envs = set()
    imports = 0
    last_proof = ""

    def respond(obj):
        sys.stdout.write(json.dumps(obj, indent=1, ensure_ascii=False) + "\n\n")
        sys.stdout.flush()

    def new_env():
        e = len(envs)
        envs.add(e)
        return e

    buf = []
    for line in sys.stdin:
        if line.strip():
            buf.append(line)
            continue
        if not buf:
            continue
        req = json.loads("".join(buf))
        buf = []
        cmd = req.get("cmd", "")
        if "env" not in req:
            imports += 1
            with open(os.path.join(state, "imports"), "a") as f:
                f.write(f"{os.getpid()}\n")
            if "IMPORTFAIL" in cmd:
                respond({"messages": [{"severity": "error", "pos": {"line": 1, "column": 0},
                                       "endPos": None, "data": "unknown module prefix 'Mathlib'"}],
                         "env": new_env()})
            else:
                respond({"env": new_env()})
            continue
        if req["env"] not in envs:
            respond({"message": "Unknown environment."})
            continue
        if cmd.startswith("#print axioms "):
            name = cmd.split()[-1]
            axioms = ["propext"] + (["Lean.ofReduceBool"] if "native_decide" in last_proof else [])
            respond({"messages": [{"severity": "info", "pos": {"line": 1, "column": 0},
                                   "endPos": {"line": 1, "column": 13},
                                   "data": f"'{name}' depends on axioms: [{', '.join(axioms)}]"}],
                     "env": new_env()})
            continue
        last_proof = cmd
        if "SPAWN" in cmd:
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1000)"])
            open(os.path.join(state, "child_pid"), "w").write(str(child.pid))
            time.sleep(1000)
        if "HANG" in cmd:
            time.sleep(1000)
        crashed_flag = os.path.join(state, "crashed_once")
        if "CRASHONCE" in cmd and not os.path.exists(crashed_flag):
            open(crashed_flag, "w").close()
            sys.stderr.write("fake: boom (once)\n")
            sys.stderr.flush()
            os._exit(7)
        if "CRASH" in cmd and "CRASHONCE" not in cmd:
            sys.stderr.write("fake: boom\n")
            sys.stderr.flush()
            os._exit(7)
        out = {"env": new_env(), "_pid": os.getpid(), "_imports": imports,
               "_rlimit_as": resource.getrlimit(resource.RLIMIT_AS)[0]}
        if "FAIL" in cmd:
            out["messages"] = [{"severity": "error", "pos": {"line": 2, "column": 2},
                                "endPos": {"line": 2, "column": 6}, "data": "unknown tactic"}]
        if "sorry" in cmd:
            out["messages"] = [{"severity": "warning", "pos": {"line": 1, "column": 8},
                                "endPos": {"line": 1, "column": 10},
                                "data": "declaration uses 'sorry'"}]
        respond(out)
    """
)

STMT = "theorem t (x : ℕ) : x = x := by\n"


@pytest.fixture
def fake(tmp_path: Path):  # type: ignore[no-untyped-def]
    script = tmp_path / "fake_repl.py"
    script.write_text(FAKE_REPL)
    state = tmp_path / "state"
    state.mkdir()

    def make(crash_first: int = 0, **kw: object) -> NativeConfig:
        kw.setdefault("memory_limit_mb", 4096)
        kw.setdefault("restart_backoff_s", 0.01)
        kw.setdefault("max_backoff_s", 0.1)
        kw.setdefault("command_timeout_s", 10.0)
        kw.setdefault("header_timeout_s", 10.0)
        return NativeConfig(
            repl_command=(sys.executable, str(script), str(state), str(crash_first)),
            project_dir=tmp_path,
            **kw,  # type: ignore[arg-type]
        )

    make.state = state  # type: ignore[attr-defined]
    return make


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def _gone(pid: int, wait_s: float = 5.0) -> bool:
    """True once `pid` no longer exists (or is a zombie awaiting an init that does not reap)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return True
        except OSError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


@pytest.fixture
def no_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("prover.lean.soundness.screen_proof", lambda proof, **kw: None)


# ---------------------------------------------------------------------------------------------
# config


def test_config_validation_messages(tmp_path: Path) -> None:
    ok = {"repl_command": ("repl",), "project_dir": tmp_path}
    with pytest.raises(ValueError, match="from_toolchain"):
        NativeConfig(repl_command=(), project_dir=tmp_path)
    with pytest.raises(ValueError, match="setup_native.sh"):
        NativeConfig(repl_command=("repl",), project_dir=tmp_path / "missing")
    with pytest.raises(ValueError, match="at least 8192"):
        NativeConfig(**ok, memory_limit_mb=10)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="command_timeout_s"):
        NativeConfig(**ok, command_timeout_s=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_uses"):
        NativeConfig(**ok, max_uses=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pool_size"):
        NativeConfig(**ok, pool_size=0)  # type: ignore[arg-type]
    cfg = NativeConfig(**ok, memory_limit_mb=None)  # type: ignore[arg-type]
    assert cfg.pool_size >= 1 and cfg.lean_version() == ""
    (tmp_path / "lean-toolchain").write_text("leanprover/lean4:v4.15.0\n")
    assert cfg.lean_version() == "4.15.0"


def test_from_toolchain_unbuilt_says_how_to_fix(tmp_path: Path) -> None:
    from prover.lean.toolchain import NativeToolchain, ToolchainError

    with pytest.raises(ToolchainError, match="setup_native.sh"):
        NativeConfig.from_toolchain(NativeToolchain(project=tmp_path, lake=None))


# ---------------------------------------------------------------------------------------------
# ReplProcess


def test_process_roundtrip_rlimit_and_close(fake) -> None:  # type: ignore[no-untyped-def]
    with ReplProcess(fake(), header="import Mathlib\n") as proc:
        env = proc.header_env()
        assert env == 0 and proc.header_env() == 0  # imported once
        resp = proc.send({"cmd": STMT + "  rfl", "env": env}, timeout=10)
        assert resp["_imports"] == 1
        assert resp["_rlimit_as"] == 4096 * 1024 * 1024  # RLIMIT_AS applied to the REPL itself
        pid = proc.pid
        assert pid == resp["_pid"]  # the shell wrapper exec'd into the REPL
        assert os.getpgid(pid) == pid  # own process group
    assert proc.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_process_timeout_kills_group_including_children(fake) -> None:  # type: ignore[no-untyped-def]
    cfg = fake()
    proc = ReplProcess(cfg, header="import Mathlib\n")
    try:
        env = proc.header_env()
        pid = proc.pid
        assert pid is not None
        t0 = time.monotonic()
        with pytest.raises(ReplTimeout) as ei:
            proc.send({"cmd": STMT + "  SPAWN", "env": env}, timeout=1.0)
        assert time.monotonic() - t0 < 6
        assert isinstance(ei.value, LeanInfraError)
        child = int((fake.state / "child_pid").read_text())
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        assert _gone(child), "the REPL's child outlived the timeout"
        assert not proc.alive()
        # the next command transparently starts a fresh process (no backoff after a timeout)
        env2 = proc.header_env()
        resp = proc.send({"cmd": STMT + "  rfl", "env": env2}, timeout=10)
        assert resp["_pid"] != pid and proc.backoffs == []
    finally:
        proc.close()


def test_process_crash_reports_stderr_and_restarts_with_backoff(fake) -> None:  # type: ignore[no-untyped-def]
    sleeps: list[float] = []
    proc = ReplProcess(fake(restart_backoff_s=0.5, max_backoff_s=1.5), sleep=sleeps.append)
    try:
        proc2_env = proc.send({"cmd": "import Mathlib"}, timeout=10)["env"]
        for _ in range(3):
            with pytest.raises(ReplCrashed) as ei2:
                proc.send({"cmd": STMT + "  CRASH", "env": proc2_env}, timeout=10)
            assert "fake: boom" in ei2.value.stderr_tail
            assert "fake: boom" in str(ei2.value)
            proc2_env = proc.send({"cmd": "import Mathlib"}, timeout=10)["env"]
    finally:
        proc.close()
    # exponential backoff, capped by max_backoff_s, reset by each success in between
    assert sleeps == proc.backoffs
    assert all(s == 0.5 for s in sleeps)


def test_process_consecutive_startup_crashes_back_off_exponentially(fake) -> None:  # type: ignore[no-untyped-def]
    sleeps: list[float] = []
    cfg = fake(crash_first=3, restart_backoff_s=0.5, max_backoff_s=1.5)
    with ReplProcess(cfg, header="import Mathlib\n", sleep=sleeps.append) as proc:
        for _ in range(3):
            with pytest.raises(ReplCrashed) as ei:
                proc.header_env()
            assert "crashed at start-up" in ei.value.stderr_tail
        assert proc.header_env() == 0
        assert proc.consecutive_crashes == 0
    assert sleeps == [0.5, 1.0, 1.5]
    assert all(_gone(int(p)) for p in _lines(fake.state / "pids"))


# ---------------------------------------------------------------------------------------------
# ReplPool


def test_pool_reuses_header_env_and_recycles(fake) -> None:  # type: ignore[no-untyped-def]
    pool = ReplPool(fake(pool_size=1, max_uses=3))
    try:
        pids = []
        for _ in range(7):
            with pool.checkout("import Mathlib\n") as proc:
                env = proc.header_env()
                pids.append(proc.send({"cmd": STMT + "  rfl", "env": env}, 10)["_pid"])
        assert len(set(pids[0:3])) == 1 and len(set(pids[3:6])) == 1
        assert len(set(pids)) == 3  # recycled after 3 uses each
        assert len(_lines(fake.state / "imports")) == 3  # header imported once per process
        assert pool.recycled == 2
    finally:
        pool.close()
    assert all(_gone(int(p)) for p in _lines(fake.state / "pids"))


def test_pool_separate_processes_per_header(fake) -> None:  # type: ignore[no-untyped-def]
    pool = ReplPool(fake(pool_size=1))
    try:
        with pool.checkout("import A\n") as p1:
            p1.header_env()
            pid1 = p1.pid
        with pool.checkout("import B\n") as p2:  # the idle process of another header is replaced
            p2.header_env()
            assert p2.header == "import B\n" and p2.pid != pid1
        with pytest.raises(ProcessLookupError):
            os.kill(pid1, 0)  # type: ignore[arg-type]
    finally:
        pool.close()


# ---------------------------------------------------------------------------------------------
# NativeChecker


def _req(proof: str, **kw: object) -> CheckRequest:
    return CheckRequest(STMT, proof, **kw)  # type: ignore[arg-type]


def test_checker_verdicts(fake, no_screen) -> None:  # type: ignore[no-untyped-def]
    with NativeChecker(fake(pool_size=2)) as checker:
        reqs = [
            _req("  rfl"),
            _req("\n  FAIL"),
            _req("  sorry"),
            _req("  native_decide"),
            _req("  native_decide", allow_native_decide=True),
            CheckRequest("example (x : ℕ) : x = x := by\n", "  rfl"),
        ]
        res = checker.check(reqs)
    assert [r.verdict for r in res] == [
        Verdict.PROVED,
        Verdict.FAILED,
        Verdict.INCOMPLETE,
        Verdict.REJECTED,
        Verdict.PROVED,
        Verdict.PROVED,
    ]
    assert all(r.backend == "native" and r.time_s > 0 for r in res)
    # the fake reports command line 2 = proof line 1 (the statement ends with a newline)
    assert res[1].first_error is not None and res[1].first_error.line == 1
    assert res[3].reason is not None and "Lean.ofReduceBool" in res[3].reason
    assert len(_lines(fake.state / "imports")) <= 2  # one header import per process


def test_checker_screen_rejects_without_running_lean(fake, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seen = []

    def screen(proof: str, allow_native_decide: bool = False) -> str | None:
        seen.append((proof, allow_native_decide))
        return "command '#exit' is not allowed inside a proof" if "#exit" in proof else None

    monkeypatch.setattr("prover.lean.soundness.screen_proof", screen)
    with NativeChecker(fake(pool_size=1)) as checker:
        res = checker.check([_req("  #exit", allow_native_decide=True)])
    assert res[0].verdict is Verdict.REJECTED and "#exit" in (res[0].reason or "")
    assert seen == [("  #exit", True)]
    assert not (fake.state / "starts").exists()  # no REPL was started


def test_checker_timeout_then_recovers(fake, no_screen) -> None:  # type: ignore[no-untyped-def]
    with NativeChecker(fake(pool_size=1)) as checker:
        t0 = time.monotonic()
        res = checker.check([_req("  HANG", timeout_s=1.0), _req("  rfl")])
        assert time.monotonic() - t0 < 8
    assert res[0].verdict is Verdict.TIMEOUT and "exceeded" in (res[0].reason or "")
    assert res[1].verdict is Verdict.PROVED
    assert len(_lines(fake.state / "pids")) == 2  # restarted after the timeout
    assert all(_gone(int(p)) for p in _lines(fake.state / "pids"))


def test_checker_crash_retried_once_then_error(fake, no_screen) -> None:  # type: ignore[no-untyped-def]
    with NativeChecker(fake(pool_size=1)) as checker:
        res = checker.check([_req("  CRASHONCE"), _req("  CRASH"), _req("  rfl")])
    assert res[0].verdict is Verdict.PROVED  # retried on a fresh process
    assert res[1].verdict is Verdict.ERROR
    assert "fake: boom" in (res[1].reason or "")  # stderr tail in the reason
    assert res[2].verdict is Verdict.PROVED
    assert all(_gone(int(p)) for p in _lines(fake.state / "pids"))


def test_checker_header_failure_is_error(fake, no_screen) -> None:  # type: ignore[no-untyped-def]
    with NativeChecker(fake(pool_size=1)) as checker:
        res = checker.check([_req("  rfl", header="import IMPORTFAIL\n")])
    assert res[0].verdict is Verdict.ERROR
    assert "unknown module prefix" in (res[0].reason or "")


def test_checker_parallel_order_and_no_leaks(fake, no_screen) -> None:  # type: ignore[no-untyped-def]
    checker = NativeChecker(fake(pool_size=3, max_uses=4))
    try:
        reqs = [_req("  rfl" if i % 3 else "\n  FAIL", id=str(i)) for i in range(12)]
        res = checker.check(reqs)
        assert [r.verdict for r in res] == [
            Verdict.FAILED if i % 3 == 0 else Verdict.PROVED for i in range(12)
        ], [r.reason for r in res]
        assert len(checker.pool.processes()) <= 3
    finally:
        checker.close()
    pids = [int(p) for p in _lines(fake.state / "pids")]
    assert 3 <= len(pids) <= 6
    assert all(_gone(p) for p in pids)


def test_default_header_constant() -> None:
    assert native.NATIVE_DEFAULT_HEADER.startswith("import Mathlib\nimport Aesop\n")
    assert "maxHeartbeats 400000" in native.NATIVE_DEFAULT_HEADER


def test_make_checker_builds_native_from_a_built_project(fake, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`--backend auto|native` goes through `make_checker`: a built project (REPL binary +
    Mathlib package + `lake` on PATH) resolves to native, and backend-neutral options map."""
    from prover.lean import make_checker, resolve_backend

    project = tmp_path / "lean_project"
    repl = project / ".lake" / "packages" / "REPL" / ".lake" / "build" / "bin" / "repl"
    repl.parent.mkdir(parents=True)
    repl.write_text("")
    (project / ".lake" / "packages" / "mathlib").mkdir()
    (project / "lean-toolchain").write_text("leanprover/lean4:v4.15.0\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    lake = bin_dir / "lake"  # `lake env <repl>` runs the fake REPL
    lake.write_text(
        f"#!/bin/sh\nexec {sys.executable} {tmp_path / 'fake_repl.py'} {fake.state} 0\n"
    )
    lake.chmod(0o755)
    monkeypatch.setenv("PROVER_LEAN_PROJECT", str(project))
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    assert resolve_backend("auto") == "native"
    checker = make_checker("auto", cache=False, timeout_s=7.0, workers=1)
    try:
        assert isinstance(checker, NativeChecker)
        assert checker.config.command_timeout_s == 7.0 and checker.config.pool_size == 1
        assert checker.lean_version == "4.15.0"
        (res,) = checker.check([_req("  rfl")])
        assert res.verdict is Verdict.PROVED and res.backend == "native"
    finally:
        checker.close()
