"""LeanProcess / EmbeddedChecker lifecycle against a fake `lean` (no real Lean needed):
per-item stall timeouts, salvage of finished items, process-group kills, no leaked PIDs."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from prover.lean import embedded
from prover.lean.embedded import EmbeddedChecker, EmbeddedConfig, LeanProcess, LeanProcessFailure
from prover.lean.toolchain import EmbeddedToolchain
from prover.lean.types import CheckRequest, Verdict

FAKE = textwrap.dedent(
    r"""
    import json, os, re, subprocess, sys, time
    mode = os.environ.get("FAKE_MODE", "ok")
    src = sys.stdin.read()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open(os.path.join(os.environ["PROVER_LEAN_SCRATCH"], "child.pid"), "w") as f:
        f.write(str(child.pid))
    print("[DEBUG:G] Now calling lean_shell_main...", flush=True)
    lines = src.split("\n")
    for i, line in enumerate(lines, start=1):
        if line.startswith("#check"):
            if mode == "hang" and "_1." in line:
                time.sleep(600)
            if mode == "chatty" and "_1." in line:
                while True:  # keeps printing progress, never finishes the item
                    print(json.dumps({"severity": "information", "pos": {"line": i - 1,
                          "column": 0}, "endPos": {"line": i - 1, "column": 1},
                          "data": "tick"}), flush=True)
                    time.sleep(0.05)
            msg = {"severity": "information", "pos": {"line": i, "column": 0},
                   "endPos": {"line": i, "column": 6}, "data": "ok"}
            print(json.dumps(msg), flush=True)
    if mode == "linger":  # everything printed, but the process takes its time to exit
        time.sleep(600)
    """
)


@dataclass(frozen=True)
class FakeToolchain(EmbeddedToolchain):
    script: Path = Path()

    def command(self, *lean_args: str) -> list[str]:
        return [sys.executable, str(self.script), *lean_args]

    def env(self, scratch: Path) -> dict[str, str]:
        env = super().env(scratch)
        env["FAKE_MODE"] = os.environ.get("FAKE_MODE", "ok")
        return env


@pytest.fixture
def fake(tmp_path: Path) -> FakeToolchain:
    script = tmp_path / "fake_lean.py"
    script.write_text(FAKE)
    return FakeToolchain(root=tmp_path, script=script)


S = "theorem t (n : Nat) : n = n := by\n"


def test_stall_timeout_kills_group_and_keeps_partial_output(fake, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "hang")
    proc = LeanProcess(fake, memory_mb=4096)
    scratch = proc.scratch
    src = "#check Nat\n\n#check @P_0.t\n\n#check @P_1.t\n\n#check @P_2.t\n"
    t0 = time.monotonic()
    with pytest.raises(LeanProcessFailure) as info:
        proc.run(src, startup_s=30, item_s=1.0)
    assert info.value.kind == "timeout"
    assert time.monotonic() - t0 < 20
    assert info.value.stdout.count('"severity"') == 2  # ready marker + first item
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)
    assert not scratch.exists()


def test_end_marker_returns_without_waiting_for_exit(fake, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "linger")
    proc = LeanProcess(fake, memory_mb=4096)
    src = "#check Nat\n\n#check @P_0.t\n\n#check Nat\n"
    t0 = time.monotonic()
    out = proc.run(src, startup_s=30, item_s=30, end_line=5)
    assert time.monotonic() - t0 < 10
    assert out.count('"severity"') == 3  # every message up to the end marker
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)


def test_whole_run_deadline_stops_a_process_that_keeps_printing(fake, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "chatty")
    proc = LeanProcess(fake, memory_mb=4096)
    src = "#check Nat\n\n#check @P_0.t\n\n#check @P_1.t\n"
    t0 = time.monotonic()
    with pytest.raises(LeanProcessFailure) as info:
        proc.run(src, startup_s=30, item_s=1.0, total_s=2.0)
    assert info.value.kind == "timeout" and "whole batch" in str(info.value)
    assert 2.0 <= time.monotonic() - t0 < 15
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)


def test_checker_salvages_finished_items_and_times_out_the_culprit(fake, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "hang")
    children: list[int] = []
    real_close = embedded.LeanProcess.close

    def spy_close(self):
        pid_file = self.scratch / "child.pid"
        if pid_file.exists():
            children.append(int(pid_file.read_text()))
        real_close(self)

    monkeypatch.setattr(embedded.LeanProcess, "close", spy_close)
    cfg = EmbeddedConfig(workers=1, timeout_s=1.0, startup_s=30, toolchain=fake)
    with EmbeddedChecker(cfg) as checker:
        reqs = [CheckRequest(S, "  rfl\n", id=str(i)) for i in range(3)]
        res = checker.check(reqs)
    # item 0 finished; item 1 hung (timeout); item 2 re-run in a new process (where it is the
    # first item, namespace _0, so the fake does not hang) and finished
    assert [r.verdict for r in res] == [Verdict.PROVED, Verdict.TIMEOUT, Verdict.PROVED]
    assert "to finish an item" in (res[1].reason or "")
    assert checker.stats["processes"] == 2
    assert children
    for pid in children:  # the fake's own child was in the killed process group
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"child {pid} outlived its Lean process group")


def test_crash_without_output_is_an_error_verdict(tmp_path):
    script = tmp_path / "crash.py"
    script.write_text("import sys; sys.stdin.read(); sys.exit(3)\n")
    tc = FakeToolchain(root=tmp_path, script=script)
    with EmbeddedChecker(EmbeddedConfig(workers=1, toolchain=tc)) as checker:
        res = checker.check([CheckRequest(S, "  rfl\n"), CheckRequest(S, "  simp\n")])
    assert [r.verdict for r in res] == [Verdict.ERROR, Verdict.ERROR]
    assert checker.stats["bisections"] == 1
    assert "code 3" in (res[0].reason or "")
